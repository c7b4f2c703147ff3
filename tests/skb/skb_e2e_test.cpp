// --skb end to end, as root with real BPF, on real packets: two network
// namespaces joined by a veth pair (created here, nothing leaves them), UDP
// datagrams to a listening and to a closed port, a TCP transfer. Counts are
// exact: every datagram sent is one packet, every one to the closed port one
// NO_SOCKET drop.
#include <unistd.h>

#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "tests/bpf_guard.h"
#include "tests/cli/cli_harness.h"
#include "tests/offcpu/mini_json.h"

namespace ebt::test {
namespace {

// Namespaces <tag>a and <tag>b, veth <tag>va (10.<n>.0.1) <-> <tag>vb (10.<n>.0.2).
class VethPair {
 public:
  VethPair() {
    int n = 200 + int(getpid() % 50);
    tag_ = "ebts" + std::to_string(getpid() % 100000);
    a_ = "10." + std::to_string(n) + ".0.1";
    b_ = "10." + std::to_string(n) + ".0.2";
    sh("ip netns add " + ns_a() + " && ip netns add " + ns_b() + " && ip link add " + dev_a() + " netns " + ns_a() +
       " type veth peer name " + dev_b() + " netns " + ns_b() + " && ip -n " + ns_a() + " addr add " + a_ +
       "/24 dev " + dev_a() + " && ip -n " + ns_b() + " addr add " + b_ + "/24 dev " + dev_b() + " && ip -n " +
       ns_a() + " link set " + dev_a() + " up && ip -n " + ns_b() + " link set " + dev_b() + " up && ip -n " +
       ns_a() + " link set lo up && ip -n " + ns_b() + " link set lo up");
  }
  ~VethPair() { run({"sh", "-c", "ip netns del " + ns_a() + "; ip netns del " + ns_b()}, timeout(20)); }
  std::string ns_a() const { return tag_ + "a"; }
  std::string ns_b() const { return tag_ + "b"; }
  std::string dev_a() const { return tag_ + "va"; }
  std::string dev_b() const { return tag_ + "vb"; }
  const std::string& addr_a() const { return a_; }
  const std::string& addr_b() const { return b_; }
  // Resolves b's MAC address in a (ARP), so that no datagram of a test waits
  // in the neighbour queue (which frees a copy of it on the sending side).
  void warm_up() const {
    run(in(ns_a(), {"python3", "-c",
                    "import socket,sys; socket.socket(socket.AF_INET,socket.SOCK_DGRAM).sendto(b'w',(sys.argv[1],9))",
                    b_}),
        timeout(30));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  // Runs a command inside namespace `ns`.
  std::vector<std::string> in(const std::string& ns, const std::vector<std::string>& argv) const {
    std::vector<std::string> v{"ip", "netns", "exec", ns};
    v.insert(v.end(), argv.begin(), argv.end());
    return v;
  }

 private:
  static void sh(const std::string& cmd) {
    RunResult r = run({"sh", "-c", cmd}, timeout(30));
    if (r.exit_code != 0) throw std::runtime_error("setup failed: " + cmd + "\n" + r.describe());
  }
  std::string tag_, a_, b_;
};

// `ebtrace record ARGS` until stop(): started, ready (probes attached), stopped with SIGINT.
class Recording {
 public:
  Recording(const TempDir& dir, std::vector<std::string> args) : cap_(dir / "skb.ebt") {
    fs::path ready = dir / "ready";
    std::vector<std::string> argv{ebtrace_bin(), "record", "-o", cap_.string(), "--ready-file", ready.string()};
    argv.insert(argv.end(), args.begin(), args.end());
    proc_ = std::make_unique<Proc>(argv, timeout(120));
    for (int i = 0; i < 600 && !fs::exists(ready); i++) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ready_ = fs::exists(ready);
  }
  bool ready() const { return ready_; }
  // Stops the recording; returns the report --skb --format json document.
  Json stop_and_report(std::string* text = nullptr) {
    proc_->signal(SIGINT);
    RunResult done = proc_->wait(60);
    EXPECT_EQ(done.exit_code, 0) << done.describe();
    RunResult r = run({ebtrace_bin(), "report", cap_.string(), "--skb", "--format", "json"}, timeout(60));
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    if (text) *text = run({ebtrace_bin(), "report", cap_.string(), "--skb"}, timeout(60)).out;
    return JsonParser::parse(r.out);
  }
  // report --trace: the Chrome/Perfetto trace document.
  Json trace() const {
    fs::path out = cap_.parent_path() / "trace.json";
    RunResult r = run({ebtrace_bin(), "report", cap_.string(), "--trace", out.string()}, timeout(60));
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    return JsonParser::parse(read_text(out));
  }

