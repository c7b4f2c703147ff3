// End to end, as root with BPF: `ebtrace record --off-cpu` of samples/blocker,
// then `ebtrace report` folded / flame graph / trace JSON / latency, checked
// against what the workload measured itself.
//
// blocker: thread "sleeper" blocks ROUNDS x (7 ms nanosleep in blocker_a_sleep,
// then a pipe read in blocker_b_pipe_wait until thread "waker" writes it from
// blocker_c_wake ~3 ms later). It prints its own CLOCK_MONOTONIC totals.
//
// Tolerances: the workload's own timing brackets each blocking syscall, so it
// includes the syscall entry/exit and the switch itself (a few us per call);
// the recorder sees switch-out..switch-in. On this shared 2-CPU machine we allow
// 4 % + 2 ms per total, and 3 percentage points on the A/B split.
#include <cmath>
#include <map>
#include <set>

#include <gtest/gtest.h>

#include "tests/bpf_guard.h"
#include "tests/cli/cli_harness.h"
#include "tests/offcpu/mini_json.h"

namespace ebt::test {
namespace {

constexpr double kRelTol = 0.04;
constexpr double kAbsTolNs = 2e6;

struct Measured {
  uint32_t pid = 0, sleeper_tid = 0, waker_tid = 0;
  uint64_t a_count = 0, b_count = 0, c_count = 0;
  double a_ns = 0, b_ns = 0;
};

Measured parse_measured(const std::string& out) {
  Measured m;
  for (const auto& line : lines_of(out)) {
    if (line.rfind("{\"pid\"", 0) != 0) continue;
    Json j = JsonParser::parse(line);
    m.pid = uint32_t(j["pid"].num);
    m.sleeper_tid = uint32_t(j["sleeper_tid"].num);
    m.waker_tid = uint32_t(j["waker_tid"].num);
    m.a_count = uint64_t(j["a_count"].num);
    m.b_count = uint64_t(j["b_count"].num);
    m.c_count = uint64_t(j["c_count"].num);
    m.a_ns = j["a_ns"].num;
    m.b_ns = j["b_ns"].num;
  }
  return m;
}

std::string blocker() { return std::string(EBT_BLOCKER_DIR) + "/blocker"; }

bool near(double got, double want) { return std::fabs(got - want) <= want * kRelTol + kAbsTolNs; }

class OffCpuE2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!bpf_unavailable_reason().empty()) return;
    dir_ = new TempDir("ebt-offcpu");
    capture_ = (*dir_ / "blocker.ebt").string();
    RunResult r = run({ebtrace_bin(), "record", "--off-cpu", "--off-cpu-waker", "-o", capture_, "--",
                       blocker(), "100", "7000", "3000"},
                      timeout(120));
    record_ = new RunResult(r);
    measured_ = parse_measured(r.out);
  }
  static void TearDownTestSuite() {
    delete dir_;
    delete record_;
    dir_ = nullptr;
    record_ = nullptr;
  }
  void SetUp() override {
    EBT_REQUIRE_BPF_OR_SKIP();
    ASSERT_EQ(record_->exit_code, 0) << record_->describe();
    ASSERT_EQ(measured_.a_count, 100u) << record_->describe();
    ASSERT_NE(measured_.sleeper_tid, 0u);
  }
  static RunResult report(std::vector<std::string> args, double t = 120) {
    std::vector<std::string> argv = {ebtrace_bin(), "report", capture_};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, timeout(t));
  }

  static TempDir* dir_;
  static std::string capture_;
  static RunResult* record_;
  static Measured measured_;
};

TempDir* OffCpuE2E::dir_ = nullptr;
std::string OffCpuE2E::capture_;
RunResult* OffCpuE2E::record_ = nullptr;
Measured OffCpuE2E::measured_;

TEST_F(OffCpuE2E, RecordSummaryCountsIntervals) {
  EXPECT_NE(record_->err.find("off-CPU intervals"), std::string::npos) << record_->describe();
}

