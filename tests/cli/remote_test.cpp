// scripts/ebtrace-remote.sh end to end: a real sshd (tests/dist/loopback_sshd.h)
// on a loopback port, the script recording
// cpuburn "remotely" through it with `ebtrace record ... -o -`, and the
// streamed capture reported locally. Root + BPF (the recording is real).
#include <unistd.h>

#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "tests/bpf_guard.h"
#include "tests/cli/oncpu_e2e.h"
#include "tests/dist/loopback_sshd.h"

namespace ebt::test {
namespace {

std::string remote_script() { return std::string(EBT_SOURCE_DIR) + "/scripts/ebtrace-remote.sh"; }

TEST(Remote, RecordsOverSshAndStreamsTheCaptureHere) {
  EBT_REQUIRE_BPF_OR_SKIP();
  if (!fs::exists("/usr/sbin/sshd")) GTEST_SKIP() << "openssh-server not installed (scripts/setup-deps.sh --with-tests)";
  TempDir dir("ebt-remote");
  LoopbackSshd sshd(dir.path());
  fs::path cap = dir / "remote.ebt";
  std::vector<std::string> argv{remote_script(), "-o", cap.string(), "-e", ebtrace_bin(), "--no-sudo", "root@127.0.0.1"};
  for (const auto& o : sshd.ssh_options()) argv.push_back(o);
  for (std::string a : std::vector<std::string>{"--", "-F", "999", "--", cpuburn_dir() + "/cpuburn", "--duration", "3"})
    argv.push_back(a);
  RunResult r = run(argv, timeout(120));
  ASSERT_EQ(r.exit_code, 0) << r.describe() << "\nsshd: " << sshd.log();
  EXPECT_NE(r.err.find("ebtrace record:"), std::string::npos) << r.err;  // the remote summary line
  EXPECT_EQ(fs::status(cap).permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);

  RunResult info = run({ebtrace_bin(), "info", cap.string()}, timeout(60));
  EXPECT_EQ(info.exit_code, 0) << info.describe();
  EXPECT_NE(info.out.find("index present"), std::string::npos) << info.out;
  RunResult rep = report_clean(cap, {"--folded"});
  ASSERT_EQ(rep.exit_code, 0) << rep.describe();
  Expect want;
  check_cpuburn_profile(rep.out, want);
}

TEST(Remote, FailuresKeepTheirExitCodes) {
  if (!fs::exists("/usr/sbin/sshd")) GTEST_SKIP() << "openssh-server not installed";
  TempDir dir("ebt-remote-fail");
  // No sshd on this port: ssh fails, 255, and no capture is left behind.
  fs::path cap = dir / "none.ebt";
  RunResult r = run({remote_script(), "-o", cap.string(), "root@127.0.0.1", "-p", "1", "-o", "ConnectTimeout=5", "--",
                     "-d", "1"},
                    timeout(60));
  EXPECT_EQ(r.exit_code, 255) << r.describe();
  EXPECT_FALSE(fs::exists(cap));
  // Bad arguments to the script itself: 2.
  EXPECT_EQ(run({remote_script(), "root@127.0.0.1"}, timeout(30)).exit_code, 2);
  EXPECT_EQ(run({remote_script(), "-x"}, timeout(30)).exit_code, 2);
}

TEST(Remote, RecordToATerminalIsRefused) {
  // `-o -` streams to stdout; a terminal would get binary junk.
  RunResult r = run({"script", "-qec", ebtrace_bin() + " record -d 0.1 -o -", "/dev/null"}, timeout(60));
  EXPECT_NE(r.out.find("standard output is a terminal"), std::string::npos) << r.describe();
}

}  // namespace
}  // namespace ebt::test
