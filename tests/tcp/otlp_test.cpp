// report --otlp on a capture written here (no BPF): a client connection
// carrying one HTTP request, its server end, a refused connect. The output is
// parsed strictly as OTLP JSON (tests/tcp/otlp_check.h) and its span tree
// asserted; the same capture gives byte-identical output twice.
#include <gtest/gtest.h>

#include "format/writer.h"
#include "tests/cli/cli_harness.h"
#include "tests/tcp/tcp_capture.h"
#include "tests/tcp/otlp_check.h"

namespace ebt::test {
namespace {

constexpr uint64_t T = 2'000'000'000;  // monotonic ns
constexpr uint64_t kUs = 1000, kMs = 1000 * 1000;

SessionInfo session() { return tcp_test_session("otlphost"); }

TcpEvent with_stats(TcpEvent e, uint64_t tx, uint64_t rx, uint64_t srtt_ns = 30 * kUs) {
  e.has_stats = true;
  e.bytes_sent = tx;
  e.bytes_received = rx;
  e.srtt_ns = srtt_ns;
  return e;
}

std::vector<uint8_t> bytes(const std::string& s) { return {s.begin(), s.end()}; }

fs::path write_capture(const TempDir& dir) {
  fs::path path = dir / "otlp.ebt";
  format::CaptureWriter w(path.string(), session());
  w.add(ProcessInfo{100, 1, "curl", "/usr/bin/curl", {"curl"}, 0, "", {100}, 0, T});
  w.add(ProcessInfo{200, 1, "nginx", "/usr/sbin/nginx", {"nginx"}, 0, "", {200}, 0, T});
  using K = TcpEventType;
  // Client 11: handshake 50 us, one GET, closes first at +5 ms.
  w.add(tcp_event(T, K::kState, 11, 100, 7, 2, true));
  TcpEvent est = tcp_event(T + 50 * kUs, K::kState, 11, 100, 2, 1, true);
  est.socket_id = 5001;
  w.add(est);
  w.add(tcp_event(T + 5 * kMs, K::kState, 11, 100, 1, 4, true));
  w.add(tcp_event(T + 5 * kMs + 40 * kUs, K::kState, 11, 100, 4, 5, true));
  w.add(with_stats(tcp_event(T + 6 * kMs, K::kState, 11, 100, 5, 7, true), 29, 40));
  // Its server end 12: softirq transitions without an owner, then accept().
  w.add(tcp_event(T + 40 * kUs, K::kState, 12, 0, 10, 3, false));
  w.add(with_stats(tcp_event(T + 60 * kUs, K::kState, 12, 0, 3, 1, false), 0, 0, 20 * kUs));
  w.add(tcp_event(T + 70 * kUs, K::kAccept, 12, 200, 0, 0, false));
  w.add(tcp_event(T + 5 * kMs + 20 * kUs, K::kState, 12, 200, 1, 8, false));
  w.add(tcp_event(T + 5 * kMs + 30 * kUs, K::kState, 12, 200, 8, 9, false));
  w.add(with_stats(tcp_event(T + 6 * kMs + 10 * kUs, K::kState, 12, 200, 9, 7, false), 40, 29));
  // Refused 13.
  w.add(tcp_event(T + 10 * kMs, K::kState, 13, 100, 7, 2, true, 81));
  w.add(tcp_event(T + 10 * kMs + 30 * kUs, K::kReceiveReset, 13, 100, 0, 0, true, 81));
  w.add(tcp_event(T + 10 * kMs + 30 * kUs, K::kState, 13, 100, 2, 7, true, 81));
  // --l7 data of the client socket: one HTTP request and its response.
  w.add(SocketInfo{5001, 100, 3, 2, 6, {10, 0, 0, 1}, 40000, {10, 0, 0, 2}, 80, T + 60 * kUs});
  std::string req = "GET /x HTTP/1.1\r\nHost: a\r\n\r\n";
  std::string resp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
  w.add(SyscallEvent{T + 1 * kMs, T + 1 * kMs + 10 * kUs, 100, 100, SyscallKind::kWrite, 3, int64_t(req.size()), 5001,
                     bytes(req)});
  w.add(SyscallEvent{T + 1 * kMs + 20 * kUs, T + 2 * kMs, 100, 100, SyscallKind::kRead, 3, int64_t(resp.size()), 5001,
                     bytes(resp)});
  // --skb data: two hops of a segment of the client connection, one of another flow.
  w.add(StringEntry{1, "net_dev_queue"});
  w.add(StringEntry{2, "netif_receive_skb"});
  w.add(StringEntry{3, "veth0"});
  SkbHop h;
  h.time_ns = T + 1 * kMs + 5 * kUs;
  h.skb = 0xffff888000001000;
  h.location_id = 1;
  h.device_id = 3;
  h.netns = 4026531840u;
  h.l4_protocol = 6;
  h.src_addr = {10, 0, 0, 1};
  h.dst_addr = {10, 0, 0, 2};
  h.src_port = 40000;
  h.dst_port = 80;
  w.add(h);
  h.time_ns += 10 * kUs;
  h.location_id = 2;
  w.add(h);
  h.dst_port = 9999;
  w.add(h);
  w.finish(SessionEnd{T + 20 * kMs, 0, 0});
  return path;
}

TEST(Otlp, SpanTreeParsesStrictlyAsOtlpJson) {
  TempDir dir("ebt-otlp");
  fs::path cap = write_capture(dir);
  fs::path out = dir / "spans.json", again = dir / "again.json";
  RunResult r = run({ebtrace_bin(), "report", cap.string(), "--otlp", out.string()}, timeout(60));
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  RunResult r2 = run({ebtrace_bin(), "report", cap.string(), "--otlp", again.string()}, timeout(60));
  ASSERT_EQ(r2.exit_code, 0) << r2.describe();
  std::string json = read_text(out);
  EXPECT_EQ(json, read_text(again)) << "ids and order are deterministic";

  OtlpDoc d = parse_otlp_strict(json);
  ASSERT_EQ(d.error, "") << json;
  EXPECT_EQ(check_span_tree(d), "") << json;
  EXPECT_EQ(d.resources, 2u);  // curl, nginx
  ASSERT_EQ(d.spans.size(), 8u) << json;
  std::map<std::string, const OtlpSpan*> by_name;
  for (const auto& s : d.spans) by_name[s.name + "@" + s.service] = &s;
  const OtlpSpan* client = by_name["TCP connect 10.0.0.2:80@curl"];
  const OtlpSpan* server = by_name["TCP accept 10.0.0.2:80@nginx"];
  const OtlpSpan* refused = by_name["TCP connect 10.0.0.2:81@curl"];
  ASSERT_TRUE(client && server && refused) << json;
  EXPECT_EQ(client->kind, 3);  // CLIENT
  EXPECT_EQ(server->kind, 2);  // SERVER
  EXPECT_TRUE(client->parent_id.empty());
  EXPECT_EQ(server->parent_id, client->span_id);  // both ends in one trace
  EXPECT_EQ(server->trace_id, client->trace_id);
  EXPECT_NE(refused->trace_id, client->trace_id);
  EXPECT_EQ(refused->status, 2);  // ERROR
  EXPECT_EQ(client->status, 0);
  const uint64_t wall = 1'790'000'000'000'000'000ull - 1'000'000'000;
  EXPECT_EQ(client->start_ns, wall + T);
  EXPECT_EQ(client->end_ns, wall + T + 6 * kMs);
  EXPECT_EQ(client->attrs.at("network.peer.address"), "10.0.0.2");
  EXPECT_EQ(client->attrs.at("network.peer.port"), "80");
  EXPECT_EQ(client->attrs.at("network.local.port"), "40000");
  EXPECT_EQ(client->attrs.at("process.pid"), "100");
  EXPECT_EQ(client->attrs.at("ebtrace.tcp.bytes_sent"), "29");
  EXPECT_EQ(client->attrs.at("ebtrace.tcp.bytes_received"), "40");
  EXPECT_EQ(client->attrs.at("ebtrace.tcp.retransmits"), "0");
  EXPECT_EQ(server->attrs.at("process.pid"), "200");
  EXPECT_EQ(refused->attrs.at("ebtrace.tcp.outcome"), "refused");
  std::vector<std::string> hop_events{"net_dev_queue@veth0", "netif_receive_skb@veth0"};
  EXPECT_EQ(client->events, hop_events);
  EXPECT_EQ(server->events, hop_events);  // the same segments (same host, same netns)
  ASSERT_EQ(refused->events.size(), 1u);
  EXPECT_EQ(refused->events[0], "reset received");

  // Children: handshake, the GET, teardown under the client; handshake and
  // teardown under the server; nothing under the refused connect.
  std::map<std::string, std::vector<const OtlpSpan*>> children;
  for (const auto& s : d.spans)
    if (!s.parent_id.empty()) children[s.parent_id].push_back(&s);
  ASSERT_EQ(children[client->span_id].size(), 4u);  // + the server end
  ASSERT_EQ(children[server->span_id].size(), 2u);
  EXPECT_EQ(children[refused->span_id].size(), 0u);
  const OtlpSpan* get = by_name["GET /x@curl"];
  ASSERT_NE(get, nullptr) << json;
  EXPECT_EQ(get->parent_id, client->span_id);
  EXPECT_EQ(get->start_ns, wall + T + 1 * kMs);
  EXPECT_EQ(get->end_ns, wall + T + 2 * kMs);
  EXPECT_EQ(get->attrs.at("http.response.status_code"), "200");
  const OtlpSpan* hs = nullptr;
  for (auto* c : children[client->span_id])
    if (c->name == "TCP handshake") hs = c;
  ASSERT_NE(hs, nullptr);
  EXPECT_EQ(hs->end_ns - hs->start_ns, 50 * kUs);
  for (auto* c : children[server->span_id])
    if (c->name == "TCP handshake") EXPECT_EQ(c->end_ns - c->start_ns, 20 * kUs);  // the SYN-ACK's RTT
}

TEST(Otlp, StrictParserRejectsWhatIsNotOtlp) {
  EXPECT_NE(parse_otlp_strict(R"({"resourceSpans":[{"bogus":1}]})").error, "");
  EXPECT_NE(parse_otlp_strict(R"({"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"abc"}]}]}]})").error, "");
  EXPECT_EQ(parse_otlp_strict(R"({"resourceSpans":[]})").error, "");
}

}  // namespace
}  // namespace ebt::test
