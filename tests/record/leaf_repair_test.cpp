// Leaf repair (fp mode) and --off-cpu --call-graph dwarf, end to end as root
// with BPF, on tests/record/leafy.c (built with frame pointers; every named
// function calls a libc function without a frame: read, nanosleep,
// pthread_cond_wait, epoll_wait, write, pthread_cond_signal, memcpy, strlen).
//
// The program measures the time each function spends in its blocking call; the
// off-CPU report must name every blocking function with its share of blocked
// time within 5 points, for the blocked threads and for the waker's stacks, in
// fp mode (leaf repair) and in dwarf mode. The control recording with leaf
// repair off (--leaf-stack-bytes 0) shows the bug the repair fixes: the
// function that called the libc wrapper is missing.
#include <cmath>
#include <map>
#include <regex>

#include <gtest/gtest.h>

#include "tests/bpf_guard.h"
#include "tests/cli/cli_harness.h"

namespace ebt::test {
namespace {

const char* const kBlockers[] = {"block_in_read", "block_in_nanosleep", "block_in_cond_wait", "block_in_epoll_wait"};
const char* const kThreads[] = {"reader", "sleeper", "condw", "poller"};
const char* const kMeasured[] = {"read_ns", "nanosleep_ns", "cond_ns", "epoll_ns"};
constexpr int kRounds = 150;
constexpr double kShareTol = 0.05;

struct Recording {
  RunResult record;
  std::map<std::string, double> measured;  // the program's JSON line: tids and times
  std::string capture;
};

std::map<std::string, double> parse_line(const std::string& out) {
  std::map<std::string, double> m;
  for (const auto& line : lines_of(out)) {
    if (line.rfind("{\"pid\"", 0) != 0) continue;
    std::regex kv("\"([a-z_]+)\":([0-9]+)");
    for (std::sregex_iterator it(line.begin(), line.end(), kv), end; it != end; ++it)
      m[(*it)[1]] = std::stod((*it)[2]);
  }
  return m;
}

std::string leafy() { return EBT_LEAFY_BIN; }

class LeafRepair : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!bpf_unavailable_reason().empty()) return;
    dir_ = new TempDir("ebt-leaf");
    runs_ = new std::map<std::string, Recording>;
    auto record = [](const std::string& name, std::vector<std::string> extra) {
      Recording r;
      r.capture = (*dir_ / (name + ".ebt")).string();
      std::vector<std::string> argv = {ebtrace_bin(), "record", "--off-cpu", "--off-cpu-waker", "-F", "499",
                                       "--no-lua", "-o", r.capture};
      argv.insert(argv.end(), extra.begin(), extra.end());
      argv.insert(argv.end(), {"--", leafy(), std::to_string(kRounds)});
      r.record = run(argv, timeout(120));
      r.measured = parse_line(r.record.out);
      (*runs_)[name] = r;
    };
    record("fp", {});
    record("fp-norepair", {"--leaf-stack-bytes", "0"});
    record("dwarf", {"--call-graph", "dwarf"});
  }
  static void TearDownTestSuite() {
    delete dir_;
    delete runs_;
    dir_ = nullptr;
    runs_ = nullptr;
  }
  void SetUp() override { EBT_REQUIRE_BPF_OR_SKIP(); }

  static TempDir* dir_;
  static std::map<std::string, Recording>* runs_;

  static const Recording& recorded(const std::string& name) {
    const Recording& r = runs_->at(name);
    EXPECT_EQ(r.record.exit_code, 0) << r.record.describe();
    EXPECT_EQ(r.measured.count("pid"), 1u) << r.record.describe();
    return r;
  }

  static std::vector<FoldedStack> folded(const Recording& r, std::vector<std::string> args) {
    std::vector<std::string> argv = {ebtrace_bin(), "report", r.capture, "--folded"};
    argv.insert(argv.end(), args.begin(), args.end());
    RunResult rep = run(argv, timeout(60));
    EXPECT_EQ(rep.exit_code, 0) << rep.describe();
    return parse_folded(rep.out);
  }

  static std::string tid(const Recording& r, const std::string& thread) {
    return std::to_string(uint64_t(r.measured.at(thread + "_tid")));
  }

  // Blocked time of each blocking thread in stacks naming its function, and
  // in all its stacks.
  static void blocked_time(const Recording& r, double named[4], double all[4]) {
    for (int i = 0; i < 4; i++) {
      named[i] = all[i] = 0;
      for (const auto& s : folded(r, {"--off-cpu", "--weight", "time", "--tid", tid(r, kThreads[i])})) {
        if (s.frames.size() < 2 || s.frames[1] != "[off-cpu: S]") continue;  // blocked, not preempted
        all[i] += double(s.count);
        if (stack_has(s, kBlockers[i])) named[i] += double(s.count);
      }
    }
  }

  // Every blocking function named, with its measured share of blocked time.
  static void expect_blocking_functions_named(const std::string& mode) {
    const Recording& r = recorded(mode);
    ASSERT_EQ(r.measured.count("reader_tid"), 1u);
    double named[4], all[4], named_sum = 0, measured_sum = 0;
    blocked_time(r, named, all);
    for (int i = 0; i < 4; i++) {
      named_sum += named[i];
      measured_sum += r.measured.at(kMeasured[i]);
      // nearly all of each thread's blocked time is in its named function
      EXPECT_GE(named[i], 0.95 * all[i]) << mode << ": " << kBlockers[i] << " named in " << named[i] << " of "
                                         << all[i] << " ns";
    }
    ASSERT_GT(named_sum, 0);
    for (int i = 0; i < 4; i++) {
      double want = r.measured.at(kMeasured[i]) / measured_sum;
      EXPECT_NEAR(named[i] / named_sum, want, kShareTol) << mode << ": share of " << kBlockers[i];
    }
  }

  // The waker's stacks (--wakers) name wake_reader and wake_cond, weighted by
  // the blocked time their wake-ups ended.
  static void expect_waker_functions_named(const std::string& mode) {
    const Recording& r = recorded(mode);
    ASSERT_EQ(r.measured.count("waker_tid"), 1u);
    double reader = 0, cond = 0, total = 0;
    for (const auto& s : folded(r, {"--wakers", "--tid", tid(r, "waker")})) {
      if (s.frames.size() < 2) continue;
      if (s.frames[1] == "[woke: reader]") {
        total += double(s.count);
        if (stack_has(s, "wake_reader")) reader += double(s.count);
      } else if (s.frames[1] == "[woke: condw]") {
        total += double(s.count);
        if (stack_has(s, "wake_cond")) cond += double(s.count);
      }
    }
    ASSERT_GT(total, 0) << mode;
    EXPECT_GE(reader + cond, 0.95 * total) << mode;
    double want = r.measured.at("read_ns") / (r.measured.at("read_ns") + r.measured.at("cond_ns"));
    EXPECT_NEAR(reader / (reader + cond), want, kShareTol) << mode;
  }
};

