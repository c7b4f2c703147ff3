// The CLI's contract on bad input, through the real binary: documented exit
// codes (0 ok, 1 runtime failure, 2 usage/bad input) and exactly one line on
// stderr, never a crash or a hang.
#include <sys/stat.h>

#include <random>

#include <gtest/gtest.h>

#include "tests/bpf_guard.h"
#include "tests/cli/cli_harness.h"

namespace ebt::test {
namespace {

// The report subcommand's argument form for a capture file.
std::vector<std::string> report_cmd(const std::string& capture, std::vector<std::string> extra = {}) {
  std::vector<std::string> v{ebtrace_bin(), "report"};
  for (auto& e : extra) v.push_back(e);
  v.push_back(capture);
  return v;
}

// A content error (bad pid, missing command, corrupt file) must not be
// reported as an option-parsing error.
void expect_not_parse_error(const RunResult& r) {
  EXPECT_EQ(r.err.find("see ebtrace --help"), std::string::npos)
      << "reported as a usage error instead of naming the problem\n" << r.describe();
}

void expect_one_line_error(const RunResult& r, int code) {
  EXPECT_EQ(r.exit_code, code) << r.describe();
  EXPECT_EQ(r.signal, 0) << r.describe();
  auto ls = lines_of(r.err);
  ASSERT_EQ(ls.size(), 1u) << "want exactly one line on stderr\n" << r.describe();
  EXPECT_EQ(ls[0].rfind("ebtrace", 0), 0u) << "error line should start with 'ebtrace': " << ls[0];
}

TEST(CliErrors, HelpOnEverySubcommandExitsZero) {
  for (std::string sub : {"", "record", "report", "info", "dump"}) {
    std::vector<std::string> argv{ebtrace_bin()};
    if (!sub.empty()) argv.push_back(sub);
    argv.push_back("--help");
    RunResult r = run(argv, timeout(20));
    EXPECT_EQ(r.exit_code, 0) << "ebtrace " << sub << " --help\n" << r.describe();
    EXPECT_NE(r.out.find("Usage"), std::string::npos) << "ebtrace " << sub << " --help\n" << r.describe();
  }
  RunResult v = run({ebtrace_bin(), "--version"}, timeout(20));
  EXPECT_EQ(v.exit_code, 0) << v.describe();
  EXPECT_NE(v.out.find("ebtrace"), std::string::npos) << v.describe();
}

TEST(CliErrors, UnknownOptionIsUsageError) {
  expect_one_line_error(run({ebtrace_bin(), "--no-such-option"}, timeout(20)), 2);
  expect_one_line_error(run({ebtrace_bin(), "record", "--no-such-option"}, timeout(20)), 2);
  expect_one_line_error(run({ebtrace_bin(), "report", "--no-such-option", "x.ebt"}, timeout(20)), 2);
  expect_one_line_error(run({ebtrace_bin(), "no-such-subcommand"}, timeout(20)), 2);
}

// Report options that cannot take effect are refused (exit 2); a view the
// capture has no data for says so on stderr instead of printing an empty or an
// unchanged report silently.
TEST(CliErrors, ReportOptionsWithoutEffectAreRefusedOrExplained) {
  const std::string oncpu = std::string(EBT_SOURCE_DIR) + "/tests/golden/oncpu_fp.ebt";
  expect_one_line_error(run(report_cmd(oncpu, {"--title", "x"}), timeout(30)), 2);
  expect_one_line_error(run(report_cmd(oncpu, {"--weight", "count"}), timeout(30)), 2);
  expect_one_line_error(run(report_cmd(oncpu, {"--speedscope-lines"}), timeout(30)), 2);
  expect_one_line_error(run(report_cmd(oncpu, {"--trace-max-size", "10M"}), timeout(30)), 2);
  expect_one_line_error(run({ebtrace_bin(), "report", "--diff", oncpu}, timeout(30)), 2);
  // --by container groups the text report, --latency, --tcp, --sched and --skb, not stack files.
  expect_one_line_error(run(report_cmd(oncpu, {"--by", "container", "--folded"}), timeout(30)), 2);
  expect_one_line_error(run(report_cmd(oncpu, {"--by", "host", "--tcp"}), timeout(30)), 2);
  expect_one_line_error(run(report_cmd(oncpu, {"--by", "port", "--latency"}), timeout(30)), 2);
  for (auto [flag, says] : {std::pair{"--wakers", "holds no off-CPU intervals"},
                            std::pair{"--off-cpu", "holds no off-CPU intervals"},
                            std::pair{"--lua-only", "holds no LuaJIT VM"}}) {
    RunResult r = run(report_cmd(oncpu, {flag}), timeout(30));
    EXPECT_EQ(r.exit_code, 0) << flag << "\n" << r.describe();
    EXPECT_NE(r.err.find(says), std::string::npos) << flag << "\n" << r.describe();
  }
}

TEST(CliErrors, ReportOnMissingEmptyTextAndRandomFiles) {
  TempDir d("ebt-cli-err");
  write_text(d / "empty.ebt", "");
  write_text(d / "text.ebt", "this is not a capture\njust some text\n");
  std::mt19937_64 rng(42);
  std::string junk(256 * 1024, '\0');
  for (auto& c : junk) c = static_cast<char>(rng());
  write_text(d / "random.ebt", junk);
  for (std::string f : {"missing.ebt", "empty.ebt", "text.ebt", "random.ebt"}) {
    SCOPED_TRACE(f);
    RunResult a = run(report_cmd((d / f).string()), timeout(30));
    expect_one_line_error(a, 2);
    expect_not_parse_error(a);
    RunResult b = run(report_cmd((d / f).string(), {"--folded"}), timeout(30));
    expect_one_line_error(b, 2);
    expect_not_parse_error(b);
  }
}

// A real capture with a damaged header must be refused; one with a damaged
// middle must be refused or reported from its intact prefix, never crash.
TEST(CliErrors, ReportOnCorruptedRealCapture) {
  fs::path sample = fs::path(EBT_SOURCE_DIR) / "samples" / "cpuburn.ebt";
  if (!fs::exists(sample)) GTEST_SKIP() << "samples/cpuburn.ebt not committed yet";
  std::string good = read_text(sample);
  ASSERT_GT(good.size(), 4096u);
  TempDir d("ebt-cli-err");

  RunResult ok = run(report_cmd(sample.string(), {"--folded"}), timeout(60));
  ASSERT_EQ(ok.exit_code, 0) << "the sample capture itself must report\n" << ok.describe();

  std::string bad_head = good;
  for (size_t i = 0; i < 16; ++i) bad_head[i] = static_cast<char>(bad_head[i] ^ 0x5a);
  write_text(d / "badhead.ebt", bad_head);
  expect_one_line_error(run(report_cmd((d / "badhead.ebt").string(), {"--folded"}), timeout(60)), 2);

  std::string bad_mid = good;
  for (size_t i = good.size() / 2; i < good.size() / 2 + 64; ++i)
    bad_mid[i] = static_cast<char>(bad_mid[i] ^ 0xff);
  write_text(d / "badmid.ebt", bad_mid);
  RunResult r = run(report_cmd((d / "badmid.ebt").string(), {"--folded"}), timeout(60));
  EXPECT_EQ(r.signal, 0) << r.describe();
  EXPECT_FALSE(r.timed_out) << r.describe();
  EXPECT_TRUE(r.exit_code == 0 || r.exit_code == 2) << r.describe();
  if (r.exit_code == 2) expect_one_line_error(r, 2);
}

TEST(CliErrors, RecordUnknownPid) {
  EBT_REQUIRE_BPF_OR_SKIP();
  TempDir d("ebt-cli-err");
  RunResult r = run({ebtrace_bin(), "record", "-F", "99", "-p", "999999", "-o", (d / "x.ebt").string()},
                    timeout(60));
  expect_one_line_error(r, 2);
  expect_not_parse_error(r);
  EXPECT_NE(r.err.find("999999"), std::string::npos) << "the message should name the pid\n" << r.describe();
}

TEST(CliErrors, RecordCommandNotFound) {
  EBT_REQUIRE_BPF_OR_SKIP();
  TempDir d("ebt-cli-err");
  RunResult r = run({ebtrace_bin(), "record", "-F", "99", "-o", (d / "x.ebt").string(), "--",
                     "/nonexistent/cmd"},
                    timeout(60));
  expect_one_line_error(r, 2);
  expect_not_parse_error(r);
  EXPECT_NE(r.err.find("/nonexistent/cmd"), std::string::npos) << r.describe();
}

TEST(CliErrors, RecordWithoutPrivilegesSaysSo) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to drop to an unprivileged user with setpriv";
  // The binary and the output dir must be reachable by uid 65534.
  TempDir d("ebt-cli-err");
  fs::copy_file(ebtrace_bin(), d / "ebtrace");
  chmod((d / "ebtrace").c_str(), 0755);
  chmod(d.path().c_str(), 0777);
  RunResult r = run({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", (d / "ebtrace").string(),
                     "record", "-F", "99", "-o", (d / "x.ebt").string(), "--", "/bin/true"},
                    timeout(60));
  expect_one_line_error(r, 1);
  expect_not_parse_error(r);
  std::string e = r.err;
  bool names_privilege = e.find("root") != std::string::npos || e.find("CAP_BPF") != std::string::npos ||
                         e.find("privilege") != std::string::npos || e.find("permission") != std::string::npos;
  EXPECT_TRUE(names_privilege) << "the message should say what privilege is missing\n" << r.describe();
}

}  // namespace
}  // namespace ebt::test
