// --tcp end to end, as root with real BPF, on real connections between two
// network namespaces joined by a veth pair: short request/response
// connections, one long-lived connection opened before the recording, one
// refused by a closed port, one reset by the server, one still open when the
// recording stops. Counts, bytes each way, roles, owners and outcomes exact.
#include <map>
#include <set>

#include "tests/bpf_guard.h"
#include "tests/tcp/otlp_check.h"
#include "tests/tcp/tcp_harness.h"

namespace ebt::test {
namespace {

// Port 7400: reads until EOF, answers 2*N+7 bytes, closes. Port 7401: reads 10
// bytes, closes with SO_LINGER 0 (a reset). A thread per connection.
const char* kServer = R"(
import socket, struct, sys, threading
addr, ready = sys.argv[1], sys.argv[2]
def serve(c):
    n = 0
    while True:
        b = c.recv(65536)
        if not b: break
        n += len(b)
    c.sendall(b'y' * (2 * n + 7))
    c.close()
def reset(c):
    n = 0
    while n < 10: n += len(c.recv(65536))
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
    c.close()
def listen(port, handler):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(64)
    def loop():
        while True:
            c, _ = s.accept()
            threading.Thread(target=handler, args=(c,), daemon=True).start()
    threading.Thread(target=loop, daemon=True).start()
listen(7400, serve)
listen(7401, reset)
open(ready, 'w').close()
threading.Event().wait(300)
)";

// main: 5 exchanges of 100*k bytes, a reset, a refused connect. long: connects,
// waits for GO, sends 5000 bytes. hold: connects, sends 123 bytes, waits for GO.
const char* kClient = R"(
import os, socket, sys, time
addr, mode, flag, go = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
def wait(path):
    while not os.path.exists(path): time.sleep(0.01)
def exchange(s, n):
    s.sendall(b'x' * n)
    s.shutdown(socket.SHUT_WR)
    got = 0
    while True:
        b = s.recv(65536)
        if not b: break
        got += len(b)
    assert got == 2 * n + 7, got
    s.close()
if mode == 'main':
    for k in range(1, 6):
        exchange(socket.create_connection((addr, 7400)), 100 * k)
    s = socket.create_connection((addr, 7401))
    s.sendall(b'r' * 10)
    try:
        s.recv(100)
        sys.exit('no reset')
    except ConnectionResetError:
        pass
    s.close()
    try:
        socket.create_connection((addr, 7402))
        sys.exit('not refused')
    except ConnectionRefusedError:
        pass
elif mode == 'long':
    s = socket.create_connection((addr, 7400))
    open(flag, 'w').close()
    wait(go)
    exchange(s, 5000)
elif mode == 'hold':
    s = socket.create_connection((addr, 7400))
    s.sendall(b'h' * 123)
    time.sleep(0.2)
    open(flag, 'w').close()
    wait(go)
    s.close()
print('ok')
)";

uint64_t num(const Json& j, const char* k) { return uint64_t(j[k].num); }

struct Scenario {
  VethPair net;
  TempDir dir{"ebt-tcp"};
  std::unique_ptr<Proc> server, long_client, hold_client;
  RunResult main_client;

  void start_server() {
    server = std::make_unique<Proc>(
        net.in(net.ns_b(), {"python3", "-c", kServer, net.addr_b(), (dir / "server.ready").string()}), timeout(300));
    wait_for_file(dir / "server.ready", 30);
    ASSERT_TRUE(fs::exists(dir / "server.ready")) << server->wait(1).describe();
  }
  std::unique_ptr<Proc> client(const std::string& mode, const std::string& flag, const std::string& go) {
    return std::make_unique<Proc>(
        net.in(net.ns_a(), {"python3", "-c", kClient, net.addr_b(), mode, (dir / flag).string(), (dir / go).string()}),
        timeout(120));
  }
};

// The connection of `role` whose client-side port is `client_port`.
const Json* find(const Json& r, const std::string& role, uint64_t port, bool local) {
  for (const auto& c : r["connections"].arr)
    if (c["role"].str == role && num(c, local ? "local_port" : "remote_port") == port) return &c;
  return nullptr;
}

