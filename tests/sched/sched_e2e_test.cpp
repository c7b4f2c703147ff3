// record --sched / report --sched end to end, as root with BPF, on whatever
// cgroup layout this machine has (v1 cpu controller on hybrid hosts, cgroup v2
// otherwise). Assertions hold on a loaded 2-CPU machine: the workloads run at
// the highest weight (nice -20, cpu.shares / cpu.weight at their maximum), so
// other load barely delays them, and every comparison has a wide margin.
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <thread>

#include <gtest/gtest.h>

#include "record/sched_cgroups.h"
#include "tests/bpf_guard.h"
#include "tests/cli/cli_harness.h"
#include "tests/offcpu/mini_json.h"

namespace ebt::test {
namespace {

std::string workload() { return EBT_SCHED_WORKLOAD; }

const Json* find_row(const Json& rows, const char* field, double value) {
  for (const auto& r : rows.arr)
    if (r[field].num == value) return &r;
  return nullptr;
}

Json report_json(const std::string& capture, std::vector<std::string> extra = {}) {
  std::vector<std::string> argv = {ebtrace_bin(), "report", capture, "--sched", "--format", "json"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  RunResult r = run(argv, timeout(60));
  if (r.exit_code != 0) throw std::runtime_error("report failed: " + r.describe());
  return JsonParser::parse(r.out);
}

// Two threads pinned to one CPU against one alone on the other (-- CMD form).
TEST(SchedE2E, PinnedPairWaitsAnOrderOfMagnitudeLongerAndNamesItsPreemptor) {
  EBT_REQUIRE_BPF_OR_SKIP();
  TempDir dir("ebt-sched");
  std::string cap = (dir / "pair.ebt").string();
  RunResult rec = run({ebtrace_bin(), "record", "--sched", "-o", cap, "--", workload(), "pair", "0", "1", "300"},
                      timeout(120));
  ASSERT_EQ(rec.exit_code, 0) << rec.describe();
  EXPECT_NE(rec.err.find("run-queue waits"), std::string::npos) << rec.describe();
  Json tids;
  for (const auto& line : lines_of(rec.out))
    if (line.rfind("{\"pid\"", 0) == 0) tids = JsonParser::parse(line);
  ASSERT_TRUE(tids.has("pair_a")) << rec.describe();
  const double a = tids["pair_a"].num, b = tids["pair_b"].num, lone = tids["lone"].num;

  // No family of this recording produces user addresses: the workload is
  // described (its name and cgroup), its mappings are neither read nor written.
  RunResult dump = run({ebtrace_bin(), "dump", cap}, timeout(60));
  ASSERT_EQ(dump.exit_code, 0) << dump.describe();
  EXPECT_EQ(dump.out.find("\"_kind\":\"mapping\""), std::string::npos);
  EXPECT_NE(dump.out.find("\"_kind\":\"process\""), std::string::npos);

  Json doc = report_json(cap);
  const Json& s = doc["sched"];
  const Json* ra = find_row(s["per_thread"], "tid", a);
  const Json* rb = find_row(s["per_thread"], "tid", b);
  const Json* rl = find_row(s["per_thread"], "tid", lone);
  ASSERT_TRUE(ra && rb && rl) << "threads missing from the report";
  // The lone thread woke ~600 times (300 ms in 500 us bursts); the pair waited
  // for each other at every slice.
  EXPECT_GE((*rl)["waits"].num, 300) << "lone";
  EXPECT_GE((*ra)["waits"].num, 10) << "pair_a";
  EXPECT_GE((*rb)["waits"].num, 10) << "pair_b";
  const double lone_p50 = std::max(1.0, (*rl)["p50_ns"].num);
  EXPECT_GE((*ra)["p50_ns"].num, 10 * lone_p50) << "pair_a p50 vs lone p50 " << lone_p50;
  EXPECT_GE((*rb)["p50_ns"].num, 10 * lone_p50) << "pair_b p50 vs lone p50 " << lone_p50;
  // Percentiles are ordered and bounded by the max.
  for (const Json* r : {ra, rb, rl}) {
    EXPECT_LE((*r)["p50_ns"].num, (*r)["p90_ns"].num);
    EXPECT_LE((*r)["p90_ns"].num, (*r)["p99_ns"].num);
    EXPECT_LE((*r)["p99_ns"].num, (*r)["max_ns"].num);
    EXPECT_TRUE((*r)["max_exact"].b);
  }
  // The process row sums its threads (the main thread too).
  const Json* proc = find_row(s["per_process"], "pid", tids["pid"].num);
  ASSERT_TRUE(proc);
  double sum = 0;
  for (const auto& t : s["per_thread"].arr)
    if (t["pid"].num == tids["pid"].num) sum += t["waits"].num;
  EXPECT_EQ((*proc)["waits"].num, sum);
  EXPECT_EQ((*ra)["key"].str.rfind("pair_a ", 0), 0u) << (*ra)["key"].str;
  EXPECT_EQ((*rl)["key"].str.rfind("lone ", 0), 0u) << (*rl)["key"].str;

  // Preemptions: of the workload's threads, the one that preempts each of the
  // pair most is the other, named by its thread. Not necessarily of all tasks:
  // whatever else shares CPU 0 on a loaded machine gets its turns between the
  // pair's slices too (a nice 19 fuzzer here preempted pair_a 92 times to
  // pair_b's 60), and the kernel's choice is what the report must show.
  for (auto [victim, other] : {std::pair{a, b}, std::pair{b, a}}) {
    const Json* top = nullptr;
    double total = 0;
    for (const auto& p : s["preemptions"].arr) {
      if (p["tid"].num != victim) continue;
      total += p["count"].num;
      if (p["by_pid"].num != tids["pid"].num) continue;
      if (!top || p["count"].num > (*top)["count"].num) top = &p;
    }
    ASSERT_TRUE(top) << "no preemption of " << victim << " by its own process";
    EXPECT_EQ((*top)["by_tid"].num, other);
    EXPECT_EQ((*top)["by"].str.rfind(victim == a ? "pair_b " : "pair_a ", 0), 0u) << (*top)["by"].str;
    EXPECT_GE((*top)["count"].num, 10);
    EXPECT_LE((*top)["count"].num, total);
  }

  // The text and csv forms carry the same tables.
  RunResult text = run({ebtrace_bin(), "report", cap, "--sched"}, timeout(60));
  ASSERT_EQ(text.exit_code, 0) << text.describe();
  EXPECT_NE(text.out.find("Run-queue latency"), std::string::npos);
  EXPECT_NE(text.out.find("pair_a"), std::string::npos);
  EXPECT_NE(text.out.find("Preemptions"), std::string::npos);
  RunResult csv = run({ebtrace_bin(), "report", cap, "--sched", "--format", "csv"}, timeout(60));
  ASSERT_EQ(csv.exit_code, 0) << csv.describe();
  EXPECT_NE(csv.out.find("runq_thread,pair_a "), std::string::npos) << csv.out.substr(0, 2000);
  // Rows are whole-recording aggregates: a time window is refused, not applied approximately.
  RunResult timed = run({ebtrace_bin(), "report", cap, "--sched", "--time", "0,1"}, timeout(60));
  EXPECT_EQ(timed.exit_code, 2) << timed.describe();
  EXPECT_NE(timed.err.find("--time"), std::string::npos) << timed.describe();
  // --tid keeps one thread's rows.
  Json only = report_json(cap, {"--tid", std::to_string(uint32_t(lone))});
  ASSERT_EQ(only["sched"]["per_thread"].arr.size(), 1u);
  EXPECT_EQ(only["sched"]["per_thread"].arr[0]["tid"].num, lone);
}

// ---- cgroups ---------------------------------------------------------------------

void write_file(const std::string& path, const std::string& value) {
  std::ofstream f(path);
  f << value;
  f.flush();
  if (!f) throw std::runtime_error("cannot write '" + value + "' to " + path + ": " + std::strerror(errno));
}

// Test cgroups in the cpu controller's hierarchy; removed (after their
// processes are gone) even when the test fails.
class TestCgroups {
 public:
  explicit TestCgroups(const record::CpuCgroupLayout& l) : layout_(l) {
    root_ = "/ebt-sched-test-" + std::to_string(getpid());
    if (l.hierarchy == CgroupHierarchy::kV2) {
      // The cpu controller must be enabled for the children: in the root and here.
      std::ofstream(l.mount + "/cgroup.subtree_control") << "+cpu";
    }
    if (mkdir(dir(root_).c_str(), 0755) != 0 && errno != EEXIST)
      throw std::runtime_error("mkdir " + dir(root_) + ": " + std::strerror(errno));
    made_.push_back(root_);
    // The highest weight here too: the children's weight only divides their parent's share.
    if (l.hierarchy == CgroupHierarchy::kV2) {
      write_file(dir(root_) + "/cpu.weight", "10000");
      write_file(dir(root_) + "/cgroup.subtree_control", "+cpu");
    } else {
      write_file(dir(root_) + "/cpu.shares", "262144");
    }
  }
  ~TestCgroups() {
    for (auto it = made_.rbegin(); it != made_.rend(); ++it) {
      for (int i = 0; i < 100 && rmdir(dir(*it).c_str()) != 0 && errno == EBUSY; i++)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  // A child with the highest CPU weight and, when quota_us > 0, a quota per 100 ms.
  std::string make(const std::string& name, long quota_us) {
    std::string path = root_ + "/" + name;
    if (mkdir(dir(path).c_str(), 0755) != 0) throw std::runtime_error("mkdir " + dir(path) + ": " + std::strerror(errno));
    made_.push_back(path);
    if (layout_.hierarchy == CgroupHierarchy::kV2) {
      write_file(dir(path) + "/cpu.weight", "10000");
      if (quota_us > 0) write_file(dir(path) + "/cpu.max", std::to_string(quota_us) + " 100000");
    } else {
      write_file(dir(path) + "/cpu.shares", "262144");
      if (quota_us > 0) {
        write_file(dir(path) + "/cpu.cfs_period_us", "100000");
        write_file(dir(path) + "/cpu.cfs_quota_us", std::to_string(quota_us));
      }
    }
    return path;
  }
  std::string dir(const std::string& path) const { return layout_.mount + path; }

 private:
  record::CpuCgroupLayout layout_;
  std::string root_;
  std::vector<std::string> made_;
};

// A spinner started inside `cgroup` (it moves itself before it execs).
std::unique_ptr<Proc> spin_in(const TestCgroups& cg, const std::string& cgroup, int cpu, double seconds) {
  std::string script = "echo $$ > '" + cg.dir(cgroup) + "/cgroup.procs' && exec '" + workload() + "' spin " +
                       std::to_string(cpu) + " " + std::to_string(seconds);
  return std::make_unique<Proc>(std::vector<std::string>{"/bin/sh", "-c", script});
}

bool in_cgroup(pid_t pid, const std::string& path, CgroupHierarchy h) {
  return record::cgroup_path_in(read_text("/proc/" + std::to_string(pid) + "/cgroup"), h) == path;
}

// One cgroup with a CPU quota below its demand, two without: throttling is
// reported for the first only, and its run-queue latency is the highest; the
// two unlimited ones share a CPU: switches across cgroups on that CPU.
TEST(SchedE2E, ThrottledCgroupIsReportedAndWaitsLongest) {
  EBT_REQUIRE_BPF_OR_SKIP();
  record::CpuCgroupLayout layout = record::detect_cpu_cgroup_layout();
  ASSERT_TRUE(layout.cpu_controller) << "no cpu controller to test throttling with: " << layout.why_not;
  TempDir dir("ebt-sched-cg");
  TestCgroups cg(layout);
  std::string limited = cg.make("limited", 20000);  // 20 % of a CPU
  std::string free1 = cg.make("free1", 0), free2 = cg.make("free2", 0);
  {
    // They must outlive the recording, whose start (loading BPF, reading
    // /proc) took over 3 s on a loaded machine: a minute, killed at the end
    // of this scope anyway.
    auto a = spin_in(cg, limited, 0, 60);
    auto b = spin_in(cg, free1, 1, 60);
    auto c = spin_in(cg, free2, 1, 60);
    for (int i = 0; i < 200; i++) {
      if (in_cgroup(a->pid(), limited, layout.hierarchy) && in_cgroup(b->pid(), free1, layout.hierarchy) &&
          in_cgroup(c->pid(), free2, layout.hierarchy))
        break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_TRUE(in_cgroup(a->pid(), limited, layout.hierarchy)) << read_text("/proc/" + std::to_string(a->pid()) + "/cgroup");
    std::string cap = (dir / "cg.ebt").string();
    std::string pids = std::to_string(a->pid()) + "," + std::to_string(b->pid()) + "," + std::to_string(c->pid());
    RunResult rec = run({ebtrace_bin(), "record", "--sched", "-p", pids, "-d", "2.5", "-o", cap}, timeout(60));
    ASSERT_EQ(rec.exit_code, 0) << rec.describe();
    ASSERT_FALSE(a->poll()) << "the spinners must outlive the recording";

    Json doc = report_json(cap);
    const Json& s = doc["sched"];
    std::map<std::string, const Json*> throttle;
    for (const auto& t : s["throttling"].arr) throttle[t["cgroup"].str] = &t;
    ASSERT_TRUE(throttle.count(limited) && throttle.count(free1) && throttle.count(free2)) << read_text(cap).size();
    const Json& tl = *throttle[limited];
    ASSERT_TRUE(tl["known"].b) << tl["reason"].str;
    EXPECT_EQ(tl["quota_us"].num, 20000);
    EXPECT_EQ(tl["period_us"].num, 100000);
    // ~25 periods in 2.5 s, nearly all throttled (demand 100 %, quota 20 %).
    EXPECT_GE(tl["periods"].num, 10);
    EXPECT_GE(tl["throttled"].num, 8);
    EXPECT_LE(tl["throttled"].num, tl["periods"].num);
    EXPECT_GE(tl["throttled_ns"].num, 300e6);
    for (const auto& f : {free1, free2}) {
      const Json& t = *throttle[f];
      ASSERT_TRUE(t["known"].b) << t["reason"].str;
      EXPECT_EQ(t["throttled"].num, 0) << f;
      EXPECT_EQ(t["throttled_ns"].num, 0) << f;
      EXPECT_EQ(t["quota_us"].num, -1) << f;
    }

    const Json* pa = find_row(s["per_process"], "pid", a->pid());
    const Json* pb = find_row(s["per_process"], "pid", b->pid());
    ASSERT_TRUE(pa && pb);
    // Throttled: off the CPU ~80 ms of every 100 ms, one wait per period.
    EXPECT_GE((*pa)["p90_ns"].num, 20e6);
    EXPECT_GT((*pa)["p90_ns"].num, 2 * (*pb)["p90_ns"].num);
    EXPECT_GT((*pa)["total_ns"].num / (*pa)["waits"].num, (*pb)["total_ns"].num / (*pb)["waits"].num);
    // Per cgroup too.
    const Json* ga = nullptr;
    for (const auto& g : s["per_cgroup"].arr)
      if (g["key"].str == limited) ga = &g;
    ASSERT_TRUE(ga);
    EXPECT_EQ((*ga)["waits"].num, (*pa)["waits"].num);

    // free1 and free2 take turns on CPU 1: switches across the two cgroups there.
    double b_to_c = 0, c_to_b = 0;
    for (const auto& p : s["cross_cgroup"].arr) {
      if (p["cpu"].num != 1) continue;
      if (p["from"].str == free1 && p["to"].str == free2) b_to_c += p["count"].num;
      if (p["from"].str == free2 && p["to"].str == free1) c_to_b += p["count"].num;
    }
    EXPECT_GE(b_to_c, 20);
    EXPECT_GE(c_to_b, 20);
    const Json* cpu1 = find_row(s["cpus"], "cpu", 1);
    ASSERT_TRUE(cpu1);
    EXPECT_GE((*cpu1)["across_cgroups"].num, b_to_c + c_to_b);
    EXPECT_GE((*cpu1)["switches"].num, (*cpu1)["across_cgroups"].num);
  }  // spinners killed before the cgroups are removed
}

// Keeps the calling thread (and so every process it forks from now on) off
// all CPUs but `cpu` until the end of the scope.
class OnlyCpu {
 public:
  explicit OnlyCpu(int cpu) {
    if (sched_getaffinity(0, sizeof saved_, &saved_) != 0) throw std::runtime_error("sched_getaffinity failed");
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    if (sched_setaffinity(0, sizeof one, &one) != 0) throw std::runtime_error("sched_setaffinity failed");
  }
  ~OnlyCpu() { sched_setaffinity(0, sizeof saved_, &saved_); }
  OnlyCpu(const OnlyCpu&) = delete;
  OnlyCpu& operator=(const OnlyCpu&) = delete;

 private:
  cpu_set_t saved_;
};

// Switches within one cgroup are counted in a per-CPU slot in the kernel and
// moved to the table only when that CPU next switches within another cgroup
// (bpf/sched.bpf.c count_cgroup_switch); here nothing else recorded shares the
// CPU, so the cgroup's switches are never moved: every one of them must come
// from the slot, read at the end, once. Two threads, "ping" and "pong", alone
// in a cgroup pass a byte back and forth on CPU 1 (sched_workload pingpong).
//
// What is recorded on CPU 1, exactly: the recorder, the shell and the
// workload's main thread are started on CPU 0 only and never run on CPU 1
// (before the shell moves into the cgroup it shares the caller's cgroup with
// the recorder and everything else on the machine: a switch there between it
// and one of them would count as "within" on CPU 1 and as none of its own
// switch-outs, which is how this test once saw one switch too many). So on
// CPU 1 a switch within a cgroup is one between ping and pong, and a switch
// out of the cgroup "alone" is ping or pong leaving CPU 1 for another task.
//  * Upper bound: each of those is a switch-out of ping or pong on CPU 1, and
//    each thread measures its switch-outs (getrusage) only after it left CPU 1
//    for good (its exit, never counted by getrusage, happens on CPU 0):
//    within + out_of_alone <= switch_outs, exactly. Counting the slot twice
//    would double `within` (~4 * rounds against ~2 * rounds).
//  * Lower bound: ping and pong are both on CPU 1 from before the first byte;
//    between a thread passing the byte and the other taking it, CPU 1 must
//    switch away from the passer, to its partner (within) or to another task
//    (out of the cgroup; never to idle: the partner is runnable then). That
//    is 2 * rounds disjoint hand-offs: within + out_of_alone >= 2 * rounds.
//    Missing the slot leaves `within` at about none, and a loaded machine only
//    moves hand-offs from `within` to `out_of_alone`, so both bounds hold on
//    any load.
TEST(SchedE2E, SwitchesWithinOneCgroupAreCountedOnce) {
  EBT_REQUIRE_BPF_OR_SKIP();
  record::CpuCgroupLayout layout = record::detect_cpu_cgroup_layout();
  if (layout.hierarchy == CgroupHierarchy::kUnknown) GTEST_SKIP() << "no cgroup hierarchy: " << layout.why_not;
  TempDir dir("ebt-sched-run");
  TestCgroups cg(layout);
  std::string alone = cg.make("alone", 0);
  const long rounds = 20000;
  std::string cap = (dir / "run.ebt").string();
  std::string script = "echo $$ > '" + cg.dir(alone) + "/cgroup.procs' && exec '" + workload() + "' pingpong 1 " +
                       std::to_string(rounds);
  RunResult rec;
  {
    OnlyCpu cpu0(0);
    rec = run({ebtrace_bin(), "record", "--sched", "-o", cap, "--", "/bin/sh", "-c", script}, timeout(120));
  }
  ASSERT_EQ(rec.exit_code, 0) << rec.describe();
  double switch_outs = -1;
  for (const auto& line : lines_of(rec.out))
    if (line.rfind("{\"switch_outs\"", 0) == 0) switch_outs = JsonParser::parse(line)["switch_outs"].num;
  ASSERT_GT(switch_outs, 0) << rec.describe();

  Json doc = report_json(cap);
  const Json* cpu1 = find_row(doc["sched"]["cpus"], "cpu", 1);
  ASSERT_TRUE(cpu1) << rec.describe();
  const double within = (*cpu1)["switches"].num - (*cpu1)["across_cgroups"].num;
  double out_of_alone = 0;
  for (const auto& p : doc["sched"]["cross_cgroup"].arr)
    if (p["cpu"].num == 1 && p["from"].str == alone) out_of_alone += p["count"].num;
  std::printf("CPU 1: %.0f switches within the cgroup, %.0f out of it; %.0f switch-outs; %ld hand-offs\n", within,
              out_of_alone, switch_outs, 2 * rounds);
  EXPECT_GE(within + out_of_alone, 2 * rounds)
      << "within " << within << ", out of the cgroup " << out_of_alone << ": fewer switches than hand-offs";
  EXPECT_LE(within + out_of_alone, switch_outs)
      << "within " << within << ", out of the cgroup " << out_of_alone
      << ": more switches away from ping and pong than times they left CPU 1";
}

}  // namespace
}  // namespace ebt::test
