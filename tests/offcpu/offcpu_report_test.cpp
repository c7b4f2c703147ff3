// Off-CPU report pieces on a synthetic Profile (no root, no BPF): weighted
// samples for flame graphs, the combined on+off view, the trace timeline.
#include <gtest/gtest.h>

#include "common/error.h"
#include "report/aggregate.h"
#include "report/folded.h"
#include "report/offcpu_profile.h"
#include "report/cpu_timeline.h"
#include "report/offcpu_trace.h"
#include "report/stacks_family.h"
#include "tests/report/profile_fixture.h"
#include "tests/offcpu/mini_json.h"

namespace ebt::report {
namespace {

using test::Json;
using test::JsonParser;

constexpr uint64_t kStart = 1'000'000'000'000;  // monotonic session start

// pid 10: "app" with threads 11 ("sleeper") and 12 ("waker").
std::unique_ptr<Profile> synthetic(uint32_t hz = 0) {
  auto p = std::make_unique<Profile>();
  ProfileBuilder b(*p);
  p->session.start_ns = kStart;
  p->session.clock_monotonic_ns = kStart;
  p->session.clock_realtime_ns = 1'700'000'000'123'456'789ull;
  p->session.hostname = "testhost";
  p->session.sample_frequency_hz = hz;
  ProcessInfo pi;
  pi.pid = 10;
  pi.comm = "app";
  pi.time_ns = kStart;
  b.on(pi);
  b.on(ThreadInfo{10, 11, "sleeper", kStart});
  b.on(ThreadInfo{10, 12, "waker", kStart});
  Mapping m;
  m.pid = 10;
  m.start = 0x400000;
  m.end = 0x410000;
  m.path = "/opt/app";
  m.build_id = {1, 2, 3, 4};
  m.time_ns = kStart;
  b.on(m);
  SymbolTable st;
  st.build_id = m.build_id;
  st.path = m.path;
  st.segments = {{0, 0, 0x10000}};
  st.symbols = {{0x1000, 0x100, "fn_leaf"}, {0x2000, 0x100, "fn_caller"}, {0x3000, 0x100, "fn_other"}};
  b.on(st);
  b.on(Stack{1, {{0x401010, FrameKind::kUser}, {0x402010, FrameKind::kUser}}});
  b.on(Stack{2, {{0x403010, FrameKind::kUser}}});
  // 3 x 7 ms sleeping on stack 1 (woken by tid 12 1 ms before switch-in), 1 x 3 ms
  // preempted on stack 2 (no waker)
  for (int i = 0; i < 3; i++) {
    OffCpuInterval iv;
    iv.start_ns = kStart + 10'000'000ull * i;
    iv.duration_ns = 7'000'000;
    iv.pid = 10;
    iv.tid = 11;
    iv.stack_id = 1;
    iv.state = TaskState::kInterruptible;
    iv.waker_pid = 10;
    iv.waker_tid = 12;
    iv.wakeup_ns = iv.start_ns + 6'000'000;
    iv.waker_stack_id = 2;
    b.on(iv);
  }
  OffCpuInterval pre;
  pre.start_ns = kStart + 50'000'000;
  pre.duration_ns = 3'000'000;
  pre.pid = 10;
  pre.tid = 11;
  pre.stack_id = 2;
  pre.state = TaskState::kRunning;
  b.on(pre);
  if (hz) {
    for (int i = 0; i < 5; i++) b.on(CpuSample{kStart + 1'000'000ull * i, 10, 12, 0, 2});
  }
  return p;
}

TEST(OffCpuProfile, TimeAndCountWeightsWithStateMarkers) {
  auto p = synthetic();
  auto time = aggregate(*p, offcpu_samples(*p, p->off_cpu, OffCpuWeight::kTime), {});
  EXPECT_EQ(time.total_weight, 3 * 7'000'000u + 3'000'000u);
  EXPECT_EQ(time.total_count, 4u);
  auto lines = folded_lines(*p, time);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].first.rfind("sleeper;[off-cpu: R];", 0), 0u) << lines[0].first;
  EXPECT_EQ(lines[0].second, 3'000'000u);
  EXPECT_EQ(lines[0].first, "sleeper;[off-cpu: R];fn_other");
  EXPECT_EQ(lines[1].first, "sleeper;[off-cpu: S];fn_caller;fn_leaf");
  EXPECT_EQ(lines[1].second, 21'000'000u);