TempDir* LeafRepair::dir_ = nullptr;
std::map<std::string, Recording>* LeafRepair::runs_ = nullptr;

TEST_F(LeafRepair, FpOffCpuNamesEveryBlockingFunction) { expect_blocking_functions_named("fp"); }
TEST_F(LeafRepair, FpWakerStacksNameTheWakingFunction) { expect_waker_functions_named("fp"); }
TEST_F(LeafRepair, DwarfOffCpuNamesEveryBlockingFunction) { expect_blocking_functions_named("dwarf"); }
TEST_F(LeafRepair, DwarfWakerStacksNameTheWakingFunction) { expect_waker_functions_named("dwarf"); }

// On-CPU in fp mode: the copier spends its time in memcpy / strlen, whose
// callers are named.
TEST_F(LeafRepair, FpOnCpuNamesTheCallerOfMemcpyAndStrlen) {
  const Recording& r = recorded("fp");
  uint64_t all = 0, named = 0, in_memcpy = 0, memcpy_named = 0;
  for (const auto& s : folded(r, {"--tid", tid(r, "copier")})) {
    all += s.count;
    bool leaf_memcpy = !s.frames.empty() && s.frames.back().find("memcpy") != std::string::npos;
    if (leaf_memcpy) in_memcpy += s.count;
    if (stack_has(s, "copy_big") || stack_has(s, "scan_big")) named += s.count;
    if (leaf_memcpy && stack_has(s, "copy_big")) memcpy_named += s.count;
  }
  ASSERT_GE(all, 20u) << "too few samples of the copier";
  EXPECT_GE(double(named), 0.9 * double(all)) << named << " of " << all;
  EXPECT_GT(in_memcpy, 0u);
  EXPECT_GE(double(memcpy_named), 0.9 * double(in_memcpy));
}

// The control: without leaf repair the caller of the libc wrapper is lost
// (what the repair fixes; proves the tests above can fail).
TEST_F(LeafRepair, WithoutRepairTheCallerIsMissing) {
  const Recording& r = recorded("fp-norepair");
  ASSERT_EQ(r.measured.count("reader_tid"), 1u);
  double named[4], all[4];
  blocked_time(r, named, all);
  EXPECT_GT(all[0], 0);
  EXPECT_LT(named[0], 0.5 * all[0]) << "block_in_read named without repair: is libc built with frame pointers?";
}

// The recorder says what the repair did; leaf repair off says nothing.
TEST_F(LeafRepair, SummaryCountsRepairs) {
  std::smatch m;
  const std::string& err = recorded("fp").record.err;
  ASSERT_TRUE(std::regex_search(err, m, std::regex("leaf repair: ([0-9]+)/([0-9]+) stacks repaired"))) << err;
  EXPECT_GT(std::stoull(m[1]), 0u);
  EXPECT_EQ(recorded("fp-norepair").record.err.find("leaf repair"), std::string::npos);
}

// The capture keeps the counts (SessionEnd): `ebtrace info` and `report -v`
// show them, with the stacks kept as recorded and why.
TEST_F(LeafRepair, InfoAndReportShowTheCounts) {
  const Recording& r = recorded("fp");
  RunResult info = run({ebtrace_bin(), "info", r.capture}, timeout(60));
  ASSERT_EQ(info.exit_code, 0) << info.describe();
  std::smatch m;
  ASSERT_TRUE(std::regex_search(info.out, m, std::regex("leaf repair: +([0-9]+)/([0-9]+) repaired"))) << info.out;
  EXPECT_GT(std::stoull(m[1]), 0u);
  EXPECT_LE(std::stoull(m[1]), std::stoull(m[2]));
  RunResult rep = run({ebtrace_bin(), "report", r.capture, "-v", "--folded"}, timeout(60));
  ASSERT_EQ(rep.exit_code, 0) << rep.describe();
  EXPECT_NE(rep.err.find("leaf repair while recording: " + std::string(m[1]) + "/" + std::string(m[2])),
            std::string::npos)
      << rep.err;
  RunResult none = run({ebtrace_bin(), "info", recorded("fp-norepair").capture}, timeout(60));
  EXPECT_EQ(none.out.find("leaf repair"), std::string::npos) << none.out;
}

}  // namespace
}  // namespace ebt::test
