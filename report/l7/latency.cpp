#include "report/l7/latency.h"

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <span>
#include <tuple>
#include <unordered_map>

#include <arpa/inet.h>
#include <sys/socket.h>

#include "common/percentile.h"

namespace ebt::report::l7 {
namespace {

std::string fmt_duration(uint64_t ns) {
  char b[32];
  if (ns < 10'000) std::snprintf(b, sizeof b, "%.2fus", ns / 1e3);
  else if (ns < 1'000'000) std::snprintf(b, sizeof b, "%.1fus", ns / 1e3);
  else if (ns < 1'000'000'000) std::snprintf(b, sizeof b, "%.2fms", ns / 1e6);
  else std::snprintf(b, sizeof b, "%.2fs", ns / 1e9);
  return b;
}

std::string json_escape(std::string_view s) {
  std::string r;
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') { r += '\\'; r += static_cast<char>(c); }
    else if (c < 0x20 || c >= 0x7f) {
      char b[8];
      std::snprintf(b, sizeof b, "\\u%04x", c);
      r += b;
    } else r += static_cast<char>(c);
  }
  return r;
}

std::string csv_field(std::string_view s) {
  bool quote = s.find_first_of(",\"\n\r") != std::string_view::npos;
  if (!quote) return std::string(s);
  std::string r = "\"";
  for (char c : s) {
    if (c == '"') r += '"';
    r += c;
  }
  return r + "\"";
}

const char* by_name(GroupBy by) {
  switch (by) {
    case GroupBy::kConn: return "conn";
    case GroupBy::kPid: return "pid";
    case GroupBy::kPeer: return "peer";
    case GroupBy::kContainer: return "container";
    default: return "";
  }
}

}  // namespace

std::string endpoint_name(uint16_t family, const std::vector<uint8_t>& addr, uint16_t port,
                          bool with_port) {
  char buf[INET6_ADDRSTRLEN] = "?";
  if (family == AF_INET && addr.size() >= 4) {
    inet_ntop(AF_INET, addr.data(), buf, sizeof buf);
    return with_port ? std::string(buf) + ":" + std::to_string(port) : std::string(buf);
  }
  if (family == AF_INET6 && addr.size() >= 16) {
    inet_ntop(AF_INET6, addr.data(), buf, sizeof buf);
    return with_port ? "[" + std::string(buf) + "]:" + std::to_string(port) : std::string(buf);
  }
  if (family == AF_UNIX) return "unix";
  return "?";
}

std::string escape_bytes(const std::vector<uint8_t>& bytes) {
  std::string r;
  for (uint8_t c : bytes) {
    if (c == '\r') r += "\\r";
    else if (c == '\n') r += "\\n";
    else if (c == '\t') r += "\\t";
    else if (c == '\\') r += "\\\\";
    else if (c >= 0x20 && c < 0x7f) r += static_cast<char>(c);
    else {
      char b[8];
      std::snprintf(b, sizeof b, "\\x%02x", c);
      r += b;
    }
  }
  return r;
}

uint64_t percentile(const std::vector<uint64_t>& sorted, double p) { return percentile_sorted(sorted, p); }

L7Analysis analyze_l7(L7Input input) {
  L7Analysis a;
  a.begin_ns = input.begin_ns;
  a.end_ns = input.end_ns;
  a.sockets = std::move(input.sockets);
  a.comms = std::move(input.comms);
  a.syscalls = input.events.size();
  // Group by connection: the socket id, or (pid, fd) for non-socket fds.
  std::unordered_map<uint64_t, std::vector<const SyscallEvent*>> by_conn;
  std::vector<uint64_t> order;
  for (const SyscallEvent& e : input.events) {
    uint64_t id = e.socket_id != 0
                      ? e.socket_id
                      : (1ull << 63) | (uint64_t{e.pid} << 24) | (static_cast<uint32_t>(e.fd) & 0xffffff);
    auto [it, fresh] = by_conn.try_emplace(id);
    if (fresh) order.push_back(id);
    it->second.push_back(&e);
    if (a.end_ns < e.exit_ns) a.end_ns = e.exit_ns;
    if (input.begin_ns == 0 && (a.begin_ns == 0 || a.begin_ns > e.enter_ns)) a.begin_ns = e.enter_ns;
  }
  for (uint64_t id : order) {
    auto& evs = by_conn[id];
    std::stable_sort(evs.begin(), evs.end(), [](const SyscallEvent* x, const SyscallEvent* y) {
      return x->exit_ns < y->exit_ns;
    });
    a.connections.push_back(analyze_connection(id, evs));
  }
  // Connections keep pid/fd from their first event; prefer the socket record's.
  std::stable_sort(a.connections.begin(), a.connections.end(),
                   [](const Connection& x, const Connection& y) { return x.first_ns < y.first_ns; });
  a.proxy = match_proxy_hops(a.connections);
  return a;
}

std::vector<LatencyRow> latency_rows(const L7Analysis& a, GroupBy by, const ContainerOf& container) {
  using Key = std::tuple<std::string, int, int, std::string, int>;
  std::map<Key, std::pair<std::vector<uint64_t>, uint64_t>> acc;  // latencies, errors
  for (const Connection& c : a.connections) {
    if (c.protocol == Protocol::kUnknown) continue;
    std::string group;
    auto sit = a.sockets.find(c.id);
    switch (by) {
      case GroupBy::kConn:
        group = "conn " + std::to_string(c.id);
        if (sit != a.sockets.end())
          group += " " + endpoint_name(sit->second.family, sit->second.local_addr, sit->second.local_port) +
                   "->" + endpoint_name(sit->second.family, sit->second.remote_addr, sit->second.remote_port);
        break;
      case GroupBy::kPid: {
        group = "pid " + std::to_string(c.pid);
        auto cit = a.comms.find(c.pid);
        if (cit != a.comms.end()) group += " " + cit->second;
        break;
      }
      case GroupBy::kPeer:
        // A server's peers are clients on throwaway ports: group them by address.
        group = sit == a.sockets.end()
                    ? "?"
                    : endpoint_name(sit->second.family, sit->second.remote_addr, sit->second.remote_port,
                                    c.role != Role::kServer);
        break;
      case GroupBy::kContainer:
        group = container ? container(c.pid) : "?";
        break;
      case GroupBy::kNone:
        break;
    }
    for (const Request& r : c.requests) {
      std::string name = r.protocol == Protocol::kHttp && !r.target.empty() ? r.command + " " + r.target : r.command;
      Key k{group, static_cast<int>(r.protocol), static_cast<int>(r.role), name, r.status};
      auto& slot = acc[k];
      slot.first.push_back(r.end_ns >= r.start_ns ? r.end_ns - r.start_ns : 0);
      if (r.error) ++slot.second;
    }
  }
  double span_s = a.end_ns > a.begin_ns ? (a.end_ns - a.begin_ns) / 1e9 : 0;
  std::vector<LatencyRow> rows;
  for (auto& [k, v] : acc) {
    auto& lat = v.first;
    std::sort(lat.begin(), lat.end());
    LatencyRow row;
    row.group = std::get<0>(k);
    row.protocol = static_cast<Protocol>(std::get<1>(k));
    row.role = static_cast<Role>(std::get<2>(k));
    row.request = std::get<3>(k);
    row.status = std::get<4>(k);
    row.count = lat.size();
    row.errors = v.second;
    row.per_second = span_s > 0 ? row.count / span_s : 0;
    row.p50_ns = percentile(lat, 50);
    row.p90_ns = percentile(lat, 90);
    row.p99_ns = percentile(lat, 99);
    row.p999_ns = percentile(lat, 99.9);
    row.max_ns = lat.empty() ? 0 : lat.back();
    rows.push_back(std::move(row));
  }
  return rows;
}

void write_l7_latency(const L7Analysis& a, const LatencyOptions& opt, std::ostream& out) {
  std::vector<LatencyRow> rows = latency_rows(a, opt.by, opt.container);
  uint64_t requests = 0, unanswered = 0, unmatched = 0, truncated = 0;
  uint64_t name_hidden = 0, response_hidden = 0, hidden_regions = 0;
  std::vector<const Connection*> unknown;
  for (const Connection& c : a.connections) {
    requests += c.requests.size();
    unanswered += c.unanswered;
    unmatched += c.unmatched_responses;
    truncated += c.truncated;
    name_hidden += c.name_hidden;
    response_hidden += c.response_hidden;
    hidden_regions += c.hidden_regions;
    if (c.protocol == Protocol::kUnknown) unknown.push_back(&c);
  }
  auto conn_ends = [&](const Connection& c) {
    auto it = a.sockets.find(c.id);
    if (it == a.sockets.end()) return std::string("fd ") + std::to_string(c.fd);
    const SocketInfo& s = it->second;
    return endpoint_name(s.family, s.local_addr, s.local_port) + "->" +
           endpoint_name(s.family, s.remote_addr, s.remote_port);
  };
  auto comm_of = [&](uint32_t pid) {
    auto it = a.comms.find(pid);
    return it == a.comms.end() ? std::string() : it->second;
  };
  if (opt.format == TableFormat::kCsv) {
    out << (opt.by != GroupBy::kNone ? std::string(by_name(opt.by)) + "," : "")
        << "protocol,role,request,status,count,errors,per_second,p50_ns,p90_ns,p99_ns,p999_ns,max_ns\n";
    for (const LatencyRow& r : rows) {
      if (opt.by != GroupBy::kNone) out << csv_field(r.group) << ",";
      char rate[32];
      std::snprintf(rate, sizeof rate, "%.3f", r.per_second);
      out << protocol_name(r.protocol) << "," << role_name(r.role) << "," << csv_field(r.request) << ","
          << r.status << "," << r.count << "," << r.errors << "," << rate << "," << r.p50_ns << ","
          << r.p90_ns << "," << r.p99_ns << "," << r.p999_ns << "," << r.max_ns << "\n";
    }
    return;
  }
  if (opt.format == TableFormat::kJson) {
    out << "{\"span_ns\":" << (a.end_ns > a.begin_ns ? a.end_ns - a.begin_ns : 0)
        << ",\"requests\":" << requests << ",\"unanswered\":" << unanswered
        << ",\"unmatched_responses\":" << unmatched << ",\"truncated\":" << truncated
        << ",\"name_hidden\":" << name_hidden << ",\"response_hidden\":" << response_hidden
        << ",\"hidden_regions\":" << hidden_regions << ",\"rows\":[";
    bool first = true;
    for (const LatencyRow& r : rows) {
      char rate[32];
      std::snprintf(rate, sizeof rate, "%.3f", r.per_second);
      out << (first ? "" : ",") << "{";
      if (opt.by != GroupBy::kNone) out << "\"" << by_name(opt.by) << "\":\"" << json_escape(r.group) << "\",";
      out << "\"protocol\":\"" << protocol_name(r.protocol) << "\",\"role\":\"" << role_name(r.role)
          << "\",\"request\":\"" << json_escape(r.request) << "\",\"status\":" << r.status
          << ",\"count\":" << r.count << ",\"errors\":" << r.errors << ",\"per_second\":" << rate
          << ",\"p50_ns\":" << r.p50_ns << ",\"p90_ns\":" << r.p90_ns << ",\"p99_ns\":" << r.p99_ns
          << ",\"p999_ns\":" << r.p999_ns << ",\"max_ns\":" << r.max_ns << "}";
      first = false;
    }
    out << "],\"proxy\":[";
    first = true;
    auto pj = [&](const char* name, const Percentiles& p) {
      out << ",\"" << name << "\":{\"p50_ns\":" << p.p50 << ",\"p90_ns\":" << p.p90 << ",\"p99_ns\":" << p.p99
          << ",\"max_ns\":" << p.max << "}";
    };
    for (const ProxyRouteRow& r : proxy_rows(a.connections, a.proxy)) {
      out << (first ? "" : ",") << "{\"pid\":" << r.pid << ",\"route\":\"" << json_escape(r.route)
          << "\",\"count\":" << r.count;
      pj("inbound", r.inbound);
      pj("upstream", r.upstream);
      pj("own", r.own);
      out << "}";
      first = false;
    }
    out << "],\"proxy_unmatched\":[";
    first = true;
    for (const ProxyUnmatched& u : a.proxy.unmatched) {
      out << (first ? "" : ",") << "{\"pid\":" << u.pid << ",\"inbound\":" << u.inbound
          << ",\"outbound\":" << u.outbound << "}";
      first = false;
    }
    out << "],\"other_connections\":[";
    first = true;
    for (const Connection* c : unknown) {
      out << (first ? "" : ",") << "{\"conn\":" << c->id << ",\"pid\":" << c->pid << ",\"endpoints\":\""
          << json_escape(conn_ends(*c)) << "\",\"syscalls\":" << c->syscalls
          << ",\"bytes_in\":" << c->bytes_in << ",\"bytes_out\":" << c->bytes_out << "}";
      first = false;
    }
    out << "]}\n";
    return;
  }

  // Text.
  char line[512];
  out << "L7 request latency (" << requests << " requests over " << fmt_duration(
      a.end_ns > a.begin_ns ? a.end_ns - a.begin_ns : 0) << "; start = first request byte at the "
      "syscall boundary, end = exit of the syscall moving the last response byte)\n";
  if (rows.empty()) out << "  no Redis, HTTP/1.x, MySQL or PostgreSQL requests found\n";
  std::string last_group = "\x01";
  std::string last_section;
  for (const LatencyRow& r : rows) {
    if (opt.by != GroupBy::kNone && r.group != last_group) {
      out << "\n" << by_name(opt.by) << " " << r.group << "\n";
      last_group = r.group;
      last_section.clear();
    }
    std::string section = std::string(protocol_name(r.protocol)) + " " + role_name(r.role);
    if (section != last_section) {
      out << "\n  " << section << "\n";
      std::snprintf(line, sizeof line, "  %-28s %6s %8s %7s %10s %9s %9s %9s %9s %9s\n", "request", "status",
                    "count", "errors", "req/s", "p50", "p90", "p99", "p99.9", "max");
      out << line;
      last_section = section;
    }
    std::string name = r.request.size() > 28 ? r.request.substr(0, 27) + "~" : r.request;
    std::string status = r.protocol == Protocol::kHttp ? std::to_string(r.status) : "-";
    std::snprintf(line, sizeof line, "  %-28s %6s %8" PRIu64 " %7" PRIu64 " %10.1f %9s %9s %9s %9s %9s\n",
                  name.c_str(), status.c_str(), r.count, r.errors, r.per_second,
                  fmt_duration(r.p50_ns).c_str(), fmt_duration(r.p90_ns).c_str(),
                  fmt_duration(r.p99_ns).c_str(), fmt_duration(r.p999_ns).c_str(),
                  fmt_duration(r.max_ns).c_str());
    out << line;
  }
  if (unanswered || unmatched)
    out << "\n  not matched: " << unanswered << " requests without response by the end, " << unmatched
        << " responses to requests before the recording\n";
  if (name_hidden || response_hidden || hidden_regions || truncated) {
    out << "\n  payload beyond the capture (--payload-bytes): " << truncated << " messages cut";
    if (name_hidden) out << "; " << name_hidden << " requests counted from their responses as " << kTruncatedName;
    if (response_hidden)
      out << "; " << response_hidden << " requests whose response was not captured (errors unknown)";
    if (hidden_regions)
      out << "; " << hidden_regions << " stretches where neither direction was captured (the requests there "
          << "are NOT counted)";
    out << "\n  record with a larger --payload-bytes (the --l7 default is 4096, at most 16384) to name them\n";
  }
  std::vector<ProxyRouteRow> prow = proxy_rows(a.connections, a.proxy);
  if (!prow.empty() || !a.proxy.unmatched.empty()) {
    out << "\nProxy hops (a request received on one connection and forwarded on another; own = inbound - "
           "upstream: the proxy's part)\n";
    uint32_t last_pid = 0;
    for (const ProxyRouteRow& r : prow) {
      if (r.pid != last_pid) {
        out << "\n  pid " << r.pid << " " << comm_of(r.pid) << "\n";
        std::snprintf(line, sizeof line, "  %-28s %-10s %8s %9s %9s %9s %9s\n", "route", "part", "count", "p50",
                      "p90", "p99", "max");
        out << line;
        last_pid = r.pid;
      }
      std::string name = r.route.size() > 28 ? r.route.substr(0, 27) + "~" : r.route;
      const std::pair<const char*, const Percentiles*> parts[] = {
          {"inbound", &r.inbound}, {"upstream", &r.upstream}, {"own", &r.own}};
      bool first_part = true;
      for (const auto& [part, p] : parts) {
        std::snprintf(line, sizeof line, "  %-28s %-10s %8" PRIu64 " %9s %9s %9s %9s\n",
                      first_part ? name.c_str() : "", part, r.count, fmt_duration(p->p50).c_str(),
                      fmt_duration(p->p90).c_str(), fmt_duration(p->p99).c_str(), fmt_duration(p->max).c_str());
        out << line;
        first_part = false;
      }
    }
    for (const ProxyUnmatched& u : a.proxy.unmatched)
      if (u.inbound || u.outbound)
        out << "  pid " << u.pid << ": " << u.inbound << " inbound requests not forwarded (answered by the process "
            << "itself), " << u.outbound << " outbound requests without a free enclosing inbound one\n";
  }
  if (!unknown.empty()) {
    out << "\nOther connections (protocol not recognised; bytes only)\n";
    std::snprintf(line, sizeof line, "  %-10s %-7s %-16s %-45s %8s %10s %10s\n", "conn", "pid", "comm",
                  "local->remote", "syscalls", "bytes in", "bytes out");
    out << line;
    for (const Connection* c : unknown) {
      std::string id = c->id >> 63 ? "fd " + std::to_string(c->fd) : std::to_string(c->id);
      std::snprintf(line, sizeof line, "  %-10s %-7u %-16s %-45s %8" PRIu64 " %10" PRIu64 " %10" PRIu64 "\n",
                    id.c_str(), c->pid, comm_of(c->pid).c_str(), conn_ends(*c).c_str(), c->syscalls,
                    c->bytes_in, c->bytes_out);
      out << line;
      if (opt.show_payload) {
        if (!c->head_in.empty()) out << "      in:  " << escape_bytes(c->head_in) << "\n";
        if (!c->head_out.empty()) out << "      out: " << escape_bytes(c->head_out) << "\n";
      }
    }
  }
}

}  // namespace ebt::report::l7