  auto count = aggregate(*p, offcpu_samples(*p, p->off_cpu, OffCpuWeight::kCount), {});
  EXPECT_EQ(count.total_weight, 4u);
  auto clines = folded_lines(*p, count);
  ASSERT_EQ(clines.size(), 2u);
  EXPECT_EQ(clines[1].second, 3u);
}

TEST(OffCpuProfile, OnOffWeighsSamplesByFrequency) {
  auto p = synthetic(100);  // 100 Hz: 10 ms per sample
  // On-CPU samples weigh one period (10 ms) each, intervals their duration.
  StackAggregator on, off;
  for (Sample s : p->samples) on.add(*p, s);
  for (const auto& s : offcpu_samples(*p, p->off_cpu, OffCpuWeight::kTime)) off.add(*p, s);
  off.merge(on, 10'000'000);
  auto agg = off.finish(*p);
  EXPECT_EQ(agg.total_weight, 24'000'000u + 5 * 10'000'000u);
  uint64_t unmarked = 0;
  for (const auto& [line, w] : folded_lines(*p, agg))
    if (line.find("[off-cpu: ") == std::string::npos) {
      EXPECT_EQ(line.rfind("waker;", 0), 0u) << line;
      unmarked += w;
    }
  EXPECT_EQ(unmarked, 50'000'000u);
}

TEST(OffCpuProfile, WakerSamplesOnTheWakersThread) {
  auto p = synthetic();
  auto agg = aggregate(*p, waker_samples(*p, p->off_cpu, OffCpuWeight::kTime), {});
  auto lines = folded_lines(*p, agg);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].first, "waker;[woke: sleeper];fn_other");
  EXPECT_EQ(lines[0].second, 21'000'000u);
  EXPECT_EQ(waker_samples(*p, p->off_cpu, OffCpuWeight::kCount).size(), 3u);
  auto sel = select_view(false, false, "count", true, false, true);
  EXPECT_EQ(sel.source, StackSource::kWakers);
  EXPECT_EQ(sel.unit, "switches");
  EXPECT_THROW(select_view(false, true, "", true, false, true), BadInput);
  EXPECT_THROW(select_view(false, false, "bytes", false, false, true), BadInput);
  EXPECT_THROW(select_view(false, false, "count", false, true, true), BadInput);  // on-CPU data
  EXPECT_EQ(select_view(false, false, "", false, false, true).source, StackSource::kOffCpu);
}

TEST(OffCpuProfile, FilterIntervals) {
  auto p = synthetic();
  Filter f;
  f.tids = {12};
  EXPECT_TRUE(filter_intervals(*p, p->off_cpu, f).empty());
  Filter g;
  g.time_begin_s = 0.015;  // drops the first two intervals (start 0 and 10 ms)
  EXPECT_EQ(filter_intervals(*p, p->off_cpu, g).size(), 2u);
  Filter c;
  c.comms = {"sleeper"};
  EXPECT_EQ(filter_intervals(*p, p->off_cpu, c).size(), 4u);
}