TEST_F(OffCpuE2E, FlameGraphAttributesBlockedTime) {
  RunResult r = report({"--folded", "--weight", "time", "--tid", std::to_string(measured_.sleeper_tid)});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  auto stacks = parse_folded(r.out);
  ASSERT_FALSE(stacks.empty()) << r.describe();
  double a = 0, b = 0, total = 0;
  for (const auto& s : stacks) {
    ASSERT_GE(s.frames.size(), 3u);
    EXPECT_EQ(s.frames[0], "sleeper");
    EXPECT_EQ(s.frames[1].rfind("[off-cpu: ", 0), 0u) << s.frames[1];
    total += double(s.count);
    if (stack_has(s, "blocker_a_sleep")) a += double(s.count);
    if (stack_has(s, "blocker_b_pipe_wait")) b += double(s.count);
    if (stack_has(s, "blocker_a_sleep") || stack_has(s, "blocker_b_pipe_wait")) {
      // stacks start in the scheduler: the tracing machinery was skipped
      EXPECT_TRUE(frame_is(s.frames.back(), "__schedule")) << s.frames.back();
    }
  }
  EXPECT_TRUE(near(a, measured_.a_ns)) << "A: recorded " << a << " ns, measured " << measured_.a_ns;
  EXPECT_TRUE(near(b, measured_.b_ns)) << "B: recorded " << b << " ns, measured " << measured_.b_ns;
  double want_share = measured_.a_ns / (measured_.a_ns + measured_.b_ns);
  EXPECT_NEAR(a / (a + b), want_share, 0.03);
  // A and B are (nearly) all of the sleeper's blocked time
  EXPECT_GE((a + b) / total, 0.97) << "total " << total;
}

TEST_F(OffCpuE2E, CountWeightCountsSwitches) {
  RunResult r = report({"--folded", "--off-cpu", "--weight", "count", "--tid",
                        std::to_string(measured_.sleeper_tid)});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  uint64_t a = 0, b = 0;
  for (const auto& s : parse_folded(r.out)) {
    if (s.frames.size() < 2 || s.frames[1] != "[off-cpu: S]") continue;
    if (stack_has(s, "blocker_a_sleep")) a += s.count;
    if (stack_has(s, "blocker_b_pipe_wait")) b += s.count;
  }
  // Every sleep is one interval. Allow a rare miss: a switch that no program saw
  // (the kernel skips a tracing program that would recurse on its CPU).
  EXPECT_LE(a, measured_.a_count);
  EXPECT_GE(a, measured_.a_count - 2);
  // B blocks unless the sleeper reached read() only after the waker wrote (a
  // > 3 ms scheduling delay): tolerate a few.
  EXPECT_LE(b, measured_.b_count);
  EXPECT_GE(b, measured_.b_count - 5);
}

// --wakers: the waker thread's stacks, weighted by how long they kept the
// sleeper waiting; the pipe wake-ups come from blocker_c_wake.
TEST_F(OffCpuE2E, WakerFlameGraphNamesC) {
  RunResult r = report({"--folded", "--wakers", "--tid", std::to_string(measured_.waker_tid)});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  double c = 0;
  for (const auto& s : parse_folded(r.out)) {
    EXPECT_EQ(s.frames[0], "waker");
    if (s.frames[1] == "[woke: sleeper]" && stack_has(s, "blocker_c_wake")) {
      c += double(s.count);
      EXPECT_TRUE(frame_is(s.frames.back(), "try_to_wake_up")) << s.frames.back();
    }
  }
  // every B wait ended by C: its blocked time is the B time
  EXPECT_TRUE(near(c, measured_.b_ns)) << "C woke " << c << " ns of waiting, B measured " << measured_.b_ns;
}

TEST_F(OffCpuE2E, SvgFlameGraphHasOffCpuFrames) {
  std::string svg = (*dir_ / "off.svg").string();
  RunResult r = report({"--flamegraph", svg});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  std::string text = read_text(svg);
  EXPECT_NE(text.find("<svg"), std::string::npos);
  EXPECT_NE(text.find("blocker_a_sleep"), std::string::npos);
  EXPECT_NE(text.find("[off-cpu: S]"), std::string::npos);
}