TEST(TcpE2E, ConnectionsBytesRolesAndOutcomesExact) {
  EBT_REQUIRE_BPF_OR_SKIP();
  Scenario s;
  ASSERT_NO_FATAL_FAILURE(s.start_server());
  // Opened before the recording.
  s.long_client = s.client("long", "long.connected", "long.go");
  wait_for_file(s.dir / "long.connected", 30);
  ASSERT_TRUE(fs::exists(s.dir / "long.connected"));

  TcpRecording all(s.dir, {"--tcp", "--host", s.net.addr_b()}, "all.ebt");
  ASSERT_TRUE(all.ready()) << all.why_not_ready();
  TcpRecording by_pid(s.dir, {"--tcp", "-p", std::to_string(s.server->pid())}, "pid.ebt");
  ASSERT_TRUE(by_pid.ready()) << by_pid.why_not_ready();
  TcpRecording by_port(s.dir, {"--tcp", "--port", "7401"}, "port.ebt");
  ASSERT_TRUE(by_port.ready()) << by_port.why_not_ready();

  RunResult m = s.client("main", "main.unused", "main.unused")->wait(120);
  ASSERT_EQ(m.exit_code, 0) << m.describe();
  write_text(s.dir / "long.go", "");
  RunResult l = s.long_client->wait(60);
  ASSERT_EQ(l.exit_code, 0) << l.describe();
  s.hold_client = s.client("hold", "hold.held", "hold.go");
  wait_for_file(s.dir / "hold.held", 30);
  ASSERT_TRUE(fs::exists(s.dir / "hold.held"));

  all.stop();
  by_pid.stop();
  by_port.stop();
  write_text(s.dir / "hold.go", "");
  RunResult h = s.hold_client->wait(60);
  EXPECT_EQ(h.exit_code, 0) << h.describe();

  const uint32_t server_pid = uint32_t(s.server->pid());
  const uint32_t hold_pid = uint32_t(s.hold_client->pid());
  const uint32_t long_pid = uint32_t(s.long_client->pid());
  std::string text = all.report_text();
  Json r = all.report_json();
  SCOPED_TRACE(text);

  // 5 short + reset + hold (both ends each), the refused connect, the long one (both ends).
  ASSERT_EQ(r["connections"].arr.size(), 17u);
  EXPECT_EQ(num(r, "clients"), 8u);
  EXPECT_EQ(num(r, "servers"), 7u);
  EXPECT_EQ(num(r, "refused"), 1u);
  EXPECT_EQ(num(r, "reset"), 2u);
  EXPECT_EQ(num(r, "open_before"), 2u);
  EXPECT_EQ(num(r, "open_at_end"), 2u);

  std::map<std::string, int> outcomes;
  int shorts = 0;
  for (const auto& c : r["connections"].arr) {
    outcomes[c["outcome"].str]++;
    bool client = c["role"].str == "client";
    EXPECT_EQ(num(c, client ? "remote_port" : "local_port") >= 7400, true);
    if (c["role"].str == "server") EXPECT_EQ(num(c, "pid"), server_pid) << "server side owned by the server";
    if (c["outcome"].str != "closed" || c["open_before"].b) continue;
    // A short exchange: the client sent 100*k, got 2*N+7; the server mirrors it.
    uint64_t n = client ? num(c, "bytes_tx") : num(c, "bytes_rx");
    uint64_t back = client ? num(c, "bytes_rx") : num(c, "bytes_tx");
    EXPECT_TRUE(n % 100 == 0 && n >= 100 && n <= 500) << n;
    EXPECT_EQ(back, 2 * n + 7);
    EXPECT_EQ(num(c, "resets_sent") + num(c, "resets_received"), 0u);
    EXPECT_EQ(c["closed_first"].str, client ? "local" : "remote");  // the client shuts down first
    ASSERT_EQ(c["handshake_ns"].type, Json::Type::kNumber);
    EXPECT_GT(num(c, "handshake_ns"), 0u);
    EXPECT_LE(num(c, "handshake_ns"), num(c, "duration_ns"));
    if (client) {
      shorts++;
      EXPECT_EQ(num(c, "handshake_ns"), num(c, "established_ns") - num(c, "open_ns"));
      // Its server end: established after the client, its SYN-ACK RTT within
      // [client SYN sent, server ESTABLISHED].
      const Json* srv = find(r, "server", num(c, "local_port"), false);
      ASSERT_NE(srv, nullptr);
      EXPECT_GE(num(*srv, "established_ns"), num(c, "established_ns"));
      EXPECT_GT(num(*srv, "handshake_ns"), 0u);
      EXPECT_LE(num(*srv, "handshake_ns"), num(*srv, "established_ns") - num(c, "open_ns"));
      EXPECT_EQ(num(*srv, "bytes_rx"), n);
    }
  }
  EXPECT_EQ(shorts, 5);
  EXPECT_EQ(outcomes["closed"], 5 * 2 + 2);  // the long one's ends close normally
  EXPECT_EQ(outcomes["refused"], 1);
  EXPECT_EQ(outcomes["reset"], 2);
  EXPECT_EQ(outcomes["open"], 2);

  for (const auto& c : r["connections"].arr) {
    if (c["outcome"].str == "refused") {
      EXPECT_EQ(c["role"].str, "client");
      EXPECT_EQ(num(c, "remote_port"), 7402u);
      EXPECT_EQ(num(c, "resets_received"), 1u);
      EXPECT_EQ(num(c, "established_ns"), 0u);
    }
    if (c["outcome"].str == "reset") {
      bool client = c["role"].str == "client";
      EXPECT_EQ(num(c, client ? "remote_port" : "local_port"), 7401u);
      EXPECT_EQ(num(c, client ? "resets_received" : "resets_sent"), 1u);
      EXPECT_EQ(c["closed_first"].str, client ? "remote reset" : "local reset");
      EXPECT_EQ(num(c, client ? "bytes_tx" : "bytes_rx"), 10u);
      EXPECT_EQ(num(c, client ? "bytes_rx" : "bytes_tx"), 0u);
    }
    if (c["open_before"].b) {
      // Opened before the recording: owners from /proc, role unknown, the
      // socket's totals at its close.
      EXPECT_EQ(c["role"].str, "?");
      EXPECT_TRUE(c["owner_from_proc"].b);
      bool client = num(c, "remote_port") == 7400;
      EXPECT_EQ(num(c, "pid"), client ? long_pid : server_pid);
      EXPECT_EQ(num(c, client ? "bytes_tx" : "bytes_rx"), 5000u);
      EXPECT_EQ(num(c, client ? "bytes_rx" : "bytes_tx"), 10007u);
      EXPECT_EQ(c["handshake_ns"].type, Json::Type::kNull);
      EXPECT_FALSE(c["open_at_end"].b);
    }
    if (c["open_at_end"].b) {
      EXPECT_FALSE(c["open_before"].b);
      EXPECT_FALSE(c["has_stats"].b) << "counters of an open connection are not known";
      if (c["role"].str == "client") EXPECT_EQ(num(c, "pid"), hold_pid);
    }
    if (c["role"].str == "client" && !c["open_before"].b && c["outcome"].str != "open")
      EXPECT_NE(num(c, "pid"), server_pid);
  }
  EXPECT_NE(text.find("open-before"), std::string::npos);
  EXPECT_NE(text.find("open-at-end"), std::string::npos);

  // --by port: the service's port.
  Json g = all.report_json({"--by", "port"});
  std::map<std::string, uint64_t> by_port_count;
  for (const auto& row : g["groups"].arr) by_port_count[row["key"].str] = num(row, "connections");
  EXPECT_EQ(by_port_count["7400"], 14u);
  EXPECT_EQ(by_port_count["7401"], 2u);
  EXPECT_EQ(by_port_count["7402"], 1u);

  // -p SERVER: only the server's ends (passive opens held until accept()), all its own.
  Json p = by_pid.report_json();
  EXPECT_EQ(p["connections"].arr.size(), 8u) << by_pid.report_text();
  for (const auto& c : p["connections"].arr) EXPECT_EQ(num(c, "pid"), server_pid);
  // --port 7401: the reset connection's two ends.
  Json q = by_port.report_json();
  EXPECT_EQ(q["connections"].arr.size(), 2u) << by_port.report_text();
  for (const auto& c : q["connections"].arr) EXPECT_EQ(c["outcome"].str, "reset");

  // As OpenTelemetry spans, parsed strictly: a span per connection, a
  // handshake under each one whose opening was seen and that got established.
  fs::path otlp = s.dir / "spans.json";
  RunResult o = run({ebtrace_bin(), "report", all.capture().string(), "--otlp", otlp.string()}, timeout(60));
  ASSERT_EQ(o.exit_code, 0) << o.describe();
  OtlpDoc d = parse_otlp_strict(read_text(otlp));
  ASSERT_EQ(d.error, "");
  EXPECT_EQ(check_span_tree(d), "");
  uint64_t conn_spans = 0, handshake_spans = 0, server_under_client = 0;
  std::map<std::string, const OtlpSpan*> spans;
  for (const auto& sp : d.spans) spans[sp.span_id] = &sp;
  for (const auto& sp : d.spans) {
    if (sp.name.rfind("TCP connect", 0) == 0 || sp.name.rfind("TCP accept", 0) == 0 ||
        sp.name.rfind("TCP 10.", 0) == 0)
      conn_spans++;
    if (sp.name == "TCP handshake") handshake_spans++;
    if (sp.name.rfind("TCP accept", 0) == 0 && !sp.parent_id.empty() &&
        spans[sp.parent_id]->name.rfind("TCP connect", 0) == 0)
      server_under_client++;
  }
  EXPECT_EQ(conn_spans, 17u);
  EXPECT_EQ(handshake_spans, 5u * 2 + 2 + 2);
  EXPECT_EQ(server_under_client, 7u);  // every server end's client was recorded too

  // On the timeline: a track per connection.
  fs::path trace = s.dir / "trace.json";
  RunResult t = run({ebtrace_bin(), "report", all.capture().string(), "--trace", trace.string()}, timeout(60));
  ASSERT_EQ(t.exit_code, 0) << t.describe();
  Json tj = JsonParser::parse(read_text(trace));
  uint64_t tracks = 0, handshakes = 0;
  for (const auto& e : tj["traceEvents"].arr) {
    if (e["ph"].str == "M" && e["name"].str == "thread_name" && e["pid"].num == double(0x7fff0001)) tracks++;
    if (e["ph"].str == "X" && e["name"].str == "handshake") handshakes++;
  }
  EXPECT_EQ(tracks, 17u);
  EXPECT_EQ(handshakes, 5u * 2 + 2 + 2);  // short, reset and hold: both ends
}

