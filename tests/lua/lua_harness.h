// Shared pieces of the Lua end-to-end tests (tests/lua/): the workloads in
// samples/lua/, recording them with `ebtrace record --lua`, reporting the
// capture on "another machine" (a fresh directory, empty environment), and
// reading Lua frames out of folded stacks.
//
// Lua frame labels (shared decision, docs/lua.md):
//   Lua function   `<chunkname>:<line> <name>` or `<chunkname>:<line>`
//                  (current line for the leaf, call line for callers)
//   fast function  `builtin#<name>`
//   pseudo-frames  `[trace N]`, `[GC]`, `[JIT compiler]`
#pragma once

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/bpf_guard.h"
#include "tests/cli/cli_harness.h"

#ifndef EBT_LUA_SAMPLES_DIR
#error "EBT_LUA_SAMPLES_DIR must be defined by the build"
#endif

namespace ebt::test::lua {

inline fs::path samples_dir() { return EBT_LUA_SAMPLES_DIR; }

// Why `ebtrace record --lua` cannot run here, or empty.
inline std::string lua_option_missing() {
  RunResult r = run({ebtrace_bin(), "record", "--help"}, timeout(30));
  if ((r.out + r.err).find("--lua") == std::string::npos)
    return "this ebtrace has no `record --lua` (issue #11 not landed)";
  return {};
}

// Runs a check that needs something the tests install (scripts/setup-deps.sh
// --with-tests): with EBTRACE_REQUIRE_BPF=1 (CI) its absence is a failure.
#define EBT_LUA_NEED(cond, why)                                              \
  do {                                                                       \
    if (!(cond)) {                                                           \
      if (::ebt::test::bpf_required()) FAIL() << why;                        \
      GTEST_SKIP() << why;                                                   \
    }                                                                        \
  } while (0)

// Root + BPF, and `record --lua` in this build.
#define EBT_REQUIRE_LUA_OR_SKIP()                                            \
  do {                                                                       \
    EBT_REQUIRE_BPF_OR_SKIP();                                               \
    std::string ebt_lua_why_ = ::ebt::test::lua::lua_option_missing();       \
    EBT_LUA_NEED(ebt_lua_why_.empty(), ebt_lua_why_);                        \
  } while (0)

inline bool have_command(const std::string& cmd) {
  return run({"sh", "-c", "command -v " + cmd}, timeout(10)).exit_code == 0;
}

// ---- Lua frame labels ------------------------------------------------------

inline bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

inline bool is_pseudo_frame(const std::string& frame) {
  std::string f = strip_suffix(frame);
  return starts_with(f, "[trace ") || f == "[GC]" || starts_with(f, "[JIT compiler");
}

// A Lua function frame: `@file:line [name]` or `=name:line [name]`.
struct LuaLabel {
  std::string chunk;  // verbatim chunkname, with its '@' or '='
  int line = -1;
  std::string name;   // empty when unknown
};

inline std::optional<LuaLabel> lua_label(const std::string& frame) {
  std::string f = strip_suffix(frame);
  if (f.empty() || (f[0] != '@' && f[0] != '=')) return std::nullopt;
  // The last ':' followed by digits and then the end or ' name'.
  for (size_t colon = f.rfind(':'); colon != std::string::npos && colon > 0; colon = f.rfind(':', colon - 1)) {
    size_t i = colon + 1;
    while (i < f.size() && std::isdigit(static_cast<unsigned char>(f[i]))) i++;
    if (i == colon + 1 || (i < f.size() && f[i] != ' ')) continue;
    LuaLabel l;
    l.chunk = f.substr(0, colon);
    l.line = std::stoi(f.substr(colon + 1, i - colon - 1));
    if (i < f.size()) l.name = f.substr(i + 1);
    return l;
  }
  return std::nullopt;
}

inline bool is_builtin(const std::string& frame) { return starts_with(strip_suffix(frame), "builtin#"); }

// Any frame the Lua splicing produced.
inline bool is_lua_frame(const std::string& frame) {
  return lua_label(frame).has_value() || is_builtin(frame) || is_pseudo_frame(frame);
}

inline std::string label(const std::string& chunk, int line, const std::string& name = {}) {
  return chunk + ":" + std::to_string(line) + (name.empty() ? "" : " " + name);
}

// The innermost Lua function frame of a stack (pseudo-frames and builtins
// above it skipped), or -1.
inline int leaf_lua_index(const FoldedStack& s) {
  for (int i = int(s.frames.size()) - 1; i >= 0; i--)
    if (lua_label(s.frames[i])) return i;
  return -1;
}

// Index of the first frame (root first) at or after `from` equal to `want`
// (type suffix ignored), or -1.
inline int find_frame(const FoldedStack& s, const std::string& want, size_t from = 0) {
  for (size_t i = from; i < s.frames.size(); i++)
    if (strip_suffix(s.frames[i]) == want) return int(i);
  return -1;
}

// Index of the first frame naming native function `fn`, or -1.
inline int find_native(const FoldedStack& s, const std::string& fn, size_t from = 0) {
  for (size_t i = from; i < s.frames.size(); i++)
    if (!is_lua_frame(s.frames[i]) && frame_is(s.frames[i], fn)) return int(i);
  return -1;
}

inline size_t lua_frame_count(const FoldedStack& s) {
  size_t n = 0;
  for (const auto& f : s.frames)
    if (is_lua_frame(f)) n++;
  return n;
}

// The folded stacks' first lines, for failure messages.
inline std::string head(const std::string& text, size_t n = 30) {
  std::string out;
  size_t pos = 0;
  for (size_t i = 0; i < n && pos < text.size(); i++) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    out += text.substr(pos, std::min<size_t>(nl - pos, 600)) + "\n";
    pos = nl + 1;
  }
  return out;
}

