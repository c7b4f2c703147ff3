// `ebtrace record --check` (record/preflight.*): one line per capability, every
// probe family really loaded; a missing capability is one MISSING line and exit 1.
#include <gtest/gtest.h>

#include "tests/bpf_guard.h"
#include "tests/cli/cli_harness.h"

namespace ebt::test {
namespace {

const char* const kNotNeeded = " [not needed by these options]";

// --no-lua: with -a, a LuaJIT process of another test would turn on --lua, and with
// it --call-graph dwarf (profile-dwarf instead of profile).
TEST(Check, EveryCapabilityAndFamilyHereAsRoot) {
  EBT_REQUIRE_BPF_OR_SKIP();
  RunResult r = run({ebtrace_bin(), "record", "--check", "--no-lua", "-F", "999"}, timeout(120));
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  std::vector<std::string> want = {
      "ok       kernel: Linux ",
      "ok       privileges (root, or CAP_BPF and CAP_PERFMON): root",
      "ok       BTF (CONFIG_DEBUG_INFO_BTF, for CO-RE): /sys/kernel/btf/vmlinux",
      "ok       tracefs: mounted",
      "ok       BPF ring buffer (kernel 5.8+): created",
      "ok       perf cpu-clock events (on-CPU sampling): -F 999",
      "ok       task (process tracking, always loaded): loads",
      "ok       profile (on-CPU sampling, -F; --call-graph fp): loads",
      std::string("ok       profile-dwarf (--call-graph dwarf): loads") + kNotNeeded,
      std::string("ok       offcpu (--off-cpu): loads") + kNotNeeded,
      std::string("ok       syscalls (--l7, --syscalls, --payload-bytes; kernel 6.2+): loads") + kNotNeeded,
      std::string("ok       skb (--skb): loads") + kNotNeeded,
      std::string("ok       tcp (--tcp; tp_btf): loads") + kNotNeeded,
      std::string("ok       sched (--sched): loads") + kNotNeeded,
  };
  auto got = lines_of(r.out);
  ASSERT_EQ(got.size(), want.size()) << r.out;
  EXPECT_EQ(got[0].rfind(want[0], 0), 0u) << got[0];
  for (size_t i = 1; i < want.size(); i++) EXPECT_EQ(got[i], want[i]);
  // The families the options ask for come first; nothing was left attached.
  RunResult l7 = run({ebtrace_bin(), "record", "--check", "--no-lua", "--l7", "--off-cpu"}, timeout(120));
  ASSERT_EQ(l7.exit_code, 0) << l7.describe();
  auto l7_lines = lines_of(l7.out);
  ASSERT_EQ(l7_lines.size(), want.size()) << l7.out;
  EXPECT_EQ(l7_lines[5], "ok       perf cpu-clock events (on-CPU sampling): -F 99" + std::string(kNotNeeded));
  EXPECT_EQ(l7_lines[7], "ok       offcpu (--off-cpu): loads");
  EXPECT_EQ(l7_lines[8], "ok       syscalls (--l7, --syscalls, --payload-bytes; kernel 6.2+): loads");
}

TEST(Check, WithoutPrivilegesOneMissingLine) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to drop to nobody";
  RunResult r = run({"setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--inh-caps=-all",
                     ebtrace_bin(), "record", "--check"},
                    timeout(60));
  EXPECT_EQ(r.exit_code, 1) << r.describe();
  auto lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), 3u) << r.out;  // kernel, privileges, BTF: the rest would only repeat EPERM
  EXPECT_EQ(lines[1],
            "MISSING  privileges (root, or CAP_BPF and CAP_PERFMON): ebtrace record needs root (CAP_BPF and "
            "CAP_PERFMON); run it with sudo");
}

TEST(Check, FrequencyAboveTheKernelLimit) {
  EBT_REQUIRE_BPF_OR_SKIP();
  long max_rate = std::stol(read_text("/proc/sys/kernel/perf_event_max_sample_rate"));
  std::string hz = std::to_string(max_rate * 2 + 1000);
  RunResult r = run({ebtrace_bin(), "record", "--check", "-F", hz}, timeout(120));
  EXPECT_EQ(r.exit_code, 1) << r.describe();
  int missing = 0;
  for (const auto& l : lines_of(r.out))
    if (l.rfind("MISSING", 0) == 0) {
      missing++;
      EXPECT_EQ(l, "MISSING  perf cpu-clock events (on-CPU sampling): perf_event_open: Invalid argument "
                   "(-F above kernel.perf_event_max_sample_rate?)");
    }
  EXPECT_EQ(missing, 1) << r.out;
}

}  // namespace
}  // namespace ebt::test
