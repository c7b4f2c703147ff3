// Every report with rows, by container (root + BPF; docs/containers.md): two
// test containers (tests/containers/container_harness.h, sharing the host's
// network so they can talk over 127.0.0.1) serve and call each other over
// HTTP/1.1, a known number of connections each way, recorded by the real
// binary:
//  * record --tcp --container A filters by the SOCKET's cgroup in the kernel:
//    exactly A's 8 connection ends are in the capture (ebtrace dump), among
//    them A's 3 passive opens, whose transitions ran in B's client's context;
//    none of B's ends;
//  * report --tcp --by container: 8 and 8 connections, bytes exact; --container
//    keeps one side and says how many it left out; --otlp spans carry
//    container.name;
//  * report --latency --by container: the HTTP requests per container and role,
//    exact; off-CPU rows per container add up to every interval;
//  * report --skb --by container: every packet of the flows attributed to the
//    container owning the socket that sent it, none unknown;
//  * report --sched --by container: run-queue latency of both containers (their
//    rows add up to all waits and to their processes' rows), preemptions and
//    switches between the two containers on the CPU they share.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <set>

#include <gtest/gtest.h>

#include "tests/bpf_guard.h"
#include "tests/containers/container_harness.h"
#include "tests/offcpu/mini_json.h"

