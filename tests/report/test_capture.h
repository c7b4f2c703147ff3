// A small synthetic capture with known contents, as plain records: fed to a
// ProfileBuilder directly, or written with CaptureWriter for file-level tests.
#pragma once

#include <cstdint>
#include <vector>

#include "format/records.h"

namespace ebt::test {

constexpr uint64_t kStart = 1'000'000'000;  // session start (monotonic ns)
constexpr uint64_t kMs = 1'000'000;
constexpr uint64_t kBase100 = 0x555555554000;
constexpr uint64_t kBase200 = 0x560000000000;
constexpr uint64_t kKernel = 0xffffffff81000000;

inline const std::vector<uint8_t> kAppId = {0x12, 0x34, 0x56, 0x78, 0x9a};

struct SyntheticCapture {
  SessionInfo session;
  SessionEnd end;
  std::vector<ProcessInfo> processes;
  std::vector<ThreadInfo> threads;
  std::vector<Mapping> mappings;
  SymbolTable table;
  KernelSymbols kernel;
  std::vector<Stack> stacks;
  std::vector<CpuSample> samples;
  std::vector<LostEvents> lost;

  // Visitor-style replay in a valid (backward-referencing) order.
  template <typename Sink>
  void replay(Sink&& sink) const {
    for (const auto& p : processes) sink(p);
    for (const auto& t : threads) sink(t);
    for (const auto& m : mappings) sink(m);
    for (const auto& s : stacks) sink(s);
    for (const auto& s : samples) sink(s);
    for (const auto& l : lost) sink(l);
    sink(table);
    sink(kernel);
    sink(end);
  }
};

// pid 100 "burner": thread 100 (60 samples in work::hot at 0.00-0.59 s) and thread
// 101 "worker" (30 samples in cold at 1.00-1.29 s); pid 200 "other": 10 samples in
// a write() syscall under helper at 2.00-2.09 s. Folded:
//   burner;main;work::hot() 60
//   other;main;helper;do_syscall_64_[k];ksys_write_[k] 10
//   worker;main;cold 30
inline SyntheticCapture make_synthetic_capture() {
  SyntheticCapture c;
  c.session.hostname = "testhost";
  c.session.kernel_release = "6.18.0-test";
  c.session.start_ns = kStart;
  c.session.clock_monotonic_ns = kStart;
  c.session.clock_realtime_ns = 1'700'000'000'000'000'000ULL;
  c.session.cpu_count = 2;
  c.session.sample_frequency_hz = 99;
  c.session.machine = "x86_64";
  c.session.command_line = {"ebtrace", "record", "-a"};
  c.end.end_ns = kStart + 3000 * kMs;
  c.end.samples = 100;
  c.end.lost = 7;

  ProcessInfo p;
  p.pid = 100; p.ppid = 1; p.comm = "burner"; p.exe = "/opt/app/burner"; p.time_ns = kStart;
  c.processes.push_back(p);
  p.pid = 200; p.comm = "other"; p.exe = "/opt/app/burner";
  c.processes.push_back(p);
  c.threads.push_back({100, 101, "worker", kStart});

  for (auto [pid, base] : {std::pair{100u, kBase100}, std::pair{200u, kBase200}}) {
    Mapping m;
    m.pid = pid; m.start = base; m.end = base + 0x10000; m.file_offset = 0;
    m.path = "/opt/app/burner"; m.build_id = kAppId; m.time_ns = kStart;
    c.mappings.push_back(m);
  }
  c.table.build_id = kAppId;
  c.table.path = "/opt/app/burner";
  c.table.segments = {{0x0, 0x0, 0x1000}, {0x1000, 0x1000, 0x4000}};
  c.table.symbols = {{0x1000, 0x100, "main"}, {0x1100, 0x100, "_ZN4work3hotEv"},
                     {0x1200, 0x100, "cold"}, {0x1300, 0x100, "helper"}};
  c.kernel.symbols = {{kKernel, "do_syscall_64", ""}, {kKernel + 0x1000, "ksys_write", ""},
                      {kKernel + 0x2000, "bound", ""}};

  auto u = [](uint64_t a) { return Frame{a, FrameKind::kUser}; };
  auto k = [](uint64_t a) { return Frame{a, FrameKind::kKernel}; };
  c.stacks.push_back({1, {u(kBase100 + 0x1110), u(kBase100 + 0x1020)}});
  c.stacks.push_back({2, {u(kBase100 + 0x1210), u(kBase100 + 0x1030)}});
  c.stacks.push_back({3, {k(kKernel + 0x1010), k(kKernel + 0x10), u(kBase200 + 0x1310),
                          u(kBase200 + 0x1040)}});
  for (int i = 0; i < 60; ++i) c.samples.push_back({kStart + i * 10 * kMs, 100, 100, 0, 1});
  for (int i = 0; i < 30; ++i) c.samples.push_back({kStart + 1000 * kMs + i * 10 * kMs, 100, 101, 1, 2});
  for (int i = 0; i < 10; ++i) c.samples.push_back({kStart + 2000 * kMs + i * 10 * kMs, 200, 200, 0, 3});
  c.lost.push_back({kStart + 500 * kMs, 1, LossSource::kRingBuffer, 7});
  return c;
}

}  // namespace ebt::test