TEST_F(OffCpuE2E, TraceJsonIsValidAndAddsUp) {
  std::string path = (*dir_ / "trace.json").string();
  RunResult r = report({"--trace", path});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  Json doc = JsonParser::parse(read_text(path));
  ASSERT_EQ(check_trace_events(doc), "");
  EXPECT_TRUE(doc["otherData"].has("wall_clock_start"));

  const double sleeper = measured_.sleeper_tid, waker = measured_.waker_tid;
  bool named = false;
  double slice_us = 0, a_us = 0;
  size_t waker_named_c = 0, b_slices = 0;
  std::map<std::string, std::pair<const Json*, const Json*>> flows;  // id -> (s, f)
  for (const auto& e : doc["traceEvents"].arr) {
    const std::string& ph = e["ph"].str;
    if (ph == "M" && e["name"].str == "thread_name" && e["tid"].num == sleeper)
      named = e["args"]["name"].str.rfind("sleeper", 0) == 0;
    if (ph == "X" && e["tid"].num == sleeper && e["cat"].str == "off-cpu" && e["name"].str != "runnable") {
      slice_us += e["dur"].num;
      EXPECT_EQ(e["pid"].num, measured_.pid);
      ASSERT_TRUE(e["args"].has("state"));
      ASSERT_TRUE(e["args"].has("stack"));
      if (e["name"].str.rfind("blocker_a_sleep", 0) == 0) a_us += e["dur"].num;
      if (e["name"].str.rfind("blocker_b_pipe_wait", 0) == 0 && e["args"]["state"].str[0] == 'S') {
        b_slices++;
        if (e["args"].has("waker_stack")) {
          // the waker's kernel stack starts where the wake-up happened
          EXPECT_EQ(e["args"]["waker_stack"].arr.at(0).str.rfind("try_to_wake_up", 0), 0u);
          for (const auto& f : e["args"]["waker_stack"].arr)
            if (f.str.rfind("blocker_c_wake", 0) == 0) waker_named_c++;
          EXPECT_NE(e["args"]["waker"].str.find("/" + std::to_string(measured_.waker_tid)),
                    std::string::npos);
        }
      }
    }
    if (ph == "s" || ph == "f") {
      auto& p = flows[e["id"].raw_number];
      (ph == "s" ? p.first : p.second) = &e;
    }
  }
  EXPECT_TRUE(named);
  EXPECT_TRUE(near(slice_us * 1e3, measured_.a_ns + measured_.b_ns))
      << "slices " << slice_us << " us, measured " << (measured_.a_ns + measured_.b_ns) / 1e3 << " us";
  EXPECT_TRUE(near(a_us * 1e3, measured_.a_ns));
  // every pipe wake-up names the waker's function C
  EXPECT_GE(b_slices, measured_.b_count - 5);
  EXPECT_EQ(waker_named_c, b_slices);
  // wake-up arrows from the waker thread to the sleeper
  size_t waker_to_sleeper = 0;
  for (const auto& [id, p] : flows) {
    ASSERT_TRUE(p.first && p.second) << id;
    EXPECT_EQ((*p.first)["ts"].raw_number, (*p.second)["ts"].raw_number);
    if ((*p.first)["tid"].num == waker && (*p.second)["tid"].num == sleeper) waker_to_sleeper++;
  }
  EXPECT_GE(waker_to_sleeper, measured_.b_count - 5);
}

