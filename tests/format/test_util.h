// Helpers shared by the format tests: a sample of every record kind and a
// visitor that collects what the reader delivers.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "format/reader.h"
#include "format/records.h"
#include "format/writer.h"

namespace ebt::format::testing {

struct Collected : RecordVisitor {
  std::vector<SessionEnd> ends;
  std::vector<ProcessInfo> processes;
  std::vector<ThreadInfo> threads;
  std::vector<ProcessExit> exits;
  std::vector<Mapping> mappings;
  std::vector<StringEntry> strings;
  std::vector<Stack> stacks;
  std::vector<LuaProto> protos;
  std::vector<SymbolTable> symtabs;
  std::vector<KernelSymbols> ksyms;
  std::vector<CpuSample> samples;
  std::vector<OffCpuInterval> offcpu;
  std::vector<SkbHop> hops;
  std::vector<TcpEvent> tcp;
  std::vector<CgroupInfo> cgroups;
  std::vector<SocketInfo> sockets;
  std::vector<SyscallEvent> syscalls;
  std::vector<LostEvents> lost;
  std::vector<UnwindTable> unwind_tables;
  std::vector<StackSnapshot> snapshots;
  std::vector<uint16_t> unknown;

  void on(const SessionEnd& v) override { ends.push_back(v); }
  void on(const ProcessInfo& v) override { processes.push_back(v); }
  void on(const ThreadInfo& v) override { threads.push_back(v); }
  void on(const ProcessExit& v) override { exits.push_back(v); }
  void on(const Mapping& v) override { mappings.push_back(v); }
  void on(const StringEntry& v) override { strings.push_back(v); }
  void on(const Stack& v) override { stacks.push_back(v); }
  void on(const LuaProto& v) override { protos.push_back(v); }
  void on(const SymbolTable& v) override { symtabs.push_back(v); }
  void on(const KernelSymbols& v) override { ksyms.push_back(v); }
  void on(const CpuSample& v) override { samples.push_back(v); }
  void on(const UnwindTable& v) override { unwind_tables.push_back(v); }
  void on(const StackSnapshot& v) override { snapshots.push_back(v); }
  void on(const OffCpuInterval& v) override { offcpu.push_back(v); }
  void on(const SkbHop& v) override { hops.push_back(v); }
  void on(const TcpEvent& v) override { tcp.push_back(v); }
  void on(const CgroupInfo& v) override { cgroups.push_back(v); }
  void on(const SocketInfo& v) override { sockets.push_back(v); }
  void on(const SyscallEvent& v) override { syscalls.push_back(v); }
  void on(const LostEvents& v) override { lost.push_back(v); }
  void on_unknown(uint16_t k) override { unknown.push_back(k); }

  size_t total() const {
    return ends.size() + processes.size() + threads.size() + exits.size() + mappings.size() + strings.size() +
           stacks.size() + protos.size() + symtabs.size() + ksyms.size() + samples.size() + offcpu.size() +
           hops.size() + sockets.size() + syscalls.size() + lost.size() + unknown.size();
  }
};

inline std::string damage_text(const CaptureReader& r) {
  std::string s;
  for (const auto& d : r.damage()) s += describe(d) + (d.truncated_tail() ? " [tail]\n" : "\n");
  return s;
}

inline SessionInfo sample_session() {
  SessionInfo s;
  s.hostname = "testhost";
  s.kernel_release = "6.18.0-test";
  s.boot_id = "0b5e1d2c-1111-2222-3333-444455556666";
  s.clock_monotonic_ns = 1'000'000'000;
  s.clock_realtime_ns = 1'790'000'000'000'000'000ull;
  s.cpu_count = 2;
  s.command_line = {"ebtrace", "record", "-F", "99", "-a"};
  s.options = "frequency=99 all=1";
  s.ebtrace_version = "0.1.0";
  s.start_ns = 1'000'000'500;
  s.sample_frequency_hz = 99;
  s.machine = "x86_64";
  return s;
}

inline std::string temp_path(const std::string& name) {
  // tmpfs when available: the truncation test writes thousands of small files.
  const char* dir = std::getenv("TMPDIR");
  std::string base = dir ? dir : (::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
  return base + "/ebt-format-" + std::to_string(::getpid()) + "-" + name;
}

inline std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void write_file(const std::string& path, const uint8_t* data, size_t n) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(n));
}

}  // namespace ebt::format::testing
