// Shared by the recorder's end-to-end tests: run the real `ebtrace record`,
// read the capture back with the format reader.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "format/reader.h"
#include "tests/bpf_guard.h"

namespace record_test {

namespace fs = std::filesystem;
using namespace ebt;

struct Capture : format::RecordVisitor {
  std::vector<ProcessInfo> processes;
  std::vector<ThreadInfo> threads;
  std::vector<ProcessExit> exits;
  std::vector<Mapping> mappings;
  std::map<uint32_t, Stack> stacks;
  std::vector<SymbolTable> tables;
  std::vector<KernelSymbols> kernel;
  std::vector<CpuSample> samples;
  std::vector<LostEvents> lost;
  std::vector<SessionEnd> ends;
  bool has_index = false;
  bool corrupted = false;
  SessionInfo session;

  void on(const ProcessInfo& r) override { processes.push_back(r); }
  void on(const ThreadInfo& r) override { threads.push_back(r); }
  void on(const ProcessExit& r) override { exits.push_back(r); }
  void on(const Mapping& r) override { mappings.push_back(r); }
  void on(const Stack& r) override { stacks[r.id] = r; }
  void on(const SymbolTable& r) override {
    // The recorder embeds an object's symbols in batches, as its addresses are
    // first seen: one table per object here.
    for (auto& t : tables) {
      if (t.build_id != r.build_id || t.path != r.path) continue;
      t.symbols.insert(t.symbols.end(), r.symbols.begin(), r.symbols.end());
      std::sort(t.symbols.begin(), t.symbols.end(),
                [](const Symbol& a, const Symbol& b) { return a.address < b.address; });
      t.locations.insert(t.locations.end(), r.locations.begin(), r.locations.end());
      return;
    }
    tables.push_back(r);
  }
  void on(const KernelSymbols& r) override {
    // Embedded in batches too: one merged, sorted table here.
    if (kernel.empty()) kernel.emplace_back();
    auto& all = kernel[0].symbols;
    all.insert(all.end(), r.symbols.begin(), r.symbols.end());
    std::sort(all.begin(), all.end(), [](const KernelSymbol& a, const KernelSymbol& b) {
      return a.address != b.address ? a.address < b.address : a.name < b.name;
    });
    all.erase(std::unique(all.begin(), all.end()), all.end());
  }
  void on(const CpuSample& r) override { samples.push_back(r); }
  void on(const LostEvents& r) override { lost.push_back(r); }
  void on(const SessionEnd& r) override { ends.push_back(r); }

  static Capture load(const std::string& path) {
    Capture c;
    format::CaptureReader reader(path);
    reader.read(c);
    c.has_index = reader.has_index();
    c.corrupted = reader.corrupted();
    c.session = reader.session();
    return c;
  }

  const ProcessInfo* process(uint32_t pid) const {
    const ProcessInfo* found = nullptr;
    for (const auto& p : processes)
      if (p.pid == pid) found = &p;  // the latest description wins
    return found;
  }
  size_t samples_of(uint32_t pid) const {
    size_t n = 0;
    for (const auto& s : samples) n += s.pid == pid;
    return n;
  }
  const SymbolTable* table(const std::vector<uint8_t>& build_id) const {
    for (const auto& t : tables)
      if (!build_id.empty() && t.build_id == build_id) return &t;
    return nullptr;
  }
  // The mapping of `pid` containing `addr` (latest first).
  const Mapping* mapping(uint32_t pid, uint64_t addr) const {
    for (auto it = mappings.rbegin(); it != mappings.rend(); ++it)
      if (it->pid == pid && addr >= it->start && addr < it->end) return &*it;
    return nullptr;
  }
  // Names `addr` of `pid` through the embedded symbol table, "" if it cannot.
  std::string symbol(uint32_t pid, uint64_t addr) const {
    const Mapping* m = mapping(pid, addr);
    if (!m) return "";
    const SymbolTable* t = table(m->build_id);
    if (!t) return "";
    uint64_t off = addr - m->start + m->file_offset;
    for (const auto& seg : t->segments) {
      if (off < seg.file_offset || off >= seg.file_offset + seg.file_size) continue;
      uint64_t vaddr = off - seg.file_offset + seg.vaddr;
      for (const auto& s : t->symbols)
        if (vaddr >= s.address && vaddr < s.address + std::max<uint64_t>(s.size, 1)) return s.name;
    }
    return "";
  }
  uint64_t lost_total() const {
    uint64_t n = 0;
    for (const auto& l : lost) n += l.count;
    return n;
  }
};

struct Result {
  int rc = -1;
  std::string err;
};

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/ebt-record-test-XXXXXX";
    path_ = mkdtemp(tmpl);
    chmod(path_.c_str(), 0755);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline pid_t spawn(const std::vector<std::string>& argv, const std::string& err_file) {
  pid_t pid = fork();
  if (pid == 0) {
    if (!err_file.empty()) {
      int fd = open(err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(fd, 2);
    }
    int null = open("/dev/null", O_WRONLY);
    dup2(null, 1);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(126);
  }
  return pid;
}

inline std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline int wait_rc(pid_t pid) {
  int st = 0;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

inline Result run(const std::vector<std::string>& argv, const TempDir& dir) {
  std::string err = dir / "stderr.txt";
  Result r;
  r.rc = wait_rc(spawn(argv, err));
  r.err = slurp(err);
  return r;
}

// Runs a command; its standard output in `out`, stderr in `err`.
struct Output {
  int rc = -1;
  std::string out, err;
};
inline Output run_out(const std::vector<std::string>& argv, const TempDir& dir) {
  std::string out = dir / "stdout.txt", err = dir / "stderr.txt";
  pid_t pid = fork();
  if (pid == 0) {
    int e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int o = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(e, 2);
    dup2(o, 1);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(126);
  }
  Output r;
  r.rc = wait_rc(pid);
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

inline std::vector<std::string> record_cmd(const std::string& out, std::vector<std::string> extra) {
  std::vector<std::string> argv = {EBT_EBTRACE_BIN, "record", "-o", out};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

inline bool wait_for_file(const std::string& path, double seconds) {
  auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(int(seconds * 1000));
  while (std::chrono::steady_clock::now() < end) {
    if (access(path.c_str(), F_OK) == 0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

// The pid of the workload: the only described process whose exe is the workload.
inline std::vector<uint32_t> workload_pids(const Capture& c) {
  std::vector<uint32_t> pids;
  std::string exe = fs::canonical(EBT_WORKLOAD_BIN).string();
  for (const auto& p : c.processes)
    if (p.exe == exe && std::find(pids.begin(), pids.end(), p.pid) == pids.end()) pids.push_back(p.pid);
  return pids;
}

inline void expect_consistent_end(const Capture& c) {
  ASSERT_EQ(c.ends.size(), 1u) << "SessionEnd missing: capture not finalized";
  EXPECT_TRUE(c.has_index);
  EXPECT_FALSE(c.corrupted);
  EXPECT_EQ(c.ends[0].samples, c.samples.size());
  EXPECT_EQ(c.ends[0].lost, c.lost_total());
  for (const auto& s : c.samples)
    if (s.stack_id) EXPECT_TRUE(c.stacks.count(s.stack_id)) << "sample refers to an unwritten stack";
}

}  // namespace record_test
