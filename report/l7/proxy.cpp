#include "report/l7/proxy.h"

#include <algorithm>
#include <list>
#include <map>

#include "common/percentile.h"

namespace ebt::report::l7 {

std::string request_name(const Request& r) {
  return r.protocol == Protocol::kHttp && !r.target.empty() ? r.command + " " + r.target : r.command;
}

namespace {

bool same_name(const Request& a, const Request& b) {
  return a.protocol == b.protocol && a.command == b.command && a.target == b.target;
}

Percentiles percentiles(std::vector<uint64_t> v) {
  std::sort(v.begin(), v.end());
  Percentiles p;
  p.p50 = percentile_sorted(v, 50);
  p.p90 = percentile_sorted(v, 90);
  p.p99 = percentile_sorted(v, 99);
  p.max = v.empty() ? 0 : v.back();
  return p;
}

}  // namespace

ProxyMatch match_proxy_hops(const std::vector<Connection>& conns) {
  ProxyMatch out;
  // Processes with requests in both roles, per protocol: HTTP in and HTTP out
  // is a proxy; HTTP in and PostgreSQL out is an application calling its database.
  std::map<std::pair<uint32_t, Protocol>, std::pair<std::vector<RequestRef>, std::vector<RequestRef>>> by_pid;
  for (size_t ci = 0; ci < conns.size(); ++ci) {
    const Connection& c = conns[ci];
    if (c.protocol == Protocol::kUnknown || c.role == Role::kUnknown) continue;
    auto& slot = by_pid[{c.pid, c.protocol}];
    for (size_t ri = 0; ri < c.requests.size(); ++ri)
      (c.role == Role::kServer ? slot.first : slot.second).push_back({ci, ri});
  }
  auto req = [&](const RequestRef& r) -> const Request& { return conns[r.conn].requests[r.req]; };
  auto by_start = [&](const RequestRef& a, const RequestRef& b) { return req(a).start_ns < req(b).start_ns; };
  for (auto& [key, io] : by_pid) {
    uint32_t pid = key.first;
    auto& [in, outb] = io;
    if (in.empty() || outb.empty()) continue;
    std::sort(in.begin(), in.end(), by_start);
    std::sort(outb.begin(), outb.end(), by_start);
    ProxyUnmatched um;
    um.pid = pid;
    std::list<RequestRef> active;  // inbound requests not yet matched, oldest first
    size_t next_in = 0;
    for (const RequestRef& o : outb) {
      const Request& ro = req(o);
      while (next_in < in.size() && req(in[next_in]).start_ns <= ro.start_ns) active.push_back(in[next_in++]);
      // Those that ended before this one started can never enclose a later one.
      for (auto it = active.begin(); it != active.end();) {
        if (req(*it).end_ns < ro.start_ns) {
          ++um.inbound;
          it = active.erase(it);
        } else {
          ++it;
        }
      }
      auto pick = active.end();
      for (auto it = active.begin(); it != active.end(); ++it) {
        const Request& ri = req(*it);
        if (ri.end_ns < ro.end_ns) continue;  // does not enclose it
        if (same_name(ri, ro)) {
          pick = it;
          break;
        }
        if (pick == active.end()) pick = it;
      }
      if (pick == active.end()) {
        ++um.outbound;
        continue;
      }
      out.hops.push_back({*pick, o});
      active.erase(pick);
    }
    um.inbound += active.size() + (in.size() - next_in);
    out.unmatched.push_back(um);
  }
  return out;
}

std::vector<ProxyRouteRow> proxy_rows(const std::vector<Connection>& conns, const ProxyMatch& m) {
  struct Acc {
    std::vector<uint64_t> in, up, own;
  };
  std::map<std::pair<uint32_t, std::string>, Acc> acc;
  for (const ProxyHop& h : m.hops) {
    const Request& i = conns[h.inbound.conn].requests[h.inbound.req];
    const Request& o = conns[h.outbound.conn].requests[h.outbound.req];
    uint64_t din = i.end_ns - i.start_ns, dup = o.end_ns - o.start_ns;
    Acc& a = acc[{i.pid, request_name(i)}];
    a.in.push_back(din);
    a.up.push_back(dup);
    a.own.push_back(din - dup);  // >= 0: o lies inside i
  }
  std::vector<ProxyRouteRow> rows;
  for (auto& [k, a] : acc) {
    ProxyRouteRow r;
    r.pid = k.first;
    r.route = k.second;
    r.count = a.in.size();
    r.inbound = percentiles(std::move(a.in));
    r.upstream = percentiles(std::move(a.up));
    r.own = percentiles(std::move(a.own));
    rows.push_back(std::move(r));
  }
  return rows;
}

}  // namespace ebt::report::l7