// Without --off-cpu-waker (no waker stacks) the waker and the wake-up time are
// still recorded: every pipe wait of the sleeper names the waker thread and
// has its runnable part (the wake-up inside the interval), and an arrow goes
// from the waker to the sleeper for each.
TEST_F(OffCpuE2E, WakeupsWithoutWakerStacks) {
  std::string cap = (*dir_ / "wakeups.ebt").string();
  RunResult rec = run({ebtrace_bin(), "record", "--off-cpu", "-o", cap, "--", blocker(), "40", "7000", "3000"},
                      timeout(120));
  ASSERT_EQ(rec.exit_code, 0) << rec.describe();
  Measured m = parse_measured(rec.out);
  ASSERT_EQ(m.b_count, 40u) << rec.describe();
  std::string path = (*dir_ / "wakeups.json").string();
  RunResult r = run({ebtrace_bin(), "report", cap, "--trace", path}, timeout(120));
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  Json doc = JsonParser::parse(read_text(path));
  ASSERT_EQ(check_trace_events(doc), "");
  const double sleeper = m.sleeper_tid, waker = m.waker_tid;
  size_t b_slices = 0, by_waker = 0, runnable = 0;
  std::map<std::string, std::pair<const Json*, const Json*>> flows;  // id -> (s, f)
  for (const auto& e : doc["traceEvents"].arr) {
    const std::string& ph = e["ph"].str;
    if (ph == "X" && e["tid"].num == sleeper && e["cat"].str == "off-cpu" &&
        e["name"].str.rfind("blocker_b_pipe_wait", 0) == 0 && e["args"]["state"].str[0] == 'S') {
      b_slices++;
      if (e["args"].has("waker") && e["args"]["waker"].str.find("/" + std::to_string(m.waker_tid)) != std::string::npos)
        by_waker++;
      if (e["args"].has("runnable_us") && e["args"]["runnable_us"].num >= 0 &&
          e["args"]["runnable_us"].num <= e["dur"].num)
        runnable++;
    }
    if (ph == "s" || ph == "f") {
      auto& p = flows[e["id"].raw_number];
      (ph == "s" ? p.first : p.second) = &e;
    }
  }
  EXPECT_GE(b_slices, m.b_count - 5);
  EXPECT_LE(b_slices, m.b_count);
  EXPECT_EQ(by_waker, b_slices);
  EXPECT_EQ(runnable, b_slices);
  size_t waker_to_sleeper = 0;
  for (const auto& [id, p] : flows) {
    ASSERT_TRUE(p.first && p.second) << id;
    if ((*p.first)["tid"].num == waker && (*p.second)["tid"].num == sleeper) waker_to_sleeper++;
  }
  // (a nanosleep's timer may also fire on top of the waker thread: at least one per pipe wait)
  EXPECT_GE(waker_to_sleeper, b_slices);
}

TEST_F(OffCpuE2E, LatencyTable) {
  RunResult r = report({"--latency"});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_NE(r.out.find("sleeper " + std::to_string(measured_.pid) + "/" +
                       std::to_string(measured_.sleeper_tid)),
            std::string::npos)
      << r.out;
  // the blocker_a_sleep (S) row: 100 sleeps, p50 at least the requested 7 ms
  bool found = false;
  for (const auto& line : lines_of(r.out)) {
    if (line.rfind("blocker_a_sleep (S)", 0) != 0) continue;
    std::istringstream is(line.substr(std::strlen("blocker_a_sleep (S)")));
    uint64_t count;
    double total, p50, p90, p99, max;
    is >> count >> total >> p50 >> p90 >> p99 >> max;
    ASSERT_TRUE(is) << line;
    EXPECT_LE(count, measured_.a_count) << line;
    EXPECT_GE(count, measured_.a_count - 2) << line;
    EXPECT_GE(p50, 7.0) << line;
    EXPECT_LE(p50, 2.0 * measured_.a_ns / 1e6 / double(measured_.a_count)) << line;
    EXPECT_LE(p50, p90);
    EXPECT_LE(p90, p99);
    EXPECT_LE(p99, max);
    EXPECT_TRUE(near(total * 1e6, measured_.a_ns)) << line;
    found = true;
  }
  EXPECT_TRUE(found) << r.out;
}

