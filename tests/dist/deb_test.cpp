// scripts/build-deb.sh: the package installs with dpkg into a clean root made
// here (an empty dpkg database), its binary runs there with exactly the
// libraries of the packages it declares in Depends, `man ebtrace-record` reads its
// man page, lintian finds no error, and it removes without leaving a file.
#include <set>

#include <gtest/gtest.h>

#include "tests/cli/cli_harness.h"

namespace ebt::test {
namespace {

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

TEST(Deb, InstallsIntoACleanRootRunsAndRemovesCleanly) {
  if (geteuid() != 0) GTEST_SKIP() << "dpkg --root and chroot need root";
  RunResult b = run({std::string(EBT_SOURCE_DIR) + "/scripts/build-deb.sh", EBT_BINARY_DIR}, timeout(900));
  ASSERT_EQ(b.exit_code, 0) << b.describe();
  auto out_lines = lines_of(b.out);
  ASSERT_FALSE(out_lines.empty());
  fs::path deb = out_lines.back();
  ASSERT_TRUE(fs::exists(deb)) << deb;
  EXPECT_EQ(deb.filename().string().rfind(std::string("ebtrace_") + EBTRACE_VERSION + "_", 0), 0u) << deb;

  // Depends comes from dpkg-shlibdeps: one package per shared library.
  std::string depends = trim(run({"dpkg-deb", "-f", deb.string(), "Depends"}, timeout(30)).out);
  std::set<std::string> dep_pkgs;
  for (size_t p = 0; p < depends.size();) {
    size_t c = depends.find(',', p);
    std::string item = depends.substr(p, c == std::string::npos ? std::string::npos : c - p);
    item.erase(0, item.find_first_not_of(' '));
    dep_pkgs.insert(item.substr(0, item.find_first_of(" (")));
    if (c == std::string::npos) break;
    p = c + 1;
  }
  for (const char* need : {"libbpf1", "libdw1", "libelf1", "libc6", "libstdc++6"})
    EXPECT_TRUE(dep_pkgs.count(need)) << need << " missing from Depends: " << depends;

  TempDir dir("ebt-deb");
  fs::path root = dir / "root";
  for (const char* d : {"var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers"})
    fs::create_directories(root / d);
  write_text(root / "var/lib/dpkg/status", "");
  // The root is empty on purpose: the dependencies cannot be installed there
  // offline, so they are forced, and checked below by running the binary with
  // only the libraries of the packages named in Depends.
  RunResult inst = run({"dpkg", "--root=" + root.string(), "--force-depends", "--force-script-chrootless", "-i",
                        deb.string()},
                       timeout(120));
  ASSERT_EQ(inst.exit_code, 0) << inst.describe();
  std::vector<std::string> files;
  RunResult list = run({"dpkg-query", "--root=" + root.string(), "-L", "ebtrace"}, timeout(30));
  ASSERT_EQ(list.exit_code, 0) << list.describe();
  for (const auto& l : lines_of(list.out))
    if (fs::is_regular_file(root / fs::path(l).relative_path())) files.push_back(l);
  for (const char* want : {"/usr/bin/ebtrace", "/usr/share/man/man1/ebtrace.1.gz", "/usr/share/man/man1/ebtrace-record.1.gz",
                           "/usr/share/man/man1/ebtrace-report.1.gz", "/usr/share/bash-completion/completions/ebtrace",
                           "/usr/share/doc/ebtrace/copyright", "/usr/share/doc/ebtrace/changelog.gz",
                           "/usr/share/doc/ebtrace/README.md", "/usr/share/doc/ebtrace/docs/install.md"})
    EXPECT_NE(std::find(files.begin(), files.end(), want), files.end()) << want << " not installed:\n" << list.out;

  // Every library the binary links directly (NEEDED) belongs to a package in
  // Depends; with those and their own dependencies copied in, it runs in the root.
  fs::path bin = root / "usr/bin/ebtrace";
  std::set<std::string> needed;
  RunResult dyn = run({"readelf", "-dW", bin.string()}, timeout(30));
  for (const auto& l : lines_of(dyn.out)) {
    auto o = l.find("(NEEDED)");
    auto lb = l.find('[', o), rb = l.find(']', lb);
    if (o != std::string::npos && lb != std::string::npos) needed.insert(l.substr(lb + 1, rb - lb - 1));
  }
  EXPECT_GE(needed.size(), 8u) << dyn.out;
  RunResult ldd = run({"ldd", bin.string()}, timeout(30));
  ASSERT_EQ(ldd.exit_code, 0) << ldd.describe();
  int libs = 0;
  for (const auto& l : lines_of(ldd.out)) {
    auto arrow = l.find("=> ");
    std::string path = arrow != std::string::npos ? l.substr(arrow + 3) : l.substr(l.find_first_not_of(" \t"));
    path = path.substr(0, path.find(' '));
    if (path.empty() || path[0] != '/') continue;  // the vDSO
    std::string soname = l.substr(l.find_first_not_of(" \t"));
    soname = soname.substr(0, soname.find(' '));
    fs::create_directories((root / fs::path(path).relative_path()).parent_path());
    fs::copy_file(fs::canonical(path), root / fs::path(path).relative_path(), fs::copy_options::overwrite_existing);
    libs++;
    if (!needed.count(soname)) continue;  // the loader, or a dependency of a dependency
    RunResult owner = run({"dpkg", "-S", path}, timeout(30));
    if (owner.exit_code != 0) owner = run({"dpkg", "-S", fs::canonical(path).string()}, timeout(30));
    ASSERT_EQ(owner.exit_code, 0) << path << ": " << owner.describe();
    std::string pkg = owner.out.substr(0, owner.out.find(':'));
    EXPECT_TRUE(dep_pkgs.count(pkg)) << path << " comes from " << pkg << ", not in Depends: " << depends;
    needed.erase(soname);
  }
  EXPECT_TRUE(needed.empty()) << "NEEDED but not found by ldd: " << *needed.begin();
  EXPECT_GE(libs, 8) << ldd.out;
  RunResult v = run({"chroot", root.string(), "/usr/bin/ebtrace", "--version"}, timeout(30));
  EXPECT_EQ(v.exit_code, 0) << v.describe();
  EXPECT_EQ(v.out, std::string("ebtrace ") + EBTRACE_VERSION + "\n");

  RunOptions mo = timeout(60);
  mo.env = {"MANPAGER=cat", "MANWIDTH=100", "LANG=C"};
  RunResult man = run({"man", "-M", (root / "usr/share/man").string(), "ebtrace-record"}, mo);
  EXPECT_EQ(man.exit_code, 0) << man.describe();
  EXPECT_NE(man.out.find("ebtrace-record"), std::string::npos) << man.out.substr(0, 2000);
  EXPECT_NE(man.out.find("--freq"), std::string::npos) << man.out.substr(0, 2000);
  EXPECT_NE(man.out.find("SEE ALSO"), std::string::npos) << man.out.substr(0, 2000);
  EXPECT_EQ(run({"bash", "-n", (root / "usr/share/bash-completion/completions/ebtrace").string()}, timeout(30)).exit_code, 0);

  {  // scripts/setup-deps.sh --with-tests installs lintian
    RunResult lint = run({"lintian", "--tag-display-limit", "0", deb.string()}, timeout(300));
    EXPECT_EQ(lint.exit_code, 0) << lint.describe();
    for (const auto& l : lines_of(lint.out))  // clean: no error, no warning
      EXPECT_TRUE(l.rfind("E: ", 0) != 0 && l.rfind("W: ", 0) != 0) << "lintian: " << l;
  }

  // Removal: the package's files go, the libraries this test copied in stay.
  RunResult rm = run({"dpkg", "--root=" + root.string(), "--force-script-chrootless", "--purge", "ebtrace"}, timeout(120));
  ASSERT_EQ(rm.exit_code, 0) << rm.describe();
  for (const auto& f : files) EXPECT_FALSE(fs::exists(root / fs::path(f).relative_path())) << f << " left behind";
  EXPECT_FALSE(fs::exists(root / "usr/share/doc/ebtrace"));
  EXPECT_NE(run({"dpkg-query", "--root=" + root.string(), "-W", "ebtrace"}, timeout(30)).exit_code, 0);
}

}  // namespace
}  // namespace ebt::test
