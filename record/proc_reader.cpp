#include "record/proc_reader.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "record/cgroups.h"

namespace ebt::record {
namespace {

std::optional<std::string> slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<uint32_t> numeric_entries(const std::string& dir) {
  std::vector<uint32_t> out;
  DIR* d = opendir(dir.c_str());
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    char* end = nullptr;
    unsigned long v = std::strtoul(e->d_name, &end, 10);
    if (end != e->d_name && *end == 0) out.push_back(static_cast<uint32_t>(v));
  }
  closedir(d);
  return out;
}

uint64_t clock_ns(clockid_t c) {
  timespec ts{};
  clock_gettime(c, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
}

}  // namespace

uint64_t monotonic_ns() { return clock_ns(CLOCK_MONOTONIC); }
uint64_t thread_cpu_ns() { return clock_ns(CLOCK_THREAD_CPUTIME_ID); }
int64_t boot_minus_mono_ns() { return int64_t(clock_ns(CLOCK_BOOTTIME)) - int64_t(clock_ns(CLOCK_MONOTONIC)); }

namespace {

// comm, ppid and start_ns of /proc/PID/stat into `p`; false when gone or unreadable.
bool read_stat(const std::string& base, int64_t boot_minus_mono, ProcessInfo* p) {
  auto stat = slurp(base + "/stat");
  if (!stat) return false;
  // comm may contain spaces and parens: fields start after the last ')'.
  auto lp = stat->find('('), rp = stat->rfind(')');
  if (lp == std::string::npos || rp == std::string::npos || rp < lp) return false;
  p->comm = stat->substr(lp + 1, rp - lp - 1);
  std::istringstream ss(stat->substr(rp + 2));
  std::string f;
  std::vector<std::string> fields;
  while (ss >> f) fields.push_back(f);
  // fields[0] is state (field 3); ppid is field 4, starttime field 22.
  if (fields.size() > 19) {
    p->ppid = static_cast<uint32_t>(std::strtoul(fields[1].c_str(), nullptr, 10));
    uint64_t ticks = std::strtoull(fields[19].c_str(), nullptr, 10);
    long hz = sysconf(_SC_CLK_TCK);
    int64_t boot_ns = int64_t(ticks * (1000000000ull / (hz > 0 ? hz : 100)));
    int64_t mono = boot_ns - boot_minus_mono;
    p->start_ns = mono > 0 ? uint64_t(mono) : 0;
  }
  return true;
}

}  // namespace

std::optional<uint64_t> read_process_start(uint32_t pid, int64_t boot_minus_mono) {
  ProcessInfo p;
  if (!read_stat("/proc/" + std::to_string(pid), boot_minus_mono, &p)) return std::nullopt;
  return p.start_ns;
}

std::optional<ProcessInfo> read_process_info(uint32_t pid, int64_t boot_minus_mono) {
  std::string base = "/proc/" + std::to_string(pid);
  ProcessInfo p;
  p.pid = pid;
  p.time_ns = monotonic_ns();
  if (!read_stat(base, boot_minus_mono, &p)) return std::nullopt;
  if (auto status = slurp(base + "/status")) {
    std::istringstream ss(*status);
    std::string line;
    while (std::getline(ss, line)) {
      if (line.rfind("NSpid:", 0) == 0) {
        std::istringstream ls(line.substr(6));
        uint32_t v;
        while (ls >> v) p.nspid.push_back(v);
      }
    }
  }
  char exe[4096];
  ssize_t n = readlink((base + "/exe").c_str(), exe, sizeof exe - 1);
  if (n > 0) p.exe.assign(exe, n);
  if (auto cmd = slurp(base + "/cmdline")) {
    size_t pos = 0;
    while (pos < cmd->size()) {
      size_t z = cmd->find('\0', pos);
      if (z == std::string::npos) z = cmd->size();
      p.cmdline.push_back(cmd->substr(pos, z - pos));
      pos = z + 1;
    }
  }
  if (auto cg = slurp(base + "/cgroup")) {
    // The id bpf_get_current_cgroup_id() returns, on every cgroup layout (record/cgroups.h).
    ProcCgroup c = parse_proc_cgroup(*cg, cgroup_layout());
    p.cgroup_path = c.path;
    p.cgroup_id = c.id;
  }
  return p;
}

std::optional<std::vector<ProcMapping>> read_exec_maps(uint32_t pid) {
  auto text = slurp("/proc/" + std::to_string(pid) + "/maps");
  if (!text) return std::nullopt;
  std::vector<ProcMapping> out;
  std::istringstream ss(*text);
  std::string line;
  while (std::getline(ss, line)) {
    // start-end perms offset dev inode [path]
    ProcMapping m;
    char perms[8] = {};
    unsigned long long start, end, off, ino;
    char dev[32];
    int consumed = 0;
    if (sscanf(line.c_str(), "%llx-%llx %7s %llx %31s %llu %n", &start, &end, perms, &off, dev, &ino,
               &consumed) < 6)
      continue;
    if (perms[2] != 'x') continue;
    m.start = start;
    m.end = end;
    m.offset = off;
    m.inode = ino;
    m.dev = dev;
    m.perms = perms;
    if (consumed > 0 && size_t(consumed) < line.size()) m.path = line.substr(consumed);
    while (!m.path.empty() && m.path.front() == ' ') m.path.erase(0, 1);
    out.push_back(std::move(m));
  }
  return out;
}

int open_mapped_file(uint32_t pid, const ProcMapping& m) {
  char mf[96];
  std::snprintf(mf, sizeof mf, "/proc/%u/map_files/%llx-%llx", pid, (unsigned long long)m.start,
                (unsigned long long)m.end);
  int fd = open(mf, O_RDONLY | O_CLOEXEC);
  if (fd >= 0) return fd;
  std::string path = m.path;
  const std::string deleted = " (deleted)";
  if (path.size() > deleted.size() && path.compare(path.size() - deleted.size(), deleted.size(), deleted) == 0)
    path.resize(path.size() - deleted.size());
  return open(("/proc/" + std::to_string(pid) + "/root" + path).c_str(), O_RDONLY | O_CLOEXEC);
}

std::vector<uint32_t> list_pids() { return numeric_entries("/proc"); }
std::vector<uint32_t> list_tids(uint32_t pid) { return numeric_entries("/proc/" + std::to_string(pid) + "/task"); }

std::string read_thread_comm(uint32_t pid, uint32_t tid) {
  auto s = slurp("/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/comm");
  if (!s) return {};
  while (!s->empty() && s->back() == '\n') s->pop_back();
  return *s;
}

uint32_t tgid_of(uint32_t tid) {
  auto status = slurp("/proc/" + std::to_string(tid) + "/status");
  if (!status) return 0;
  auto pos = status->find("\nTgid:");
  if (pos == std::string::npos) return 0;
  return static_cast<uint32_t>(std::strtoul(status->c_str() + pos + 6, nullptr, 10));
}

bool process_exists(uint32_t pid) {
  struct stat st {};
  return ::stat(("/proc/" + std::to_string(pid)).c_str(), &st) == 0;
}

}  // namespace ebt::record