TEST(OffCpuTrace, SlicesRunnableFlowsAndMetadata) {
  auto p = synthetic();
  TraceJson t = start_trace(*p);
  EXPECT_EQ(add_offcpu_to_trace(t, *p, p->off_cpu), 4u);
  Json doc = JsonParser::parse(t.str());
  ASSERT_EQ(test::check_trace_events(doc), "");
  EXPECT_EQ(doc["otherData"]["wall_clock_start"].str, "2023-11-14T22:13:20.123456789Z");
  EXPECT_EQ(doc["otherData"]["hostname"].str, "testhost");

  double off_us = 0;
  int runnable = 0, wakeups = 0, s = 0, f = 0;
  std::set<double> named_tids;
  for (const auto& e : doc["traceEvents"].arr) {
    const std::string& ph = e["ph"].str;
    if (ph == "M" && e["name"].str == "thread_name") named_tids.insert(e["tid"].num);
    if (ph == "X" && e["cat"].str == "off-cpu" && e["name"].str != "runnable") {
      off_us += e["dur"].num;
      EXPECT_EQ(e["tid"].num, 11);
    }
    if (ph == "X" && e["name"].str == "runnable") {
      runnable++;
      EXPECT_EQ(e["dur"].raw_number, "1000.000");
    }
    if (ph == "X" && e["cat"].str == "wakeup") {
      wakeups++;
      EXPECT_EQ(e["tid"].num, 12);
      EXPECT_EQ(e["dur"].num, 0);
    }
    if (ph == "s") {
      s++;
      EXPECT_EQ(e["tid"].num, 12);
    }
    if (ph == "f") {
      f++;
      EXPECT_EQ(e["tid"].num, 11);
    }
  }
  EXPECT_DOUBLE_EQ(off_us, 24000.0);
  EXPECT_EQ(runnable, 3);
  EXPECT_EQ(wakeups, 3);
  EXPECT_EQ(s, 3);
  EXPECT_EQ(f, 3);
  EXPECT_EQ(named_tids, (std::set<double>{11, 12}));
}

TEST(OffCpuTrace, CpuSamplesAsMergedSlices) {
  // 100 Hz: two runs of 5 samples of one stack (1 ms apart, then 10 ms apart
  // from 100 ms on), 96 ms between them: two slices of 5 periods (50 ms).
  auto p = synthetic(100);
  for (int i = 0; i < 5; i++) p->samples.push_back({kStart + 100'000'000ull + 10'000'000ull * i, 10, 12, 0, 2});
  RunOptions run;
  run.trace = "unused.json";
  run.trace_max_bytes = 100 << 20;
  auto family = make_cpu_timeline_family();
  family->configure(*p, run);
  for (const Sample& s : p->samples) family->on(CpuSample{s.time_ns, s.pid, s.tid, s.cpu, s.stack_id});
  TraceJson t = start_trace(*p);
  EXPECT_EQ(family->add_trace(t, *p), 10u);
  Json doc = JsonParser::parse(t.str());
  ASSERT_EQ(test::check_trace_events(doc), "");
  std::vector<std::string> durs;
  for (const auto& e : doc["traceEvents"].arr)
    if (e["ph"].str == "X" && e["cat"].str == "on-cpu") {
      EXPECT_EQ(e["tid"].num, 12);
      EXPECT_EQ(e["name"].str, "fn_other");
      durs.push_back(e["dur"].raw_number + "/" + e["args"]["samples"].raw_number);
    }
  EXPECT_EQ(durs, (std::vector<std::string>{"50000.000/5", "50000.000/5"}));
}

TEST(OffCpuLatencyNaming, TopFrameFallsBackSensibly) {
  auto p = synthetic();
  OffCpuInterval none;
  none.pid = 10;
  EXPECT_EQ(offcpu_top_frame(*p, none), "[no stack]");
  OffCpuNaming n = offcpu_naming(*p);
  EXPECT_EQ(n.thread_name(10, 11), "sleeper");
  OffCpuLatency t = offcpu_latency(p->off_cpu, n);
  ASSERT_EQ(t.per_thread.size(), 1u);
  EXPECT_EQ(t.per_thread[0].key, "sleeper 10/11");
  EXPECT_EQ(t.per_thread[0].stats.count, 4u);
  ASSERT_EQ(t.per_frame.size(), 2u);
  EXPECT_EQ(t.per_frame[0].key, "fn_leaf (S)");  // innermost user frame, by total time
  EXPECT_EQ(t.per_frame[0].stats.count, 3u);
  EXPECT_EQ(t.per_frame[1].key, "fn_other (R)");
}

}  // namespace
}  // namespace ebt::report
