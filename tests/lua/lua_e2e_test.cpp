// `ebtrace record --lua` end to end on Debian's LuaJIT (luajit2 / libluajit2,
// GC64), real BPF, real processes (issue #11's proof):
//  * split.lua (mid -> leaf_a 25 % / leaf_b 75 %) under the luajit CLI, JIT
//    off and on: the split within +-5 points, exact lines with -joff, reported
//    after the script and the process are gone;
//  * a C host embedding libluajit: C -> Lua -> C -> Lua, spliced in order;
//  * a coroutine resumed from Lua (the resumer's frames under it);
//  * protos reused at the same address after collectgarbage() (not mixed up);
//  * a host idle in plain C after running Lua (no phantom Lua frames);
//  * nginx + libnginx-mod-http-lua, two handlers of known cost under wrk.
#include <sstream>

#include <gtest/gtest.h>

#include "tests/lua/lua_harness.h"

namespace ebt::test::lua {
namespace {

// With -joff about half the samples land in the VM's leaf helpers (vm_mod for
// split.lua's `%`), which LuaJIT's one VM FDE describes with the VM frame's CFA
// although they are entered by `call`: the unwinder retries with the return
// address on top of the stack (unwind/snapshot_walker.cpp) and the splice
// takes the helper and its caller for one VM activation (report/lua_splice.cpp).
// check_split asserts lua_pcall and main under >= 95 % of the leaves, and one
// native path under the Lua frames.
TEST(LuaE2E, SplitInterpreterLuajitCli) {
  EBT_REQUIRE_LUA_OR_SKIP();
  EBT_LUA_NEED(have_command("luajit"), "luajit (Debian luajit2) not installed (scripts/setup-deps.sh --with-tests)");
  TempDir dir("ebt-lua-split");
  check_split(record_split("luajit", {"-joff"}, dir), true, "luajit -joff");
}

TEST(LuaE2E, SplitJitLuajitCli) {
  EBT_REQUIRE_LUA_OR_SKIP();
  EBT_LUA_NEED(have_command("luajit"), "luajit (Debian luajit2) not installed (scripts/setup-deps.sh --with-tests)");
  TempDir dir("ebt-lua-split");
  check_split(record_split("luajit", {}, dir), false, "luajit (JIT on)");
}

// The reference: LuaJIT's own profiler sees the same split (validates the
// workload itself, independently of ebtrace).
TEST(LuaE2E, SplitWorkloadReference) {
  EBT_LUA_NEED(have_command("luajit"), "luajit (Debian luajit2) not installed (scripts/setup-deps.sh --with-tests)");
  RunResult r = run({"luajit", "-joff", "-jp=fi1", (samples_dir() / "split.lua").string(), "1"}, timeout(120));
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  int pa = -1, pb = -1;
  for (const auto& l : lines_of(r.out)) {
    if (l.find("leaf_a") != std::string::npos) pa = std::atoi(l.c_str());
    if (l.find("leaf_b") != std::string::npos) pb = std::atoi(l.c_str());
  }
  EXPECT_NEAR(pb, 75, 6) << r.out;
  EXPECT_NEAR(pa, 25, 6) << r.out;
}

// C -> Lua -> C -> Lua in a program linking libluajit-5.1.so.
TEST(LuaE2E, EmbeddedCLuaCLuaAlternates) {
  EBT_REQUIRE_LUA_OR_SKIP();
  EBT_LUA_NEED(std::string(EBT_LUA_EMBED_HOST) != "",
               "the embedding host was not built: libluajit2-5.1-dev missing at configure time");
  for (bool interp : {true, false}) {
    TempDir dir("ebt-lua-embed");
    fs::copy_file(samples_dir() / "embed.lua", dir / "embed.lua");
    const std::string chunk = "@" + (dir / "embed.lua").string();
    fs::path cap = dir / "embed.ebt";
    std::vector<std::string> cmd{EBT_LUA_EMBED_HOST, "alternate", (dir / "embed.lua").string(), "2"};
    if (interp) cmd.push_back("interp");
    RunResult rec = record_command(cap, cmd);
    ASSERT_EQ(rec.exit_code, 0) << rec.describe();
    RunResult rep = report_elsewhere(cap, {"--folded"}, dir);
    ASSERT_EQ(rep.exit_code, 0) << rep.describe();
    auto stacks = parse_folded(rep.out);
    const std::string what = interp ? "embedded, JIT off" : "embedded, JIT on";

    // main -> embed_host_call -> lua_pcall -> [outer :10] -> embed_bridge ->
    // lua_call -> [inner :5]: native and Lua runs alternate, N L N L, and no
    // VM frame is left where the Lua frames went.
    const std::string outer = label(chunk, 10), inner_chunk = chunk;
    uint64_t in_inner = 0, alternating = 0, vm_left = 0;
    std::string bad;
    for (const auto& s : stacks) {
      int leaf = leaf_lua_index(s);
      if (leaf < 0) continue;
      LuaLabel l = *lua_label(s.frames[leaf]);
      if (l.chunk != chunk || l.line < 3 || l.line > 7) continue;  // inner's body
      in_inner += s.count;
      std::string runs;  // one letter per run of native (N) / Lua (L) frames, root first
      for (size_t i = 1; i < s.frames.size(); i++) {
        if (is_kernel_frame(s.frames[i])) continue;
        char k = is_lua_frame(s.frames[i]) ? 'L' : 'N';
        if (runs.empty() || runs.back() != k) runs += k;
        std::string f = strip_suffix(s.frames[i]);
        if (starts_with(f, "lj_vm_") || starts_with(f, "lj_BC_") || starts_with(f, "[libluajit")) vm_left += s.count;
      }
      int host = find_native(s, "embed_host_call");
      int o = find_frame(s, outer);
      int br = find_native(s, "embed_bridge");
      bool ok = runs == "NLNL" && find_native(s, "main") >= 0 && host >= 0 && o > host && br > o && leaf > br;
      // The Lua run between the host and the bridge is outer alone.
      for (int i = host + 1; ok && i < br; i++)
        if (is_lua_frame(s.frames[i]) && i != o) ok = false;
      if (ok) alternating += s.count;
      else if (bad.empty()) for (const auto& f : s.frames) bad += f + ";";
    }
    std::printf("%s: %llu samples in inner, %llu alternate correctly\n", what.c_str(), (unsigned long long)in_inner,
                (unsigned long long)alternating);
    ASSERT_GE(in_inner, 1000u) << what << "\n" << rec.err << top_stacks(stacks);
    EXPECT_GE(double(alternating), 0.95 * double(in_inner)) << what << ", e.g. " << bad << "\n" << top_stacks(stacks);
    EXPECT_EQ(vm_left, 0u) << what << ": VM frames left in spliced stacks\n" << top_stacks(stacks);
    if (interp) {  // exact leaf line
      uint64_t line5 = 0;
      for (const auto& s : stacks)
        if (find_frame(s, label(chunk, 5)) >= 0) line5 += s.count;
      EXPECT_GE(double(line5), 0.99 * double(in_inner)) << top_stacks(stacks);
    }
  }
}

// A coroutine resumed from Lua: driver's frames (and the resume) under it.
TEST(LuaE2E, CoroutineResumedFromLua) {
  EBT_REQUIRE_LUA_OR_SKIP();
  EBT_LUA_NEED(have_command("luajit"), "luajit (Debian luajit2) not installed (scripts/setup-deps.sh --with-tests)");
  for (bool interp : {true, false}) {
    TempDir dir("ebt-lua-co");
    fs::copy_file(samples_dir() / "coroutine.lua", dir / "coroutine.lua");
    const std::string chunk = "@" + (dir / "coroutine.lua").string();
    fs::path cap = dir / "co.ebt";
    std::vector<std::string> cmd{"luajit"};
    if (interp) cmd.push_back("-joff");
    cmd.push_back((dir / "coroutine.lua").string());
    cmd.push_back("2");
    RunResult rec = record_command(cap, cmd);
    ASSERT_EQ(rec.exit_code, 0) << rec.describe();
    RunResult rep = report_elsewhere(cap, {"--folded"}, dir);
    ASSERT_EQ(rep.exit_code, 0) << rep.describe();
    auto stacks = parse_folded(rep.out);
    const std::string what = interp ? "coroutine, JIT off" : "coroutine, JIT on";

    // main chunk :27 -> driver :18 -> builtin#coroutine.resume -> worker :13 -> leaf
    uint64_t leaf = 0, whole = 0;
    for (const auto& s : stacks) {
      int li = leaf_lua_index(s);
      if (li < 0 || lua_label(s.frames[li])->name != "leaf") continue;
      leaf += s.count;
      int m = find_frame(s, label(chunk, 27));
      int d = find_frame(s, label(chunk, 18, "driver"));
      int r = find_frame(s, "builtin#coroutine.resume");
      int w = find_frame(s, label(chunk, 13));
      if (w < 0) w = find_frame(s, label(chunk, 13, "worker"));
      // One Lua run from the main chunk to the leaf (the coroutine runs on the
      // resumer's VM activation: no native frame in between), above lua_pcall.
      bool contiguous = m >= 0;
      for (int i = m; contiguous && i <= li; i++) contiguous = is_lua_frame(s.frames[i]);
      int pc = find_native(s, "lua_pcall");
      if (m >= 0 && d > m && r > d && w > r && li > w && contiguous && pc >= 0 && pc < m) whole += s.count;
    }
    std::printf("%s: %llu samples in leaf, %llu with the resumer's frames\n", what.c_str(), (unsigned long long)leaf,
                (unsigned long long)whole);
    ASSERT_GE(leaf, 1000u) << what << "\n" << rec.err << top_stacks(stacks);
    EXPECT_GE(double(whole), 0.95 * double(leaf)) << what << "\n" << top_stacks(stacks);
  }
}

// JIT trace exits: the VM restores the trace's frames in C (lj_trace_exit,
// lj_snap_restore) inside lj_vm_cpcall's C frame, which has no Lua frame. The
// Lua frames stay on the activation lua_pcall entered (one Lua run right above
// lua_pcall, spin called from the main chunk's line 19), the exit's C code on
// top of them.
TEST(LuaE2E, TraceExitsSplicedUnderTheirLuaFrames) {
  EBT_REQUIRE_LUA_OR_SKIP();
  EBT_LUA_NEED(have_command("luajit"), "luajit (Debian luajit2) not installed (scripts/setup-deps.sh --with-tests)");
  TempDir dir("ebt-lua-exits");
  fs::copy_file(samples_dir() / "exits.lua", dir / "exits.lua");
  const std::string chunk = "@" + (dir / "exits.lua").string();
  fs::path cap = dir / "exits.ebt";
  RunResult rec = record_command(cap, {"luajit", (dir / "exits.lua").string(), "2"});
  ASSERT_EQ(rec.exit_code, 0) << rec.describe();
  RunResult rep = report_elsewhere(cap, {"--folded"}, dir);
  ASSERT_EQ(rep.exit_code, 0) << rep.describe();
  auto stacks = parse_folded(rep.out);

  uint64_t in_spin = 0, in_exit = 0, whole = 0;
  std::string bad;
  for (const auto& s : stacks) {
    int li = leaf_lua_index(s);
    if (li < 0 || lua_label(s.frames[li])->name != "spin") continue;
    in_spin += s.count;
    // Native frames above the Lua leaf (the trace's own [trace N] aside): the
    // exit handler's C code (or an os.clock call's).
    for (size_t i = li + 1; i < s.frames.size(); i++)
      if (!is_kernel_frame(s.frames[i]) && !is_pseudo_frame(s.frames[i])) {
        in_exit += s.count;
        break;
      }
    int pc = find_native(s, "lua_pcall");
    bool ok = pc >= 0 && pc + 1 < li && find_frame(s, label(chunk, 19)) == pc + 1;
    for (int i = pc + 1; ok && i <= li; i++) ok = is_lua_frame(s.frames[i]);
    if (ok) whole += s.count;
    else if (bad.empty()) for (const auto& f : s.frames) bad += f + ";";
  }
  std::printf("exits: %llu samples in spin, %llu in trace exits, %llu spliced whole\n", (unsigned long long)in_spin,
              (unsigned long long)in_exit, (unsigned long long)whole);
  ASSERT_GE(in_spin, 1000u) << rec.err << top_stacks(stacks);
  // The workload is mostly exits (measured: two thirds of spin's samples).
  EXPECT_GE(double(in_exit), 0.3 * double(in_spin)) << top_stacks(stacks);
  EXPECT_GE(double(whole), 0.99 * double(in_spin)) << "e.g. " << bad << "\n" << top_stacks(stacks);
}

// Protos reused at the same address after collectgarbage() keep their own
// chunk, line and name.
TEST(LuaE2E, ProtoReusedAfterGcNotMixedUp) {
  EBT_REQUIRE_LUA_OR_SKIP();
  EBT_LUA_NEED(have_command("luajit"), "luajit (Debian luajit2) not installed (scripts/setup-deps.sh --with-tests)");
  for (bool interp : {true, false}) {
    TempDir dir("ebt-lua-reuse");
    fs::copy_file(samples_dir() / "reuse.lua", dir / "reuse.lua");
    fs::path cap = dir / "reuse.ebt";
    RunResult rec = record_command(
        cap, {"luajit", (dir / "reuse.lua").string(), "1", interp ? "interp" : "jit"});
    ASSERT_EQ(rec.exit_code, 0) << rec.describe();
    int reused = 0;
    std::sscanf(rec.out.c_str() + std::min(rec.out.size(), rec.out.find("reuse: ") + 7), "%d", &reused);
    ASSERT_GE(reused, 1) << "the workload did not get a proto at a reused address: " << rec.out;
    RunResult rep = report_elsewhere(cap, {"--folded"}, dir);
    ASSERT_EQ(rep.exit_code, 0) << rep.describe();
    auto stacks = parse_folded(rep.out);
    const std::string what = interp ? "reuse, JIT off" : "reuse, JIT on";

    uint64_t one = 0, two = 0, mixed = 0;
    std::string mixed_frame;
    for (const auto& s : stacks) {
      int li = leaf_lua_index(s);
      if (li < 0) continue;
      LuaLabel l = *lua_label(s.frames[li]);
      if (l.chunk != "=gen_one" && l.chunk != "=gen_two" && l.name != "burn_one" && l.name != "burn_two") continue;
      // Line 0: the chunk's function header (FUNCV), where a call enters.
      bool first = l.chunk == "=gen_one" && l.name == "burn_one" && (!interp || l.line == 1 || l.line == 0);
      bool second = l.chunk == "=gen_two" && l.name == "burn_two" && (!interp || l.line == 2 || l.line == 0);
      // The caller's call line is the phase's own.
      std::string caller = li > 0 ? strip_suffix(s.frames[li - 1]) : "";
      if (first && ends_with(caller, ":55") == false) first = false;
      if (second && ends_with(caller, ":82") == false) second = false;
      if (first) one += s.count;
      else if (second) two += s.count;
      else {
        mixed += s.count;
        if (mixed_frame.empty()) mixed_frame = caller + ";" + s.frames[li];
      }
    }
    std::printf("%s: %d protos reused; gen_one %llu, gen_two %llu, mixed up %llu\n", what.c_str(), reused,
                (unsigned long long)one, (unsigned long long)two, (unsigned long long)mixed);
    ASSERT_GE(one + two, 1000u) << what << "\n" << rec.err << top_stacks(stacks);
    EXPECT_EQ(mixed, 0u) << what << ": e.g. " << mixed_frame << "\n" << top_stacks(stacks);
    // Both phases burn the same CPU time.
    EXPECT_NEAR(double(two) / double(one + two), 0.5, 0.1) << what << "\n" << top_stacks(stacks);
  }
}

// After running Lua, the host burns CPU in plain C: the VM's current
// coroutine is stale, and no Lua frame may appear on those samples.
TEST(LuaE2E, IdleInCNoPhantomLuaFrames) {
  EBT_REQUIRE_LUA_OR_SKIP();
  EBT_LUA_NEED(std::string(EBT_LUA_EMBED_HOST) != "",
               "the embedding host was not built: libluajit2-5.1-dev missing at configure time");
  for (bool interp : {true, false}) {
    TempDir dir("ebt-lua-idle");
    fs::copy_file(samples_dir() / "embed.lua", dir / "embed.lua");
    fs::path cap = dir / "idle.ebt";
    std::vector<std::string> cmd{EBT_LUA_EMBED_HOST, "idle", (dir / "embed.lua").string(), "2"};
    if (interp) cmd.push_back("interp");
    RunResult rec = record_command(cap, cmd);
    ASSERT_EQ(rec.exit_code, 0) << rec.describe();
    RunResult rep = report_elsewhere(cap, {"--folded"}, dir);
    ASSERT_EQ(rep.exit_code, 0) << rep.describe();
    auto stacks = parse_folded(rep.out);
    uint64_t spin = 0, phantom = 0, lua_phase = 0;
    for (const auto& s : stacks) {
      if (find_native(s, "embed_c_spin") >= 0) {
        spin += s.count;
        if (lua_frame_count(s) > 0) phantom += s.count;
      }
      if (find_native(s, "embed_host_call") >= 0 && leaf_lua_index(s) >= 0) lua_phase += s.count;
    }
    const std::string what = interp ? "idle, JIT off" : "idle, JIT on";
    std::printf("%s: %llu samples in C after Lua, %llu with phantom Lua frames; %llu in the Lua phase\n",
                what.c_str(), (unsigned long long)spin, (unsigned long long)phantom, (unsigned long long)lua_phase);
    ASSERT_GE(spin, 1000u) << what << "\n" << rec.err << top_stacks(stacks);
    EXPECT_EQ(phantom, 0u) << what << "\n" << top_stacks(stacks);
    // The Lua phase before it (a quarter of the time) was seen as Lua.
    EXPECT_GE(lua_phase, 200u) << what << "\n" << top_stacks(stacks);
  }
}

const char* const kHandlerLocations =
    "    location /light { content_by_lua_block { require(\"handlers\").light() } }\n"
    "    location /heavy { content_by_lua_block { require(\"handlers\").heavy() } }\n";

// nginx + libnginx-mod-http-lua: /light and /heavy (3x the work) under wrk,
// alternating: the handlers by name and line, 25/75, on nginx's native frames.
TEST(LuaE2E, NginxTwoLuaLocations) {
  EBT_REQUIRE_LUA_OR_SKIP();
  std::string missing = nginx_missing();
  EBT_LUA_NEED(missing.empty(), missing);
  TempDir dir("ebt-lua-nginx");
  int port = free_port();
  auto nginx = start_lua_nginx(dir, port, {"handlers.lua", "wrk-alternate.lua"}, kHandlerLocations);
  Proc& master = *nginx;
  uint32_t worker = first_child(master.pid());
  ASSERT_NE(worker, 0u) << read_text(dir / "error.log") << master.err_so_far();
  std::string base = "http://127.0.0.1:" + std::to_string(port);
  ASSERT_TRUE(wait_http(base + "/light")) << read_text(dir / "error.log");
  RunResult h = run({"curl", "-sf", base + "/heavy"}, timeout(30));
  ASSERT_EQ(h.exit_code, 0) << h.describe();

  Proc load({"wrk", "-t1", "-c4", "-d60s", "-s", (dir / "wrk-alternate.lua").string(), base}, timeout(120));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  fs::path cap = dir / "nginx.ebt";
  RunResult rec = run({ebtrace_bin(), "record", "--lua", "-F", "999", "-p", std::to_string(worker), "-d", "6", "-o",
                       cap.string()},
                      timeout(120));
  load.signal(SIGINT);
  load.wait(10);
  ASSERT_EQ(rec.exit_code, 0) << rec.describe();
  RunResult rep = report_elsewhere(cap, {"--folded"}, dir);
  ASSERT_EQ(rep.exit_code, 0) << rep.describe();
  auto stacks = parse_folded(rep.out);

  const std::string chunk = "@" + (dir / "handlers.lua").string();
  const std::string light = label(chunk, 11, "light"), heavy = label(chunk, 13, "heavy");
  uint64_t all = total_count(stacks), n_light = 0, n_heavy = 0, native_ok = 0, with_lua = 0, idle = 0, phantom = 0;
  uint64_t truncated = 0;
  std::string phantom_stacks;
  for (const auto& s : stacks) {
    int first_lua = -1;
    for (size_t i = 0; i < s.frames.size() && first_lua < 0; i++)
      if (is_lua_frame(s.frames[i])) first_lua = int(i);
    if (first_lua < 0) {
      // The worker waiting for requests (epoll_wait) has no Lua frames.
      if (find_native(s, "ngx_process_events_and_timers") >= 0 && find_native(s, "ngx_http_lua_run_thread") < 0)
        idle += s.count;
      continue;
    }
    with_lua += s.count;
    // Lua frames on a whole native stack (down to main) that did not run Lua.
    // A native walk that stopped early (rare: a JIT trace's C frame not found)
    // has its Lua frames on top of what it has: counted apart, bounded below.
    if (find_native(s, "main") < 0) {
      truncated += s.count;
    } else if (find_native(s, "ngx_http_lua_run_thread") < 0) {
      phantom += s.count;
      std::vector<FoldedStack> one{s};
      phantom_stacks += top_stacks(one, 1);
    }
    int l = find_frame(s, light), hv = find_frame(s, heavy);
    if (l >= 0) n_light += s.count;
    if (hv >= 0) n_heavy += s.count;
    // The handler sits on the content_by_lua chunk, on nginx's native path.
    int h2 = l >= 0 ? l : hv;
    if (h2 > 0 && starts_with(strip_suffix(s.frames[h2 - 1]), "=content_by_lua(nginx.conf:") &&
        has_nginx_native_path(s, first_lua))
      native_ok += s.count;
  }
  std::printf(
      "nginx: %llu samples, %llu with Lua frames, light %llu, heavy %llu (%.1f%% heavy), %llu idle, %llu native "
      "stacks not down to main\n",
      (unsigned long long)all, (unsigned long long)with_lua, (unsigned long long)n_light, (unsigned long long)n_heavy,
      100.0 * double(n_heavy) / double(std::max<uint64_t>(1, n_light + n_heavy)), (unsigned long long)idle,
      (unsigned long long)truncated);
  ASSERT_GE(n_light + n_heavy, 500u) << rec.err << top_stacks(stacks);
  EXPECT_NEAR(double(n_heavy) / double(n_light + n_heavy), 0.75, 0.05) << top_stacks(stacks);
  EXPECT_GE(double(n_light + n_heavy), 0.9 * double(with_lua)) << top_stacks(stacks);
  EXPECT_GE(double(native_ok), 0.95 * double(n_light + n_heavy)) << top_stacks(stacks);
  EXPECT_EQ(phantom, 0u) << "Lua frames outside ngx_http_lua_run_thread:\n" << phantom_stacks;
  EXPECT_LE(double(truncated), 0.005 * double(with_lua)) << "native stacks not down to main\n" << top_stacks(stacks);

  // The same capture as a flame graph: handlers by name, widths = samples.
  fs::path svg = dir / "nginx.svg", folded = dir / "nginx.folded";
  write_text(folded, rep.out);
  RunResult fg = report_elsewhere(cap, {"--flamegraph", svg.string()}, dir);
  ASSERT_EQ(fg.exit_code, 0) << fg.describe();
  RunResult chk = run({"python3", std::string(EBT_TESTS_CLI_DIR) + "/check_flamegraph.py", "svg", svg.string(),
                       folded.string(), light, heavy, "ngx_http_lua_run_thread"},
                      timeout(60));
  EXPECT_EQ(chk.exit_code, 0) << chk.describe();
  master.signal(SIGQUIT);
  master.wait(10);
}

// Two nginx workers (SO_REUSEPORT spreads wrk's connections over both), each
// with its own VM: both VMs identified, and each worker's handlers named from
// its own samples (report --pid).
TEST(LuaE2E, NginxWorkersEachWalkedOnTheirOwn) {
  EBT_REQUIRE_LUA_OR_SKIP();
  std::string missing = nginx_missing();
  EBT_LUA_NEED(missing.empty(), missing);
  TempDir dir("ebt-lua-nginx-workers");
  int port = free_port();
  auto nginx = start_lua_nginx(dir, port, {"handlers.lua", "wrk-alternate.lua"}, kHandlerLocations, 2);
  Proc& master = *nginx;
  std::vector<std::string> workers;
  for (int i = 0; i < 500 && workers.size() < 2; i++) {
    std::string me = std::to_string(master.pid());
    workers = lines_of(read_text("/proc/" + me + "/task/" + me + "/children"));
    if (!workers.empty()) {
      std::istringstream in(workers[0]);
      workers.clear();
      for (std::string w; in >> w;) workers.push_back(w);
    }
    if (workers.size() < 2) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(workers.size(), 2u) << read_text(dir / "error.log");
  std::string base = "http://127.0.0.1:" + std::to_string(port);
  ASSERT_TRUE(wait_http(base + "/light")) << read_text(dir / "error.log");

  Proc load({"wrk", "-t2", "-c32", "-d60s", "-s", (dir / "wrk-alternate.lua").string(), base}, timeout(120));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  fs::path cap = dir / "workers.ebt";
  RunResult rec = run({ebtrace_bin(), "record", "--lua", "-F", "499", "-p", workers[0] + "," + workers[1], "-d", "5",
                       "-o", cap.string()},
                      timeout(120));
  load.signal(SIGINT);
  load.wait(10);
  ASSERT_EQ(rec.exit_code, 0) << rec.describe();

  RunResult info = run({ebtrace_bin(), "info", cap.string()}, timeout(60));
  ASSERT_EQ(info.exit_code, 0) << info.describe();
  const std::string chunk = "@" + (dir / "handlers.lua").string();
  const std::string light = label(chunk, 11, "light"), heavy = label(chunk, 13, "heavy");
  for (const auto& w : workers) {
    SCOPED_TRACE("worker " + w);
    EXPECT_NE(info.out.find("  pid " + w + "  "), std::string::npos) << "its VM identified\n" << info.out;
    RunResult rep = report_elsewhere(cap, {"--folded", "--pid", w}, dir);
    ASSERT_EQ(rep.exit_code, 0) << rep.describe();
    uint64_t handlers = 0;
    for (const auto& s : parse_folded(rep.out))
      if (find_frame(s, light) >= 0 || find_frame(s, heavy) >= 0) handlers += s.count;
    EXPECT_GE(handlers, 100u) << "its handlers named from its own samples\n" << top_stacks(parse_folded(rep.out));
  }
  master.signal(SIGQUIT);
  master.wait(10);
}

}  // namespace
}  // namespace ebt::test::lua
