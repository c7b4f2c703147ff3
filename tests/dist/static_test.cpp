// The static binary (target ebtrace-static, scripts/build-static.sh): no dynamic
// loader and no glibc name-service functions linked in; it checks the kernel,
// records cpuburn and reports it inside a fresh mount namespace whose root holds
// nothing but the binary, /proc, /sys and /dev (tests/dist/bare_root_exec.cpp).
#include <sys/stat.h>

#include <set>

#include <gtest/gtest.h>

#include "tests/bpf_guard.h"
#include "tests/cli/oncpu_e2e.h"

namespace ebt::test {
namespace {

std::string static_bin() { return EBT_STATIC_BIN; }
std::string bare_root_exec() { return EBT_BARE_ROOT_EXEC; }

TEST(Static, IsNotADynamicExecutable) {
  ASSERT_TRUE(fs::exists(static_bin())) << static_bin();
  RunResult ldd = run({"ldd", static_bin()}, timeout(30));
  EXPECT_NE(ldd.exit_code, 0) << ldd.describe();
  EXPECT_NE((ldd.out + ldd.err).find("not a dynamic executable"), std::string::npos) << ldd.describe();
  RunResult elf = run({"readelf", "-lW", static_bin()}, timeout(30));
  ASSERT_EQ(elf.exit_code, 0) << elf.describe();
  EXPECT_EQ(elf.out.find("INTERP"), std::string::npos) << elf.out;
  EXPECT_EQ(elf.out.find("DYNAMIC"), std::string::npos) << elf.out;
  RunResult v = run({static_bin(), "--version"}, timeout(30));
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_EQ(v.out, std::string("ebtrace ") + EBTRACE_VERSION + " (static)\n");
}

// A static glibc still dlopen()s the host's NSS modules for user, group, host and
// service lookups: such calls would need the very glibc version linked in. None may
// be linked in (the static link also fails on glibc's warnings, -Wl,--fatal-warnings),
// nor libdw's dlopen of libdebuginfod (packaging/static/no_debuginfod.c).
TEST(Static, LinksNoNameServiceNorDebuginfodLoader) {
  RunResult nm = run({"nm", "--defined-only", static_bin()}, timeout(60));
  ASSERT_EQ(nm.exit_code, 0) << nm.describe();
  std::set<std::string> defined;
  for (const auto& line : lines_of(nm.out)) {
    auto sp = line.rfind(' ');
    if (sp != std::string::npos) defined.insert(line.substr(sp + 1));
  }
  ASSERT_GT(defined.size(), 1000u) << "symbol table stripped?";
  EXPECT_TRUE(defined.count("main"));
  for (const char* fn : {"getpwnam", "getpwuid", "getpwnam_r", "getpwuid_r", "getgrnam", "getgrgid", "getgrouplist",
                         "getaddrinfo", "gethostbyname", "gethostbyname_r", "getservbyname", "__nss_database_lookup2"})
    EXPECT_FALSE(defined.count(fn)) << fn << " is linked into the static binary";
  EXPECT_TRUE(defined.count("dwfl_get_debuginfod_client"));  // ours, not libdw's loader
  EXPECT_FALSE(defined.count("__libdwfl_debuginfod_init"));
}

TEST(Static, ChecksRecordsAndReportsInABareRoot) {
  EBT_REQUIRE_BPF_OR_SKIP();
  TempDir dir("ebt-static");
  fs::path root = dir / "root";
  for (const char* d : {"proc", "sys", "dev"}) fs::create_directories(root / d);
  fs::copy_file(static_bin(), root / "ebtrace");
  fs::permissions(root / "ebtrace", fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                        fs::perms::others_read | fs::perms::others_exec);
  std::set<std::string> entries;
  for (const auto& e : fs::directory_iterator(root)) entries.insert(e.path().filename());
  ASSERT_EQ(entries, (std::set<std::string>{"dev", "ebtrace", "proc", "sys"}));
  auto in_root = [&](std::vector<std::string> args, double t) {
    args.insert(args.begin(), {bare_root_exec(), root.string(), "/ebtrace"});
    return run(args, timeout(t));
  };

  // Nothing else is there: not even a shell.
  RunResult sh = run({bare_root_exec(), root.string(), "/bin/sh", "-c", "true"}, timeout(30));
  EXPECT_EQ(sh.exit_code, 125) << sh.describe();

  RunResult check = in_root({"record", "--check", "-F", "999"}, 60);
  EXPECT_EQ(check.exit_code, 0) << check.describe();
  EXPECT_NE(check.out.find("ok       profile"), std::string::npos) << check.out;

  // cpuburn runs outside; the recorder inside follows it by pid (same pid namespace,
  // its files reached through /proc/PID/map_files and /proc/PID/root).
  fs::path go = dir / "go";
  Proc burn({cpuburn_dir() + "/cpuburn", "--duration", "3", "--plugin-delay-ms", "0", "--wait-file", go.string()},
            timeout(120));
  ASSERT_TRUE(burn.wait_for_output(
      [](const std::string& o, const std::string&) { return o.find("pid=") != std::string::npos; }, 10))
      << burn.err_so_far();
  Proc recorder({bare_root_exec(), root.string(), "/ebtrace", "record", "-F", "999", "-p", std::to_string(burn.pid()),
                 "--ready-file", "/ready", "-o", "/cap.ebt"},
                timeout(120));
  for (int i = 0; i < 3000 && !fs::exists(root / "ready") && !recorder.poll(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  write_text(go, "go\n");
  RunResult b = burn.wait(60);
  ASSERT_EQ(b.exit_code, 0) << b.describe();
  for (int i = 0; i < 500 && !recorder.poll(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (!recorder.poll()) recorder.signal(SIGINT);
  RunResult rec = recorder.wait(60);
  ASSERT_EQ(rec.exit_code, 0) << rec.describe();
  EXPECT_NE(rec.err.find("ebtrace record:"), std::string::npos) << rec.err;

  RunResult rep = in_root({"report", "/cap.ebt", "--folded"}, 120);
  ASSERT_EQ(rep.exit_code, 0) << rep.describe();
  check_cpuburn_profile(rep.out, Expect{});
  RunResult info = in_root({"info", "/cap.ebt"}, 60);
  EXPECT_EQ(info.exit_code, 0) << info.describe();
}

// The one thing the static binary cannot do, said rather than ignored.
TEST(Static, RefusesDebuginfod) {
  const std::string sample = std::string(EBT_SOURCE_DIR) + "/samples/cpuburn.ebt";
  RunResult r = run({static_bin(), "report", sample, "--debuginfod"}, timeout(60));
  EXPECT_EQ(r.exit_code, 2) << r.describe();
  EXPECT_NE(r.err.find("no debuginfod client"), std::string::npos) << r.err;
  RunOptions o = timeout(60);
  o.env = {"DEBUGINFOD_URLS=http://127.0.0.1:1"};
  RunResult n = run({static_bin(), "report", sample}, o);
  EXPECT_EQ(n.exit_code, 0) << n.describe();
  EXPECT_NE(n.err.find("DEBUGINFOD_URLS is ignored"), std::string::npos) << n.err;
}

}  // namespace
}  // namespace ebt::test
