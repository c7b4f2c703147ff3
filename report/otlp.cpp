#include "report/otlp.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <tuple>

#include "report/trace_json.h"

namespace ebt::report {
namespace {

uint64_t mix(uint64_t x) {  // splitmix64's finalizer: spreads every input bit
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

uint64_t hash_text(const std::string& s) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

std::string hex64(uint64_t v) {
  char b[17];
  std::snprintf(b, sizeof b, "%016llx", static_cast<unsigned long long>(v));
  return b;
}

std::string address(const std::vector<uint8_t>& a) {
  char buf[INET6_ADDRSTRLEN] = "";
  if (a.size() == 4) inet_ntop(AF_INET, a.data(), buf, sizeof buf);
  if (a.size() == 16) inet_ntop(AF_INET6, a.data(), buf, sizeof buf);
  return buf;
}

// Attributes as OTLP JSON KeyValue objects (64-bit integers as decimal strings).
class Attrs {
 public:
  Attrs& str(const std::string& k, const std::string& v) {
    add(k, "{\"stringValue\":" + json_quote(v) + "}");
    return *this;
  }
  Attrs& num(const std::string& k, int64_t v) {
    add(k, "{\"intValue\":\"" + std::to_string(v) + "\"}");
    return *this;
  }
  Attrs& flag(const std::string& k, bool v) {
    add(k, std::string("{\"boolValue\":") + (v ? "true" : "false") + "}");
    return *this;
  }
  std::string json() const { return "[" + body_ + "]"; }

 private:
  void add(const std::string& k, const std::string& value) {
    body_ += (body_.empty() ? "" : ",") + std::string("{\"key\":") + json_quote(k) + ",\"value\":" + value + "}";
  }
  std::string body_;
};

enum SpanKind { kInternal = 1, kServer = 2, kClient = 3 };
constexpr size_t kMaxHopEvents = 1000;  // packet hops per connection span; more are counted as dropped

struct Span {
  std::string trace_id;  // 32 hex digits
  uint64_t span_id = 0, parent = 0;
  std::string link_trace;  // a link to another span ("" none): a proxied request's own connection
  uint64_t link_span = 0;
  uint32_t dropped_events = 0;
  std::string name;
  int kind = kInternal;
  uint64_t start_ns = 0, end_ns = 0;  // monotonic
  Attrs attrs;
  std::vector<std::tuple<uint64_t, std::string>> events;  // (monotonic time, name)
  bool error = false;
  std::string message;
};

struct Resource {
  uint32_t pid = 0;
  std::string comm;
  std::vector<Span> spans;
};

}  // namespace

OtlpStats write_otlp_json(std::ostream& out, const std::vector<TcpConnection>& connections,
                          const l7::L7Analysis* l7, const std::vector<OtlpHop>& hops, const SessionInfo& session,
                          uint64_t end_ns) {
  const uint64_t seed = mix(hash_text(session.boot_id) ^ mix(session.start_ns));
  // Unsigned, wrapping: a hostile capture's clocks give nonsense times, not overflow.
  const uint64_t to_wall = session.clock_realtime_ns - session.clock_monotonic_ns;
  auto wall = [&](uint64_t mono) { return std::to_string(mono + to_wall); };
  auto nonzero = [](uint64_t v) { return v ? v : 1; };

  // The other end of each connection, when both were recorded (same host):
  // the server's span joins the client's trace, as its child.
  using Tuple = std::tuple<std::vector<uint8_t>, uint16_t, std::vector<uint8_t>, uint16_t>;
  std::map<Tuple, const TcpConnection*> clients;
  for (const auto& c : connections)
    if (c.role == TcpRole::kClient) clients[{c.local_addr, c.local_port, c.remote_addr, c.remote_port}] = &c;
  auto trace_of = [&](uint64_t cookie) { return hex64(mix(seed ^ cookie)) + hex64(nonzero(mix(seed + cookie))); };
  auto conn_span_id = [&](uint64_t cookie) { return nonzero(mix(mix(seed ^ 0x5eed) ^ cookie)); };
  auto request_span_id = [&](uint64_t conn_span, size_t k) { return nonzero(mix(conn_span ^ (0x1000 + k))); };
  struct Place {
    std::string trace;
    uint64_t span = 0;
  };
  std::vector<Place> conn_place(connections.size());
  for (size_t i = 0; i < connections.size(); i++) {
    const TcpConnection& c = connections[i];
    conn_place[i] = {trace_of(c.cookie), conn_span_id(c.cookie)};
    if (c.role == TcpRole::kServer) {
      auto it = clients.find({c.remote_addr, c.remote_port, c.local_addr, c.local_port});
      if (it != clients.end()) conn_place[i].trace = trace_of(it->second->cookie);
    }
  }

  // l7 connections by socket id (the syscalls family's socket inode) and pid,
  // and where each l7 connection's TCP connection span is.
  std::map<std::pair<uint64_t, uint32_t>, size_t> l7_by_socket;
  if (l7)
    for (size_t i = 0; i < l7->connections.size(); i++)
      l7_by_socket[{l7->connections[i].id, l7->connections[i].pid}] = i;
  std::map<size_t, Place> l7_conn_place;  // l7 connection index -> its TCP connection span
  for (size_t i = 0; i < connections.size(); i++) {
    auto l = l7_by_socket.find({connections[i].socket_id, connections[i].pid});
    if (connections[i].socket_id && l != l7_by_socket.end()) l7_conn_place[l->second] = conn_place[i];
  }
  // Proxy hops (report/l7/proxy.h): the request a proxy forwarded upstream is a
  // child of the request it received, in that request's trace; it links to its
  // own (upstream) connection's span.
  std::map<std::pair<size_t, size_t>, Place> forwarded;  // outbound request -> its parent request
  if (l7)
    for (const auto& hop : l7->proxy.hops) {
      auto in = l7_conn_place.find(hop.inbound.conn);
      if (in == l7_conn_place.end() || !l7_conn_place.count(hop.outbound.conn)) continue;
      forwarded[{hop.outbound.conn, hop.outbound.req}] = {in->second.trace,
                                                         request_span_id(in->second.span, hop.inbound.req)};
    }

  // Packet hops (--skb) of TCP segments, by flow (either direction) and netns.
  std::map<std::tuple<uint32_t, std::vector<uint8_t>, uint16_t, std::vector<uint8_t>, uint16_t>,
           std::vector<const OtlpHop*>>
      hops_by_flow;
  for (const auto& h : hops) {
    auto key = std::tuple{h.netns, h.src_addr, h.src_port, h.dst_addr, h.dst_port};
    if (std::tie(h.dst_addr, h.dst_port) < std::tie(h.src_addr, h.src_port))
      key = std::tuple{h.netns, h.dst_addr, h.dst_port, h.src_addr, h.src_port};
    hops_by_flow[key].push_back(&h);
  }

  std::map<uint32_t, Resource> resources;
  OtlpStats stats;
  for (size_t ci = 0; ci < connections.size(); ci++) {
    const TcpConnection& c = connections[ci];
    uint64_t begin = c.open_ns ? c.open_ns : std::min(session.start_ns ? session.start_ns : c.first_ns, c.first_ns);
    uint64_t end = c.close_ns ? c.close_ns : std::max(c.last_ns, end_ns);
    std::string trace = conn_place[ci].trace;
    uint64_t parent = 0;
    if (c.role == TcpRole::kServer) {
      auto it = clients.find({c.remote_addr, c.remote_port, c.local_addr, c.local_port});
      if (it != clients.end()) parent = conn_span_id(it->second->cookie);
    }
    if (!parent) stats.traces++;
    Resource& res = resources[c.pid];
    res.pid = c.pid;
    res.comm = c.comm;
    const uint64_t id = conn_place[ci].span;
    uint64_t child = 0;
    auto child_id = [&] { return nonzero(mix(id + ++child)); };

    Span s;
    s.trace_id = trace;
    s.span_id = id;
    s.parent = parent;
    s.kind = c.role == TcpRole::kClient ? kClient : c.role == TcpRole::kServer ? kServer : kInternal;
    s.name = c.role == TcpRole::kClient   ? "TCP connect " + c.remote()
             : c.role == TcpRole::kServer ? "TCP accept " + c.local()
                                          : "TCP " + c.local() + " > " + c.remote();
    s.start_ns = begin;
    s.end_ns = end;
    s.attrs.str("network.transport", "tcp")
        .str("network.type", c.local_addr.size() == 16 ? "ipv6" : "ipv4")
        .str("network.local.address", address(c.local_addr))
        .num("network.local.port", c.local_port)
        .str("network.peer.address", address(c.remote_addr))
        .num("network.peer.port", c.remote_port)
        .str("ebtrace.tcp.role", tcp_role_name(c.role))
        .str("ebtrace.tcp.outcome", c.outcome)
        .num("ebtrace.tcp.netns", c.netns)
        .flag("ebtrace.tcp.open_before", c.open_before)
        .flag("ebtrace.tcp.open_at_end", c.open_at_end);
    if (c.pid) s.attrs.num("process.pid", c.pid);
    // OpenTelemetry's container attributes (semantic conventions), for owners in one.
    if (c.in_container) {
      s.attrs.str("container.name", c.container);
      if (!c.container_id.empty()) s.attrs.str("container.id", c.container_id);
    }
    if (!c.closed_first.empty()) s.attrs.str("ebtrace.tcp.closed_first", c.closed_first);
    if (c.has_stats)
      s.attrs.num("ebtrace.tcp.bytes_sent", int64_t(c.bytes_tx))
          .num("ebtrace.tcp.bytes_received", int64_t(c.bytes_rx))
          .num("ebtrace.tcp.retransmits", c.retransmits)
          .num("ebtrace.tcp.srtt_ns", int64_t(c.srtt_ns));
    s.attrs.num("ebtrace.tcp.resets_sent", int64_t(c.resets_sent))
        .num("ebtrace.tcp.resets_received", int64_t(c.resets_received));
    for (const auto& [t, type] : c.marks)
      s.events.push_back({t, type == TcpEventType::kRetransmit  ? "retransmit"
                             : type == TcpEventType::kSendReset ? "reset sent"
                                                                : "reset received"});
    {
      auto key = std::tuple{c.netns, c.local_addr, c.local_port, c.remote_addr, c.remote_port};
      if (std::tie(c.remote_addr, c.remote_port) < std::tie(c.local_addr, c.local_port))
        key = std::tuple{c.netns, c.remote_addr, c.remote_port, c.local_addr, c.local_port};
      auto f = hops_by_flow.find(key);
      if (f != hops_by_flow.end())
        for (const OtlpHop* h : f->second) {
          if (h->time_ns < begin || h->time_ns > end) continue;
          if (s.events.size() >= kMaxHopEvents) {
            s.dropped_events++;
            continue;
          }
          s.events.push_back({h->time_ns, h->name});
        }
      std::stable_sort(s.events.begin(), s.events.end(),
                       [](const auto& a, const auto& b) { return std::get<0>(a) < std::get<0>(b); });
    }
    if (c.outcome == "refused" || c.outcome == "failed" || c.outcome == "reset") {
      s.error = true;
      s.message = "connection " + c.outcome;
    }
    res.spans.push_back(std::move(s));

    if (c.handshake_ns && c.established_ns && *c.handshake_ns <= c.established_ns) {
      Span h;
      h.trace_id = trace;
      h.span_id = child_id();
      h.parent = id;
      h.name = "TCP handshake";
      h.start_ns = c.established_ns - *c.handshake_ns;
      h.end_ns = c.established_ns;
      h.attrs.str("ebtrace.tcp.handshake",
                  c.role == TcpRole::kServer ? "SYN-ACK sent -> ACK received" : "SYN sent -> ESTABLISHED");
      res.spans.push_back(std::move(h));
    }
    auto l = l7_by_socket.find({c.socket_id, c.pid});
    if (c.socket_id && l != l7_by_socket.end()) {
      const auto& requests = l7->connections[l->second].requests;
      for (size_t k = 0; k < requests.size(); k++) {
        const auto& rq = requests[k];
        Span q;
        q.trace_id = trace;
        q.span_id = request_span_id(id, k);
        q.parent = id;
        auto fw = forwarded.find({l->second, k});
        if (fw != forwarded.end()) {  // forwarded by a proxy: under the request it received
          q.trace_id = fw->second.trace;
          q.parent = fw->second.span;
          q.link_trace = trace;
          q.link_span = id;
        }
        q.kind = rq.role == l7::Role::kServer ? kServer : kClient;
        q.name = l7::request_name(rq);
        q.start_ns = rq.start_ns;
        q.end_ns = std::max(rq.end_ns, rq.start_ns);
        q.attrs.str("ebtrace.l7.protocol", l7::protocol_name(rq.protocol))
            .num("ebtrace.l7.request_bytes", int64_t(rq.request_bytes))
            .num("ebtrace.l7.response_bytes", int64_t(rq.response_bytes));
        if (rq.status) q.attrs.num("http.response.status_code", rq.status);
        if (rq.error) {
          q.error = true;
          q.message = rq.error_text.empty() ? "error" : rq.error_text;
        }
        res.spans.push_back(std::move(q));
      }
    }
    if (c.teardown_ns && c.close_ns >= c.teardown_ns && c.outcome != "refused" && c.outcome != "failed") {
      Span t;
      t.trace_id = trace;
      t.span_id = child_id();
      t.parent = id;
      t.name = "TCP teardown";
      t.start_ns = c.teardown_ns;
      t.end_ns = c.close_ns;
      t.attrs.str("ebtrace.tcp.closed_first", c.closed_first);
      res.spans.push_back(std::move(t));
    }
  }

  out << "{\"resourceSpans\":[";
  bool first_res = true;
  for (const auto& [pid, res] : resources) {
    Attrs ra;
    ra.str("service.name", pid ? res.comm : "unknown (owner not known)").str("host.name", session.hostname);
    if (pid) ra.num("process.pid", pid).str("process.executable.name", res.comm);
    out << (first_res ? "" : ",") << "{\"resource\":{\"attributes\":" << ra.json()
        << "},\"scopeSpans\":[{\"scope\":{\"name\":\"ebtrace\",\"version\":" << json_quote(session.ebtrace_version)
        << "},\"spans\":[";
    first_res = false;
    for (size_t i = 0; i < res.spans.size(); i++) {
      const Span& s = res.spans[i];
      out << (i ? "," : "") << "{\"traceId\":\"" << s.trace_id << "\",\"spanId\":\"" << hex64(s.span_id) << "\"";
      if (s.parent) out << ",\"parentSpanId\":\"" << hex64(s.parent) << "\"";
      out << ",\"name\":" << json_quote(s.name) << ",\"kind\":" << s.kind << ",\"startTimeUnixNano\":\""
          << wall(s.start_ns) << "\",\"endTimeUnixNano\":\"" << wall(std::max(s.end_ns, s.start_ns))
          << "\",\"attributes\":" << s.attrs.json();
      if (!s.events.empty()) {
        out << ",\"events\":[";
        for (size_t k = 0; k < s.events.size(); k++)
          out << (k ? "," : "") << "{\"timeUnixNano\":\"" << wall(std::get<0>(s.events[k])) << "\",\"name\":"
              << json_quote(std::get<1>(s.events[k])) << "}";
        out << "]";
      }
      if (s.dropped_events) out << ",\"droppedEventsCount\":" << s.dropped_events;
      if (!s.link_trace.empty())
        out << ",\"links\":[{\"traceId\":\"" << s.link_trace << "\",\"spanId\":\"" << hex64(s.link_span) << "\"}]";
      out << ",\"status\":{";
      if (s.error) out << "\"message\":" << json_quote(s.message) << ",\"code\":2";
      out << "}}";
      stats.spans++;
    }
    out << "]}]}";
  }
  out << "]}\n";
  return stats;
}

}  // namespace ebt::report
