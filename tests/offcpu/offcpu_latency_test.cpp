#include "report/offcpu_latency.h"

#include <algorithm>
#include <sstream>

#include <gtest/gtest.h>

#include "tests/offcpu/mini_json.h"

namespace ebt::report {
namespace {

TEST(Percentile, NearestRank) {
  std::vector<uint64_t> v;
  for (uint64_t i = 1; i <= 100; i++) v.push_back(i);
  EXPECT_EQ(percentile_sorted(v, 50), 50u);
  EXPECT_EQ(percentile_sorted(v, 90), 90u);
  EXPECT_EQ(percentile_sorted(v, 99), 99u);
  EXPECT_EQ(percentile_sorted(v, 100), 100u);
  EXPECT_EQ(percentile_sorted(v, 0), 1u);
  std::vector<uint64_t> ten{10, 20, 30, 40, 50, 60, 70, 80, 90, 1000};
  EXPECT_EQ(percentile_sorted(ten, 50), 50u);
  EXPECT_EQ(percentile_sorted(ten, 90), 90u);
  EXPECT_EQ(percentile_sorted(ten, 99), 1000u);  // rank ceil(9.9) = 10
  EXPECT_EQ(percentile_sorted({}, 50), 0u);
  EXPECT_EQ(percentile_sorted({7}, 99), 7u);
  std::vector<uint64_t> three{1, 2, 3};
  EXPECT_EQ(percentile_sorted(three, 50), 2u);   // rank ceil(1.5) = 2
  EXPECT_EQ(percentile_sorted(three, 66.6), 2u); // rank ceil(1.998) = 2
  EXPECT_EQ(percentile_sorted(three, 67), 3u);   // rank ceil(2.01) = 3
}

TEST(DurationStats, Summarizes) {
  std::vector<uint64_t> d{5, 1, 4, 2, 3};
  DurationStats s = duration_stats(d);
  EXPECT_EQ(s.count, 5u);
  EXPECT_EQ(s.total_ns, 15u);
  EXPECT_EQ(s.p50_ns, 3u);
  EXPECT_EQ(s.p90_ns, 5u);
  EXPECT_EQ(s.max_ns, 5u);
}

std::vector<OffCpuInterval> synthetic() {
  std::vector<OffCpuInterval> v;
  // thread 11: 70 sleeps of 7 ms (stack 1) and 30 pipe waits of 3 ms (stack 2)
  for (int i = 0; i < 70; i++) v.push_back({.start_ns = 1000u + i, .duration_ns = 7'000'000, .pid = 10, .tid = 11, .stack_id = 1, .state = TaskState::kInterruptible});
  for (int i = 0; i < 30; i++) v.push_back({.start_ns = 5000u + i, .duration_ns = 3'000'000, .pid = 10, .tid = 11, .stack_id = 2, .state = TaskState::kInterruptible});
  // thread 12: durations 1..10 ms, stack 3 and 4 both named "pipe_read" at the top
  for (uint64_t i = 1; i <= 10; i++) v.push_back({.start_ns = 9000u + i, .duration_ns = i * 1'000'000, .pid = 10, .tid = 12, .stack_id = i % 2 ? 3u : 4u, .state = TaskState::kInterruptible});
  return v;
}

OffCpuNaming naming() {
  OffCpuNaming n;
  n.thread_name = [](uint32_t, uint32_t tid) { return tid == 11 ? std::string("sleeper") : std::string(); };
  n.top_frame = [](const OffCpuInterval& iv) {
    switch (iv.stack_id) {
      case 1: return std::string("sleep_in_a");
      case 2: return std::string("wait_in_b");
      default: return std::string("pipe_read");
    }
  };
  return n;
}

TEST(OffCpuLatency, PerThreadAndPerFrame) {
  OffCpuLatency t = offcpu_latency(synthetic(), naming());
  EXPECT_EQ(t.intervals, 110u);
  EXPECT_EQ(t.total_ns, 70 * 7'000'000ull + 30 * 3'000'000ull + 55'000'000ull);
  ASSERT_EQ(t.per_thread.size(), 2u);
  EXPECT_EQ(t.per_thread[0].key, "sleeper 10/11");
  EXPECT_EQ(t.per_thread[0].stats.count, 100u);
  EXPECT_EQ(t.per_thread[0].stats.total_ns, 580'000'000u);
  EXPECT_EQ(t.per_thread[0].stats.p50_ns, 7'000'000u);  // 30 x 3 ms then 70 x 7 ms
  EXPECT_EQ(t.per_thread[0].stats.p90_ns, 7'000'000u);
  EXPECT_EQ(t.per_thread[1].key, "? 10/12");
  EXPECT_EQ(t.per_thread[1].stats.p50_ns, 5'000'000u);
  EXPECT_EQ(t.per_thread[1].stats.p90_ns, 9'000'000u);
  EXPECT_EQ(t.per_thread[1].stats.p99_ns, 10'000'000u);
  EXPECT_EQ(t.per_thread[1].stats.max_ns, 10'000'000u);

  ASSERT_EQ(t.per_frame.size(), 3u);
  EXPECT_EQ(t.per_frame[0].key, "sleep_in_a (S)");
  EXPECT_EQ(t.per_frame[0].stats.total_ns, 490'000'000u);
  EXPECT_EQ(t.per_frame[1].key, "wait_in_b (S)");
  EXPECT_EQ(t.per_frame[2].key, "pipe_read (S)");  // two stacks merged by their top frame
  EXPECT_EQ(t.per_frame[2].stats.count, 10u);
}

TEST(OffCpuLatency, Formats) {
  OffCpuLatency t = offcpu_latency(synthetic(), naming());
  std::ostringstream text, csv, json;
  write_offcpu_latency(text, t, LatencyFormat::kText);
  write_offcpu_latency(csv, t, LatencyFormat::kCsv, 1);
  write_offcpu_latency(json, t, LatencyFormat::kJson);
  EXPECT_NE(text.str().find("sleep_in_a"), std::string::npos);
  EXPECT_NE(text.str().find("490.000"), std::string::npos);
  EXPECT_NE(text.str().find("110 intervals"), std::string::npos);
  // header + 1 thread row + 1 frame row (limit 1)
  std::string c = csv.str();
  EXPECT_EQ(std::count(c.begin(), c.end(), '\n'), 3);
  EXPECT_NE(csv.str().find("offcpu_frame,sleep_in_a (S),0,0,70,490.000,7.000,7.000,7.000,7.000"),
            std::string::npos)
      << csv.str();
  test::Json doc = test::JsonParser::parse(json.str());
  EXPECT_EQ(doc["offcpu"]["intervals"].num, 110);
  EXPECT_EQ(doc["offcpu"]["per_thread"].arr.size(), 2u);
  EXPECT_EQ(doc["offcpu"]["per_frame"].arr[0]["total_ns"].raw_number, "490000000");
}

// --latency --by container: one row per container, adding up to every interval.
TEST(OffCpuLatency, PerContainer) {
  std::vector<OffCpuInterval> v = synthetic();
  v.push_back({.start_ns = 1, .duration_ns = 2'000'000, .pid = 20, .tid = 21, .stack_id = 1,
               .state = TaskState::kInterruptible});
  OffCpuNaming n = naming();
  n.container = [](uint32_t pid) { return pid == 10 ? std::string("web") : std::string("[unknown]"); };
  OffCpuLatency t = offcpu_latency(v, n);
  ASSERT_EQ(t.per_container.size(), 2u);
  EXPECT_EQ(t.per_container[0].key, "web");
  EXPECT_EQ(t.per_container[0].stats.count, 110u);
  EXPECT_EQ(t.per_container[1].key, "[unknown]");
  EXPECT_EQ(t.per_container[1].stats.total_ns, 2'000'000u);
  std::ostringstream text, csv, json;
  write_offcpu_latency(text, t, LatencyFormat::kText);
  write_offcpu_latency(csv, t, LatencyFormat::kCsv);
  write_offcpu_latency(json, t, LatencyFormat::kJson);
  EXPECT_NE(text.str().find("\ncontainer "), std::string::npos) << text.str();
  EXPECT_NE(csv.str().find("offcpu_container,web,0,0,110,"), std::string::npos) << csv.str();
  test::Json doc = test::JsonParser::parse(json.str());
  EXPECT_EQ(doc["offcpu"]["per_container"].arr.size(), 2u);
  // Without a container function: no such table (and the outputs stay as they were).
  EXPECT_TRUE(offcpu_latency(v, naming()).per_container.empty());
}

TEST(OffCpuLatency, EmptyInput) {
  OffCpuLatency t = offcpu_latency({}, {});
  EXPECT_EQ(t.intervals, 0u);
  std::ostringstream o;
  write_offcpu_latency(o, t, LatencyFormat::kJson);
  EXPECT_NO_THROW(test::JsonParser::parse(o.str()));
}

}  // namespace
}  // namespace ebt::report