// IPv6, and IPv4 on a dual-stack (AF_INET6) server socket, shown and filtered as IPv4.
TEST(TcpE2E, Ipv6AndDualStack) {
  EBT_REQUIRE_BPF_OR_SKIP();
  VethPair net;
  net.add_ipv6();
  TempDir dir("ebt-tcp-v6");
  const char* server = R"(
import socket, sys
s = socket.socket(socket.AF_INET6)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(('::', 7410))
s.listen()
open(sys.argv[1], 'w').close()
for i in range(2):
    c, _ = s.accept()
    n = 0
    while n < 100: n += len(c.recv(65536))
    c.sendall(b'y' * 50)
    c.close()
)";
  const char* client = R"(
import socket, sys
for a in sys.argv[1:]:
    s = socket.create_connection((a, 7410))
    s.sendall(b'x' * 100)
    n = 0
    while True:
        b = s.recv(65536)
        if not b: break
        n += len(b)
    assert n == 50, n
    s.close()
)";
  Proc srv(net.in(net.ns_b(), {"python3", "-c", server, (dir / "ready").string()}), timeout(60));
  wait_for_file(dir / "ready", 30);
  ASSERT_TRUE(fs::exists(dir / "ready")) << srv.wait(1).describe();
  TcpRecording all(dir, {"--tcp", "--port", "7410"}, "all.ebt");
  ASSERT_TRUE(all.ready()) << all.why_not_ready();
  TcpRecording v6(dir, {"--tcp", "--host", net.v6_b()}, "v6.ebt");
  ASSERT_TRUE(v6.ready()) << v6.why_not_ready();
  RunResult c = run(net.in(net.ns_a(), {"python3", "-c", client, net.v6_b(), net.addr_b()}), timeout(60));
  ASSERT_EQ(c.exit_code, 0) << c.describe();
  EXPECT_EQ(srv.wait(30).exit_code, 0);
  all.stop();
  v6.stop();

  Json r = all.report_json();
  ASSERT_EQ(r["connections"].arr.size(), 4u) << all.report_text();
  std::set<std::string> locals;
  for (const auto& conn : r["connections"].arr) {
    locals.insert(conn["role"].str + " " + conn["local"].str.substr(0, conn["local"].str.rfind(':')));
    bool client_end = conn["role"].str == "client";
    EXPECT_EQ(num(conn, client_end ? "bytes_tx" : "bytes_rx"), 100u);
    EXPECT_EQ(num(conn, client_end ? "bytes_rx" : "bytes_tx"), 50u);
  }
  std::set<std::string> want{"client [" + net.v6_a() + "]", "server [" + net.v6_b() + "]", "client " + net.addr_a(),
                             "server " + net.addr_b()};
  EXPECT_EQ(locals, want) << all.report_text();
  EXPECT_EQ(v6.report_json()["connections"].arr.size(), 2u) << v6.report_text();
}

TEST(TcpE2E, BadOptionsExit2) {
  TempDir dir("ebt-tcp-bad");
  auto code = [&](std::vector<std::string> argv) { return run(argv, timeout(30)).exit_code; };
  EXPECT_EQ(code({ebtrace_bin(), "record", "--host", "10.0.0.1", "-o", (dir / "x.ebt").string()}), 2);
  EXPECT_EQ(code({ebtrace_bin(), "record", "--tcp", "--host", "nope", "-o", (dir / "x.ebt").string()}), 2);
  EXPECT_EQ(code({ebtrace_bin(), "record", "--tcp", "--tid", "1", "-o", (dir / "x.ebt").string()}), 2);
  EXPECT_EQ(code({ebtrace_bin(), "report", (dir / "missing.ebt").string(), "--tcp", "--by", "port"}), 2);
  EXPECT_EQ(code({ebtrace_bin(), "report", (dir / "missing.ebt").string(), "--tcp", "--by", "bogus"}), 2);
}

}  // namespace
}  // namespace ebt::test
