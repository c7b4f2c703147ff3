// Proxy hops: a process that receives a request on one connection (server role)
// and forwards it on another (client role) in the same protocol — nginx
// proxy_pass, a sidecar, a Redis proxy; an application that calls its database
// while serving HTTP is not one. Each outbound request is matched to the inbound request that
// encloses it in time (it starts after the inbound one was read and ends before
// its response was written), preferring the same name (method + path, command),
// then the oldest such inbound request: proxies forward in arrival order per
// connection pair. One outbound request per inbound one (a retry stays
// unmatched). Per route: inbound latency, upstream latency and the proxy's own
// part (their difference).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "report/l7/connection.h"

namespace ebt::report::l7 {

struct RequestRef {
  size_t conn = 0;  // index into the connections
  size_t req = 0;   // index into its requests
};

struct ProxyHop {
  RequestRef inbound;
  RequestRef outbound;
};

struct ProxyUnmatched {  // per process and protocol
  uint32_t pid = 0;
  uint64_t inbound = 0;   // received, nothing forwarded (answered by the process itself)
  uint64_t outbound = 0;  // sent with no enclosing inbound request
};

struct ProxyMatch {
  std::vector<ProxyHop> hops;
  std::vector<ProxyUnmatched> unmatched;  // per proxy process (has hops, or both roles)
};

ProxyMatch match_proxy_hops(const std::vector<Connection>& connections);

// The name a request is listed under: "GET /a", "SET", "SELECT users".
std::string request_name(const Request& r);

struct Percentiles {
  uint64_t p50 = 0, p90 = 0, p99 = 0, max = 0;
};

struct ProxyRouteRow {
  uint32_t pid = 0;
  std::string route;  // the inbound request's name
  uint64_t count = 0;
  Percentiles inbound, upstream, own;
};

std::vector<ProxyRouteRow> proxy_rows(const std::vector<Connection>& connections, const ProxyMatch& m);

}  // namespace ebt::report::l7