// The classic-tracepoint fallback, together with on-CPU sampling: the combined
// on+off-CPU view weighs samples 1/F s each and marks the off-CPU part.
TEST_F(OffCpuE2E, TracepointFallbackWithOnCpuSamples) {
  std::string cap = (*dir_ / "both.ebt").string();
  RunOptions o = timeout(120);
  o.env.push_back("EBTRACE_OFFCPU_TRACEPOINT=1");
  RunResult rec = run({ebtrace_bin(), "record", "-F", "1000", "--off-cpu", "-o", cap, "--", blocker(), "30"}, o);
  ASSERT_EQ(rec.exit_code, 0) << rec.describe();
  EXPECT_NE(rec.err.find("using the sched tracepoints"), std::string::npos) << rec.describe();
  Measured m = parse_measured(rec.out);
  ASSERT_EQ(m.a_count, 30u);

  RunResult off = run({ebtrace_bin(), "report", cap, "--folded", "--off-cpu", "--weight", "count", "--tid",
                       std::to_string(m.sleeper_tid)},
                      timeout(120));
  ASSERT_EQ(off.exit_code, 0) << off.describe();
  uint64_t a = 0;
  for (const auto& s : parse_folded(off.out)) {
    ASSERT_EQ(s.frames[1].rfind("[off-cpu: ", 0), 0u);
    if (s.frames[1] == "[off-cpu: S]" && stack_has(s, "blocker_a_sleep")) {
      a += s.count;
      EXPECT_TRUE(frame_is(s.frames.back(), "__schedule")) << s.frames.back();
    }
  }
  EXPECT_LE(a, 30u);
  EXPECT_GE(a, 28u);  // see CountWeightCountsSwitches

  RunResult both = run({ebtrace_bin(), "report", cap, "--folded", "--on-off"}, timeout(120));
  ASSERT_EQ(both.exit_code, 0) << both.describe();
  uint64_t marked = 0, unmarked = 0;
  for (const auto& s : parse_folded(both.out)) {
    if (s.frames.size() > 1 && s.frames[1].rfind("[off-cpu: ", 0) == 0) {
      marked += s.count;
    } else {
      unmarked += s.count;
      EXPECT_EQ(s.count % 1000000, 0u) << "on-CPU weight is 1 ms per sample at -F 1000";
    }
  }
  EXPECT_GT(marked, 0u);
  EXPECT_GT(unmarked, 0u);
  EXPECT_GT(marked, 30 * 7e6);  // at least the sleeps

  // without --off-cpu/--on-off, a capture with on-CPU samples reports those
  RunResult on = run({ebtrace_bin(), "report", cap, "--folded"}, timeout(120));
  ASSERT_EQ(on.exit_code, 0) << on.describe();
  for (const auto& s : parse_folded(on.out))
    EXPECT_NE(s.frames[1].rfind("[off-cpu: ", 0), 0u) << s.frames[1];
}

// The common target filter applies in the kernel: --comm keeps one thread's
// intervals only (the sleeper names itself right after it starts), all its sleeps.
TEST_F(OffCpuE2E, CommFilter) {
  std::string cap = (*dir_ / "comm.ebt").string();
  RunResult rec = run({ebtrace_bin(), "record", "--off-cpu", "--comm", "sleeper", "-o", cap, "--", blocker(), "20"},
                      timeout(120));
  ASSERT_EQ(rec.exit_code, 0) << rec.describe();
  Measured m = parse_measured(rec.out);
  RunResult r = run({ebtrace_bin(), "report", cap, "--folded", "--weight", "count"}, timeout(120));
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  uint64_t a = 0;
  auto stacks = parse_folded(r.out);
  ASSERT_FALSE(stacks.empty()) << r.describe();
  for (const auto& s : stacks) {
    EXPECT_EQ(s.frames[0], "sleeper");
    // kernel frames: user frames of a process whose main thread does not match
    // --comm may stay unresolved (its mappings are not harvested)
    if (s.frames[1] == "[off-cpu: S]" && stack_has(s, "__x64_sys_nanosleep")) a += s.count;
  }
  EXPECT_LE(a, m.a_count);
  EXPECT_GE(a, m.a_count - 2);
}

TEST_F(OffCpuE2E, BadReportOptions) {
  RunResult r = report({"--folded", "--weight", "bogus"});
  EXPECT_EQ(r.exit_code, 2) << r.describe();
  RunResult r2 = report({"--folded", "--on-off", "--weight", "count"});
  EXPECT_EQ(r2.exit_code, 2) << r2.describe();
  RunResult r3 = report({"--folded", "--on-off", "--wakers"});
  EXPECT_EQ(r3.exit_code, 2) << r3.describe();
}

}  // namespace
}  // namespace ebt::test
