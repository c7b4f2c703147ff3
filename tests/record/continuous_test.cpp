// Continuous recording with real BPF (docs/record.md "Continuous recording"):
// rotation by size, time and signal, retention, the flight recorder and its
// cpu> trigger, a recorder killed with SIGKILL, a full disk.
#include <sys/mount.h>
#include <sys/stat.h>

#include <atomic>
#include <optional>
#include <regex>

#include "tests/record/record_harness.h"

namespace {

using namespace ebt;
using namespace record_test;

// The files of a rotated recording: OUTPUT.<16 digits>, in name (= time) order.
std::vector<std::string> rotated_files(const std::string& dir, const std::string& base) {
  std::vector<std::string> out;
  std::regex name(base + R"(\.\d{16}(-\d+)?)");
  for (const auto& e : fs::directory_iterator(dir))
    if (std::regex_match(e.path().filename().string(), name)) out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

uint64_t summary_samples(const std::string& err) {
  std::smatch m;
  std::regex total(R"(\[ ebtrace record: (\d+) samples)");
  return std::regex_search(err, m, total) ? std::stoull(m[1]) : UINT64_MAX;
}

// A copy of the workload that is deleted after the recording: names must come
// from the captures alone.
struct DoomedWorkload {
  explicit DoomedWorkload(const TempDir& dir) : path(dir / "ebt_rotating_burn") { fs::copy_file(EBT_WORKLOAD_BIN, path); }
  ~DoomedWorkload() { fs::remove(path); }
  std::string path;
};

// Every file of a rotation: complete, self-contained (the stacks, the process
// and its mappings, the symbols of what its samples hit), reporting alone with
// names; together: every sample the recorder counted, none twice.
void check_rotation(const std::vector<std::string>& files, const std::string& err, const std::string& exe,
                    const TempDir& dir) {
  ASSERT_GE(files.size(), 2u) << err;
  uint64_t total = 0;
  std::set<std::pair<uint64_t, uint32_t>> seen;  // (time, tid)
  std::optional<uint64_t> workload_start;
  size_t workload_files = 0;
  for (const auto& f : files) {
    SCOPED_TRACE(f);
    Capture c = Capture::load(f);
    expect_consistent_end(c);
    total += c.samples.size();
    // The workload as every file describes it (read from /proc for the first,
    // carried from memory into the later ones): the same process, its whole
    // command line, its executable mapped.
    for (const auto& p : c.processes) {
      if (p.exe != exe) continue;
      EXPECT_EQ(p.cmdline, (std::vector<std::string>{exe, "busy", "3"}));
      EXPECT_EQ(p.start_ns, workload_start.value_or(p.start_ns));
      workload_start = p.start_ns;
      workload_files++;
      EXPECT_TRUE(std::any_of(c.mappings.begin(), c.mappings.end(),
                              [&](const Mapping& m) { return m.pid == p.pid && m.path == exe; }));
    }
    size_t named = 0, user = 0;
    for (const auto& s : c.samples) {
      EXPECT_TRUE(seen.emplace(s.time_ns, s.tid).second) << "sample in two files: " << s.time_ns << " " << s.tid;
      EXPECT_NE(c.process(s.pid), nullptr) << "process not described in this file";
      if (!s.stack_id) continue;
      for (const auto& fr : c.stacks.at(s.stack_id).frames)
        if (fr.kind == FrameKind::kUser) {
          user++;
          named += c.symbol(s.pid, fr.address) == "ebt_busy_function";
          break;
        }
    }
    if (user >= 20) EXPECT_GT(named, user * 7 / 10);
    // report, alone, the workload's binary gone.
    fs::remove(exe);
    if (c.samples.size() >= 20) {
      Output rep = run_out({EBT_EBTRACE_BIN, "report", f, "--folded"}, dir);
      EXPECT_EQ(rep.rc, 0) << rep.err;
      EXPECT_NE(rep.out.find("ebt_busy_function"), std::string::npos) << rep.out.substr(0, 2000);
    }
  }
  EXPECT_GE(workload_files, 2u);
  EXPECT_EQ(total, summary_samples(err)) << err;
}

TEST(Continuous, RotationBySize) {
  EBT_REQUIRE_BPF_OR_SKIP();
  TempDir dir;
  DoomedWorkload w(dir);
  std::string out = dir / "size.ebt";
  // Blocks reach the disk about once a second: 8K switches at nearly every one.
  Result r = run(record_cmd(out, {"-F", "999", "--switch-output=8K", "--", w.path, "busy", "3"}), dir);
  ASSERT_EQ(r.rc, 0) << r.err;
  auto files = rotated_files(dir / "", "size.ebt");
  EXPECT_NE(r.err.find("wrote " + files.front()), std::string::npos) << r.err;  // a line per file
  check_rotation(files, r.err, w.path, dir);
}

TEST(Continuous, RotationByTime) {
  EBT_REQUIRE_BPF_OR_SKIP();
  TempDir dir;
  DoomedWorkload w(dir);
  std::string out = dir / "time.ebt";
  Result r = run(record_cmd(out, {"-F", "999", "--switch-output=1s", "--", w.path, "busy", "3"}), dir);
  ASSERT_EQ(r.rc, 0) << r.err;
  auto files = rotated_files(dir / "", "time.ebt");
  EXPECT_GE(files.size(), 3u);
  check_rotation(files, r.err, w.path, dir);
}

TEST(Continuous, RotationBySignalAndOutputPattern) {
  EBT_REQUIRE_BPF_OR_SKIP();
  TempDir dir;
  std::string ready = dir / "ready";
  pid_t rec = spawn({EBT_EBTRACE_BIN, "record", "-o", dir / "sig-%H%M%S.ebt", "--switch-output", "-F", "199",
                     "--ready-file", ready, "--", EBT_WORKLOAD_BIN, "busy", "3"},
                    dir / "err.txt");
  ASSERT_TRUE(wait_for_file(ready, 20));
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  kill(rec, SIGUSR2);
  ASSERT_EQ(wait_rc(rec), 0) << slurp(dir / "err.txt");
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir / ""))
    if (std::regex_match(e.path().filename().string(), std::regex(R"(sig-\d{6}\.ebt(-\d+)?)"))) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  ASSERT_EQ(files.size(), 2u) << slurp(dir / "err.txt");
  uint64_t total = 0;
  for (const auto& f : files) total += Capture::load(f).samples.size();
  EXPECT_EQ(total, summary_samples(slurp(dir / "err.txt")));
}

