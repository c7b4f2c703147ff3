// --call-graph dwarf end to end, on real BPF and real binaries without frame
// pointers: Debian's redis-server under redis-benchmark (fp mode: short stacks;
// dwarf mode: whole stacks down to an entry frame, redis' real call paths), and
// the cpuburn sample built with -fomit-frame-pointer (known proportions,
// reported offline with the binaries gone), and --keep-stack-bytes (raw stacks
// unwound by report: the same frames as the recorder's unwinding, sample by
// sample).
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <algorithm>
#include <map>
#include <thread>

#include <gtest/gtest.h>

#include "format/reader.h"
#include "format/writer.h"
#include "record/dwarf_unwinder.h"
#include "tests/bpf_guard.h"
#include "tests/cli/oncpu_e2e.h"
#include "unwind/offline_unwinder.h"

namespace ebt::test {
namespace {

// The outermost frame of a thread or process.
bool is_entry_frame(const std::string& frame) {
  std::string f = strip_suffix(frame);
  for (const char* e : {"_start", "__libc_start_main", "__libc_start_call_main", "start_thread", "clone3",
                        "clone", "__clone", "__clone3", "__GI___clone3", "__GI___clone"}) {
    if (frame_is(f, e)) return true;
    if (f.rfind(std::string(e) + "@", 0) == 0) return true;  // versioned: __libc_start_main@GLIBC_2.2.5
  }
  return false;
}

struct StackStats {
  uint64_t with_user = 0;  // samples with at least one user frame
  uint64_t to_entry = 0;   // ... whose outermost user frame is an entry frame
  uint64_t user_depth = 0; // sum of user frames over with_user samples
  double reach() const { return with_user ? double(to_entry) / double(with_user) : 0; }
  double mean_depth() const { return with_user ? double(user_depth) / double(with_user) : 0; }
};

// frames[0] is the comm, then root first.
StackStats stack_stats(const std::vector<FoldedStack>& stacks) {
  StackStats st;
  for (const auto& s : stacks) {
    size_t user = 0;
    for (size_t i = 1; i < s.frames.size(); i++)
      if (!is_kernel_frame(s.frames[i])) user++;
    if (user == 0) continue;
    st.with_user += s.count;
    st.user_depth += user * s.count;
    if (s.frames.size() > 1 && is_entry_frame(s.frames[1])) st.to_entry += s.count;
  }
  return st;
}

// Prints "<what> fp/dwarf: N user stacks, X% to an entry frame, Y user frames on average".
void print_stats(const std::string& what, const StackStats& f, const StackStats& d, const std::string& summary) {
  std::printf("%sfp: %llu user stacks, %.1f%% to an entry frame, %.2f user frames on average\n", what.c_str(),
              (unsigned long long)f.with_user, 100 * f.reach(), f.mean_depth());
  std::printf("%sdwarf: %llu user stacks, %.1f%% to an entry frame, %.2f user frames on average\n%s", what.c_str(),
              (unsigned long long)d.with_user, 100 * d.reach(), d.mean_depth(), summary.c_str());
}

std::string first_lines(const std::string& s, size_t n = 25) {
  std::string out;
  size_t pos = 0;
  for (size_t i = 0; i < n && pos < s.size(); i++) {
    size_t nl = s.find('\n', pos);
    if (nl == std::string::npos) nl = s.size();
    out += s.substr(pos, std::min<size_t>(nl - pos, 400)) + "\n";
    pos = nl + 1;
  }
  return out;
}

int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  int port = ntohs(a.sin_port);
  close(fd);
  return port;
}

// redis-server on a loopback port, loaded by redis-benchmark while alive.
class RedisUnderLoad {
 public:
  RedisUnderLoad() : port_(std::to_string(free_port())) {
    server_ = std::make_unique<Proc>(std::vector<std::string>{"redis-server", "--port", port_, "--bind", "127.0.0.1",
                                                              "--save", "", "--appendonly", "no", "--daemonize", "no"},
                                     timeout(300));
    for (int i = 0; i < 500; i++) {
      if (run({"redis-cli", "-p", port_, "ping"}, timeout(5)).out.find("PONG") != std::string::npos) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    load_ = std::make_unique<Proc>(
        std::vector<std::string>{"redis-benchmark", "-p", port_, "-n", "100000000", "-c", "20", "-q", "-t",
                                 "set,get,incr,lpush,lpop"},
        timeout(300));
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  ~RedisUnderLoad() {
    load_->signal(SIGKILL);
    load_->wait(10);
    server_->signal(SIGKILL);
    server_->wait(10);
  }
  int pid() const { return server_->pid(); }

 private:
  std::string port_;
  std::unique_ptr<Proc> server_, load_;
};

std::string record_and_fold(int pid, const std::vector<std::string>& extra, double seconds, const TempDir& dir,
                            const std::string& name, std::string* summary) {
  fs::path cap = dir / name;
  std::vector<std::string> argv{ebtrace_bin(), "record", "-F", "999", "-p", std::to_string(pid), "-d",
                                std::to_string(seconds), "-o", cap.string()};
  for (const auto& e : extra) argv.push_back(e);
  RunResult r = run(argv, timeout(seconds + 60));
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  if (summary) *summary = r.err;
  RunResult rep = run({ebtrace_bin(), "report", cap.string(), "--folded"}, timeout(120));
  EXPECT_EQ(rep.exit_code, 0) << rep.describe();
  return rep.out;
}

TEST(DwarfE2E, RedisWholeStacksWithoutFramePointers) {
  EBT_REQUIRE_BPF_OR_SKIP();
  if (run({"sh", "-c", "command -v redis-server && command -v redis-benchmark"}, timeout(10)).exit_code != 0)
    GTEST_SKIP() << "redis-server / redis-benchmark not installed";
  TempDir dir("ebt-dwarf-redis");
  RedisUnderLoad redis;

  std::string fp_summary, dw_summary;
  std::string fp = record_and_fold(redis.pid(), {}, 2, dir, "fp.ebt", &fp_summary);
  std::string dw = record_and_fold(redis.pid(), {"--call-graph", "dwarf"}, 3, dir, "dwarf.ebt", &dw_summary);

  StackStats f = stack_stats(parse_folded(fp));
  StackStats d = stack_stats(parse_folded(dw));
  print_stats("", f, d, dw_summary);

  // Without frame pointers, fp stacks stop early.
  ASSERT_GE(f.with_user, 100u) << first_lines(fp);
  EXPECT_LT(f.reach(), 0.5) << "redis-server has no frame pointers: fp stacks should rarely reach an entry frame\n"
                            << first_lines(fp);
  // DWARF: whole stacks.
  ASSERT_GE(d.with_user, 200u) << dw_summary << first_lines(dw);
  EXPECT_GE(d.reach(), 0.95) << dw_summary << first_lines(dw, 60);
  EXPECT_GT(d.mean_depth(), f.mean_depth() + 2) << first_lines(dw);

  // redis' command dispatch under its event loop: main -> aeMain -> ... ->
  // processCommand, in this order, root first. How many samples fall
  // in commands depends on how fast redis-benchmark gets CPU on a 2-core box
  // while the recorder unwinds: compare shares of the stacks in commands.
  auto dispatch_of = [](const std::string& folded, uint64_t* in_command) {
    uint64_t whole = 0;
    for (const auto& s : parse_folded(folded)) {
      auto pos = [&](const char* fn) {
        for (size_t i = 0; i < s.frames.size(); i++)
          if (frame_is(s.frames[i], fn)) return int(i);
        return -1;
      };
      int m = pos("main"), ae = pos("aeMain"), pc = pos("processCommand");
      if (pc < 0) continue;
      *in_command += s.count;
      if (m > 0 && ae > m && pc > ae) whole += s.count;
    }
    return whole;
  };
  uint64_t in_command = 0, fp_in_command = 0;
  uint64_t dispatch = dispatch_of(dw, &in_command), fp_dispatch = dispatch_of(fp, &fp_in_command);
  std::printf("in processCommand: dwarf %llu samples, %llu of them main;...;aeMain;...;processCommand; "
              "fp %llu, %llu\n",
              (unsigned long long)in_command, (unsigned long long)dispatch, (unsigned long long)fp_in_command,
              (unsigned long long)fp_dispatch);
  ASSERT_GE(in_command, 3u) << "redis ran (almost) no command while recorded\n" << first_lines(dw, 60);
  EXPECT_GE(double(dispatch), 0.9 * double(in_command))
      << "expected main;...;aeMain;...;processCommand stacks\n" << first_lines(dw, 60);
  EXPECT_GT(double(dispatch) / double(in_command),
            double(fp_dispatch) / double(std::max<uint64_t>(fp_in_command, 1)) + 0.2)
      << "frame pointers should rarely give the whole dispatch chain";
}

// --off-cpu --call-graph dwarf (issue 14): redis-server (no frame pointers)
// blocks in its event loop; its off-CPU stacks are unwound whole from the
// switch-out's stack copy.
TEST(DwarfE2E, RedisOffCpuWholeStacks) {
  EBT_REQUIRE_BPF_OR_SKIP();
  if (run({"sh", "-c", "command -v redis-server && command -v redis-benchmark"}, timeout(10)).exit_code != 0)
    GTEST_SKIP() << "redis-server / redis-benchmark not installed";
  TempDir dir("ebt-dwarf-redis-off");
  RedisUnderLoad redis;
  fs::path cap = dir / "off.ebt";
  RunResult r = run({ebtrace_bin(), "record", "--off-cpu", "--call-graph", "dwarf", "--no-lua", "-p",
                     std::to_string(redis.pid()), "-d", "2", "-o", cap.string()},
                    timeout(90));
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  RunResult rep = run({ebtrace_bin(), "report", cap.string(), "--folded", "--off-cpu", "--weight", "time"}, timeout(120));
  ASSERT_EQ(rep.exit_code, 0) << rep.describe();
  double total = 0, whole = 0, poll = 0, blocked = 0;
  for (const auto& s : parse_folded(rep.out)) {
    total += double(s.count);
    if (stack_has(s, "main") || stack_has(s, "start_thread")) whole += double(s.count);
    if (s.frames.size() > 1 && s.frames[1] == "[off-cpu: S]") blocked += double(s.count);
    // The event loop's wait, root first: main, aeMain, the poll (aeApiPoll is
    // static and Debian strips .symtab: without redis' debug symbols it is
    // [redis-check-rdb+0x...]; named when they are at hand), then epoll_wait.
    int m = -1, ae = -1, ep = -1;
    for (size_t i = 0; i < s.frames.size(); i++) {
      if (m < 0 && frame_is(s.frames[i], "main")) m = int(i);
      if (m >= 0 && ae < 0 && frame_is(s.frames[i], "aeMain")) ae = int(i);
      if (ae >= 0 && ep < 0 && frame_is(s.frames[i], "epoll_wait")) ep = int(i);
    }
    bool poll_frame = ae >= 0 && ep > ae + 1 &&
                      (frame_is(s.frames[ep - 1], "aeApiPoll") || frame_is(s.frames[ep - 1], "aeProcessEvents") ||
                       s.frames[ep - 1].rfind("[redis", 0) == 0);
    if (poll_frame && s.frames[1] == "[off-cpu: S]") poll += double(s.count);
  }
  ASSERT_GT(total, 0) << r.err;
  std::printf("redis off-CPU dwarf: %.1f%% of blocked time in stacks reaching main/start_thread, "
              "%.1f%% of the sleeping time in main;aeMain;<poll>;epoll_wait\n%s",
              100 * whole / total, 100 * poll / std::max(blocked, 1.0), r.err.c_str());
  EXPECT_GE(whole / total, 0.95) << r.err << first_lines(rep.out, 40);
  // an idle-ish redis under a pipelined client sleeps in its event loop
  EXPECT_GE(poll, 0.5 * blocked) << "expected main;aeMain;...;<poll>;epoll_wait stacks\n" << first_lines(rep.out, 40);
}

// One nginx master with a single worker on a loopback port, configured with
// `modules` (load_module lines) and `locations` (inside the server block).
class Nginx {
 public:
  Nginx(const TempDir& dir, const std::string& modules, const std::string& locations)
      : port_(std::to_string(free_port())) {
    write_text(dir / "nginx.conf",
               "daemon off;\nmaster_process on;\nworker_processes 1;\npid " + (dir / "nginx.pid").string() +
                   ";\nerror_log " + (dir / "error.log").string() + ";\n" + modules +
                   "events { worker_connections 256; }\nhttp {\n  access_log off;\n  server {\n"
                   "    listen 127.0.0.1:" + port_ + ";\n" + locations + "  }\n}\n");
    master_ = std::make_unique<Proc>(std::vector<std::string>{"nginx", "-p", dir.str(), "-c",
                                                              (dir / "nginx.conf").string(), "-e",
                                                              (dir / "error.log").string()},
                                     timeout(300));
    std::string me = std::to_string(master_->pid());
    for (int i = 0; i < 500 && !worker_; i++) {
      worker_ = uint32_t(std::strtoul(read_text("/proc/" + me + "/task/" + me + "/children").c_str(), nullptr, 10));
      if (!worker_) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    error_log_ = dir / "error.log";
  }
  ~Nginx() {
    master_->signal(SIGQUIT);
    master_->wait(10);
  }
  uint32_t worker() const { return worker_; }  // 0: it did not start (see error_log())
  std::string url(const std::string& path) const { return "http://127.0.0.1:" + port_ + path; }
  std::string error_log() const { return read_text(error_log_); }

 private:
  std::string port_;
  std::unique_ptr<Proc> master_;
  uint32_t worker_ = 0;
  fs::path error_log_;
};

// Debian's nginx (nginx-light, no frame pointers): one worker under wrk.
TEST(DwarfE2E, NginxWorkerWholeStacks) {
  EBT_REQUIRE_BPF_OR_SKIP();
  if (run({"sh", "-c", "command -v nginx && command -v wrk"}, timeout(10)).exit_code != 0)
    GTEST_SKIP() << "nginx / wrk not installed";
  TempDir dir("ebt-dwarf-nginx");
  Nginx nginx(dir, "", "    location / { return 200 \"hello\\n\"; }\n");
  uint32_t worker = nginx.worker();
  ASSERT_NE(worker, 0u) << "no nginx worker; " << nginx.error_log();
  Proc load({"wrk", "-t1", "-c20", "-d30s", nginx.url("/")}, timeout(300));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));

  std::string dw_summary;
  std::string fp = record_and_fold(int(worker), {}, 2, dir, "fp.ebt", nullptr);
  std::string dw = record_and_fold(int(worker), {"--call-graph", "dwarf"}, 3, dir, "dwarf.ebt", &dw_summary);
  load.signal(SIGKILL);
  load.wait(10);

  StackStats f = stack_stats(parse_folded(fp));
  StackStats d = stack_stats(parse_folded(dw));
  print_stats("nginx ", f, d, dw_summary);
  ASSERT_GE(f.with_user, 100u) << first_lines(fp);
  EXPECT_LT(f.reach(), 0.5) << first_lines(fp);
  ASSERT_GE(d.with_user, 200u) << dw_summary << first_lines(dw);
  EXPECT_GE(d.reach(), 0.95) << dw_summary << first_lines(dw, 60);
  EXPECT_GT(d.mean_depth(), f.mean_depth() + 2) << first_lines(dw);
  // The worker's event loop under main: main -> ... -> ngx_process_events_and_timers.
  uint64_t loop = 0;
  for (const auto& s : parse_folded(dw)) {
    int m = -1, ev = -1;
    for (size_t i = 0; i < s.frames.size(); i++) {
      if (m < 0 && frame_is(s.frames[i], "main")) m = int(i);
      if (frame_is(s.frames[i], "ngx_process_events_and_timers")) ev = int(i);
    }
    if (m > 0 && ev > m) loop += s.count;
  }
  EXPECT_GE(double(loop), 0.5 * double(d.with_user)) << first_lines(dw, 60);
}

// nginx with the Lua module (Debian's libnginx-mod-http-lua, LuaJIT 2.1 GC64):
// Lua code runs in the interpreter (hand-written assembly with CFI: unwinding
// passes through it) or as JIT traces (anonymous memory without CFI: the walk
// resumes at the VM's C frame above the trace, research/luajit.md §4).
TEST(DwarfE2E, NginxLuaInterpreterAndJitTraces) {
  EBT_REQUIRE_BPF_OR_SKIP();
  const char* lua_module = "/usr/lib/nginx/modules/ngx_http_lua_module.so";
  if (run({"sh", "-c", "command -v nginx && command -v wrk"}, timeout(10)).exit_code != 0 || !fs::exists(lua_module))
    GTEST_SKIP() << "nginx / wrk / libnginx-mod-http-lua not installed (scripts/setup-deps.sh --with-tests)";
  TempDir dir("ebt-dwarf-lua");
  // The same loop twice: /jit as traces, /interp with the JIT off for it.
  const std::string work =
      "local function work(n)\n"
      "  local function mix(x) return (x * 1103515245 + 12345) % 2147483648 end\n"
      "  local s = 0\n"
      "  for i = 1, n do s = mix(s + i) end\n"
      "  return s\n"
      "end\n";
  Nginx nginx(dir,
              "load_module /usr/lib/nginx/modules/ndk_http_module.so;\nload_module " + std::string(lua_module) + ";\n",
              "    location /jit { content_by_lua_block {\n" + work + "ngx.say(work(200000))\n} }\n" +
                  "    location /interp { content_by_lua_block {\n" + work +
                  "jit.off(work, true)\nngx.say(work(20000))\n} }\n");
  uint32_t worker = nginx.worker();
  ASSERT_NE(worker, 0u) << "no nginx worker; " << nginx.error_log();
  for (int i = 0; i < 100; i++) {
    if (run({"curl", "-sf", nginx.url("/jit")}, timeout(10)).exit_code == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }

  struct Case {
    const char* path;
    std::vector<std::string> extra;
    const char* leaf;  // the Lua code's own frames: JIT traces or the interpreter
  };
  // --no-lua: the native frames themselves are checked here (with Lua frames,
  // on by default with dwarf, the report replaces them: tests/lua).
  for (const Case& c : {Case{"/jit", {"--call-graph", "dwarf", "--no-lua"}, "[anon+"},
                        Case{"/jit", {"--call-graph", "dwarf", "--no-lua", "--keep-stack-bytes"}, "[anon+"},
                        Case{"/interp", {"--call-graph", "dwarf", "--no-lua"}, "[libluajit"}}) {
    Proc load({"wrk", "-t1", "-c4", "-d20s", nginx.url(c.path)}, timeout(60));
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    std::string summary;
    std::string folded = record_and_fold(int(worker), c.extra, 2, dir, "lua.ebt", &summary);
    load.signal(SIGKILL);
    load.wait(10);
    StackStats st = stack_stats(parse_folded(folded));
    // Lua samples: run by ngx_http_lua_run_thread, in Lua code (leaf), with the
    // whole native path below (main ... run_thread).
    uint64_t lua = 0;
    for (const auto& s : parse_folded(folded)) {
      size_t n = s.frames.size();
      int run_thread = -1;
      for (size_t i = 0; i < n; i++)
        if (frame_is(s.frames[i], "ngx_http_lua_run_thread")) run_thread = int(i);
      // The user leaf: kernel frames follow it when the sample hit an
      // interrupt or a preemption (common on a loaded machine).
      size_t leaf = n;
      while (leaf > 0 && is_kernel_frame(s.frames[leaf - 1])) leaf--;
      if (run_thread > 0 && leaf > 0 && s.frames[leaf - 1].rfind(c.leaf, 0) == 0 && stack_has(s, "main"))
        lua += s.count;
    }
    std::string what = std::string(c.path) + (c.extra.size() > 3 ? " (offline)" : "");
    std::printf("nginx-lua %s: %llu user stacks, %.1f%% to an entry frame, %.1f%% in Lua code under run_thread\n%s",
                what.c_str(), (unsigned long long)st.with_user, 100 * st.reach(),
                100.0 * double(lua) / double(std::max<uint64_t>(1, st.with_user)), summary.c_str());
    ASSERT_GE(st.with_user, 200u) << what << summary << first_lines(folded);
    EXPECT_GE(st.reach(), 0.95) << what << first_lines(folded, 40);
    EXPECT_GE(double(lua), 0.6 * double(st.with_user)) << what << first_lines(folded, 40);
  }
}

// Reports a cpuburn capture (binaries already gone) as folded stacks and checks
// the known proportions and whole stacks; returns the folded text.
std::string check_cpuburn_offline(const fs::path& cap, const std::string& record_err) {
  RunResult rep = report_clean(cap, {"--folded"});
  EXPECT_EQ(rep.exit_code, 0) << rep.describe();
  // Not checked: the inlined hot_inner. The capture's embedded line tables lack
  // the inline frames for this -fomit-frame-pointer build, in fp mode too (a
  // symbol-embedding matter, not an unwinding one).
  Expect want;
  want.inline_frames = false;
  check_cpuburn_profile(rep.out, want);
  StackStats st = stack_stats(parse_folded(rep.out));
  EXPECT_GE(st.reach(), 0.95) << record_err << first_lines(rep.out, 40);
  return rep.out;
}

// cpuburn built with -fomit-frame-pointer (tests/record/CMakeLists.txt).
TEST(DwarfE2E, CpuburnOmitFramePointerOffline) {
  EBT_REQUIRE_BPF_OR_SKIP();
  TempDir d("ebt-dwarf-burn");
  fs::path bin = d / "bin";
  fs::create_directories(bin);
  fs::create_directories(d / "cap");
  for (const char* f : {"cpuburn", "libburn_plugin.so"}) fs::copy_file(fs::path(cpuburn_dir()) / f, bin / f);
  fs::path cap = d / "cap" / "capture.ebt";
  // main() keeps two 24x24 matrices (and more) on its stack: its return address
  // lies more than 8 KiB above the burn functions' sp, so the default copy
  // would stop at main (perf's default 8192 would too).
  RunResult r = run({ebtrace_bin(), "record", "-F", "999", "--call-graph", "dwarf,32768", "-o", cap.string(), "--",
                     (bin / "cpuburn").string(), "--duration", "3", "--plugin-delay-ms", "300"},
                    timeout(90));
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  fs::remove_all(bin);  // the report runs without the binaries

  check_cpuburn_offline(cap, r.err);
}

// Everything a --keep-stack-bytes capture holds for offline unwinding.
struct KeptCapture : format::RecordVisitor {
  std::vector<StackSnapshot> snapshots;
  unwind::OfflineUnwinder offline;
  void on(const StackSnapshot& s) override { snapshots.push_back(s); }
  void on(const Mapping& m) override { offline.add(m); }
  void on(const UnwindTable& t) override { offline.add(t); }
};

// Rewrites a --keep-stack-bytes capture as the recorder would have written it
// without the option: every table as is, each snapshot as a CpuSample whose
// stack is `user_stacks[i]` (unwound elsewhere) under its kernel frames.
struct AsRecorderUnwound : format::RecordVisitor {
  format::CaptureWriter& w;
  const std::vector<std::vector<uint64_t>>& user_stacks;
  std::map<uint32_t, std::vector<Frame>> stacks;
  size_t next = 0;
  uint32_t next_id = 0x40000000;
  AsRecorderUnwound(format::CaptureWriter& writer, const std::vector<std::vector<uint64_t>>& user)
      : w(writer), user_stacks(user) {}
  void on(const ProcessInfo& r) override { w.add(r); }
  void on(const ThreadInfo& r) override { w.add(r); }
  void on(const ProcessExit& r) override { w.add(r); }
  void on(const Mapping& r) override { w.add(r); }
  void on(const StringEntry& r) override { w.add(r); }
  void on(const SymbolTable& r) override { w.add(r); }
  void on(const KernelSymbols& r) override { w.add(r); }
  void on(const LostEvents& r) override { w.add(r); }
  void on(const Stack& r) override {
    stacks[r.id] = r.frames;
    w.add(r);
  }
  void on(const StackSnapshot& s) override {
    Stack st{next_id++, s.kernel_stack_id ? stacks[s.kernel_stack_id] : std::vector<Frame>{}};
    for (uint64_t a : user_stacks.at(next++)) st.frames.push_back({a, FrameKind::kUser});
    w.add(st);
    w.add(CpuSample{s.time_ns, s.pid, s.tid, s.cpu, st.id});
  }
};

TEST(DwarfE2E, KeepStackBytesUnwindsOfflineLikeTheRecorder) {
  EBT_REQUIRE_BPF_OR_SKIP();
  TempDir d("ebt-dwarf-keep");
  fs::path bin = d / "bin";
  fs::create_directories(bin);
  for (const char* f : {"cpuburn", "libburn_plugin.so"}) fs::copy_file(fs::path(cpuburn_dir()) / f, bin / f);
  Proc burn({(bin / "cpuburn").string(), "--duration", "10", "--plugin-delay-ms", "100"}, timeout(60));
  std::this_thread::sleep_for(std::chrono::milliseconds(600));  // the plugin is loaded
  fs::path cap = d / "keep.ebt";
  RunResult r = run({ebtrace_bin(), "record", "-F", "999", "--call-graph", "dwarf,32768", "--keep-stack-bytes", "-p",
                     std::to_string(burn.pid()), "-d", "2", "-o", cap.string()},
                    timeout(60));
  ASSERT_EQ(r.exit_code, 0) << r.describe();

  // Sample by sample, while the process still runs with the same mappings:
  // the recorder's live unwinder and report's offline one (capture only).
  KeptCapture kept;
  format::CaptureReader(cap.string()).read(kept);
  record::DwarfUnwinder live;
  uint64_t same = 0, with_user = 0, to_end = 0;
  std::string first_diff;
  std::vector<std::vector<uint64_t>> live_stacks;
  for (const auto& s : kept.snapshots) {
    live_stacks.emplace_back();
    if (s.ip == 0) continue;
    with_user++;
    std::vector<uint64_t> b;
    std::vector<uint64_t>& a = live_stacks.back();
    live.unwind({s.pid, s.tid, 1, s.ip, s.sp, s.bp}, s.stack, &a, 127);
    if (kept.offline.unwind(s, &b, 127).to_end) to_end++;
    if (a == b) {
      same++;
    } else if (first_diff.empty()) {
      first_diff = "live " + std::to_string(a.size()) + " frames, offline " + std::to_string(b.size());
    }
  }
  burn.signal(SIGKILL);
  burn.wait(10);
  std::printf("%llu snapshots, %llu identical, %llu unwound to the end offline, %.0f bytes/sample\n",
              (unsigned long long)with_user, (unsigned long long)same, (unsigned long long)to_end,
              double(fs::file_size(cap)) / double(std::max<size_t>(1, kept.snapshots.size())));
  ASSERT_GE(with_user, 500u) << r.err;
  EXPECT_EQ(same, with_user) << first_diff;
  EXPECT_GE(double(to_end), 0.95 * double(with_user));
  for (const auto& p : kept.offline.problems()) ADD_FAILURE() << p;

  // On "another machine": binaries gone, report unwinds and symbolizes from
  // the capture alone.
  fs::remove_all(bin);
  RunResult info = run({ebtrace_bin(), "info", cap.string()}, timeout(60));
  EXPECT_NE(info.out.find("raw stacks:"), std::string::npos) << info.out;
  std::string folded = check_cpuburn_offline(cap, r.err);

  // The same capture with the recorder's live unwinding instead: the very same
  // folded output.
  fs::path live_cap = d / "live.ebt";
  {
    format::CaptureReader in(cap.string());
    format::CaptureWriter out(live_cap.string(), in.session());
    AsRecorderUnwound rewrite(out, live_stacks);
    in.read(rewrite);
    out.finish(SessionEnd{});
  }
  RunResult rep_live = report_clean(live_cap, {"--folded"});
  ASSERT_EQ(rep_live.exit_code, 0) << rep_live.describe();
  EXPECT_EQ(rep_live.out, folded);
}

TEST(DwarfE2E, BadCallGraphOption) {
  RunResult keep_fp = run({ebtrace_bin(), "record", "--call-graph", "fp", "--keep-stack-bytes", "-d", "0.1", "-o",
                           "/dev/null"},
                          timeout(30));
  EXPECT_EQ(keep_fp.exit_code, 2) << keep_fp.describe();
  EXPECT_NE(keep_fp.err.find("--keep-stack-bytes"), std::string::npos) << keep_fp.err;
  for (const char* bad : {"lbr", "dwarf,0", "dwarf,70000", "dwarf,abc", "fp,8"}) {
    RunResult r = run({ebtrace_bin(), "record", "--call-graph", bad, "-d", "0.1", "-o", "/dev/null"}, timeout(30));
    EXPECT_NE(r.exit_code, 0) << bad;
    EXPECT_NE(r.err.find("--call-graph"), std::string::npos) << bad << ": " << r.err;
  }
}

}  // namespace
}  // namespace ebt::test