// The heaviest stacks first, for failure messages.
inline std::string top_stacks(const std::vector<FoldedStack>& stacks, size_t n = 15) {
  std::vector<const FoldedStack*> v;
  for (const auto& s : stacks) v.push_back(&s);
  std::sort(v.begin(), v.end(), [](auto* a, auto* b) { return a->count > b->count; });
  std::string out;
  for (size_t i = 0; i < v.size() && i < n; i++) {
    std::string line;
    for (const auto& f : v[i]->frames) line += (line.empty() ? "" : ";") + f;
    out += line.substr(0, 700) + " " + std::to_string(v[i]->count) + "\n";
  }
  return out;
}

// ---- record and report -----------------------------------------------------

// `ebtrace report CAPTURE EXTRA...` as on another machine: the capture alone
// in a fresh directory, an empty environment, cwd there.
inline RunResult report_elsewhere(const fs::path& capture, const std::vector<std::string>& extra,
                                  const TempDir& scratch) {
  fs::path dir = scratch / "elsewhere";
  fs::create_directories(dir);
  fs::path copy = dir / "capture.ebt";
  fs::copy_file(capture, copy, fs::copy_options::overwrite_existing);
  std::vector<std::string> argv{ebtrace_bin(), "report", copy.string()};
  for (const auto& e : extra) argv.push_back(e);
  RunOptions o = timeout(180);
  o.clean_env = true;
  o.cwd = dir.string();
  o.env.push_back("HOME=" + dir.string());
  return run(argv, o);
}

// `ebtrace record --lua -F FREQ EXTRA... -o CAPTURE -- CMD...`.
inline RunResult record_command(const fs::path& capture, const std::vector<std::string>& cmd,
                                const std::vector<std::string>& extra = {}, int freq = 999, double timeout_s = 240) {
  std::vector<std::string> argv{ebtrace_bin(), "record", "--lua", "-F", std::to_string(freq), "-o", capture.string()};
  for (const auto& e : extra) argv.push_back(e);
  argv.push_back("--");
  for (const auto& c : cmd) argv.push_back(c);
  return run(argv, timeout(timeout_s));
}