 private:
  fs::path cap_;
  std::unique_ptr<Proc> proc_;
  bool ready_ = false;
};

// Python one-liners: a UDP listener that counts datagrams until 1 s of silence,
// and a sender.
const char* kUdpListen =
    "import socket,sys\n"
    "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind((sys.argv[1],int(sys.argv[2]))); s.settimeout(60)\n"
    "print('bound',flush=True)\n"
    "n=0\n"
    "try:\n"
    "  while True: s.recv(2000); n+=1; s.settimeout(1)\n"
    "except Exception: pass\n"
    "print(n)\n";
const char* kUdpSend =
    "import socket,sys\n"
    "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
    "for i in range(int(sys.argv[3])): s.sendto(b'x'*100,(sys.argv[1],int(sys.argv[2])))\n";

uint64_t num(const Json& j, const char* k) { return uint64_t(j[k].num); }

TEST(SkbE2E, UdpDeliveredAndDroppedExactly) {
  EBT_REQUIRE_BPF_OR_SKIP();
  VethPair net;
  net.warm_up();
  TempDir dir("ebt-skb-udp");
  Proc listener(net.in(net.ns_b(), {"python3", "-c", kUdpListen, net.addr_b(), "7001"}), timeout(60));
  Recording rec(dir, {"--skb", "--skb-proto", "udp", "--skb-host", net.addr_b()});
  ASSERT_TRUE(rec.ready());
  // Bound before anything is sent (a loaded machine may take seconds to start python).
  ASSERT_TRUE(listener.wait_for_output([](const std::string& out, const std::string&) { return out == "bound\n"; }, 60));
  ASSERT_EQ(run(net.in(net.ns_a(), {"python3", "-c", kUdpSend, net.addr_b(), "7001", "40"}), timeout(30)).exit_code, 0);
  ASSERT_EQ(run(net.in(net.ns_a(), {"python3", "-c", kUdpSend, net.addr_b(), "7002", "15"}), timeout(30)).exit_code, 0);
  ASSERT_EQ(listener.wait(30).out, "bound\n40\n");
  std::string text;
  Json r = rec.stop_and_report(&text);

  EXPECT_EQ(num(r, "packets"), 55u) << text;
  EXPECT_EQ(num(r, "dropped"), 15u) << text;
  ASSERT_EQ(r["drops"].arr.size(), 1u) << text;
  const Json& d = r["drops"].arr[0];
  EXPECT_EQ(d["reason"].str, "NO_SOCKET");
  EXPECT_NE(d["function"].str.find("udp"), std::string::npos) << d["function"].str;
  EXPECT_NE(d["flow"].str.find(":7002"), std::string::npos) << d["flow"].str;
  uint64_t consumed = 0, queued_on_a = 0;
  for (const auto& p : r["paths"].arr) {
    // Delivered datagrams end consumed, or without an end event: UDP frees them
    // after the copy to the reader without consume_skb (stateless path).
    bool delivered = p["outcome"].str.rfind("dropped", 0) != 0 &&
                     p["path"].str.find("netif_receive_skb@" + net.dev_b()) != std::string::npos;
    if (delivered && p["flow"].str.find(":7001") != std::string::npos) consumed += num(p, "packets");
    // Every packet was queued on the sending end and received on the other.
    EXPECT_EQ(p["path"].str.rfind("net_dev_queue@" + net.dev_a(), 0), 0u) << p["path"].str;
    EXPECT_NE(p["path"].str.find("netif_receive_skb@" + net.dev_b()), std::string::npos) << p["path"].str;
  }
  EXPECT_EQ(consumed, 40u) << text;
  for (const auto& h : r["hop_latency"].arr)
    if (h["from"].str == "net_dev_queue@" + net.dev_a()) queued_on_a += num(h, "count");
  EXPECT_EQ(queued_on_a, 55u) << text;

  // On the timeline: a span per packet, an instant per hop, the drops named.
  Json trace = rec.trace();
  EXPECT_EQ(check_trace_events(trace), "");
  uint64_t spans = 0, hops = 0, drop_instants = 0;
  for (const auto& e : trace["traceEvents"].arr) {
    if (e["ph"].str == "b" && e["cat"].str == "skb") spans++;
    if (e["ph"].str == "i" && e["cat"].str == "skb") hops++;
    if (e["ph"].str == "i" && e["name"].str == "kfree_skb NO_SOCKET") drop_instants++;
  }
  EXPECT_EQ(spans, 55u);
  EXPECT_EQ(hops, num(r, "hops"));
  EXPECT_EQ(drop_instants, 15u);
}

TEST(SkbE2E, PortFilterKeepsOnlyThatFlow) {
  EBT_REQUIRE_BPF_OR_SKIP();
  VethPair net;
  net.warm_up();
  TempDir dir("ebt-skb-port");
  Proc listener(net.in(net.ns_b(), {"python3", "-c", kUdpListen, net.addr_b(), "7001"}), timeout(60));
  Recording rec(dir, {"--skb", "--skb-port", "7002", "--skb-stack"});
  ASSERT_TRUE(rec.ready());
  ASSERT_TRUE(listener.wait_for_output([](const std::string& out, const std::string&) { return out == "bound\n"; }, 60));
  run(net.in(net.ns_a(), {"python3", "-c", kUdpSend, net.addr_b(), "7001", "20"}), timeout(30));
  run(net.in(net.ns_a(), {"python3", "-c", kUdpSend, net.addr_b(), "7002", "7"}), timeout(30));
  listener.wait(30);
  std::string text;
  Json r = rec.stop_and_report(&text);
  EXPECT_EQ(num(r, "packets"), 7u) << text;
  EXPECT_EQ(num(r, "dropped"), 7u) << text;
}

// TCP: the receive path ends with the copy to the reading process.
TEST(SkbE2E, TcpTransferReachesTheReader) {
  EBT_REQUIRE_BPF_OR_SKIP();
  VethPair net;
  TempDir dir("ebt-skb-tcp");
  const char* server =
      "import socket,sys\n"
      "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1); s.bind((sys.argv[1],7100)); "
      "s.listen(1); s.settimeout(20)\n"
      "c,_=s.accept(); n=0\n"
      "while True:\n"
      "  b=c.recv(65536)\n"
      "  if not b: break\n"
      "  n+=len(b)\n"
      "print(n)\n";
  const char* client =
      "import socket,sys,time\n"
      "for i in range(100):\n"
      "  try: s=socket.create_connection((sys.argv[1],7100)); break\n"
      "  except OSError: time.sleep(0.05)\n"
      "for i in range(64): s.sendall(b'z'*1024)\n"
      "s.close()\n";
  Proc srv(net.in(net.ns_b(), {"python3", "-c", server, net.addr_b()}), timeout(60));
  Recording rec(dir, {"--skb", "--skb-proto", "tcp", "--skb-port", "7100"});
  ASSERT_TRUE(rec.ready());
  ASSERT_EQ(run(net.in(net.ns_a(), {"python3", "-c", client, net.addr_b()}), timeout(30)).exit_code, 0);
  EXPECT_EQ(srv.wait(30).out, "65536\n");
  std::string text;
  Json r = rec.stop_and_report(&text);
  EXPECT_GE(num(r, "packets"), 10u) << text;
  uint64_t to_reader = 0;
  for (const auto& p : r["paths"].arr)
    if (p["path"].str.find("skb_copy_datagram_iovec") != std::string::npos) to_reader += num(p, "packets");
  EXPECT_GE(to_reader, 1u) << text;
}

// TCP's pure ACKs are freed without kfree_skb/consume_skb, so their tracked
// addresses come back holding other buffers, most often a Unix socket's (the
// same slab), whose bytes parse as no IP header. Such a hop must not join the
// tracked packet (it gave packets another buffer's end, and after a gap a
// packet of no flow, which report --skb --by container showed as "[unknown]"):
// with a port filter, every hop recorded has that port.
TEST(SkbE2E, RecycledAddressesDoNotJoinAPacket) {
  EBT_REQUIRE_BPF_OR_SKIP();
  VethPair net;
  TempDir dir("ebt-skb-recycle");
  const char* work =
      "import socket,time\n"
      "ls=socket.socket(); ls.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1); ls.bind(('127.0.0.1',7300)); "
      "ls.listen(8)\n"
      "for k in range(5):\n"
      "  c=socket.create_connection(('127.0.0.1',7300)); s,_=ls.accept()\n"
      "  c.sendall(b'GET / HTTP/1.1\\r\\n\\r\\n'); s.recv(100); s.sendall(b'HTTP/1.1 200 OK\\r\\n\\r\\nok'); c.recv(100)\n"
      "  c.close(); s.recv(10); s.close()\n"
      "a,b=socket.socketpair(); end=time.time()+2\n"
      "while time.time()<end: a.send(bytes(64)); b.recv(64)\n";
  Recording rec(dir, {"--skb", "--skb-port", "7300"});
  ASSERT_TRUE(rec.ready());
  RunResult w = run(net.in(net.ns_a(), {"python3", "-c", work}), timeout(60));
  ASSERT_EQ(w.exit_code, 0) << w.describe();
  Json r = rec.stop_and_report();
  EXPECT_GE(num(r, "packets"), 5u * 9) << "5 connections of at least 9 packets each";
  RunResult d = run({ebtrace_bin(), "dump", (dir / "skb.ebt").string(), "--kind", "skbHop"}, timeout(60));
  ASSERT_EQ(d.exit_code, 0) << d.describe();
  size_t hops = 0, other = 0;
  for (const auto& line : lines_of(d.out)) {
    Json h = JsonParser::parse(line);
    hops++;
    if (h["srcPort"].num != 7300 && h["dstPort"].num != 7300) {
      other++;
      ADD_FAILURE() << "a hop of another buffer: " << line;
    }
  }
  EXPECT_EQ(hops, num(r, "hops"));
  EXPECT_EQ(other, 0u) << hops << " hops";
}

TEST(SkbE2E, BadOptionsExitTwo) {
  for (auto args : std::vector<std::vector<std::string>>{{"--skb-proto", "bogus"},
                                                         {"--skb-host", "10.1.2"},
                                                         {"--skb-netns", "/nonexistent/ns"}}) {
    std::vector<std::string> argv{ebtrace_bin(), "record", "-d", "0.1", "-o", "/dev/null"};
    argv.insert(argv.end(), args.begin(), args.end());
    RunResult r = run(argv, timeout(30));
    EXPECT_EQ(r.exit_code, 2) << args[0] << " " << args[1] << "\n" << r.describe();
    EXPECT_NE(r.err.find(args[0]), std::string::npos) << r.err;
  }
}

}  // namespace
}  // namespace ebt::test