namespace ebt::test {
namespace {

// Ids of this run only (the pid in the last 8 digits): a report takes one
// runtime id for one container, so a concurrent run must not share them.
std::string run_id(const char* prefix56) {
  char pid[9];
  std::snprintf(pid, sizeof pid, "%08x", unsigned(getpid()));
  return std::string(prefix56) + pid;
}
const std::string kIdA = run_id("c0c1c2c3c4c5c6c7c8c9cacbcccdcecf" "e0e1e2e3e4e5e6e7e8e9eaeb");
const std::string kIdB = run_id("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff" "e0e1e2e3e4e5e6e7e8e9eaeb");
const char kAnswer[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";  // burn.c

std::string burn_bin() { return EBT_BURN_BIN; }
std::string request(const std::string& path) {
  return "GET " + path + " HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n";  // burn.c
}

#define EBT_VIEWS_OR_SKIP()                                                                         \
  EBT_REQUIRE_BPF_OR_SKIP();                                                                        \
  do {                                                                                              \
    if (test_cgroup_layout().v2.empty()) {                                                          \
      if (bpf_required()) FAIL() << "no cgroup v2 hierarchy on this machine";                       \
      GTEST_SKIP() << "no cgroup v2 hierarchy";                                                     \
    }                                                                                               \
    if (access("/usr/bin/unshare", X_OK) != 0) FAIL() << "unshare (util-linux) missing";            \
  } while (0)

uint64_t num(const Json& j, const char* key) {
  if (!j.has(key)) return 0;
  const Json& v = j[key];
  return v.type == Json::Type::kNumber ? std::stoull(v.raw_number) : 0;
}
std::string str(const Json& j, const char* key) { return j.has(key) ? j[key].str : ""; }

// A port nobody listens on now (the kernel's choice for an ephemeral bind).
uint16_t free_port() {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  close(s);
  return ntohs(a.sin_port);
}

RunResult report(const fs::path& cap, std::vector<std::string> args) {
  std::vector<std::string> argv{ebtrace_bin(), "report", cap.string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv, timeout(120));
}

Json report_json(const fs::path& cap, std::vector<std::string> args) {
  RunResult r = report(cap, args);
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  try {
    return JsonParser::parse(r.out);
  } catch (const std::exception& e) {
    ADD_FAILURE() << e.what() << "\n" << r.out;
    return {};
  }
}

// pid -> cgroup path, from the capture's process records (what /proc/PID/cgroup
// said while recording: the burn processes may be too short-lived for the
// harness to see them all).
std::map<uint32_t, std::string> cgroup_of(const fs::path& cap) {
  RunResult d = run({ebtrace_bin(), "dump", cap.string(), "--kind", "process"}, timeout(120));
  EXPECT_EQ(d.exit_code, 0) << d.describe();
  std::map<uint32_t, std::string> out;
  for (const auto& l : lines_of(d.out)) {
    Json j = JsonParser::parse(l);
    out[uint32_t(num(j, "pid"))] = str(j, "cgroupPath");
  }
  return out;
}

std::set<uint32_t> pids_in_path(const std::map<uint32_t, std::string>& paths, const std::string& path) {
  std::set<uint32_t> out;
  for (const auto& [pid, p] : paths)
    if (p == path) out.insert(pid);
  return out;
}

const Json* find_row(const Json& rows, const char* key, const std::string& value) {
  for (const Json& r : rows.arr)
    if (str(r, key) == value) return &r;
  return nullptr;
}

TEST(ContainersViews, TcpL7OffCpuAndSkbByContainer) {
  EBT_VIEWS_OR_SKIP();
  TempDir dir("ebt-views");
  TestCgroups cg;
  // Names of this run only: --container must not find a concurrent run's containers.
  const std::string na = "web-a-" + std::to_string(getpid()), nb = "web-b-" + std::to_string(getpid());
  fs::path go = dir / "go";
  const uint16_t pa = free_port();
  uint16_t pb = free_port();
  while (pb == pa) pb = free_port();
  const std::string sa = (dir / std::to_string(pa)).string(), sb = (dir / std::to_string(pb)).string();
  // A serves 3 requests (from B) and makes 5 (to B); B the other way round.
  TestContainer a(cg, "views/docker-" + kIdA + ".scope", na, burn_bin(), go,
                  {"serve " + sa + " 3", "get " + sb + " 5 /from-a"}, /*own_net=*/false);
  TestContainer b(cg, "views/docker-" + kIdB + ".scope", nb, burn_bin(), go,
                  {"serve " + sb + " 5", "get " + sa + " 3 /from-b"}, /*own_net=*/false);
  ASSERT_TRUE(a.wait_started()) << a.describe();
  ASSERT_TRUE(b.wait_started()) << b.describe();
  // Both containers (a cgroup above both: descendants count), one of them, and
  // the packets to A's server port with every TCP connection on that port.
  fs::path both = dir / "both.ebt", only_a = dir / "a.ebt", skb = dir / "skb.ebt";
  Recording rb(both, {"--tcp", "--l7", "--off-cpu", "--off-cpu-min", "1", "--cgroup", cg.path("views")});
  Recording ra(only_a, {"--tcp", "--container", na});
  Recording rs(skb, {"--skb", "--skb-port", std::to_string(pa), "--tcp", "--port", std::to_string(pa)});
  ASSERT_TRUE(rb.ready() && ra.ready() && rs.ready()) << rb.stop().describe() << ra.stop().describe()
                                                      << rs.stop().describe();
  write_text(go, "go\n");
  for (const RunResult& d : TestContainer::wait_all({&a, &b})) ASSERT_EQ(d.exit_code, 0) << d.describe();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the last closes reach the ring buffer
  for (Recording* r : {&rb, &ra, &rs}) {
    RunResult s = r->stop();
    ASSERT_EQ(s.exit_code, 0) << s.describe();
  }
  auto paths = cgroup_of(both);
  std::set<uint32_t> pids_a = pids_in_path(paths, a.path()), pids_b = pids_in_path(paths, b.path());
  ASSERT_GE(pids_a.size(), 2u) << "A's server and client";
  ASSERT_GE(pids_b.size(), 2u) << "B's server and client";

  // --- record --tcp --container web-a: the sockets of A only, in the kernel.
  {
    RunResult d = run({ebtrace_bin(), "dump", only_a.string(), "--kind", "tcpEvent"}, timeout(120));
    ASSERT_EQ(d.exit_code, 0) << d.describe();
    std::map<uint64_t, std::pair<uint64_t, uint64_t>> ports;  // cookie -> (local, remote)
    std::set<uint64_t> owners;
    for (const auto& l : lines_of(d.out)) {
      Json e = JsonParser::parse(l);
      auto& p = ports[num(e, "cookie")];
      if (num(e, "localPort")) p = {num(e, "localPort"), num(e, "remotePort")};
      if (num(e, "pid")) owners.insert(num(e, "pid"));
    }
    size_t served = 0, called = 0;
    for (const auto& [cookie, p] : ports) {
      served += p.first == pa;
      called += p.second == pb;
      EXPECT_TRUE(p.first == pa || p.second == pb) << "a connection end of B: local " << p.first << " remote "
                                                    << p.second << " (A serves " << pa << ", B " << pb << ")";
    }
    std::printf("--tcp --container web-a: %zu connections, %zu served by A, %zu to B\n", ports.size(), served,
                called);
    EXPECT_EQ(ports.size(), 8u);
    EXPECT_EQ(served, 3u) << "A's passive opens (their transitions ran in B's client's context)";
    EXPECT_EQ(called, 5u);
    auto paths_a = cgroup_of(only_a);
    for (uint64_t pid : owners) EXPECT_EQ(paths_a[uint32_t(pid)], a.path()) << "owner " << pid << " is not in A";
  }

  // --- report --tcp --by container: 8 and 8, nothing else; bytes exact.
  {
    Json r = report_json(both, {"--tcp", "--by", "container", "--format", "json"});
    ASSERT_TRUE(r.has("groups")) << "no groups";
    EXPECT_EQ(r["groups"].arr.size(), 2u) << "web-a and web-b only, no [unknown] or [host]";
    for (const std::string& c : {na, nb}) {
      const Json* g = find_row(r["groups"], "key", c);
      ASSERT_NE(g, nullptr) << c;
      EXPECT_EQ(num(*g, "connections"), 8u) << c;
    }
    size_t checked = 0;
    for (const Json& c : r["connections"].arr) {
      uint32_t pid = uint32_t(num(c, "pid"));
      bool in_a = pids_a.count(pid) > 0;
      EXPECT_TRUE(in_a || pids_b.count(pid)) << "owner " << pid;
      EXPECT_EQ(str(c, "container"), in_a ? na : nb) << "pid " << pid;
      EXPECT_EQ(str(c, "container_id"), in_a ? kIdA : kIdB);
      bool client = str(c, "role") == "client";
      // A's calls go to B's port, B's to A's.
      std::string path = (client ? in_a : !in_a) ? "/from-a" : "/from-b";
      uint64_t req = request(path).size(), ans = sizeof kAnswer - 1;
      EXPECT_EQ(num(c, "bytes_tx"), client ? req : ans) << path;
      EXPECT_EQ(num(c, "bytes_rx"), client ? ans : req) << path;
      EXPECT_EQ(str(c, "outcome"), "closed");
      ++checked;
    }
    EXPECT_EQ(checked, 16u);
    Json f = report_json(both, {"--tcp", "--container", na, "--format", "json"});
    EXPECT_EQ(f["connections"].arr.size(), 8u);
    EXPECT_EQ(num(f, "left_out"), 8u);
    EXPECT_EQ(num(f, "left_out_unknown"), 0u);
    RunResult text = report(both, {"--tcp", "--by", "container"});
    ASSERT_EQ(text.exit_code, 0) << text.describe();
    EXPECT_NE(text.out.find(" CONTAINER "), std::string::npos) << text.out;
    EXPECT_NE(text.out.find("# by container"), std::string::npos) << text.out;
    // --otlp: a connection span per end, named by its container.
    fs::path otlp = dir / "spans.json";
    RunResult o = report(both, {"--otlp", otlp.string(), "--container", nb});
    ASSERT_EQ(o.exit_code, 0) << o.describe();
    std::string spans = read_text(otlp);
    auto count = [&](const std::string& needle) {
      size_t n = 0;
      for (size_t p = spans.find(needle); p != std::string::npos; p = spans.find(needle, p + 1)) ++n;
      return n;
    };
    EXPECT_EQ(count("{\"key\":\"container.name\",\"value\":{\"stringValue\":\"" + nb + "\"}}"), 8u);
    EXPECT_EQ(count("{\"key\":\"container.id\",\"value\":{\"stringValue\":\"" + kIdB + "\"}}"), 8u);
    EXPECT_EQ(count("\"" + na + "\""), 0u) << "--container web-b";
  }

  // --- report --latency --by container: requests per container and role, exact.
  {
    RunResult r = report(both, {"--latency", "--by", "container", "--format", "json"});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    std::vector<std::string> docs = lines_of(r.out);
    ASSERT_EQ(docs.size(), 2u) << r.out;  // the off-CPU section, then the L7 one
    Json off = JsonParser::parse(docs[0])["offcpu"];
    uint64_t sum = 0;
    for (const Json& row : off["per_container"].arr) sum += num(row, "count");
    EXPECT_EQ(sum, num(off, "intervals")) << "every interval in one container row";
    for (const std::string& c : {na, nb}) {
      const Json* row = find_row(off["per_container"], "key", c);
      ASSERT_NE(row, nullptr) << c << "\n" << docs[0];
      uint64_t threads = 0;
      for (const Json& t : off["per_thread"].arr)
        if ((c == na ? pids_a : pids_b).count(uint32_t(num(t, "pid")))) threads += num(t, "count");
      EXPECT_EQ(num(*row, "count"), threads) << c << ": the container's threads' intervals";
      EXPECT_GT(threads, 0u) << c;
    }
    Json l7 = JsonParser::parse(docs[1]);
    std::map<std::string, uint64_t> got;
    for (const Json& row : l7["rows"].arr)
      got[str(row, "container") + " " + str(row, "role") + " " + str(row, "request") + " " +
          std::to_string(num(row, "status"))] += num(row, "count");
    std::map<std::string, uint64_t> want = {{na + " client GET /from-a 200", 5},
                                            {nb + " server GET /from-a 200", 5},
                                            {nb + " client GET /from-b 200", 3},
                                            {na + " server GET /from-b 200", 3}};
    EXPECT_EQ(got, want) << docs[1];
  }

  // --- report --skb --by container: packets by the owner of the socket that sent them.
  {
    Json r = report_json(skb, {"--skb", "--by", "container", "--format", "json"});
    ASSERT_TRUE(r.has("containers")) << "no containers table";
    uint64_t sum = 0;
    for (const Json& row : r["containers"].arr) sum += num(row, "packets");
    EXPECT_EQ(sum, num(r, "packets")) << "every packet in one row";
    EXPECT_EQ(find_row(r["containers"], "container", "[unknown]"), nullptr)
        << "every packet to or from A's port has a known socket";
    const Json* ca = find_row(r["containers"], "container", na);
    const Json* cb = find_row(r["containers"], "container", nb);
    ASSERT_TRUE(ca && cb) << "both containers";
    // B's client sent the requests, A's server the answers; each packet has a sender.
    EXPECT_GT(num(*ca, "packets"), 0u);
    EXPECT_GT(num(*cb, "packets"), 0u);
    EXPECT_EQ(num(*ca, "sent"), num(*ca, "packets"));
    EXPECT_EQ(num(*cb, "sent"), num(*cb, "packets"));
    std::printf("--skb --by container: %llu packets, web-a %llu, web-b %llu\n",
                (unsigned long long)num(r, "packets"), (unsigned long long)num(*ca, "packets"),
                (unsigned long long)num(*cb, "packets"));
    Json f = report_json(skb, {"--skb", "--container", nb, "--format", "json"});
    EXPECT_EQ(num(f, "packets"), num(*cb, "packets"));
    EXPECT_EQ(num(f, "left_out"), num(r, "packets") - num(*cb, "packets"));
  }
}

TEST(ContainersViews, SchedByContainer) {
  EBT_VIEWS_OR_SKIP();
  TempDir dir("ebt-views");
  TestCgroups cg;
  const std::string na = "rq-a-" + std::to_string(getpid()), nb = "rq-b-" + std::to_string(getpid());
  fs::path go = dir / "go";
  // Three CPU burners on one CPU (two in A, one in B): each waits for the
  // others on the run queue and preempts them.
  TestContainer a(cg, "sched/docker-" + kIdA + ".scope", na, burn_bin(), go, {"pin 0 cpu 300", "pin 0 cpu 300"});
  TestContainer b(cg, "sched/docker-" + kIdB + ".scope", nb, burn_bin(), go, {"pin 0 cpu 300"});
  ASSERT_TRUE(a.wait_started()) << a.describe();
  ASSERT_TRUE(b.wait_started()) << b.describe();
  fs::path cap = dir / "sched.ebt";
  Recording rec(cap, {"--sched", "-a"});
  ASSERT_TRUE(rec.ready()) << rec.stop().describe();
  write_text(go, "go\n");
  for (const RunResult& d : TestContainer::wait_all({&a, &b})) ASSERT_EQ(d.exit_code, 0) << d.describe();
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));  // one more read of the kernel's tables
  RunResult s = rec.stop();
  ASSERT_EQ(s.exit_code, 0) << s.describe();