// `ebtrace record --lua ... -p PID` until `stop()` (SIGINT), started and
// attached (--ready-file) before the constructor returns.
class Recorder {
 public:
  Recorder(const fs::path& capture, const std::vector<std::string>& pids, const std::vector<std::string>& extra,
           const TempDir& scratch, int freq = 999) {
    fs::path ready = scratch / ("ready-" + capture.filename().string());
    std::string plist;
    for (const auto& p : pids) plist += (plist.empty() ? "" : ",") + p;
    std::vector<std::string> argv{ebtrace_bin(), "record", "--lua", "-F", std::to_string(freq), "-p", plist,
                                  "-o", capture.string(), "--ready-file", ready.string()};
    for (const auto& e : extra) argv.push_back(e);
    proc_ = std::make_unique<Proc>(argv, timeout(300));
    for (int i = 0; i < 3000 && !fs::exists(ready) && !proc_->poll(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    attached_ = fs::exists(ready);
  }
  bool attached() const { return attached_; }
  std::string early_output() { return proc_->err_so_far(); }
  RunResult stop() {
    proc_->signal(SIGINT);
    return proc_->wait(120);
  }

 private:
  std::unique_ptr<Proc> proc_;
  bool attached_ = false;
};

// ---- nginx with the Lua module ---------------------------------------------

inline int free_port() {
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

inline const char* kNgxLuaModule = "/usr/lib/nginx/modules/ngx_http_lua_module.so";
inline const char* kNgxNdkModule = "/usr/lib/nginx/modules/ndk_http_module.so";

inline std::string nginx_missing() {
  if (!have_command("nginx") || !have_command("wrk") || !have_command("curl") || !fs::exists(kNgxLuaModule))
    return "nginx / wrk / curl / libnginx-mod-http-lua not installed (scripts/setup-deps.sh --with-tests)";
  return {};
}

// nginx.conf for one worker on 127.0.0.1:PORT with the Lua module, Lua
// modules from `lua_dir`, and `locations` in the server block. Paths are as
// the nginx process sees them.
inline std::string nginx_conf(const std::string& prefix, const std::string& modules_dir, const std::string& lua_dir,
                              int port, const std::string& locations, int workers = 1) {
  return "daemon off;\nmaster_process on;\nworker_processes " + std::to_string(workers) + ";\nuser root;\npid " + prefix +
         "/nginx.pid;\nerror_log " + prefix + "/error.log;\nload_module " + modules_dir +
         "/ndk_http_module.so;\nload_module " + modules_dir +
         "/ngx_http_lua_module.so;\nevents { worker_connections 256; }\nhttp {\n  access_log off;\n"
         "  lua_package_path \"" + lua_dir + "/?.lua;;\";\n  server {\n    listen 127.0.0.1:" + std::to_string(port) +
         (workers > 1 ? " reuseport" : "") + ";\n" + locations + "  }\n}\n";
}

// nginx with the Lua module (master + `workers` workers) serving `locations`
// on 127.0.0.1:port, its prefix and Lua modules in `dir`, the `lua_files` of
// samples/lua copied there.
inline std::unique_ptr<Proc> start_lua_nginx(const TempDir& dir, int port, const std::vector<std::string>& lua_files,
                                             const std::string& locations, int workers = 1) {
  for (const auto& f : lua_files) fs::copy_file(samples_dir() / f, dir / f);
  write_text(dir / "nginx.conf", nginx_conf(dir.str(), "/usr/lib/nginx/modules", dir.str(), port, locations, workers));
  return std::make_unique<Proc>(std::vector<std::string>{"nginx", "-p", dir.str(), "-c", (dir / "nginx.conf").string(),
                                                         "-e", (dir / "error.log").string()},
                                timeout(600));
}

// The first child of `pid` (nginx's worker), waiting up to 5 s.
inline uint32_t first_child(pid_t pid) {
  std::string me = std::to_string(pid);
  for (int i = 0; i < 500; i++) {
    std::string kids = read_text("/proc/" + me + "/task/" + me + "/children");
    if (uint32_t w = uint32_t(std::strtoul(kids.c_str(), nullptr, 10))) return w;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return 0;
}

// Polls URL until it answers 200 (5 s at most).
inline bool wait_http(const std::string& url) {
  for (int i = 0; i < 250; i++) {
    if (run({"curl", "-sf", "-o", "/dev/null", url}, timeout(10)).exit_code == 0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

// The frames under the Lua handlers nginx's worker must show (native).
inline bool has_nginx_native_path(const FoldedStack& s, int first_lua) {
  int m = find_native(s, "main");
  int ev = find_native(s, "ngx_process_events_and_timers");
  int rt = find_native(s, "ngx_http_lua_run_thread");
  return m >= 0 && ev > m && rt > ev && rt < first_lua;
}

// ---- split.lua ----------------------------------------------------------

// Samples per leaf function name, among the process's samples.
struct LeafCount {
  uint64_t all = 0;       // every sample of the report
  uint64_t with_lua = 0;  // samples with at least one Lua function frame
  std::map<std::string, uint64_t> by_name;
};

inline LeafCount leaf_counts(const std::vector<FoldedStack>& stacks) {
  LeafCount c;
  for (const auto& s : stacks) {
    c.all += s.count;
    int leaf = leaf_lua_index(s);
    if (leaf < 0) continue;
    c.with_lua += s.count;
    c.by_name[lua_label(s.frames[leaf])->name] += s.count;
  }
  return c;
}

struct SplitRun {
  std::string folded;
  std::string record_err;
  std::string chunk;  // "@/tmp/.../split.lua", the path the script had
};

// Runs split.lua (2 CPU seconds) under `luajit FLAGS` with --lua; the script
// and its directory are deleted before the report.
inline SplitRun record_split(const std::string& luajit, const std::vector<std::string>& flags, const TempDir& dir) {
  SplitRun r;
  fs::path work = dir / "work";
  fs::create_directories(work);
  fs::copy_file(samples_dir() / "split.lua", work / "split.lua");
  r.chunk = "@" + (work / "split.lua").string();
  fs::path cap = dir / "split.ebt";
  std::vector<std::string> cmd{luajit};
  for (const auto& f : flags) cmd.push_back(f);
  cmd.push_back((work / "split.lua").string());
  cmd.push_back("2");
  RunResult rec = record_command(cap, cmd);
  EXPECT_EQ(rec.exit_code, 0) << rec.describe();
  EXPECT_NE(rec.out.find("split: "), std::string::npos) << rec.describe();
  r.record_err = rec.err;
  fs::remove_all(work);
  RunResult rep = report_elsewhere(cap, {"--folded"}, dir);
  EXPECT_EQ(rep.exit_code, 0) << rep.describe();
  r.folded = rep.out;
  return r;
}

// The fixed split, the names and (interpreter) the exact lines of every frame:
// main chunk :25 -> mid :19 -> leaf_a :8 / leaf_b :14.
inline void check_split(const SplitRun& run, bool interp, const std::string& what) {
  auto stacks = parse_folded(run.folded);
  LeafCount c = leaf_counts(stacks);
  uint64_t a = c.by_name["leaf_a"], b = c.by_name["leaf_b"];
  std::printf("%s: %llu samples, %llu with Lua frames, leaf_a %llu, leaf_b %llu (%.1f%% / %.1f%%)\n", what.c_str(),
              (unsigned long long)c.all, (unsigned long long)c.with_lua, (unsigned long long)a,
              (unsigned long long)b, 100.0 * double(a) / double(std::max<uint64_t>(1, a + b)),
              100.0 * double(b) / double(std::max<uint64_t>(1, a + b)));
  ASSERT_GE(a + b, 1000u) << what << "\n" << run.record_err << top_stacks(stacks);
  // Nearly all of the process's CPU is the two loops.
  EXPECT_GE(double(a + b), 0.85 * double(c.all)) << what << "\n" << top_stacks(stacks);
  double share_b = double(b) / double(a + b);
  EXPECT_NEAR(share_b, 0.75, 0.05) << what << "\n" << top_stacks(stacks);

  // The whole Lua stack under each leaf, in order, with the call lines.
  const std::string main_chunk = label(run.chunk, 25);
  const std::string mid = label(run.chunk, 19, "mid");
  uint64_t whole = 0, exact_leaf = 0, traces = 0;
  std::map<std::string, uint64_t> native_paths;  // the native frames under the main chunk
  for (const auto& s : stacks) {
    int leaf = leaf_lua_index(s);
    if (leaf < 0) continue;
    LuaLabel l = *lua_label(s.frames[leaf]);
    if (l.name != "leaf_a" && l.name != "leaf_b") continue;
    EXPECT_EQ(l.chunk, run.chunk) << s.frames[leaf];
    int m = find_frame(s, main_chunk);
    int md = find_frame(s, mid);
    // Spliced where the VM ran them: above lua_pcall (the CLI's docall), and
    // nothing native between the main chunk and the leaf.
    int pc = find_native(s, "lua_pcall");
    bool contiguous = m >= 0;
    for (int i = m; contiguous && i <= leaf; i++) contiguous = is_lua_frame(s.frames[i]);
    int mn = find_native(s, "main");
    if (m >= 0 && md == leaf - 1 && m < md && pc >= 0 && mn >= 0 && mn < pc && pc < m && contiguous) whole += s.count;
    if (m >= 0) {
      std::string path;
      for (int i = 0; i < m; i++) path += strip_suffix(s.frames[i]) + ";";
      native_paths[path] += s.count;
    }
    if (l.line == (l.name == "leaf_a" ? 8 : 14)) exact_leaf += s.count;
    for (size_t i = leaf + 1; i < s.frames.size(); i++)
      if (starts_with(strip_suffix(s.frames[i]), "[trace ")) traces += s.count;
  }
  EXPECT_GE(double(whole), 0.95 * double(a + b))
      << what << ": leaf frames should sit on " << mid << " on " << main_chunk << " on lua_pcall on main\n"
      << top_stacks(stacks);
  // One native path under the Lua frames (the VM's frames replaced the same
  // way wherever the sample landed: interpreter, a VM helper, a trace).
  uint64_t most = 0;
  for (const auto& [path, n] : native_paths) most = std::max(most, n);
  EXPECT_GE(double(most), 0.95 * double(a + b)) << what << ": " << native_paths.size()
                                                << " different native paths under the Lua frames\n"
                                                << top_stacks(stacks);
  if (interp) {
    // With the JIT off every sample has a bytecode PC: the leaf line is exact.
    EXPECT_GE(double(exact_leaf), 0.99 * double(a + b)) << what << "\n" << top_stacks(stacks);
    EXPECT_EQ(traces, 0u) << what << ": [trace N] frames with the JIT off\n" << top_stacks(stacks);
  } else {
    // The loops run as traces: `[trace N]` on the leaf function.
    EXPECT_GE(double(traces), 0.8 * double(a + b)) << what << "\n" << top_stacks(stacks);
  }
}

}  // namespace ebt::test::lua
