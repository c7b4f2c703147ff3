// Shared pieces of the on-CPU end-to-end tests: recording the cpuburn sample
// with the real `ebtrace record` (from a private copy of the binaries that is
// deleted afterwards), running `ebtrace report` in a clean environment, and
// checking a folded profile against cpuburn's known CPU shares and names.
#pragma once

#include <signal.h>

#include <cstdio>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/cli/cli_harness.h"

namespace ebt::test {

// cpuburn's parts and the CPU share each gets (samples/cpuburn/cpuburn.cpp).
struct Part {
  const char* fn;
  double share;
};
inline const std::vector<Part>& cpuburn_parts() {
  static const std::vector<Part> v = {{"burn_a", 0.40},
                                      {"burn_b", 0.20},
                                      {"ebt_sample::Matrix::multiply", 0.20},
                                      {"plugin_burn", 0.10},
                                      {"syscall_storm", 0.10}};
  return v;
}

enum class Target { kCommand, kPid };

struct RecordSpec {
  Target target = Target::kCommand;
  int freq = 999;
  double duration_s = 3;
  bool embed = true;
  bool strip = false;  // run stripped copies; keep their debug files aside
};

struct Recording {
  std::unique_ptr<TempDir> dir;
  fs::path capture;     // the capture, alone in its own directory
  fs::path symfs;       // (strip only) debug files: .build-id tree + copies at their recorded paths
  std::vector<std::string> build_ids;  // of cpuburn and libburn_plugin.so
  std::string workload_out;
  RunResult record;
};

inline std::string build_id_of(const fs::path& elf) {
  RunResult r = run({"readelf", "-n", elf.string()}, timeout(30));
  auto pos = r.out.find("Build ID: ");
  if (pos == std::string::npos) return {};
  auto end = r.out.find_first_of(" \n", pos + 10);
  return r.out.substr(pos + 10, end - pos - 10);
}

inline void must_run(const std::vector<std::string>& argv) {
  RunResult r = run(argv, timeout(60));
  if (r.exit_code != 0) {
    std::string cmd;
    for (auto& a : argv) cmd += a + " ";
    throw std::runtime_error("command failed: " + cmd + "\n" + r.describe());
  }
}

// Records cpuburn as `spec` says. The binaries it ran are gone afterwards: only
// the capture (and, for strip, the separate debug files) remain.
inline Recording record_cpuburn(const RecordSpec& spec) {
  Recording rec;
  rec.dir = std::make_unique<TempDir>("ebt-e2e");
  const fs::path& d = rec.dir->path();
  fs::path bin = d / "bin";
  fs::create_directories(bin);
  fs::create_directories(d / "cap");
  rec.capture = d / "cap" / "capture.ebt";
  for (const char* f : {"cpuburn", "libburn_plugin.so"}) {
    fs::path src = fs::path(cpuburn_dir()) / f;
    if (spec.strip) {
      rec.symfs = d / "symfs";
      std::string id = build_id_of(src);
      if (id.size() < 3) throw std::runtime_error("no build-id in " + src.string());
      rec.build_ids.push_back(id);
      fs::path dbg = rec.symfs / ".build-id" / id.substr(0, 2) / (id.substr(2) + ".debug");
      fs::create_directories(dbg.parent_path());
      must_run({"objcopy", "--only-keep-debug", src.string(), dbg.string()});
      fs::path at_path = rec.symfs / (bin / f).relative_path();
      fs::create_directories(at_path.parent_path());
      fs::copy_file(src, at_path);
      must_run({"strip", "--strip-all", "-o", (bin / f).string(), src.string()});
    } else {
      fs::copy_file(src, bin / f);
      rec.build_ids.push_back(build_id_of(src));
    }
  }
  std::vector<std::string> rec_argv{ebtrace_bin(), "record", "-F", std::to_string(spec.freq), "-o",
                                    rec.capture.string()};
  if (!spec.embed) rec_argv.push_back("--no-embed");
  std::string dur = std::to_string(spec.duration_s);
  const double budget = spec.duration_s + 60;

  if (spec.target == Target::kCommand) {
    for (std::string a : std::vector<std::string>{"--", (bin / "cpuburn").string(), "--duration", dur,
                                                  "--plugin-delay-ms", "300"})
      rec_argv.push_back(a);
    rec.record = run(rec_argv, timeout(budget));
    rec.workload_out = rec.record.out;
  } else {
    fs::path go = d / "go";
    Proc burn({(bin / "cpuburn").string(), "--duration", dur, "--plugin-delay-ms", "0", "--wait-file",
               go.string()},
              timeout(budget));
    if (!burn.wait_for_output([](const std::string& o, const std::string&) { return o.find("pid=") != std::string::npos; }, 10))
      throw std::runtime_error("cpuburn did not start: " + burn.err_so_far());
    fs::path ready = d / "ready";
    rec_argv.push_back("-p");
    rec_argv.push_back(std::to_string(burn.pid()));
    rec_argv.push_back("--ready-file");
    rec_argv.push_back(ready.string());
    Proc recorder(rec_argv, timeout(budget));
    // cpuburn only loads its plugin and starts burning once `go` exists, which
    // we create once the recorder says its probes are attached.
    for (int i = 0; i < 3000 && !fs::exists(ready) && !recorder.poll(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    write_text(go, "go\n");
    RunResult b = burn.wait(budget);
    rec.workload_out = b.out;
    // Like perf, the recorder should stop by itself when its only target exits;
    // if it does not within a few seconds, stop it the documented way (SIGINT).
    for (int i = 0; i < 500 && !recorder.poll(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (!recorder.poll()) recorder.signal(SIGINT);
    rec.record = recorder.wait(30);
  }
  fs::remove_all(bin);
  return rec;
}

inline std::vector<std::string> report_argv(const fs::path& capture, std::vector<std::string> extra) {
  std::vector<std::string> v{ebtrace_bin(), "report", capture.string()};
  for (auto& e : extra) v.push_back(e);
  return v;
}

// `ebtrace report` the way it would run on another machine: the capture alone in
// a fresh directory, an empty environment (no DEBUGINFOD_URLS), cwd there.
inline RunResult report_clean(const fs::path& capture, std::vector<std::string> extra,
                              std::vector<std::string> env = {}, fs::path* copy_dir_out = nullptr) {
  static std::vector<std::unique_ptr<TempDir>> keep;  // outputs may be inspected later
  keep.push_back(std::make_unique<TempDir>("ebt-report"));
  const TempDir& t = *keep.back();
  fs::copy_file(capture, t / "capture.ebt");
  if (copy_dir_out) *copy_dir_out = t.path();
  RunOptions o = timeout(120);
  o.clean_env = true;
  o.cwd = t.str();
  o.env = env;
  o.env.push_back("HOME=" + t.str());
  return run(report_argv(t / "capture.ebt", extra), o);
}

struct Profile {
  std::vector<FoldedStack> stacks;
  uint64_t all = 0;
  std::map<std::string, uint64_t> per_part;
  uint64_t in_parts = 0;
};

inline Profile profile_of(const std::string& folded) {
  Profile p;
  p.stacks = parse_folded(folded);
  p.all = total_count(p.stacks);
  for (const auto& s : p.stacks)
    for (const auto& part : cpuburn_parts())
      if (stack_has(s, part.fn)) {
        p.per_part[part.fn] += s.count;
        p.in_parts += s.count;
        break;
      }
  return p;
}

struct Expect {
  bool inline_frames = true;
  bool kernel_frames = true;
};

// Everything the "Proof" asks of an on-CPU profile of cpuburn.
inline void check_cpuburn_profile(const std::string& folded, const Expect& want) {
  Profile p = profile_of(folded);
  ASSERT_GE(p.in_parts, 500u) << "too few cpuburn samples; folded:\n" << folded.substr(0, 3000);
  EXPECT_GE(static_cast<double>(p.in_parts), 0.8 * static_cast<double>(p.all))
      << "most samples should be in cpuburn's five parts; folded:\n" << folded.substr(0, 3000);

  // Proportions within 5 points of what cpuburn measured for itself.
  std::printf("  %llu samples, %llu in cpuburn's parts:", static_cast<unsigned long long>(p.all),
              static_cast<unsigned long long>(p.in_parts));
  for (const auto& part : cpuburn_parts())
    std::printf(" %s %.1f%%", part.fn,
                100.0 * static_cast<double>(p.per_part[part.fn]) / static_cast<double>(p.in_parts));
  std::printf("\n");
  for (const auto& part : cpuburn_parts()) {
    double share = static_cast<double>(p.per_part[part.fn]) / static_cast<double>(p.in_parts);
    EXPECT_NEAR(share, part.share, 0.05) << part.fn << ": " << p.per_part[part.fn] << " of " << p.in_parts;
  }

  uint64_t with_main = 0, inline_ok = 0, burn_b = 0, sys = 0, sys_kernel = 0;
  bool saw_read_path = false;
  for (const auto& s : p.stacks) {
    bool in_part = false;
    for (const auto& part : cpuburn_parts()) in_part = in_part || stack_has(s, part.fn);
    if (!in_part) continue;
    if (stack_has(s, "main")) with_main += s.count;
    for (const auto& f : s.frames) {
      EXPECT_NE(f.rfind("_Z", 0), 0u) << "mangled frame " << f;
      if (frame_is(f, "ebt_sample::Matrix::multiply") || frame_is(f, "burn_a") || frame_is(f, "burn_b") ||
          frame_is(f, "plugin_burn") || frame_is(f, "syscall_storm"))
        EXPECT_FALSE(is_kernel_frame(f)) << f;
    }
    if (stack_has(s, "burn_b")) {
      burn_b += s.count;
      // hot_inner is inlined into burn_b: it must show up below (after) it, marked inline.
      bool after = false;
      for (const auto& f : s.frames) {
        if (frame_is(f, "burn_b")) after = true;
        else if (after && frame_is(f, "hot_inner")) {
          inline_ok += s.count;
          EXPECT_TRUE(is_inline_frame(f)) << "inlined frame not marked _[i]: " << f;
          break;
        }
      }
    }
    if (stack_has(s, "syscall_storm")) {
      sys += s.count;
      size_t i = 0;
      while (i < s.frames.size() && !frame_is(s.frames[i], "syscall_storm")) ++i;
      bool any_kernel = false;
      for (size_t j = i + 1; j < s.frames.size(); ++j) {
        const std::string& f = s.frames[j];
        if (!is_kernel_frame(f)) continue;
        any_kernel = true;
        if (want.kernel_frames) EXPECT_NE(f[0], '[') << "unresolved kernel frame " << f;
        for (const char* fn : {"read_zero", "vfs_read", "ksys_read"})
          if (frame_is(f, fn)) saw_read_path = true;
      }
      if (any_kernel) sys_kernel += s.count;
    }
  }
  EXPECT_GE(static_cast<double>(with_main), 0.95 * static_cast<double>(p.in_parts))
      << "complete, named user stacks (down to main) expected";
  if (want.inline_frames) {
    EXPECT_GE(static_cast<double>(inline_ok), 0.9 * static_cast<double>(burn_b))
        << "the inlined hot_inner should appear under burn_b";
  }
  if (want.kernel_frames) {
    EXPECT_GE(static_cast<double>(sys_kernel), 0.5 * static_cast<double>(sys))
        << "syscall_storm's read()s should show kernel frames (_[k])";
    EXPECT_TRUE(saw_read_path) << "read_zero / vfs_read / ksys_read expected among kernel frames";
  }
}

// Frames of the five parts must NOT be named: used to show that a source of
// symbols (symfs, debuginfod) is what resolves them.
inline void check_unresolved_without_symbols(const std::string& folded) {
  Profile p = profile_of(folded);
  EXPECT_EQ(p.in_parts, 0u) << "without embedded symbols nor a debug source, cpuburn's functions "
                               "cannot be named; folded:\n"
                            << folded.substr(0, 2000);
  EXPECT_NE(folded.find("[cpuburn+0x"), std::string::npos)
      << "unresolved frames should show as [module+0xOFFSET]; folded:\n" << folded.substr(0, 2000);
}

}  // namespace ebt::test
