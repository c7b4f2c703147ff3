// The --sched tables without root: histogram slots (the same function as
// bpf/sched.bpf.c rq_slot), percentiles, deltas of throttling counters,
// cpu.stat / mountinfo / /proc/PID/cgroup parsing.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <tuple>

#include "record/sched_cgroups.h"
#include "report/sched_report.h"

namespace ebt {
namespace {

// bpf/sched.bpf.c rq_slot(), in C++.
uint32_t rq_slot(uint64_t ns) {
  if (ns < 8) return uint32_t(ns);
  uint32_t l = 63 - __builtin_clzll(ns);
  uint32_t s = 4 * (l - 1) + ((ns >> (l - 2)) & 3);
  return s < 160 ? s : 159;
}

TEST(SchedSlots, BoundsContainTheValuesTheKernelPutsThere) {
  for (uint64_t ns : {0ull, 1ull, 7ull, 8ull, 9ull, 12ull, 13ull, 1000ull, 1023ull, 1024ull, 1500ull, 999'999ull,
                      4'000'000ull, 123'456'789ull, 60'000'000'000ull}) {
    uint32_t s = rq_slot(ns);
    EXPECT_LE(report::rq_slot_low(s), ns) << ns;
    EXPECT_GT(report::rq_slot_high(s), ns) << ns;
  }
  for (uint32_t s = 0; s + 1 < 160; s++) {
    EXPECT_EQ(report::rq_slot_high(s), report::rq_slot_low(s + 1));
    EXPECT_LT(report::rq_slot_low(s), report::rq_slot_low(s + 1));
    // a quarter octave: no slot wider than 25 % of its lower bound (above 8 ns)
    if (s >= 8) EXPECT_LE(report::rq_slot_high(s) - report::rq_slot_low(s), report::rq_slot_low(s) / 4) << s;
  }
}

RunqLatency row(uint32_t tid, std::vector<uint64_t> values, uint64_t new_max) {
  RunqLatency r;
  r.pid = 100;
  r.tid = tid;
  std::map<uint16_t, uint64_t> slots;
  for (uint64_t v : values) {
    slots[uint16_t(rq_slot(v))]++;
    r.count++;
    r.total_ns += v;
  }
  for (auto [s, c] : slots) {
    r.slots.push_back(s);
    r.slot_counts.push_back(c);
  }
  r.max_ns = new_max;
  return r;
}

TEST(SchedHist, PercentilesWithinASlotAndExactMax) {
  report::RqHist h;
  std::vector<uint64_t> v;
  for (int i = 0; i < 90; i++) v.push_back(10'000);     // 10 us
  for (int i = 0; i < 10; i++) v.push_back(5'000'000);  // 5 ms
  h.add(row(1, v, 5'000'000));
  EXPECT_EQ(h.count, 100u);
  EXPECT_EQ(h.total_ns, 90u * 10'000 + 10u * 5'000'000);
  EXPECT_TRUE(h.max_exact);
  EXPECT_EQ(h.max(), 5'000'000u);
  EXPECT_NEAR(double(h.percentile(50)), 10'000, 10'000 * 0.25);
  EXPECT_NEAR(double(h.percentile(90)), 10'000, 10'000 * 0.25);
  EXPECT_NEAR(double(h.percentile(99)), 5'000'000, 5'000'000 * 0.25);
  EXPECT_LE(h.percentile(99), h.max());
}

TEST(SchedHist, MaxNotSeenInThisCaptureIsABound) {
  report::RqHist h;
  h.add(row(1, {3'000'000}, 0));  // a later file: the maximum came before it
  EXPECT_FALSE(h.max_exact);
  EXPECT_GE(h.max(), 3'000'000u);
  EXPECT_LE(h.max(), 3'000'000u * 5 / 4);
}

TEST(SchedReport, ThrottlingIsTheDeltaOverTheCaptureAndUnknownSaysWhy) {
  report::SchedCollector c;
  CgroupCpuSample a{1'000, 7, CgroupHierarchy::kV1Cpu, "/lim", true, 100, 50, 4'000'000'000, 20000, 100000, "", {42}};
  CgroupCpuSample b = a;
  b.time_ns = 3'000'000'000;
  b.nr_periods = 120;
  b.nr_throttled = 68;
  b.throttled_ns = 5'500'000'000;
  CgroupCpuSample u{1'000, 8, CgroupHierarchy::kV2, "/x", false, 0, 0, 0, -1, 0, "no cpu controller", {43}};
  c.add(b);
  c.add(a);
  c.add(u);
  c.add(row(42, {1'000'000}, 1'000'000));
  report::SchedReport r = c.build(nullptr);
  ASSERT_EQ(r.throttling.size(), 2u);
  EXPECT_EQ(r.throttling[0].path, "/lim");
  EXPECT_TRUE(r.throttling[0].known);
  EXPECT_EQ(r.throttling[0].periods, 20u);
  EXPECT_EQ(r.throttling[0].throttled, 18u);
  EXPECT_EQ(r.throttling[0].throttled_ns, 1'500'000'000u);
  EXPECT_FALSE(r.throttling[1].known);
  EXPECT_EQ(r.throttling[1].reason, "no cpu controller");
  std::ostringstream text, json, csv;
  report::write_sched_text(r, 30, text);
  report::write_sched_json(r, json);
  report::write_sched_csv(r, csv);
  EXPECT_NE(text.str().find("unknown: no cpu controller"), std::string::npos) << text.str();
  EXPECT_NE(json.str().find("\"reason\":\"no cpu controller\""), std::string::npos);
}

TEST(SchedCgroups, ParsesCpuStatV1AndV2) {
  uint64_t p = 0, t = 0, ns = 0;
  EXPECT_TRUE(record::parse_cpu_stat("nr_periods 10\nnr_throttled 4\nthrottled_time 123456\nnr_bursts 0\n", p, t, ns));
  EXPECT_EQ(p, 10u);
  EXPECT_EQ(t, 4u);
  EXPECT_EQ(ns, 123456u);
  EXPECT_TRUE(record::parse_cpu_stat("usage_usec 5\nnr_periods 3\nnr_throttled 2\nthrottled_usec 7\n", p, t, ns));
  EXPECT_EQ(ns, 7000u);
  EXPECT_FALSE(record::parse_cpu_stat("usage_usec 5\nuser_usec 3\nsystem_usec 2\n", p, t, ns));
}

// --by container / --container (docs/sched.md): every wait, preemption and
// switch lands in exactly one container row; unknown owners under [unknown].
TEST(SchedByContainer, RowsAddUpAndNameBothSides) {
  report::SchedCollector c;
  auto rq = [&](uint32_t pid, uint32_t tid, std::vector<uint64_t> v) {
    RunqLatency r = row(tid, v, v.empty() ? 0 : v.back());
    r.pid = pid;
    c.add(r);
  };
  rq(100, 101, {10'000, 20'000});         // web
  rq(100, 102, {30'000});                 // web
  rq(200, 201, {5'000, 5'000, 5'000});    // db
  rq(400, 401, {1'000});                  // not described: [unknown]
  c.add(Preemption{0, 1, 100, 101, 200, 201, "db", 4});
  c.add(Preemption{0, 1, 200, 201, 0, 0, "", 2});
  c.add(Preemption{0, 1, 400, 401, 300, 301, "helper", 1});  // 300: only in db's cgroup sample
  c.add(CgroupCpuSample{1, 11, CgroupHierarchy::kV1Cpu, "/web", true, 0, 0, 0, -1, 0, "", {100}});
  c.add(CgroupCpuSample{1, 22, CgroupHierarchy::kV1Cpu, "/db", true, 0, 0, 0, -1, 0, "", {200, 300}});
  c.add(CgroupSwitch{0, 1, 0, 11, 22, 5});
  c.add(CgroupSwitch{0, 1, 0, 22, 11, 3});
  c.add(CgroupSwitch{0, 1, 0, 11, 11, 7});
  c.add(CgroupSwitch{0, 1, 1, 33, 11, 2});  // 33: never named
  report::SchedContainers k;
  k.tables = true;
  k.of_pid = [](uint32_t pid) { return pid == 100 ? "web" : pid == 200 ? "db" : "[unknown]"; };
  k.of_path = [](const std::string& p) { return p == "/web" ? "web" : p == "/db" ? "db" : "[unknown]"; };
  report::SchedReport r = c.build(nullptr, k);
  ASSERT_TRUE(r.by_container);
  std::map<std::string, uint64_t> waits;
  for (const auto& x : r.per_container) waits[x.key] = x.hist.count;
  EXPECT_EQ(waits, (std::map<std::string, uint64_t>{{"web", 3}, {"db", 3}, {"[unknown]", 1}}));
  std::map<std::pair<std::string, std::string>, uint64_t> pre;
  for (const auto& p : r.container_preemptions) pre[{p.victim, p.by}] = p.count;
  EXPECT_EQ(pre, (std::map<std::pair<std::string, std::string>, uint64_t>{
                     {{"web", "db"}, 4}, {{"db", "[idle]"}, 2}, {{"[unknown]", "db"}, 1}}));
  ASSERT_EQ(r.container_cpus.size(), 2u);
  EXPECT_EQ(r.container_cpus[0].switches, 15u);
  EXPECT_EQ(r.container_cpus[0].cross, 8u);
  EXPECT_EQ(r.container_cpus[1].cross, 2u);
  std::map<std::tuple<uint32_t, std::string, std::string>, uint64_t> pairs;
  for (const auto& p : r.cross_container_pairs) pairs[{p.cpu, p.from, p.to}] = p.count;
  EXPECT_EQ(pairs, (std::map<std::tuple<uint32_t, std::string, std::string>, uint64_t>{
                       {{0, "web", "db"}, 5}, {{0, "db", "web"}, 3}, {{1, "[unknown]", "web"}, 2}}));
  // Without --by container nothing of it; the golden tables stay as they were.
  EXPECT_FALSE(c.build(nullptr).by_container);
  std::ostringstream text;
  report::write_sched_text(r, 0, text);
  EXPECT_NE(text.str().find("container web: 3 waits"), std::string::npos) << text.str();

  // --container web: web's threads, switches from or to /web, /web's throttling.
  report::SchedContainers only = k;
  only.tables = false;
  only.pid_wanted = [](uint32_t pid) { return pid == 100; };
  only.path_wanted = [](const std::string& p) { return p == "/web"; };
  report::SchedReport w = c.build(nullptr, only);
  ASSERT_EQ(w.per_process.size(), 1u);
  EXPECT_EQ(w.per_process[0].pid, 100u);
  EXPECT_EQ(w.preemption_count, 4u);
  uint64_t switches = 0;
  for (const auto& x : w.cpus) switches += x.switches;
  EXPECT_EQ(switches, 17u);  // 5 + 3 + 7 + 2: each touches /web
  ASSERT_EQ(w.throttling.size(), 1u);
  EXPECT_EQ(w.throttling[0].path, "/web");
}

TEST(SchedCgroups, FindsTheCpuControllerInMountinfoAndProcCgroup) {
  std::string path = ::testing::TempDir() + "/mountinfo";
  {
    std::ofstream f(path);
    f << "30 25 0:26 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755\n"
         "31 30 0:27 / /sys/fs/cgroup/unified rw,relatime shared:10 - cgroup2 cgroup2 rw\n"
         "35 30 0:31 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:15 - cgroup cgroup rw,cpu,cpuacct\n"
         "36 30 0:32 / /sys/fs/cgroup/cpuset rw,relatime shared:16 - cgroup cgroup rw,cpuset\n";
  }
  record::CpuCgroupLayout l = record::detect_cpu_cgroup_layout(path);
  EXPECT_EQ(l.hierarchy, CgroupHierarchy::kV1Cpu);
  EXPECT_EQ(l.mount, "/sys/fs/cgroup/cpu,cpuacct");
  EXPECT_TRUE(l.cpu_controller);
  std::remove(path.c_str());
  std::string proc = "12:cpuset:/\n4:cpu,cpuacct:/docker/abc\n1:name=systemd:/docker/abc\n0::/system.slice/x\n";
  EXPECT_EQ(record::cgroup_path_in(proc, CgroupHierarchy::kV1Cpu), "/docker/abc");
  EXPECT_EQ(record::cgroup_path_in(proc, CgroupHierarchy::kV2), "/system.slice/x");
  EXPECT_EQ(record::cgroup_path_in("1:name=systemd:/\n", CgroupHierarchy::kV1Cpu), "");
}

}  // namespace
}  // namespace ebt