  auto paths = cgroup_of(cap);
  Json r = report_json(cap, {"--sched", "--by", "container", "--format", "json"})["sched"];
  uint64_t sum = 0;
  for (const Json& row : r["per_container"].arr) sum += num(row, "waits");
  EXPECT_EQ(sum, num(r["all"], "waits")) << "every wait in one container row";
  for (auto [name, c] : {std::pair{na, &a}, std::pair{nb, &b}}) {
    const Json* row = find_row(r["per_container"], "key", name);
    ASSERT_NE(row, nullptr) << name;
    uint64_t procs = 0;
    for (const Json& p : r["per_process"].arr)
      if (paths[uint32_t(num(p, "pid"))] == c->path()) procs += num(p, "waits");
    EXPECT_EQ(num(*row, "waits"), procs) << name << ": its processes' waits";
    EXPECT_GE(procs, 3u) << name << ": burners sharing a CPU wait for it";
    EXPECT_GT(num(*row, "p99_ns"), 0u) << name;
    EXPECT_GE(num(*row, "max_ns"), num(*row, "p99_ns")) << name;
    EXPECT_FALSE((*row)["slots"].arr.empty()) << name << ": its histogram";
  }
  // Preemptions by container add up to every preemption; A's burners were preempted by A or B.
  uint64_t preempted = 0, a_by_ab = 0;
  for (const Json& p : r["container_preemptions"].arr) {
    preempted += num(p, "count");
    if (str(p, "container") == na && (str(p, "by") == na || str(p, "by") == nb)) a_by_ab += num(p, "count");
  }
  uint64_t all_preempted = 0;
  for (const Json& p : r["preemptions"].arr) all_preempted += num(p, "count");
  EXPECT_EQ(preempted, all_preempted);
  EXPECT_GT(a_by_ab, 0u) << "rq-a's burners preempted by the other burners";
  // The CPU they shared switched between the two containers.
  uint64_t cross = 0;
  for (const Json& p : r["cross_container"].arr)
    if ((str(p, "from") == na && str(p, "to") == nb) || (str(p, "from") == nb && str(p, "to") == na))
      cross += num(p, "count");
  EXPECT_GT(cross, 0u) << "switches between rq-a and rq-b";

  // --container: only that container's threads.
  Json f = report_json(cap, {"--sched", "--container", nb, "--format", "json"})["sched"];
  ASSERT_FALSE(f["per_process"].arr.empty());
  for (const Json& p : f["per_process"].arr)
    EXPECT_EQ(paths[uint32_t(num(p, "pid"))], b.path()) << str(p, "key") << " is not in rq-b";
  RunResult text = report(cap, {"--sched", "--by", "container"});
  ASSERT_EQ(text.exit_code, 0) << text.describe();
  EXPECT_NE(text.out.find("Run-queue latency per container"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("container " + na + ": "), std::string::npos) << text.out;
}

}  // namespace
}  // namespace ebt::test
