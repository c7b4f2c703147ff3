#include "report/l7/l7_trace.h"

#include <algorithm>
#include <map>

namespace ebt::report::l7 {

size_t add_l7_trace(const L7Analysis& a, TraceJson& trace) {
  std::vector<const Request*> reqs;
  std::map<uint64_t, const Connection*> conns;
  for (const Connection& c : a.connections) {
    conns[c.id] = &c;
    for (const Request& r : c.requests) reqs.push_back(&r);
  }
  std::stable_sort(reqs.begin(), reqs.end(), [](const Request* x, const Request* y) {
    return x->start_ns < y->start_ns;
  });
  // A proxy's forwarded request nests inside the inbound one: same track.
  std::map<const Request*, const Request*> parent_of;
  for (const ProxyHop& h : a.proxy.hops)
    parent_of[&a.connections[h.outbound.conn].requests[h.outbound.req]] =
        &a.connections[h.inbound.conn].requests[h.inbound.req];
  std::map<const Request*, uint32_t> lane_of;
  constexpr uint32_t kMaxLanes = 64;
  std::map<std::pair<uint32_t, uint32_t>, std::vector<uint64_t>> lanes;  // (pid, tid) -> lane ends
  for (const Request* r : reqs) {
    auto& ends = lanes[{r->pid, r->tid}];
    uint32_t lane = 0;
    auto parent = parent_of.find(r);
    const Request* in = parent == parent_of.end() ? nullptr : parent->second;
    if (in && in->pid == r->pid && in->tid == r->tid && lane_of.count(in)) {
      lane = lane_of[in];
    } else {
      in = nullptr;
      while (lane < ends.size() && ends[lane] > r->start_ns && lane + 1 < kMaxLanes) ++lane;
    }
    lane_of[r] = lane;
    if (lane == ends.size()) {
      ends.push_back(0);
      if (lane > 0) {
        uint32_t tid = (lane << 22) | (r->tid & 0x3fffff);
        trace.set_thread_name(r->pid, tid, std::to_string(r->tid) + " requests +" + std::to_string(lane));
        trace.set_thread_sort_index(r->pid, tid, static_cast<int64_t>(r->tid) * 100 + lane);
      }
    }
    ends[lane] = std::max(ends[lane], r->end_ns);
    uint32_t tid = lane == 0 ? r->tid : (lane << 22) | (r->tid & 0x3fffff);

    std::string name = r->command;
    if (r->protocol == Protocol::kHttp) {
      if (!r->target.empty()) name += " " + r->target;
      if (!r->response_hidden) name += " " + std::to_string(r->status);
    }
    TraceArgs args;
    args.emplace_back("protocol", std::string(protocol_name(r->protocol)));
    args.emplace_back("role", std::string(role_name(r->role)));
    if (r->protocol == Protocol::kHttp) {
      args.emplace_back("path", r->target);
      args.emplace_back("status", int64_t{r->status});
    } else {
      args.emplace_back("key", r->target);
    }
    if (r->error) args.emplace_back("error", r->error_text.empty() ? std::string("yes") : r->error_text);
    args.emplace_back("request_bytes", r->request_bytes);
    args.emplace_back("response_bytes", r->response_bytes);
    args.emplace_back("conn", r->conn_id);
    auto sit = a.sockets.find(r->conn_id);
    if (sit != a.sockets.end())
      args.emplace_back("peer", endpoint_name(sit->second.family, sit->second.remote_addr,
                                              sit->second.remote_port));
    if (r->truncated) args.emplace_back("truncated", true);
    if (in) args.emplace_back("proxied_from", request_name(*in));
    uint64_t dur = r->end_ns > r->start_ns ? r->end_ns - r->start_ns : 0;
    trace.slice(r->pid, tid, r->start_ns, dur, name, std::string("l7,") + protocol_name(r->protocol),
                std::move(args));
  }
  return reqs.size();
}

}  // namespace ebt::report::l7
