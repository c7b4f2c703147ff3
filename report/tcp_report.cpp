#include "report/tcp_report.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstdio>

namespace ebt::report {
namespace {

// Linux TCP states (include/net/tcp_states.h).
enum : uint8_t {
  kEstablished = 1, kSynSent = 2, kSynRecv = 3, kFinWait1 = 4, kFinWait2 = 5, kTimeWait = 6, kClose = 7,
  kCloseWait = 8, kLastAck = 9, kListen = 10, kClosing = 11, kNewSynRecv = 12,
};

std::string endpoint(const std::vector<uint8_t>& a, uint16_t port) {
  char buf[INET6_ADDRSTRLEN] = "?";
  if (a.size() == 4) inet_ntop(AF_INET, a.data(), buf, sizeof buf);
  if (a.size() == 16) inet_ntop(AF_INET6, a.data(), buf, sizeof buf);
  std::string host = a.size() == 16 ? "[" + std::string(buf) + "]" : std::string(buf);
  return host + ":" + std::to_string(port);
}

std::string address_only(const std::vector<uint8_t>& a) {
  std::string e = endpoint(a, 0);
  return e.substr(0, e.rfind(':'));
}

std::string fixed(double v, int decimals) {
  char b[48];
  std::snprintf(b, sizeof b, "%.*f", decimals, v);
  return b;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string o = "\"";
  for (char c : s) o += c == '"' ? std::string("\"\"") : std::string(1, c);
  return o + "\"";
}

}  // namespace

const char* tcp_role_name(TcpRole r) {
  switch (r) {
    case TcpRole::kClient: return "client";
    case TcpRole::kServer: return "server";
    default: return "?";
  }
}

std::string tcp_state_name(uint8_t s) {
  static const char* const names[] = {"",          "ESTABLISHED", "SYN_SENT", "SYN_RECV",   "FIN_WAIT1",
                                      "FIN_WAIT2", "TIME_WAIT",   "CLOSE",    "CLOSE_WAIT", "LAST_ACK",
                                      "LISTEN",    "CLOSING",     "NEW_SYN_RECV"};
  if (s >= 1 && s <= 12) return names[s];
  return "STATE_" + std::to_string(s);
}

std::string TcpConnection::local() const { return endpoint(local_addr, local_port); }
std::string TcpConnection::remote() const { return endpoint(remote_addr, remote_port); }
uint64_t TcpConnection::duration_ns() const {
  uint64_t from = open_ns ? open_ns : first_ns;
  uint64_t to = close_ns ? close_ns : last_ns;
  return to > from ? to - from : 0;
}

void TcpConnections::add(const TcpEvent& e) { by_cookie_[e.cookie].push_back(e); }

std::vector<TcpConnection> TcpConnections::build(const ReportContext& ctx, uint64_t end_ns) const {
  std::vector<TcpConnection> out;
  out.reserve(by_cookie_.size());
  for (const auto& [cookie, events_in] : by_cookie_) {
    std::vector<const TcpEvent*> ev;
    for (const auto& e : events_in) ev.push_back(&e);
    std::stable_sort(ev.begin(), ev.end(), [](const TcpEvent* a, const TcpEvent* b) { return a->time_ns < b->time_ns; });
    TcpConnection c;
    c.cookie = cookie;
    c.first_ns = ev.front()->time_ns;
    c.last_ns = ev.back()->time_ns;
    bool owner_task = false, owner_accept = false;
    bool seen_state = false;
    for (const TcpEvent* e : ev) {
      if (c.local_addr.empty() || (c.local_port == 0 && e->local_port)) {
        c.local_addr = e->local_addr;
        c.remote_addr = e->remote_addr;
        c.local_port = e->local_port;
        c.remote_port = e->remote_port;
        c.netns = e->netns;
      }
      if (!c.socket_id && e->socket_id) c.socket_id = e->socket_id;
      // Owner: accept() beats connect()/other task-context events beats /proc.
      if (e->pid) {
        bool take = e->type == TcpEventType::kAccept ? !owner_accept
                    : !e->owner_from_proc         ? !owner_accept && !owner_task
                                                  : !owner_accept && !owner_task && !c.pid;
        if (take) {
          c.pid = e->pid;
          c.tid = e->tid;
          c.owner_from_proc = e->owner_from_proc;
          owner_accept = owner_accept || e->type == TcpEventType::kAccept;
          owner_task = owner_task || !e->owner_from_proc;
        }
      }
      if (e->has_stats && e->type == TcpEventType::kState) {
        c.has_stats = true;
        c.bytes_tx = e->bytes_sent;
        c.bytes_rx = e->bytes_received;
        c.bytes_retrans = e->bytes_retrans;
        c.segs_out = e->segs_out;
        c.segs_in = e->segs_in;
        c.retransmits = e->retransmits;
        c.srtt_ns = e->srtt_ns;
      }
      switch (e->type) {
        case TcpEventType::kState: {
          if (!seen_state) {
            seen_state = true;
            if (e->old_state == kClose && e->new_state == kSynSent) {
              c.role = TcpRole::kClient;
              c.open_ns = e->time_ns;
            } else if ((e->old_state == kListen || e->old_state == kNewSynRecv) && e->new_state == kSynRecv) {
              c.role = TcpRole::kServer;
              c.open_ns = e->time_ns;
            }
          }
          c.states.push_back({e->time_ns, e->new_state});
          if (e->new_state == kEstablished && !c.established_ns && c.open_ns) {
            c.established_ns = e->time_ns;
            if (c.role == TcpRole::kClient) c.handshake_ns = e->time_ns - c.open_ns;
            // A passive open's first RTT sample is the SYN-ACK's: sent -> acked.
            if (c.role == TcpRole::kServer && e->has_stats && e->srtt_ns) c.handshake_ns = e->srtt_ns;
          }
          if ((e->new_state == kFinWait1 || e->new_state == kCloseWait) && c.closed_first.empty()) {
            c.closed_first = e->new_state == kFinWait1 ? "local" : "remote";
            if (!c.teardown_ns) c.teardown_ns = e->time_ns;
          }
          if (e->new_state == kClose && !c.close_ns) c.close_ns = e->time_ns;
          break;
        }
        case TcpEventType::kAccept:
          if (c.role == TcpRole::kUnknown) c.role = TcpRole::kServer;
          break;
        case TcpEventType::kRetransmit:
          c.retransmit_events++;
          c.marks.push_back({e->time_ns, e->type});
          break;
        case TcpEventType::kSendReset:
        case TcpEventType::kReceiveReset: {
          bool sent = e->type == TcpEventType::kSendReset;
          (sent ? c.resets_sent : c.resets_received)++;
          c.marks.push_back({e->time_ns, e->type});
          if (c.closed_first.empty()) c.closed_first = sent ? "local reset" : "remote reset";
          if (!c.teardown_ns) c.teardown_ns = e->time_ns;
          break;
        }
        default: break;
      }
    }
    // A passive open began when its SYN-ACK left (the child socket only
    // appears with the ACK): the handshake is part of the connection's life.
    if (c.role == TcpRole::kServer && c.handshake_ns && c.established_ns >= *c.handshake_ns)
      c.open_ns = std::min(c.open_ns, c.established_ns - *c.handshake_ns);
    c.open_before = c.open_ns == 0;
    c.open_at_end = c.close_ns == 0;
    if (c.open_at_end && end_ns > c.last_ns) c.last_ns = end_ns;
    if (c.open_at_end) {
      // The kernel's counters are read at transitions: an open connection's
      // last ones are out of date, so they are not shown at all.
      c.has_stats = false;
      c.bytes_tx = c.bytes_rx = c.bytes_retrans = 0;
      c.segs_out = c.segs_in = c.retransmits = 0;
    }
    if (c.open_at_end)
      c.outcome = "open";
    else if (c.role == TcpRole::kClient && !c.established_ns)
      c.outcome = c.resets_received ? "refused" : "failed";
    else if (c.resets_sent || c.resets_received)
      c.outcome = "reset";
    else
      c.outcome = "closed";
    c.comm = c.pid ? ctx.comm_of(c.pid, c.tid, c.first_ns) : "";
    out.push_back(std::move(c));
  }
  std::stable_sort(out.begin(), out.end(), [](const TcpConnection& a, const TcpConnection& b) {
    uint64_t ta = a.open_ns ? a.open_ns : a.first_ns, tb = b.open_ns ? b.open_ns : b.first_ns;
    return ta != tb ? ta < tb : a.cookie < b.cookie;
  });
  return out;
}

TcpReport tcp_report(std::vector<TcpConnection> connections, const std::string& by, uint64_t lost) {
  TcpReport r;
  r.by = by;
  r.lost = lost;
  std::vector<uint64_t> chs, shs, life;
  struct Acc {
    TcpGroupRow row;
    std::vector<uint64_t> hs, life;
  };
  std::map<std::string, Acc> groups;
  for (const auto& c : connections) {
    (c.role == TcpRole::kClient ? r.clients : c.role == TcpRole::kServer ? r.servers : r.unknown_role)++;
    if (c.outcome == "refused") r.refused++;
    if (c.outcome == "reset") r.reset++;
    if (c.open_before) r.open_before++;
    if (c.open_at_end) r.open_at_end++;
    if (c.handshake_ns) (c.role == TcpRole::kClient ? chs : shs).push_back(*c.handshake_ns);
    bool whole = !c.open_before && !c.open_at_end;
    if (whole) life.push_back(c.duration_ns());
    if (by.empty()) continue;
    std::string key;
    if (by == "peer") key = address_only(c.remote_addr);
    if (by == "port")  // the service's port: ours when serving, theirs when calling
      key = std::to_string(c.role == TcpRole::kServer ? c.local_port
                           : c.role == TcpRole::kClient ? c.remote_port
                                                        : std::min(c.local_port, c.remote_port));
    if (by == "pid") key = c.pid ? std::to_string(c.pid) + " " + c.comm : "? (owner not known)";
    if (by == "container") key = c.container;
    Acc& a = groups[key];
    a.row.key = key;
    a.row.connections++;
    a.row.bytes_tx += c.bytes_tx;
    a.row.bytes_rx += c.bytes_rx;
    a.row.retransmits += c.retransmits;
    a.row.resets += c.resets_sent + c.resets_received;
    if (c.outcome == "refused") a.row.refused++;
    if (c.handshake_ns) a.hs.push_back(*c.handshake_ns);
    if (whole) a.life.push_back(c.duration_ns());
  }
  r.client_handshake = duration_stats(chs);
  r.server_handshake = duration_stats(shs);
  r.lifetime = duration_stats(life);
  for (auto& [key, a] : groups) {
    a.row.handshake = duration_stats(a.hs);
    a.row.lifetime = duration_stats(a.life);
    r.groups.push_back(a.row);
  }
  std::stable_sort(r.groups.begin(), r.groups.end(),
                   [](const TcpGroupRow& a, const TcpGroupRow& b) { return a.connections > b.connections; });
  r.connections = std::move(connections);
  return r;
}

namespace {

std::string us(uint64_t ns) { return fixed(double(ns) / 1e3, 1); }
std::string ms(uint64_t ns) { return fixed(double(ns) / 1e6, 3); }

std::string marks_of(const TcpConnection& c) {
  std::string m;
  if (c.open_before) m += "open-before ";
  if (c.open_at_end) m += "open-at-end ";
  if (c.owner_from_proc) m += "owner-from-proc ";
  if (!c.pid) m += "owner-unknown ";
  if (!m.empty()) m.pop_back();
  return m;
}

}  // namespace

void write_tcp_text(const TcpReport& r, size_t top, std::ostream& out) {
  out << "# TCP connections: " << r.connections.size() << " (" << r.clients << " client, " << r.servers
      << " server, " << r.unknown_role << " role unknown); " << r.refused << " refused, " << r.reset << " reset; "
      << r.open_before << " open before the recording, " << r.open_at_end << " still open at its end\n";
  if (r.lost) out << "# " << r.lost << " events were lost while recording: some connections may be incomplete\n";
  if (!r.container_filter.empty())
    out << "# --container " << r.container_filter << ": " << r.left_out << " connections of other containers left out ("
        << r.left_out_unknown << " of them of unknown owner)\n";
  out << "\n";
  char line[512];
  std::snprintf(line, sizeof line, "%7s %-15s %-15s %-6s %-22s %-22s %10s %9s %10s %10s %4s %3s %-12s %-8s %s\n",
                "PID", "COMM", "CONTAINER", "ROLE", "LOCAL", "REMOTE", "DUR_MS", "HS_US", "TX_B", "RX_B", "RETR",
                "RST", "CLOSED_FIRST", "OUTCOME", "NOTE");
  out << line;
  size_t n = top ? std::min(top, r.connections.size()) : r.connections.size();
  for (size_t i = 0; i < n; i++) {
    const auto& c = r.connections[i];
    std::string pid = c.pid ? std::to_string(c.pid) : "?";
    std::string hs = c.handshake_ns ? us(*c.handshake_ns) : "-";
    std::string tx = c.has_stats ? std::to_string(c.bytes_tx) : "-";
    std::string rx = c.has_stats ? std::to_string(c.bytes_rx) : "-";
    std::snprintf(line, sizeof line, "%7s %-15s %-15s %-6s %-22s %-22s %10s %9s %10s %10s %4u %3llu %-12s %-8s %s\n",
                  pid.c_str(), c.comm.empty() ? "?" : c.comm.c_str(), c.container.c_str(), tcp_role_name(c.role),
                  c.local().c_str(),
                  c.remote().c_str(), ms(c.duration_ns()).c_str(), hs.c_str(), tx.c_str(), rx.c_str(), c.retransmits,
                  static_cast<unsigned long long>(c.resets_sent + c.resets_received),
                  c.closed_first.empty() ? "-" : c.closed_first.c_str(), c.outcome.c_str(), marks_of(c).c_str());
    out << line;
  }
  if (n < r.connections.size()) out << "... " << (r.connections.size() - n) << " more (--top N)\n";
  if (!r.by.empty()) {
    out << "\n# by " << r.by << "\n";
    std::snprintf(line, sizeof line, "%6s %12s %12s %5s %4s %7s %10s %10s %10s %10s  %s\n", "CONNS", "TX_B", "RX_B",
                  "RETR", "RST", "REFUSED", "HS_P50_US", "HS_P99_US", "LIFE_P50_MS", "LIFE_P99_MS", r.by.c_str());
    out << line;
    for (size_t i = 0; i < r.groups.size() && (!top || i < top); i++) {
      const auto& g = r.groups[i];
      std::snprintf(line, sizeof line, "%6llu %12llu %12llu %5llu %4llu %7llu %10s %10s %10s %10s  %s\n",
                    (unsigned long long)g.connections, (unsigned long long)g.bytes_tx, (unsigned long long)g.bytes_rx,
                    (unsigned long long)g.retransmits, (unsigned long long)g.resets, (unsigned long long)g.refused,
                    g.handshake.count ? us(g.handshake.p50_ns).c_str() : "-",
                    g.handshake.count ? us(g.handshake.p99_ns).c_str() : "-",
                    g.lifetime.count ? ms(g.lifetime.p50_ns).c_str() : "-",
                    g.lifetime.count ? ms(g.lifetime.p99_ns).c_str() : "-", g.key.c_str());
      out << line;
    }
  }
  out << "\n# percentiles\n";
  std::snprintf(line, sizeof line, "%8s %12s %12s %12s %12s  %s\n", "count", "p50", "p90", "p99", "max", "");
  out << line;
  auto row = [&](const DurationStats& s, bool in_ms, const char* what) {
    auto f = [&](uint64_t v) { return in_ms ? ms(v) : us(v); };
    std::snprintf(line, sizeof line, "%8llu %12s %12s %12s %12s  %s\n", (unsigned long long)s.count,
                  s.count ? f(s.p50_ns).c_str() : "-", s.count ? f(s.p90_ns).c_str() : "-",
                  s.count ? f(s.p99_ns).c_str() : "-", s.count ? f(s.max_ns).c_str() : "-", what);
    out << line;
  };
  row(r.client_handshake, false, "handshake, client (us): SYN sent -> ESTABLISHED");
  row(r.server_handshake, false, "handshake, server (us): SYN-ACK sent -> ACK received (first RTT sample)");
  row(r.lifetime, true, "lifetime (ms): open -> CLOSE, connections seen whole");
}

void write_tcp_csv(const TcpReport& r, std::ostream& out) {
  if (!r.by.empty()) {
    out << r.by << ",connections,bytes_tx,bytes_rx,retransmits,resets,refused,handshake_p50_ns,handshake_p99_ns,"
                   "lifetime_p50_ns,lifetime_p99_ns\n";
    for (const auto& g : r.groups)
      out << csv_field(g.key) << "," << g.connections << "," << g.bytes_tx << "," << g.bytes_rx << ","
          << g.retransmits << "," << g.resets << "," << g.refused << "," << g.handshake.p50_ns << ","
          << g.handshake.p99_ns << "," << g.lifetime.p50_ns << "," << g.lifetime.p99_ns << "\n";
    return;
  }
  out << "pid,comm,container,container_id,role,local,remote,open_ns,close_ns,duration_ns,handshake_ns,bytes_tx,bytes_rx,retransmits,"
         "resets_sent,resets_received,closed_first,outcome,open_before,open_at_end\n";
  for (const auto& c : r.connections)
    out << c.pid << "," << csv_field(c.comm) << "," << csv_field(c.container) << "," << csv_field(c.container_id) << ","
        << tcp_role_name(c.role) << "," << csv_field(c.local()) << ","
        << csv_field(c.remote()) << "," << c.open_ns << "," << c.close_ns << "," << c.duration_ns() << ","
        << (c.handshake_ns ? std::to_string(*c.handshake_ns) : "") << ","
        << (c.has_stats ? std::to_string(c.bytes_tx) : "") << "," << (c.has_stats ? std::to_string(c.bytes_rx) : "")
        << "," << c.retransmits << "," << c.resets_sent << "," << c.resets_received << "," << c.closed_first << ","
        << c.outcome << "," << (c.open_before ? 1 : 0) << "," << (c.open_at_end ? 1 : 0) << "\n";
}

void write_tcp_json(const TcpReport& r, std::ostream& out) {
  auto stats = [&](const DurationStats& s) {
    out << "{\"count\":" << s.count << ",\"p50_ns\":" << s.p50_ns << ",\"p90_ns\":" << s.p90_ns
        << ",\"p99_ns\":" << s.p99_ns << ",\"max_ns\":" << s.max_ns << "}";
  };
  out << "{\"connections\":[";
  for (size_t i = 0; i < r.connections.size(); i++) {
    const auto& c = r.connections[i];
    out << (i ? "," : "") << "{\"pid\":" << c.pid << ",\"tid\":" << c.tid << ",\"comm\":" << json_quote(c.comm)
        << ",\"container\":" << json_quote(c.container) << ",\"container_id\":" << json_quote(c.container_id)
        << ",\"in_container\":" << (c.in_container ? "true" : "false") << ",\"role\":\"" << tcp_role_name(c.role) << "\",\"local\":" << json_quote(c.local())
        << ",\"remote\":" << json_quote(c.remote()) << ",\"local_port\":" << c.local_port
        << ",\"remote_port\":" << c.remote_port << ",\"netns\":" << c.netns << ",\"socket_id\":" << c.socket_id
        << ",\"open_ns\":" << c.open_ns << ",\"established_ns\":" << c.established_ns
        << ",\"close_ns\":" << c.close_ns << ",\"duration_ns\":" << c.duration_ns() << ",\"handshake_ns\":"
        << (c.handshake_ns ? std::to_string(*c.handshake_ns) : "null") << ",\"has_stats\":"
        << (c.has_stats ? "true" : "false") << ",\"bytes_tx\":" << c.bytes_tx << ",\"bytes_rx\":" << c.bytes_rx
        << ",\"bytes_retrans\":" << c.bytes_retrans << ",\"segs_out\":" << c.segs_out << ",\"segs_in\":" << c.segs_in
        << ",\"srtt_ns\":" << c.srtt_ns << ",\"retransmits\":" << c.retransmits
        << ",\"retransmit_events\":" << c.retransmit_events << ",\"resets_sent\":" << c.resets_sent
        << ",\"resets_received\":" << c.resets_received << ",\"closed_first\":" << json_quote(c.closed_first)
        << ",\"outcome\":\"" << c.outcome << "\",\"open_before\":" << (c.open_before ? "true" : "false")
        << ",\"open_at_end\":" << (c.open_at_end ? "true" : "false")
        << ",\"owner_from_proc\":" << (c.owner_from_proc ? "true" : "false") << ",\"states\":[";
    for (size_t k = 0; k < c.states.size(); k++)
      out << (k ? "," : "") << "{\"t_ns\":" << c.states[k].first << ",\"state\":\""
          << tcp_state_name(c.states[k].second) << "\"}";
    out << "]}";
  }
  out << "],\"clients\":" << r.clients << ",\"servers\":" << r.servers << ",\"refused\":" << r.refused
      << ",\"reset\":" << r.reset << ",\"open_before\":" << r.open_before << ",\"open_at_end\":" << r.open_at_end
      << ",\"lost_events\":" << r.lost;
  if (!r.container_filter.empty())
    out << ",\"container_filter\":" << json_quote(r.container_filter) << ",\"left_out\":" << r.left_out
        << ",\"left_out_unknown\":" << r.left_out_unknown;
  out << ",\"handshake\":{\"client\":";
  stats(r.client_handshake);
  out << ",\"server\":";
  stats(r.server_handshake);
  out << "},\"lifetime\":";
  stats(r.lifetime);
  if (!r.by.empty()) {
    out << ",\"by\":\"" << r.by << "\",\"groups\":[";
    for (size_t i = 0; i < r.groups.size(); i++) {
      const auto& g = r.groups[i];
      out << (i ? "," : "") << "{\"key\":" << json_quote(g.key) << ",\"connections\":" << g.connections
          << ",\"bytes_tx\":" << g.bytes_tx << ",\"bytes_rx\":" << g.bytes_rx << ",\"retransmits\":" << g.retransmits
          << ",\"resets\":" << g.resets << ",\"refused\":" << g.refused << ",\"handshake\":";
      stats(g.handshake);
      out << ",\"lifetime\":";
      stats(g.lifetime);
      out << "}";
    }
    out << "]";
  }
  out << "}\n";
}

size_t add_tcp_to_trace(TraceJson& trace, const std::vector<TcpConnection>& connections, uint64_t end_ns) {
  // Above every real pid and next to the skb family's network process.
  constexpr uint32_t kTcpPid = 0x7fff0001;
  if (connections.empty()) return 0;
  trace.set_process_name(kTcpPid, "TCP connections");
  uint32_t tid = 0;
  for (const auto& c : connections) {
    ++tid;
    // The owner's container as the --tcp table's CONTAINER column names it
    // (host processes keep the plain name).
    std::string owner = c.pid ? std::to_string(c.pid) + " " + c.comm : "? (owner unknown)";
    if (c.in_container) owner += " (container " + c.container + ")";
    trace.set_thread_name(kTcpPid, tid, owner + ": " + c.local() + " > " + c.remote());
    trace.set_thread_sort_index(kTcpPid, tid, tid);
    TraceArgs args{{"role", std::string(tcp_role_name(c.role))}, {"outcome", c.outcome},
                   {"bytes_tx", c.bytes_tx},  {"bytes_rx", c.bytes_rx},
                   {"retransmits", uint64_t(c.retransmits)}, {"closed_first", c.closed_first}};
    if (c.in_container) {
      args.push_back({"container", c.container});
      args.push_back({"container_id", c.container_id});
    }
    uint64_t begin = c.open_ns ? c.open_ns : c.first_ns;
    uint64_t end = c.close_ns ? c.close_ns : std::max(c.last_ns, end_ns);
    uint64_t est = c.established_ns ? c.established_ns : (c.open_before ? begin : 0);
    if (c.open_ns && c.established_ns > c.open_ns)
      trace.slice(kTcpPid, tid, c.open_ns, c.established_ns - c.open_ns, "handshake", "tcp");
    else if (c.open_ns && !c.established_ns && c.close_ns)
      trace.slice(kTcpPid, tid, c.open_ns, c.close_ns - c.open_ns, "connect: " + c.outcome, "tcp");
    if (est) {
      uint64_t est_end = c.teardown_ns ? c.teardown_ns : end;
      if (est_end > est) trace.slice(kTcpPid, tid, est, est_end - est, "established", "tcp", args);
    }
    if (c.teardown_ns && end > c.teardown_ns)
      trace.slice(kTcpPid, tid, c.teardown_ns, end - c.teardown_ns, "teardown (" + c.closed_first + ")", "tcp");
    for (const auto& [t, type] : c.marks)
      trace.instant(kTcpPid, tid, t,
                    type == TcpEventType::kRetransmit  ? "retransmit"
                    : type == TcpEventType::kSendReset ? "reset sent"
                                                       : "reset received",
                    "tcp");
  }
  return connections.size();
}

}  // namespace ebt::report
