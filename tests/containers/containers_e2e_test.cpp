// Containers end to end (root + BPF; docs/containers.md): test containers made
// here (tests/containers/container_harness.h: a cgroup and new pid, mount, uts
// and net namespaces each, no runtime needed) recorded by the real binary.
//  * report --by container: CPU shares at the ratio the workloads burn (CPU
//    time, so machine load does not matter), container ids, hostnames and the
//    pids the processes have inside;
//  * record --cgroup / --container filter in the kernel: no sample, off-CPU
//    interval or syscall of another cgroup is in the capture (ebtrace dump);
//  * cgroup ids equal the kernel's (name_to_handle_at's id is what
//    bpf_get_current_cgroup_id() returns) on this machine's layout, on a
//    cgroup2 mount of its own (unified layout) and with cgroup v2 hidden (v1 only).
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <set>

#include <gtest/gtest.h>

#include "tests/bpf_guard.h"
#include "tests/containers/container_harness.h"
#include "tests/offcpu/mini_json.h"

namespace ebt::test {
namespace {

const std::string kIdA = "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf" "b0b1b2b3b4b5b6b7b8b9babbbcbdbebf";
const std::string kIdB = "a0a1a2c3c4c5c6c7c8c9cacbcccdcecf" "d0d1d2d3d4d5d6d7d8d9dadbdcdddedf";
const std::string kPodUid = "6f1e2d3c-4b5a-4697-8a1b-2c3d4e5f6a7b";

std::string burn_bin() { return EBT_BURN_BIN; }

#define EBT_CONTAINERS_OR_SKIP()                                                                    \
  EBT_REQUIRE_BPF_OR_SKIP();                                                                        \
  do {                                                                                              \
    if (test_cgroup_layout().v2.empty()) {                                                          \
      if (bpf_required()) FAIL() << "no cgroup v2 hierarchy on this machine";                       \
      GTEST_SKIP() << "no cgroup v2 hierarchy";                                                     \
    }                                                                                               \
    if (access("/usr/bin/unshare", X_OK) != 0) FAIL() << "unshare (util-linux) missing";            \
  } while (0)

std::vector<Json> dump(const fs::path& cap, const std::string& kinds) {
  RunResult r = run({ebtrace_bin(), "dump", cap.string(), "--kind", kinds}, timeout(120));
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  std::vector<Json> out;
  for (const auto& l : lines_of(r.out)) out.push_back(JsonParser::parse(l));
  return out;
}

uint64_t num(const Json& j, const char* key) {
  if (!j.has(key)) return 0;
  const Json& v = j[key];
  return v.type == Json::Type::kNumber ? std::stoull(v.raw_number) : 0;
}
std::string str(const Json& j, const char* key) { return j.has(key) ? j[key].str : ""; }

uint64_t dir_ino(const std::string& dir) {
  struct stat st {};
  return stat(dir.c_str(), &st) == 0 ? uint64_t(st.st_ino) : 0;
}

// One line of the Containers table whose Container column is `label`.
struct ContainerLine {
  double percent = -1;
  uint64_t weight = 0;
  std::string line;
};
ContainerLine container_line(const std::string& report, const std::string& label) {
  bool in = false;
  for (const auto& l : lines_of(report)) {
    if (l == "# Containers") in = true;
    else if (in && l.rfind("# Processes", 0) == 0) break;
    if (!in || l[0] == '#') continue;
    std::istringstream is(l);
    std::string pct, w, name;
    is >> pct >> w >> name;
    if (name != label) continue;
    ContainerLine c;
    c.percent = std::atof(pct.c_str());
    c.weight = std::strtoull(w.c_str(), nullptr, 10);
    c.line = l;
    return c;
  }
  return {};
}

TEST(ContainersE2E, ReportByContainerShowsTheRatioIdsHostnamesAndInnerPids) {
  EBT_CONTAINERS_OR_SKIP();
  TempDir dir("ebt-ctr");
  TestCgroups cg;
  fs::path go = dir / "go";
  // CPU time, not wall time: 1 x 300 ms against 3 x 300 ms is 25 % : 75 % however loaded the machine is.
  TestContainer a(cg, "docker-" + kIdA + ".scope", "ctr-a", burn_bin(), go, {"cpu 300"});
  TestContainer b(cg, "kubepods/burstable/pod" + kPodUid + "/" + kIdB, "ctr-b", burn_bin(), go,
                  {"cpu 300", "cpu 300", "cpu 300"});
  ASSERT_TRUE(a.wait_started()) << a.describe();
  ASSERT_TRUE(b.wait_started()) << b.describe();
  fs::path cap = dir / "ctr.ebt";
  Recording rec(cap, {"-a", "-F", "997"});
  ASSERT_TRUE(rec.ready()) << rec.stop().describe();
  write_text(go, "go\n");
  auto done = TestContainer::wait_all({&a, &b});
  RunResult ra = done[0], rb = done[1];
  RunResult r = rec.stop();
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  ASSERT_EQ(ra.exit_code, 0) << ra.describe();
  ASSERT_EQ(rb.exit_code, 0) << rb.describe();

  RunResult rep = run({ebtrace_bin(), "report", cap.string(), "--by", "container", "--top", "200"}, timeout(120));
  ASSERT_EQ(rep.exit_code, 0) << rep.describe();
  ContainerLine la = container_line(rep.out, "ctr-a"), lb = container_line(rep.out, "ctr-b");
  ASSERT_GT(la.weight, 0u) << rep.out;
  ASSERT_GT(lb.weight, 0u) << rep.out;
  double share_a = 100.0 * double(la.weight) / double(la.weight + lb.weight);
  std::printf("ctr-a %llu samples, ctr-b %llu samples: %.1f %% : %.1f %% (expected 25 : 75)\n",
              (unsigned long long)la.weight, (unsigned long long)lb.weight, share_a, 100 - share_a);
  EXPECT_NEAR(share_a, 25.0, 5.0) << la.line << "\n" << lb.line;
  EXPECT_GE(la.weight + lb.weight, 600u) << "1.2 s of CPU at 997 Hz";
  // Runtime, short id and hostname as the cgroup paths and namespaces say.
  EXPECT_NE(la.line.find(" docker "), std::string::npos) << la.line;
  EXPECT_NE(la.line.find(kIdA.substr(0, 12)), std::string::npos) << la.line;
  EXPECT_NE(la.line.find(" ctr-a "), std::string::npos) << la.line;
  EXPECT_NE(lb.line.find(" containerd "), std::string::npos) << lb.line;
  EXPECT_NE(lb.line.find(kIdB.substr(0, 12)), std::string::npos) << lb.line;
  EXPECT_NE(lb.line.find("pod " + kPodUid + " (burstable)"), std::string::npos) << lb.line;
  // Every burn process with its host pid and the pid it has inside.
  size_t burners = 0;
  for (const auto* c : {&a, &b})
    for (const auto& [host, inner] : c->inner_pids()) {
      std::string want = " burn " + std::to_string(host) + "/" + std::to_string(inner);
      const std::string& line = c == &a ? la.line : lb.line;
      if (line.find(want) != std::string::npos) ++burners;
    }
  EXPECT_GE(burners, 4u) << "1 + 3 burn processes with host/inner pids\n" << la.line << "\n" << lb.line;

  // The capture's cgroup records: ids as the kernel numbers the directories, net namespaces.
  bool seen_a = false, seen_b = false;
  for (const Json& j : dump(cap, "cgroup")) {
    for (auto* c : {&a, &b}) {
      if (str(j, "path") != c->path()) continue;
      (c == &a ? seen_a : seen_b) = true;
      EXPECT_EQ(num(j, "id"), dir_ino(c->v2_dir())) << c->path();
      EXPECT_EQ(str(j, "hostname"), c->hostname());
      EXPECT_EQ(num(j, "netNs"), c->net_ns()) << c->path();
      EXPECT_EQ(str(j, "name"), c->hostname()) << "no runtime name: the hostname";
    }
  }
  EXPECT_TRUE(seen_a && seen_b) << "cgroup records of both containers";

  // --container filters the report; --group container puts a root frame on each stack.
  RunResult only = run({ebtrace_bin(), "report", cap.string(), "--container", "ctr-a", "--by", "container"}, timeout(120));
  ASSERT_EQ(only.exit_code, 0) << only.describe();
  EXPECT_GT(container_line(only.out, "ctr-a").weight, 0u) << only.out;
  EXPECT_EQ(container_line(only.out, "ctr-b").weight, 0u) << only.out;
  RunResult folded = run({ebtrace_bin(), "report", cap.string(), "--folded", "--group", "container",
                          "--container", kIdB.substr(0, 8)}, timeout(120));
  ASSERT_EQ(folded.exit_code, 0) << folded.describe();
  auto stacks = parse_folded(folded.out);
  ASSERT_FALSE(stacks.empty()) << folded.describe();
  uint64_t under_b = 0;
  for (const auto& s : stacks) {
    EXPECT_EQ(s.frames.front(), "[container: ctr-b]") << "only ctr-b, under its frame";
    if (s.frames.front() == "[container: ctr-b]") under_b += s.count;
  }
  EXPECT_EQ(under_b, lb.weight);

  // --trace --group container: one track group (process) per container.
  fs::path trace = dir / "trace.json";
  RunResult tr = run({ebtrace_bin(), "report", cap.string(), "--trace", trace.string(), "--group", "container"},
                     timeout(120));
  ASSERT_EQ(tr.exit_code, 0) << tr.describe();
  Json doc = JsonParser::parse(read_text(trace));
  std::map<std::string, uint64_t> group_of_name;
  std::set<uint64_t> slice_pids;
  for (const Json& e : doc["traceEvents"].arr) {
    if (str(e, "ph") == "M" && str(e, "name") == "process_name")
      group_of_name[e["args"]["name"].str] = num(e, "pid");
    if (str(e, "ph") == "X") slice_pids.insert(num(e, "pid"));
  }
  uint64_t ga = 0, gb = 0;
  for (const auto& [name, pid] : group_of_name) {
    if (name.rfind("container ctr-a ", 0) == 0) ga = pid;
    if (name.rfind("container ctr-b ", 0) == 0) gb = pid;
  }
  ASSERT_NE(ga, 0u) << "no track group for ctr-a";
  ASSERT_NE(gb, 0u) << "no track group for ctr-b";
  EXPECT_TRUE(slice_pids.count(ga) && slice_pids.count(gb));
  for (auto* c : {&a, &b})
    for (uint32_t p : c->host_pids()) EXPECT_FALSE(slice_pids.count(p)) << "pid " << p << " outside its group";

  // --pprof: every sample of a container carries its name and short id as
  // labels, read back by the real client (go tool pprof -tags).
  fs::path prof = dir / "ctr.pb.gz";
  RunResult pp = run({ebtrace_bin(), "report", cap.string(), "--pprof", prof.string()}, timeout(120));
  ASSERT_EQ(pp.exit_code, 0) << pp.describe();
  fs::path home = dir / "gohome";
  fs::create_directories(home);
  RunResult tags = run({"env", "HOME=" + home.string(), "GOCACHE=" + (home / "cache").string(),
                        "PPROF_TMPDIR=" + home.string(), "PPROF_BINARY_PATH=/nonexistent", "go", "tool", "pprof",
                        "-tags", prof.string()},
                       timeout(180));
  ASSERT_EQ(tags.exit_code, 0) << tags.describe();
  for (const std::string& want : std::vector<std::string>{"): ctr-a\n", "): ctr-b\n", "): " + kIdA.substr(0, 12) + "\n",
                                  "): " + kIdB.substr(0, 12) + "\n", " container: Total", " container_id: Total"})
    EXPECT_NE(tags.out.find(want), std::string::npos) << want << "\n" << tags.out;
}

// Every event of the capture belongs to a process of the cgroup (or below it).
void expect_only_cgroup(const fs::path& cap, const std::string& cgroup, const std::set<uint32_t>& others,
                        const std::string& what) {
  std::map<uint32_t, std::string> path_of;
  std::map<std::string, uint64_t> events;
  std::vector<std::pair<std::string, uint32_t>> strays;
  for (const Json& j : dump(cap, "process,cpuSample,offCpuInterval,syscallEvent")) {
    std::string k = str(j, "_kind");
    if (k == "process") {
      path_of[uint32_t(num(j, "pid"))] = str(j, "cgroupPath");
      continue;
    }
    uint32_t pid = uint32_t(num(j, "pid"));
    events[k]++;
    auto p = path_of.find(pid);
    bool inside = p != path_of.end() && (p->second == cgroup || p->second.rfind(cgroup + "/", 0) == 0);
    if (!inside || others.count(pid)) strays.emplace_back(k, pid);
  }
  std::printf("%s: %llu samples, %llu off-CPU intervals, %llu syscalls, %zu from elsewhere\n", what.c_str(),
              (unsigned long long)events["cpuSample"], (unsigned long long)events["offCpuInterval"],
              (unsigned long long)events["syscallEvent"], strays.size());
  EXPECT_TRUE(strays.empty()) << what << ": " << strays.size() << " events of other cgroups, e.g. "
                              << (strays.empty() ? "" : strays[0].first + " pid " + std::to_string(strays[0].second));
  EXPECT_GE(events["cpuSample"], 50u) << what;
  EXPECT_GE(events["offCpuInterval"], 10u) << what;
  EXPECT_GE(events["syscallEvent"], 1000u) << what;
}

TEST(ContainersE2E, CgroupAndContainerFilterInTheKernel) {
  EBT_CONTAINERS_OR_SKIP();
  TempDir dir("ebt-ctr");
  TestCgroups cg;
  // CPU, then read/write syscalls, then sleeps: all three families, in both containers.
  const std::vector<std::string> work = {"cpu 250 io 3000 sleep 20 5", "sleep 20 5 io 2000"};
  for (const char* how : {"cgroup", "container"}) {
    fs::path go = dir / (std::string("go-") + how);
    std::string tag = std::string(how) == "cgroup" ? "c" : "n";
    // a's processes sit one level below the cgroup given to --cgroup: descendants count.
    TestContainer a(cg, tag + "a/docker-" + kIdA + ".scope", "flt-a-" + tag, burn_bin(), go, work);
    TestContainer b(cg, tag + "b/docker-" + kIdB + ".scope", "flt-b-" + tag, burn_bin(), go, work);
    ASSERT_TRUE(a.wait_started()) << a.describe();
    ASSERT_TRUE(b.wait_started()) << b.describe();
    fs::path cap = dir / (std::string(how) + ".ebt");
    std::vector<std::string> args = {"-F", "499", "--off-cpu", "--off-cpu-min", "1", "--syscalls", "--all-fds"};
    if (std::string(how) == "cgroup") {
      args.insert(args.end(), {"--cgroup", cg.path(tag + "a")});
    } else {
      args.insert(args.end(), {"--container", "flt-a-" + tag});
    }
    Recording rec(cap, args);
    ASSERT_TRUE(rec.ready()) << rec.stop().describe();
    write_text(go, "go\n");
    for (const RunResult& d : TestContainer::wait_all({&a, &b})) ASSERT_EQ(d.exit_code, 0) << d.describe();
    RunResult r = rec.stop();
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    std::string filter = std::string(how) == "cgroup" ? cg.path(tag + "a") : a.path();
    expect_only_cgroup(cap, filter, b.host_pids(), std::string("--") + how);
  }
}

TEST(ContainersE2E, UnknownAmbiguousAndIneffectiveTargetsAreRefused) {
  EBT_CONTAINERS_OR_SKIP();
  TempDir dir("ebt-ctr");
  TestCgroups cg;
  fs::path go = dir / "go";
  TestContainer a(cg, "docker-" + kIdA + ".scope", "amb-a", burn_bin(), go, {"cpu 1"});
  TestContainer b(cg, "docker-" + kIdB + ".scope", "amb-b", burn_bin(), go, {"cpu 1"});
  ASSERT_TRUE(a.wait_started()) << a.describe();
  ASSERT_TRUE(b.wait_started()) << b.describe();
  auto refused = [&](std::vector<std::string> args, const std::string& says) {
    std::vector<std::string> argv{ebtrace_bin(), "record", "-o", (dir / "x.ebt").string(), "-d", "1"};
    argv.insert(argv.end(), args.begin(), args.end());
    RunResult r = run(argv, timeout(60));
    EXPECT_EQ(r.exit_code, 2) << r.describe();
    EXPECT_NE(r.err.find(says), std::string::npos) << r.describe();
    size_t errors = 0;
    for (const auto& l : lines_of(r.err)) errors += l.find("error") != std::string::npos;
    EXPECT_EQ(errors, 1u) << "one line: " << r.err;
  };
  refused({"--container", "no-such-container"}, "no running container");
  refused({"--container", kIdA.substr(0, 6)}, "ambiguous");  // both ids start a0a1a2
  refused({"--cgroup", cg.path("nope")}, "no such cgroup");
  refused({"--cgroup", a.path(), "--skb"}, "--skb");
  refused({"--cgroup", a.path(), "-p", "1"}, "-p/--tid");
  refused({"--cgroup", a.path(), "--container", "amb-a"}, "give one");
  if (!cg.systemd_dir("").empty() && cg.layout().hybrid)
    refused({"--cgroup", cg.systemd_dir("")}, "cgroup v1 directory");
  // An unambiguous prefix and the hostname resolve (nothing to record: -d 1).
  for (const std::string& q : {kIdA.substr(0, 7), std::string("amb-b")}) {
    RunResult r = run({ebtrace_bin(), "record", "-o", (dir / "ok.ebt").string(), "-d", "1", "--container", q},
                      timeout(60));
    EXPECT_EQ(r.exit_code, 0) << r.describe();
  }
  write_text(go, "go\n");
  a.wait_done();
  b.wait_done();
}

// The process records' cgroup ids against the kernel's numbering of the
// directories, with the recorder seeing the layout through `prefix` (a shell
// command run in a private mount namespace before exec'ing the recorder).
void check_ids(const TempDir& dir, const TestCgroups& cg, const std::string& name, const std::string& prefix,
               bool v1_only) {
  fs::path go = dir / ("go-" + name);
  TestContainer a(cg, "ids-" + name, "ids-" + name, burn_bin(), go, {"cpu 100"});
  ASSERT_TRUE(a.wait_started()) << a.describe();
  fs::path cap = dir / (name + ".ebt");
  fs::path ready = dir / (name + ".ready");
  std::string cmd = prefix + "exec " + ebtrace_bin() + " record -a -F 199 -o " + cap.string() + " --ready-file " +
                    ready.string();
  Proc rec({"unshare", "--mount", "--propagation", "private", "sh", "-c", cmd}, timeout(120));
  for (int i = 0; i < 3000 && !fs::exists(ready) && !rec.poll(); i++)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_TRUE(fs::exists(ready)) << rec.wait(5).describe();
  write_text(go, "go\n");
  a.wait_done();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  rec.signal(SIGINT);
  RunResult r = rec.wait(120);
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  uint64_t want = v1_only ? 1 : dir_ino(a.v2_dir());
  std::string want_path = a.path();
  size_t checked = 0;
  std::string hierarchy;
  for (const Json& j : dump(cap, "process,cgroup")) {
    if (str(j, "_kind") == "cgroup") {
      if (str(j, "path") == want_path) hierarchy = str(j, "hierarchy");
      continue;
    }
    if (!a.host_pids().count(uint32_t(num(j, "pid")))) continue;
    EXPECT_EQ(str(j, "cgroupPath"), want_path) << name;
    EXPECT_EQ(num(j, "cgroupId"), want) << name << ": pid " << num(j, "pid");
    ++checked;
  }
  EXPECT_GE(checked, 1u) << name << ": no process record of the container";
  EXPECT_EQ(hierarchy, v1_only ? "v1 name=systemd" : cg.layout().hybrid && name == "host" ? "v2 (hybrid)" : "v2")
      << name;
  RunResult info = run({ebtrace_bin(), "info", cap.string()}, timeout(60));
  EXPECT_EQ(info.exit_code, 0) << info.describe();
  if (v1_only) EXPECT_NE(info.out.find("v1 only"), std::string::npos) << info.out;
}

TEST(ContainersE2E, CgroupIdsOnThisLayoutOnAUnifiedMountAndV1Only) {
  EBT_CONTAINERS_OR_SKIP();
  TempDir dir("ebt-ctr");
  TestCgroups cg;
  check_ids(dir, cg, "host", "", false);
  // The unified layout: cgroup2 mounted over /sys/fs/cgroup in the recorder's mount namespace.
  check_ids(dir, cg, "unified", "mount -t cgroup2 none /sys/fs/cgroup && ", false);
  if (cg.layout().hybrid && !cg.layout().systemd.empty()) {
    // v1 only: the recorder no longer sees a cgroup2 mount (bpf_get_current_cgroup_id() still
    // numbers the v2 hierarchy, where every task is in the root: 1); the path is name=systemd's.
    check_ids(dir, cg, "v1", "umount -l " + cg.layout().v2 + " && ", true);
  }
}

}  // namespace
}  // namespace ebt::test
