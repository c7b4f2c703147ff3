// scripts/ebtrace-remote.sh with several hosts: two sshd instances on loopback
// (tests/dist/loopback_sshd.h), one whose PATH has ebtrace and one whose PATH has
// not, so the script copies the static binary there (and removes it afterwards).
// Root + BPF: the recordings are real.
#include <dirent.h>

#include <regex>

#include <gtest/gtest.h>

#include "tests/bpf_guard.h"
#include "tests/cli/oncpu_e2e.h"
#include "tests/dist/loopback_sshd.h"

namespace ebt::test {
namespace {

std::string remote_script() { return std::string(EBT_SOURCE_DIR) + "/scripts/ebtrace-remote.sh"; }
const char* const kSystemPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// Two "hosts": `with` has ebtrace in its PATH, `without` has not.
struct TwoHosts {
  TempDir dir{"ebt-hosts"};
  std::unique_ptr<LoopbackSshd> with, without;
  TwoHosts() {
    fs::create_directories(dir / "with-bin");
    fs::create_symlink(ebtrace_bin(), dir / "with-bin" / "ebtrace");
    with = std::make_unique<LoopbackSshd>(dir / "with",
                                          "SetEnv PATH=" + (dir / "with-bin").string() + ":" + kSystemPath + "\n");
    without = std::make_unique<LoopbackSshd>(dir / "without", std::string("SetEnv PATH=") + kSystemPath + "\n",
                                             std::stoi(with->port()) + 1);
  }
  std::string with_host() const { return "root@127.0.0.1:" + with->port(); }
  std::string without_host() const { return "root@127.0.0.1:" + without->port(); }
  std::string with_file() const { return "127.0.0.1_" + with->port() + ".ebt"; }
  std::string without_file() const { return "127.0.0.1_" + without->port() + ".ebt"; }
  std::vector<std::string> argv(const fs::path& out, const std::vector<std::string>& record_args) const {
    std::vector<std::string> v{remote_script(), "-o", out.string(), "-b", EBT_STATIC_BIN, "--no-sudo",
                               with_host(), without_host(), "-i", with->key().string(), "-i",
                               without->key().string(), "-o", "StrictHostKeyChecking=no", "-o",
                               "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "--"};
    v.insert(v.end(), record_args.begin(), record_args.end());
    return v;
  }
};

// The remote temporary directory the script said it copied the binary to.
std::string copied_dir(const std::string& err) {
  std::smatch m;
  static const std::regex re("copied ebtrace-static to root@127\\.0\\.0\\.1:[0-9]+:(/tmp/ebtrace-remote\\.[A-Za-z0-9]+)/ebtrace");
  return std::regex_search(err, m, re) ? m[1].str() : "";
}

// Processes whose command line holds all of `words` (as whole arguments).
std::vector<pid_t> processes_with(const std::vector<std::string>& words) {
  std::vector<pid_t> out;
  DIR* d = opendir("/proc");
  while (dirent* e = d ? readdir(d) : nullptr) {
    pid_t pid = atoi(e->d_name);
    if (pid <= 0 || pid == getpid()) continue;
    std::string cmd = read_text(fs::path("/proc") / e->d_name / "cmdline");
    std::vector<std::string> args;
    for (size_t p = 0; p < cmd.size();) {
      size_t z = cmd.find('\0', p);
      if (z == std::string::npos) z = cmd.size();
      args.push_back(cmd.substr(p, z - p));
      p = z + 1;
    }
    bool all = true;
    for (const auto& w : words) all = all && std::find(args.begin(), args.end(), w) != args.end();
    if (all) out.push_back(pid);
  }
  if (d) closedir(d);
  return out;
}

TEST(RemoteHosts, RecordsTwoHostsCopyingTheBinaryWhereMissing) {
  EBT_REQUIRE_BPF_OR_SKIP();
  if (!fs::exists("/usr/sbin/sshd")) GTEST_SKIP() << "openssh-server not installed (scripts/setup-deps.sh --with-tests)";
  TwoHosts hosts;
  fs::path out = hosts.dir / "caps";
  RunResult r = run(hosts.argv(out, {"-F", "999", "--", cpuburn_dir() + "/cpuburn", "--duration", "3"}), timeout(180));
  ASSERT_EQ(r.exit_code, 0) << r.describe() << "\nsshd: " << hosts.with->log() << hosts.without->log();
  // Copied to the host without ebtrace only, and gone afterwards.
  std::string copied = copied_dir(r.err);
  ASSERT_FALSE(copied.empty()) << r.err;
  EXPECT_EQ(r.err.find("copied", r.err.find("copied") + 1), std::string::npos) << "copied twice:\n" << r.err;
  EXPECT_NE(r.err.find("127.0.0.1_" + hosts.without->port() + ": copied"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(copied)) << copied << " left behind";
  EXPECT_NE(r.err.find("127.0.0.1_" + hosts.with->port() + ": ok, capture in"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("127.0.0.1_" + hosts.without->port() + ": ok, capture in"), std::string::npos) << r.err;

  // argv[0] as the remote shell ran it: from PATH, or the copy's full path.
  for (const auto& [file, exe] : {std::pair{hosts.with_file(), std::string("ebtrace")},
                                  std::pair{hosts.without_file(), copied + "/ebtrace"}}) {
    SCOPED_TRACE(file);
    std::smatch m;
    std::string name = file.substr(0, file.size() - 4);
    ASSERT_TRUE(std::regex_search(r.err, m, std::regex(std::regex_replace(name, std::regex("\\."), "\\.") +
                                                           ": \\[ ebtrace record: ([0-9]+) samples")))
        << r.err;
    uint64_t samples = std::stoull(m[1].str());
    fs::path cap = out / file;
    ASSERT_TRUE(fs::exists(cap));
    EXPECT_EQ(fs::status(cap).permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);
    // Recorded by the binary the host had, or by the copy.
    RunResult dump = run({ebtrace_bin(), "dump", cap.string()}, timeout(60));
    ASSERT_EQ(dump.exit_code, 0) << dump.describe();
    EXPECT_NE(dump.out.find("\"" + exe + "\""), std::string::npos) << dump.out.substr(0, 2000);
    // Every sample the remote recorder counted is in the capture that came back, in
    // cpuburn (a loaded machine gives two parallel recordings few samples: the
    // profile itself is checked by Remote.RecordsOverSshAndStreamsTheCaptureHere).
    RunResult rep = report_clean(cap, {"--folded"});
    ASSERT_EQ(rep.exit_code, 0) << rep.describe();
    Profile prof = profile_of(rep.out);
    EXPECT_EQ(prof.all, samples);
    EXPECT_GE(prof.per_part["burn_a"], 10u) << rep.out.substr(0, 3000);
  }
}

TEST(RemoteHosts, CtrlCStopsEveryRecorderAndKeepsTheCaptures) {
  EBT_REQUIRE_BPF_OR_SKIP();
  if (!fs::exists("/usr/sbin/sshd")) GTEST_SKIP() << "openssh-server not installed (scripts/setup-deps.sh --with-tests)";
  TwoHosts hosts;
  fs::path out = hosts.dir / "caps";
  // The recorders follow a process that lives longer than the test: only Ctrl-C ends them.
  Proc target({"sleep", "600"}, timeout(600));
  std::string pid = std::to_string(target.pid());
  Proc script(hosts.argv(out, {"-F", "99", "-p", pid}), timeout(180));
  std::vector<pid_t> recorders;
  for (int i = 0; i < 600 && recorders.size() < 2 && !script.poll(); i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    recorders = processes_with({"record", "-o", "-", "-p", pid});
  }
  ASSERT_EQ(recorders.size(), 2u) << script.err_so_far();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // both attached and streaming
  std::string copied = copied_dir(script.err_so_far());
  ASSERT_FALSE(copied.empty()) << script.err_so_far();
  ASSERT_TRUE(fs::exists(copied + "/ebtrace"));

  kill(-script.pid(), SIGINT);  // what the terminal does on Ctrl-C: the whole foreground group
  RunResult r = script.wait(90);
  EXPECT_FALSE(r.timed_out) << r.describe();
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_TRUE(processes_with({"record", "-o", "-", "-p", pid}).empty()) << "a recorder is still running";
  for (pid_t p : recorders) EXPECT_NE(kill(p, 0), 0) << "recorder " << p << " still alive";
  EXPECT_FALSE(fs::exists(copied)) << copied << " left behind";
  // The recorders were stopped the clean way: both captures are complete.
  for (const auto& file : {hosts.with_file(), hosts.without_file()}) {
    RunResult info = run({ebtrace_bin(), "info", (out / file).string()}, timeout(60));
    EXPECT_EQ(info.exit_code, 0) << info.describe();
    EXPECT_NE(info.out.find("index present"), std::string::npos) << file << ":\n" << info.out;
  }
}

// What a host cannot do is said up front, one line per missing capability, and
// nothing is recorded there (nor left behind).
TEST(RemoteHosts, KernelCheckFailsBeforeRecording) {
  EBT_REQUIRE_BPF_OR_SKIP();
  if (!fs::exists("/usr/sbin/sshd")) GTEST_SKIP() << "openssh-server not installed (scripts/setup-deps.sh --with-tests)";
  TwoHosts hosts;
  fs::path out = hosts.dir / "caps";
  long max_rate = std::stol(read_text("/proc/sys/kernel/perf_event_max_sample_rate"));
  RunResult r = run(hosts.argv(out, {"-F", std::to_string(max_rate * 2 + 1000), "-d", "1"}), timeout(120));
  EXPECT_EQ(r.exit_code, 1) << r.describe();
  for (const auto& [name, file] : {std::pair{"127.0.0.1_" + hosts.with->port(), hosts.with_file()},
                                   std::pair{"127.0.0.1_" + hosts.without->port(), hosts.without_file()}}) {
    EXPECT_NE(r.err.find(name + ": MISSING  perf cpu-clock events (on-CPU sampling): perf_event_open: Invalid argument"),
              std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find(name + ": failed, exit 1"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(out / file));
  }
  EXPECT_EQ(r.err.find(": missing "), std::string::npos) << "families these options do not need are not shown:\n" << r.err;
  std::string copied = copied_dir(r.err);
  ASSERT_FALSE(copied.empty()) << r.err;
  EXPECT_FALSE(fs::exists(copied)) << copied << " left behind";
}

// The local side killed outright (SIGKILL: no trap runs, the ssh clients die
// too): each remote watchdog sees its session close, stops the recorder, and the
// copied binary is removed.
TEST(RemoteHosts, LocalSideKilledStopsEveryRecorder) {
  EBT_REQUIRE_BPF_OR_SKIP();
  if (!fs::exists("/usr/sbin/sshd")) GTEST_SKIP() << "openssh-server not installed (scripts/setup-deps.sh --with-tests)";
  TwoHosts hosts;
  Proc target({"sleep", "600"}, timeout(600));
  std::string pid = std::to_string(target.pid());
  Proc script(hosts.argv(hosts.dir / "caps", {"-F", "99", "-p", pid}), timeout(180));
  std::vector<pid_t> recorders;
  for (int i = 0; i < 600 && recorders.size() < 2 && !script.poll(); i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    recorders = processes_with({"record", "-o", "-", "-p", pid});
  }
  ASSERT_EQ(recorders.size(), 2u) << script.err_so_far();
  std::string copied = copied_dir(script.err_so_far());
  ASSERT_FALSE(copied.empty()) << script.err_so_far();

  kill(-script.pid(), SIGKILL);
  script.wait(30);
  bool gone = false;
  for (int i = 0; i < 300 && !gone; i++) {  // up to 15 s: sshd notices the closed connections
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    gone = processes_with({"record", "-o", "-", "-p", pid}).empty() && !fs::exists(copied);
  }
  EXPECT_TRUE(processes_with({"record", "-o", "-", "-p", pid}).empty()) << "a recorder is still running";
  EXPECT_FALSE(fs::exists(copied)) << copied << " left behind";
}

}  // namespace
}  // namespace ebt::test