TEST(Continuous, RetentionNeverExceedsMaxFiles) {
  EBT_REQUIRE_BPF_OR_SKIP();
  TempDir dir;
  std::string out = dir / "ret.ebt";
  std::atomic<bool> done{false};
  std::atomic<size_t> most{0};
  std::thread watcher([&] {
    while (!done) {
      size_t n = rotated_files(dir / "", "ret.ebt").size();
      if (n > most) most = n;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  Result r = run(record_cmd(out, {"-F", "199", "--switch-output=300ms", "--switch-max-files", "2", "--", EBT_WORKLOAD_BIN,
                                  "busy", "2.5"}),
                 dir);
  done = true;
  watcher.join();
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_LE(most.load(), 2u);
  auto files = rotated_files(dir / "", "ret.ebt");
  EXPECT_EQ(files.size(), 2u);
  EXPECT_NE(r.err.find("deleted by retention"), std::string::npos) << r.err;
  for (const auto& f : files) expect_consistent_end(Capture::load(f));
}

// Idle, then busy for a while, then idle: the cpu> trigger fires once, and the
// one file holds the busy phase and the window before it. The target is a
// shell (so the idle phase has no samples at all) that waits for the recorder
// to be ready, sleeps, spins for 3 s of wall time, and sleeps again; the recording
// stops before it exits. Thresholds hold on a loaded machine too (there the
// spinning shell gets a few % of a CPU; idle is 0 %; a 2 s window rides out
// a starved second without a second firing).
TEST(Continuous, FlightRecorderCpuTriggerWritesOneCapture) {
  EBT_REQUIRE_BPF_OR_SKIP();
  TempDir dir;
  // The idle phase starts when the recorder is ready, not at spawn: a recorder
  // slow to start on a loaded machine otherwise met the shell already spinning.
  // It never forks once the recording runs (a fork's samples, far before the
  // firing, would be in no file): it waits with reads timing out on a FIFO
  // nobody writes.
  std::string ready = dir / "ready", tick = dir / "tick";
  ASSERT_EQ(mkfifo(tick.c_str(), 0600), 0);
  pid_t shell = spawn({"bash", "-c",
                       "exec 3<>" + tick + "; until [ -e " + ready + " ]; do read -t 0.05 -u 3; done; read -t 4 -u 3; "
                       "end=$((SECONDS+3)); while ((SECONDS<end)); do :; done; read -t 20 -u 3"},
                      "");
  std::string out = dir / "fr.ebt";
  Result r = run(record_cmd(out, {"-F", "199", "-p", std::to_string(shell), "-d", "12", "--flight-recorder", "2s",
                                  "--trigger", "cpu>1%", "--trigger-window", "2s", "--trigger-after", "4s",
                                  "--ready-file", ready}),
                 dir);
  kill(shell, SIGKILL);
  wait_rc(shell);
  ASSERT_EQ(r.rc, 0) << r.err;
  auto files = rotated_files(dir / "", "fr.ebt");
  ASSERT_EQ(files.size(), 1u) << r.err;
  Capture c = Capture::load(files[0]);
  expect_consistent_end(c);
  EXPECT_EQ(c.session.trigger.rfind("cpu>1% (", 0), 0u) << c.session.trigger;
  // Every sample of the recording is in it: the busy phase whole ...
  ASSERT_GT(c.samples.size(), 10u);
  EXPECT_EQ(c.samples.size(), summary_samples(r.err)) << r.err;
  // ... and the window before it (segments are 0.5 s: 2 to 2.5 s before the firing).
  uint64_t first = UINT64_MAX;
  for (const auto& s : c.samples) first = std::min(first, s.time_ns);
  EXPECT_LE(c.session.start_ns + 1'500'000'000ull, first);
  Output info = run_out({EBT_EBTRACE_BIN, "info", files[0]}, dir);
  EXPECT_NE(info.out.find("trigger:        cpu>1% ("), std::string::npos) << info.out;
}

TEST(Continuous, FlightRecorderDumpsOnSigusr2) {
  EBT_REQUIRE_BPF_OR_SKIP();
  TempDir dir;
  std::string ready = dir / "ready";
  pid_t rec = spawn({EBT_EBTRACE_BIN, "record", "-o", dir / "fr.ebt", "--flight-recorder", "1s", "-F", "199",
                     "--ready-file", ready, "--", EBT_WORKLOAD_BIN, "busy", "3"},
                    dir / "err.txt");
  ASSERT_TRUE(wait_for_file(ready, 20));
  std::this_thread::sleep_for(std::chrono::milliseconds(2000));
  kill(rec, SIGUSR2);
  ASSERT_EQ(wait_rc(rec), 0);
  auto files = rotated_files(dir / "", "fr.ebt");
  ASSERT_EQ(files.size(), 1u) << slurp(dir / "err.txt");
  Capture c = Capture::load(files[0]);
  expect_consistent_end(c);
  EXPECT_EQ(c.session.trigger.rfind("SIGUSR2", 0), 0u);
  EXPECT_GT(c.samples.size(), 20u);  // 1 s at 199 Hz, a busy loop that a loaded machine may give a quarter of a CPU
}

// Killed mid-run: the capture opens, and every sample of its complete blocks
// is named (symbols go into each block before it is sealed).
TEST(Continuous, SigkillKeepsNamesOfCompleteBlocks) {
  EBT_REQUIRE_BPF_OR_SKIP();
  TempDir dir;
  DoomedWorkload w(dir);
  std::string out = dir / "killed.ebt", ready = dir / "ready";
  pid_t busy = spawn({w.path, "busy", "20"}, "");
  pid_t rec = spawn({EBT_EBTRACE_BIN, "record", "-o", out, "-F", "999", "-p", std::to_string(busy), "--ready-file", ready},
                    dir / "err.txt");
  ASSERT_TRUE(wait_for_file(ready, 20));
  std::this_thread::sleep_for(std::chrono::milliseconds(3500));
  kill(rec, SIGKILL);
  wait_rc(rec);
  kill(busy, SIGKILL);
  wait_rc(busy);
  fs::remove(w.path);
  Capture c = Capture::load(out);
  EXPECT_FALSE(c.has_index);
  EXPECT_FALSE(c.corrupted);
  ASSERT_GT(c.samples.size(), 50u);
  // Every user frame in the workload's executable, in every complete block, is
  // named from the capture (the vDSO and libc's unnamed bits aside).
  size_t in_exe = 0, named = 0;
  for (const auto& s : c.samples) {
    ASSERT_TRUE(c.stacks.count(s.stack_id) || !s.stack_id);
    if (!s.stack_id) continue;
    bool leaf = true;
    for (const auto& fr : c.stacks.at(s.stack_id).frames) {
      if (fr.kind != FrameKind::kUser) continue;
      uint64_t a = leaf ? fr.address : fr.address - 1;  // callers: the call, not the return address
      leaf = false;
      const Mapping* m = c.mapping(s.pid, a);
      if (!m || m->path.find("ebt_rotating_burn") == std::string::npos) continue;
      in_exe++;
      std::string name = c.symbol(s.pid, a);
      named += !name.empty();
      if (name.empty()) ADD_FAILURE() << "unnamed frame " << std::hex << fr.address;
    }
  }
  EXPECT_GT(in_exe, 50u);
  EXPECT_EQ(named, in_exe) << "every complete block's frames in the executable are named";
  Output rep = run_out({EBT_EBTRACE_BIN, "report", out, "--folded"}, dir);
  EXPECT_EQ(rep.rc, 0) << rep.err;
  EXPECT_NE(rep.out.find("ebt_busy_function"), std::string::npos);
}

// A full disk: one error line, a non-zero exit, no hang, and what was written
// is a readable capture.
TEST(Continuous, DiskFullFailsCleanly) {
  EBT_REQUIRE_BPF_OR_SKIP();
  TempDir dir;
  std::string mnt = dir / "small";
  fs::create_directory(mnt);
  ASSERT_EQ(mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=256k"), 0) << strerror(errno);
  struct Unmount {
    std::string m;
    ~Unmount() { umount2(m.c_str(), MNT_DETACH); }
  } unmount{mnt};
  std::string out = mnt + "/full.ebt";
  auto start = std::chrono::steady_clock::now();
  // -F 4999 with dwarf stacks kept raw: ~40 MB/s, the 256 KiB fill in well under a second.
  Result r = run(record_cmd(out, {"-F", "4999", "--call-graph", "dwarf", "--keep-stack-bytes", "--", EBT_WORKLOAD_BIN,
                                  "busy", "20"}),
                 dir);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(r.rc, 1) << r.err;
  EXPECT_LT(secs, 15.0) << "stopped on the error, not at the end of the workload";
  EXPECT_NE(r.err.find("No space left on device"), std::string::npos) << r.err;
  size_t error_lines = 0;
  for (size_t at = r.err.find("ebtrace: error:"); at != std::string::npos; at = r.err.find("ebtrace: error:", at + 1))
    error_lines++;
  EXPECT_EQ(error_lines, 1u) << r.err;
  Capture c = Capture::load(out);
  EXPECT_FALSE(c.corrupted);
  EXPECT_FALSE(c.has_index);
}

TEST(Continuous, BadOptionsAreRefused) {
  TempDir dir;
  for (std::vector<std::string> extra : {std::vector<std::string>{"--switch-output=10x"},
                                         {"--trigger", "cpu>80%"},
                                         {"--flight-recorder", "10s", "--trigger", "l7.p99>50ms"},
                                         {"--flight-recorder", "10s", "--trigger", "offcpu>1s"},
                                         {"--flight-recorder", "10s", "--switch-output=1s"},
                                         {"--switch-max-files", "3"},
                                         {"--switch-output=1s", "-o", "-"}}) {
    std::vector<std::string> argv = {EBT_EBTRACE_BIN, "record", "-d", "1"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    Result r = run(argv, dir);
    EXPECT_EQ(r.rc, 2) << extra[0] << ": " << r.err;
    EXPECT_NE(r.err.find("ebtrace: error:"), std::string::npos) << r.err;
  }
}

}  // namespace
