// End-to-end tests of `ebtrace record` with real BPF: the real binary records
// tests/record/workload.c, and the capture is read back with the format reader.
#include "tests/record/record_harness.h"

namespace {

using namespace ebt;
using namespace record_test;

TEST(Record, CommandBusyLoop) {
  EBT_REQUIRE_BPF_OR_SKIP();
  TempDir dir;
  std::string out = dir / "busy.ebt";
  Result r = run(record_cmd(out, {"-F", "999", "--", EBT_WORKLOAD_BIN, "busy", "1"}), dir);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.err.find("[ ebtrace record: "), std::string::npos) << r.err;
  struct stat st {};
  ASSERT_EQ(stat(out.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  Capture c = Capture::load(out);
  expect_consistent_end(c);
  auto pids = workload_pids(c);
  ASSERT_EQ(pids.size(), 1u);
  uint32_t pid = pids[0];
  const ProcessInfo* p = c.process(pid);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->comm, "record_workload");
  EXPECT_EQ(p->cmdline, (std::vector<std::string>{EBT_WORKLOAD_BIN, "busy", "1"}));
  EXPECT_GT(p->start_ns, 0u);
  EXPECT_NE(p->cgroup_id, 0u);

  // 1 s of CPU time (the workload burns CPU time, not wall time) at 999 Hz.
  size_t n = c.samples_of(pid);
  EXPECT_GT(n, 200u);
  for (const auto& s : c.samples) EXPECT_EQ(s.pid, pid) << "-- CMD records only the command";

  // Leaf user frames fall in the executable's mapping and name the busy function.
  size_t in_exe = 0, named = 0;
  for (const auto& s : c.samples) {
    if (!s.stack_id) continue;
    const Stack& st = c.stacks.at(s.stack_id);
    const Frame* leaf = nullptr;
    for (const auto& f : st.frames)
      if (f.kind == FrameKind::kUser) {
        leaf = &f;
        break;
      }
    if (!leaf) continue;
    const Mapping* m = c.mapping(pid, leaf->address);
    if (m && m->path == fs::canonical(EBT_WORKLOAD_BIN).string()) in_exe++;
    if (c.symbol(pid, leaf->address) == "ebt_busy_function") named++;
  }
  EXPECT_GT(in_exe, n * 8 / 10);
  EXPECT_GT(named, n * 7 / 10);

  // The embedded table of the executable names the function and has lines for it.
  const Mapping* exe_map = nullptr;
  for (const auto& m : c.mappings)
    if (m.pid == pid && m.path == fs::canonical(EBT_WORKLOAD_BIN).string()) exe_map = &m;
  ASSERT_NE(exe_map, nullptr);
  ASSERT_FALSE(exe_map->build_id.empty());
  const SymbolTable* t = c.table(exe_map->build_id);
  ASSERT_NE(t, nullptr);
  EXPECT_FALSE(t->segments.empty());
  bool has_sym = false;
  for (const auto& s : t->symbols) has_sym |= s.name == "ebt_busy_function";
  EXPECT_TRUE(has_sym);
  bool has_line = false;
  for (const auto& loc : t->locations)
    for (const auto& f : loc.frames)
      has_line |= f.function == "ebt_busy_function" && f.file.find("workload.c") != std::string::npos && f.line > 0;
  EXPECT_TRUE(has_line);
}

TEST(Record, RunningPid) {
  EBT_REQUIRE_BPF_OR_SKIP();
  TempDir dir;
  pid_t busy = spawn({EBT_WORKLOAD_BIN, "busy", "20"}, "");
  std::string out = dir / "pid.ebt";
  Result r = run(record_cmd(out, {"-F", "999", "-d", "1", "-p", std::to_string(busy)}), dir);
  kill(busy, SIGKILL);
  wait_rc(busy);
  ASSERT_EQ(r.rc, 0) << r.err;
  Capture c = Capture::load(out);
  expect_consistent_end(c);
  ASSERT_NE(c.process(uint32_t(busy)), nullptr);
  EXPECT_EQ(c.process(uint32_t(busy))->comm, "record_workload");
  EXPECT_GT(c.samples_of(uint32_t(busy)), 10u);
  for (const auto& s : c.samples) EXPECT_EQ(s.pid, uint32_t(busy));
  bool has_exe_mapping = false;
  for (const auto& m : c.mappings)
    has_exe_mapping |= m.pid == uint32_t(busy) && m.path == fs::canonical(EBT_WORKLOAD_BIN).string();
  EXPECT_TRUE(has_exe_mapping);
}

TEST(Record, FollowsForkedChildren) {
  EBT_REQUIRE_BPF_OR_SKIP();
  TempDir dir;
  std::string out = dir / "fork.ebt";
  Result r = run(record_cmd(out, {"-F", "999", "--", EBT_WORKLOAD_BIN, "fork", "1"}), dir);
  ASSERT_EQ(r.rc, 0) << r.err;
  Capture c = Capture::load(out);
  expect_consistent_end(c);
  auto pids = workload_pids(c);
  ASSERT_FALSE(pids.empty());
  // The burning child: samples, described with its parent, named frames.
  std::map<uint32_t, size_t> per_pid;
  for (const auto& s : c.samples) per_pid[s.pid]++;
  uint32_t hot = 0;
  for (auto [pid, n] : per_pid)
    if (!hot || n > per_pid[hot]) hot = pid;
  ASSERT_NE(hot, 0u);
  EXPECT_GT(per_pid[hot], 200u);
  const ProcessInfo* child = c.process(hot);
  ASSERT_NE(child, nullptr);
  const ProcessInfo* parent = c.process(child->ppid);
  ASSERT_NE(parent, nullptr) << "the forking parent is described too";
  EXPECT_EQ(parent->cmdline, (std::vector<std::string>{EBT_WORKLOAD_BIN, "fork", "1"}));
  size_t named = 0;
  for (const auto& s : c.samples) {
    if (s.pid != hot || !s.stack_id) continue;
    for (const auto& f : c.stacks.at(s.stack_id).frames)
      if (f.kind == FrameKind::kUser) {
        named += c.symbol(hot, f.address) == "ebt_busy_function";
        break;
      }
  }
  EXPECT_GT(named, per_pid[hot] * 7 / 10);
}

TEST(Record, LibraryLoadedWhileRecording) {
  EBT_REQUIRE_BPF_OR_SKIP();
  TempDir dir;
  // A copy with a fresh name, so nothing else on the system has it mapped.
  std::string lib = dir / "libebt_late_plugin.so";
  fs::copy_file(EBT_PLUGIN_LIB, lib);
  std::string out = dir / "dlopen.ebt";
  Result r = run(record_cmd(out, {"-F", "999", "--", EBT_WORKLOAD_BIN, "dlopen", "1", lib}), dir);
  ASSERT_EQ(r.rc, 0) << r.err;
  Capture c = Capture::load(out);
  expect_consistent_end(c);
  auto pids = workload_pids(c);
  ASSERT_EQ(pids.size(), 1u);
  uint32_t pid = pids[0];
  const Mapping* plugin = nullptr;
  for (const auto& m : c.mappings)
    if (m.pid == pid && m.path == lib) plugin = &m;
  ASSERT_NE(plugin, nullptr) << "mapping of the dlopen'ed library not recorded";
  EXPECT_FALSE(plugin->build_id.empty());
  const SymbolTable* t = c.table(plugin->build_id);
  ASSERT_NE(t, nullptr) << "no embedded symbols for the dlopen'ed library";
  bool has_sym = false;  // only the hit functions are embedded by default
  for (const auto& s : t->symbols) has_sym |= s.name == "plugin_burn" || s.name == "plugin_step";
  EXPECT_TRUE(has_sym);
  size_t in_plugin = 0;
  for (const auto& s : c.samples) {
    if (!s.stack_id) continue;
    for (const auto& f : c.stacks.at(s.stack_id).frames) {
      std::string name = c.symbol(pid, f.address);
      if (f.kind == FrameKind::kUser && (name == "plugin_burn" || name == "plugin_step")) {
        in_plugin++;
        break;
      }
    }
  }
  EXPECT_GT(in_plugin, 200u);
}

TEST(Record, KernelFramesAndSymbols) {
  EBT_REQUIRE_BPF_OR_SKIP();
  TempDir dir;
  std::string out = dir / "sys.ebt";
  Result r = run(record_cmd(out, {"-F", "999", "--", EBT_WORKLOAD_BIN, "syscalls", "1"}), dir);
  ASSERT_EQ(r.rc, 0) << r.err;
  Capture c = Capture::load(out);
  expect_consistent_end(c);
  ASSERT_EQ(c.kernel.size(), 1u);
  const auto& ks = c.kernel[0].symbols;
  ASSERT_GE(ks.size(), 2u);
  EXPECT_TRUE(std::is_sorted(ks.begin(), ks.end(),
                             [](const KernelSymbol& a, const KernelSymbol& b) { return a.address < b.address; }));
  size_t with_kernel = 0, bounded = 0, frames = 0;
  bool read_path = false;
  for (const auto& s : c.samples) {
    if (!s.stack_id) continue;
    const Stack& st = c.stacks.at(s.stack_id);
    bool any = false;
    for (const auto& f : st.frames) {
      if (f.kind != FrameKind::kKernel) continue;
      any = true;
      frames++;
      auto it = std::upper_bound(ks.begin(), ks.end(), f.address,
                                 [](uint64_t a, const KernelSymbol& k) { return a < k.address; });
      if (it != ks.begin() && it != ks.end()) {
        bounded++;
        std::string name = (it - 1)->name;
        read_path |= name.find("read") != std::string::npos;
      }
    }
    with_kernel += any;
  }
  EXPECT_GT(with_kernel, c.samples.size() / 4) << "read(/dev/zero) should spend time in the kernel";
  EXPECT_EQ(bounded, frames) << "every kernel address needs a symbol and its bound";
  EXPECT_TRUE(read_path) << "expected a *read* kernel function (ksys_read, vfs_read...)";
}

TEST(Record, NoEmbed) {
  EBT_REQUIRE_BPF_OR_SKIP();
  TempDir dir;
  std::string out = dir / "noembed.ebt";
  Result r = run(record_cmd(out, {"-F", "999", "--no-embed", "--", EBT_WORKLOAD_BIN, "syscalls", "0.3"}), dir);
  ASSERT_EQ(r.rc, 0) << r.err;
  Capture c = Capture::load(out);
  expect_consistent_end(c);
  EXPECT_GT(c.samples.size(), 0u);
  EXPECT_TRUE(c.tables.empty());
  EXPECT_TRUE(c.kernel.empty());
  EXPECT_FALSE(c.mappings.empty()) << "mappings with build-ids are still recorded";
}

TEST(Record, AllProcessesByDefault) {
  EBT_REQUIRE_BPF_OR_SKIP();
  TempDir dir;
  pid_t busy = spawn({EBT_WORKLOAD_BIN, "busy", "10"}, "");
  std::string out = dir / "all.ebt";
  Result r = run(record_cmd(out, {"-F", "999", "-d", "1"}), dir);
  kill(busy, SIGKILL);
  wait_rc(busy);
  ASSERT_EQ(r.rc, 0) << r.err;
  Capture c = Capture::load(out);
  expect_consistent_end(c);
  EXPECT_GT(c.samples_of(uint32_t(busy)), 10u);
  EXPECT_EQ(c.samples_of(0), 0u) << "the idle task is only sampled with --idle";
  // Processes alive at start are described from /proc, sleeping ones included.
  const ProcessInfo* self = c.process(uint32_t(getpid()));
  ASSERT_NE(self, nullptr);
  EXPECT_EQ(self->exe, fs::canonical("/proc/self/exe").string());
  EXPECT_GT(c.processes.size(), 5u);
  size_t with_build_id = 0;
  for (const auto& m : c.mappings) with_build_id += !m.build_id.empty();
  EXPECT_GT(with_build_id, 10u);
}

TEST(Record, CommFilter) {
  EBT_REQUIRE_BPF_OR_SKIP();
  TempDir dir;
  std::string other = dir / "ebt_other_burn";
  fs::copy_file(EBT_WORKLOAD_BIN, other);
  pid_t wanted = spawn({EBT_WORKLOAD_BIN, "busy", "10"}, "");
  pid_t unwanted = spawn({other, "busy", "10"}, "");
  std::string out = dir / "comm.ebt";
  Result r = run(record_cmd(out, {"-F", "999", "-d", "1", "--comm", "record_workload"}), dir);
  kill(wanted, SIGKILL);
  kill(unwanted, SIGKILL);
  wait_rc(wanted);
  wait_rc(unwanted);
  ASSERT_EQ(r.rc, 0) << r.err;
  Capture c = Capture::load(out);
  expect_consistent_end(c);
  EXPECT_GT(c.samples_of(uint32_t(wanted)), 10u);
  EXPECT_EQ(c.samples_of(uint32_t(unwanted)), 0u);
  for (const auto& s : c.samples) {
    const ProcessInfo* p = c.process(s.pid);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(p->comm, "record_workload");
  }
}

TEST(Record, TidFilter) {
  EBT_REQUIRE_BPF_OR_SKIP();
  TempDir dir;
  pid_t busy = spawn({EBT_WORKLOAD_BIN, "threads", "10"}, "");
  uint32_t second = 0;
  for (int i = 0; i < 100 && !second; i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    for (const auto& e : fs::directory_iterator("/proc/" + std::to_string(busy) + "/task")) {
      uint32_t tid = uint32_t(std::stoul(e.path().filename().string()));
      if (tid != uint32_t(busy)) second = tid;
    }
  }
  ASSERT_NE(second, 0u);
  std::string out = dir / "tid.ebt";
  Result r = run(record_cmd(out, {"-F", "999", "-d", "1", "--tid", std::to_string(second)}), dir);
  kill(busy, SIGKILL);
  wait_rc(busy);
  ASSERT_EQ(r.rc, 0) << r.err;
  Capture c = Capture::load(out);
  expect_consistent_end(c);
  EXPECT_GT(c.samples.size(), 5u);
  for (const auto& s : c.samples) {
    EXPECT_EQ(s.pid, uint32_t(busy));
    EXPECT_EQ(s.tid, second);
  }
}

TEST(Record, DeletedExecutableStillEmbedded) {
  EBT_REQUIRE_BPF_OR_SKIP();
  TempDir dir;
  // The binary is gone from the file system before recording starts: the
  // recorder reads it through /proc/PID/map_files.
  std::string exe = dir / "ebt_deleted_burn";
  fs::copy_file(EBT_WORKLOAD_BIN, exe);
  pid_t busy = spawn({exe, "busy", "10"}, "");
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  fs::remove(exe);
  std::string out = dir / "deleted.ebt";
  Result r = run(record_cmd(out, {"-F", "999", "-d", "1", "-p", std::to_string(busy)}), dir);
  kill(busy, SIGKILL);
  wait_rc(busy);
  ASSERT_EQ(r.rc, 0) << r.err;
  Capture c = Capture::load(out);
  expect_consistent_end(c);
  size_t n = c.samples_of(uint32_t(busy)), named = 0;
  EXPECT_GT(n, 10u);
  for (const auto& s : c.samples) {
    if (!s.stack_id) continue;
    for (const auto& f : c.stacks.at(s.stack_id).frames)
      if (f.kind == FrameKind::kUser) {
        named += c.symbol(uint32_t(busy), f.address) == "ebt_busy_function";
        break;
      }
  }
  EXPECT_GT(named, n * 7 / 10);
}

TEST(Record, ProcessInOtherMountNamespaceResolvesItsOwnFile) {
  EBT_REQUIRE_BPF_OR_SKIP();
  if (access("/usr/bin/unshare", X_OK) != 0) GTEST_SKIP() << "unshare (util-linux) missing";
  TempDir dir;
  // Same path, different files: in the host namespace it is a copy of
  // /bin/sleep, inside the process's mount namespace the workload is
  // bind-mounted over it. The capture must describe the workload.
  std::string path = dir / "ebt_ns_burn", real = dir / "real_workload";
  fs::copy_file("/bin/sleep", path);
  fs::copy_file(EBT_WORKLOAD_BIN, real);
  pid_t busy = spawn({"/usr/bin/unshare", "-m", "--propagation", "private", "/bin/sh", "-c",
                      "mount --bind " + real + " " + path + " && exec " + path + " busy 10"},
                     "");
  std::string comm;
  for (int i = 0; i < 100 && comm != "ebt_ns_burn"; i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    comm = slurp("/proc/" + std::to_string(busy) + "/comm");
    if (!comm.empty() && comm.back() == '\n') comm.pop_back();
  }
  ASSERT_EQ(comm, "ebt_ns_burn");
  std::string out = dir / "ns.ebt";
  Result r = run(record_cmd(out, {"-F", "999", "-d", "1", "-p", std::to_string(busy)}), dir);
  kill(busy, SIGKILL);
  wait_rc(busy);
  ASSERT_EQ(r.rc, 0) << r.err;
  Capture c = Capture::load(out);
  expect_consistent_end(c);
  const Mapping* m = nullptr;
  for (const auto& x : c.mappings)
    if (x.pid == uint32_t(busy) && x.path == path) m = &x;
  ASSERT_NE(m, nullptr);
  const SymbolTable* t = c.table(m->build_id);
  ASSERT_NE(t, nullptr);
  bool has_sym = false;
  for (const auto& s : t->symbols) has_sym |= s.name == "ebt_busy_function";
  EXPECT_TRUE(has_sym) << "symbols came from the host's file, not the process's";
}

TEST(Record, EmbedAllSymbols) {
  EBT_REQUIRE_BPF_OR_SKIP();
  TempDir dir;
  std::string hit = dir / "hit.ebt", all = dir / "all.ebt";
  ASSERT_EQ(run(record_cmd(hit, {"-F", "999", "--", EBT_WORKLOAD_BIN, "busy", "0.3"}), dir).rc, 0);
  ASSERT_EQ(run(record_cmd(all, {"-F", "999", "--embed-all-symbols", "--", EBT_WORKLOAD_BIN, "busy", "0.3"}), dir).rc, 0);
  auto symbols_of_exe = [](const Capture& c) {
    std::set<std::string> names;
    for (const auto& m : c.mappings)
      if (m.path == fs::canonical(EBT_WORKLOAD_BIN).string())
        if (const SymbolTable* t = c.table(m.build_id))
          for (const auto& s : t->symbols) names.insert(s.name);
    return names;
  };
  std::set<std::string> h = symbols_of_exe(Capture::load(hit)), a = symbols_of_exe(Capture::load(all));
  EXPECT_TRUE(h.count("ebt_busy_function"));
  EXPECT_TRUE(a.count("ebt_busy_function"));
  EXPECT_TRUE(a.count("ebt_syscall_function")) << "never executed, but --embed-all-symbols keeps it";
  EXPECT_FALSE(h.count("ebt_syscall_function")) << "never executed: not needed by default";
  EXPECT_LT(h.size(), a.size());
}

TEST(Record, UnknownPidIsBadInput) {
  EBT_REQUIRE_BPF_OR_SKIP();
  TempDir dir;
  // The highest pid_max value is never a live pid unless pid_max was raised to it.
  Result r = run(record_cmd(dir / "x.ebt", {"-d", "1", "-p", "4194304"}), dir);
  EXPECT_EQ(r.rc, 2) << r.err;
  EXPECT_NE(r.err.find("no such process: 4194304"), std::string::npos) << r.err;
}

TEST(Record, CommandNotFoundIsBadInput) {
  EBT_REQUIRE_BPF_OR_SKIP();
  TempDir dir;
  Result r = run(record_cmd(dir / "x.ebt", {"--", "/nonexistent/ebt-no-such-command"}), dir);
  EXPECT_EQ(r.rc, 2) << r.err;
  EXPECT_NE(r.err.find("command not found: /nonexistent/ebt-no-such-command"), std::string::npos) << r.err;
  Result r2 = run(record_cmd(dir / "y.ebt", {"--", "ebt-no-such-command-in-path"}), dir);
  EXPECT_EQ(r2.rc, 2) << r2.err;
  EXPECT_NE(r2.err.find("command not found: ebt-no-such-command-in-path"), std::string::npos) << r2.err;
}

TEST(Record, WithoutPrivilegesExplains) {
  EBT_REQUIRE_BPF_OR_SKIP();  // needs root to drop to nobody
  if (access("/usr/bin/setpriv", X_OK) != 0) GTEST_SKIP() << "setpriv (util-linux) missing";
  TempDir dir;
  Result r = run({"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", EBT_EBTRACE_BIN,
                  "record", "-d", "1", "-o", dir / "x.ebt"},
                 dir);
  EXPECT_EQ(r.rc, 1) << r.err;
  EXPECT_NE(r.err.find("ebtrace record needs root (CAP_BPF and CAP_PERFMON); run it with sudo"), std::string::npos)
      << r.err;
}

TEST(Record, SigintFinalizesCapture) {
  EBT_REQUIRE_BPF_OR_SKIP();
  TempDir dir;
  std::string out = dir / "int.ebt", ready = dir / "ready";
  std::string err = dir / "stderr.txt";
  pid_t rec = spawn(record_cmd(out, {"-F", "999", "--ready-file", ready, "--", EBT_WORKLOAD_BIN, "busy", "30"}),
                    err);
  ASSERT_TRUE(wait_for_file(ready, 20)) << slurp(err);
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  kill(rec, SIGINT);
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  kill(rec, SIGINT);  // an impatient second Ctrl-C still gets a finished file
  auto t0 = std::chrono::steady_clock::now();
  int rc = wait_rc(rec);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(rc, 0) << slurp(err);
  EXPECT_LT(secs, 10.0);
  Capture c = Capture::load(out);
  expect_consistent_end(c);
  auto pids = workload_pids(c);
  ASSERT_EQ(pids.size(), 1u);
  EXPECT_GT(c.samples_of(pids[0]), 10u);
  // The workload was ended with the recording (SIGTERM), not left running.
  EXPECT_EQ(kill(pid_t(pids[0]), 0), -1);
}

TEST(Record, LostEventsAccounted) {
  EBT_REQUIRE_BPF_OR_SKIP();
  TempDir dir;
  // A tiny ring buffer at a high rate on a busy command: drops may or may not
  // happen, but whatever was dropped is counted and matches SessionEnd.
  std::string out = dir / "lost.ebt";
  Result r = run(record_cmd(out, {"-F", "4999", "--buffer-size", "4K", "--", EBT_WORKLOAD_BIN, "busy", "0.5"}), dir);
  ASSERT_EQ(r.rc, 0) << r.err;
  Capture c = Capture::load(out);
  expect_consistent_end(c);
  for (const auto& l : c.lost) EXPECT_GT(l.count, 0u);
  EXPECT_NE(r.err.find(std::to_string(c.ends[0].lost) + " lost"), std::string::npos) << r.err;
}

// One loss rule for every family: a full ring buffer is "ring buffer" whoever
// dropped the event (here the syscalls family, which used to count it as its
// own reason), in the capture and in the summary line, named like `info`.
TEST(Record, FullRingIsRingBufferLossInEveryFamily) {
  EBT_REQUIRE_BPF_OR_SKIP();
  TempDir dir;
  std::string out = dir / "ringfull.ebt";
  Result r = run(record_cmd(out, {"--no-cpu", "--syscalls", "--all-fds", "--buffer-size", "4K", "--",
                                  EBT_WORKLOAD_BIN, "syscalls", "0.5"}),
                 dir);
  ASSERT_EQ(r.rc, 0) << r.err;
  Capture c = Capture::load(out);
  ASSERT_EQ(c.ends.size(), 1u);
  EXPECT_EQ(c.ends[0].lost, c.lost_total());
  uint64_t ring = 0;
  for (const auto& l : c.lost) {
    EXPECT_TRUE(l.source == LossSource::kRingBuffer || l.source == LossSource::kSyscall) << int(l.source);
    if (l.source == LossSource::kRingBuffer) ring += l.count;
  }
  // ~1 M reads/s of /dev/zero into a 4 KiB ring: it overflows.
  ASSERT_GT(ring, 0u) << r.err;
  EXPECT_NE(r.err.find("ring buffer " + std::to_string(ring)), std::string::npos) << r.err;
  Output info = run_out({EBT_EBTRACE_BIN, "info", out}, dir);
  EXPECT_EQ(info.rc, 0);
  EXPECT_NE(info.out.find("ring buffer " + std::to_string(ring)), std::string::npos) << info.out;
}

}  // namespace
