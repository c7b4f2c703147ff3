// Proxy hop matching on hand-built connections: enclosure in time, the same
// name preferred, one outbound per inbound, unmatched counted, rows and JSON.
#include "report/l7/proxy.h"

#include <gtest/gtest.h>

#include <sstream>

#include "report/l7/latency.h"

namespace ebt::report::l7 {
namespace {

Request req(Protocol p, const std::string& cmd, const std::string& target, uint64_t start, uint64_t end) {
  Request r;
  r.protocol = p;
  r.command = cmd;
  r.target = target;
  r.start_ns = start;
  r.end_ns = end;
  r.pid = 42;
  r.tid = 42;
  return r;
}

Connection conn(uint64_t id, Role role, std::vector<Request> reqs) {
  Connection c;
  c.id = id;
  c.pid = 42;
  c.protocol = reqs.empty() ? Protocol::kHttp : reqs[0].protocol;
  c.role = role;
  for (auto& r : reqs) {
    r.role = role;
    r.conn_id = id;
  }
  c.requests = std::move(reqs);
  return c;
}

TEST(Proxy, InboundMatchedToTheOutboundRequestsItEncloses) {
  // Two inbound requests in flight at once (/a then /b); their upstream
  // requests go out in the other order on two connections: names decide.
  // /static is answered by the proxy itself; a health check goes out alone.
  std::vector<Connection> conns = {
      conn(1, Role::kServer,
           {req(Protocol::kHttp, "GET", "/a", 1000, 9000), req(Protocol::kHttp, "GET", "/b", 1100, 8000),
            req(Protocol::kHttp, "GET", "/static", 20000, 20500)}),
      conn(2, Role::kClient, {req(Protocol::kHttp, "GET", "/b", 1500, 7000)}),
      conn(3, Role::kClient,
           {req(Protocol::kHttp, "GET", "/a", 1600, 8500), req(Protocol::kHttp, "GET", "/health", 30000, 30100)}),
  };
  ProxyMatch m = match_proxy_hops(conns);
  ASSERT_EQ(m.hops.size(), 2u);
  for (const auto& h : m.hops) {
    const Request& in = conns[h.inbound.conn].requests[h.inbound.req];
    const Request& out = conns[h.outbound.conn].requests[h.outbound.req];
    EXPECT_EQ(in.target, out.target);
  }
  ASSERT_EQ(m.unmatched.size(), 1u);
  EXPECT_EQ(m.unmatched[0].pid, 42u);
  EXPECT_EQ(m.unmatched[0].inbound, 1u);
  EXPECT_EQ(m.unmatched[0].outbound, 1u);

  auto rows = proxy_rows(conns, m);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].route, "GET /a");
  EXPECT_EQ(rows[0].inbound.p50, 8000u);
  EXPECT_EQ(rows[0].upstream.p50, 6900u);
  EXPECT_EQ(rows[0].own.p50, 1100u);
  EXPECT_EQ(rows[1].route, "GET /b");
  EXPECT_EQ(rows[1].own.max, 6900u - 5500u);

  L7Analysis a;
  a.connections = conns;
  a.proxy = m;
  std::ostringstream js, txt;
  write_l7_latency(a, LatencyOptions{GroupBy::kNone, TableFormat::kJson, false}, js);
  EXPECT_NE(js.str().find("\"proxy\":[{\"pid\":42,\"route\":\"GET /a\",\"count\":1,\"inbound\":{\"p50_ns\":8000"),
            std::string::npos)
      << js.str();
  EXPECT_NE(js.str().find("\"proxy_unmatched\":[{\"pid\":42,\"inbound\":1,\"outbound\":1}]"), std::string::npos);
  write_l7_latency(a, LatencyOptions{}, txt);
  EXPECT_NE(txt.str().find("Proxy hops"), std::string::npos) << txt.str();
}

TEST(Proxy, NotAProxyWithoutBothRolesAndNoOverlapNoMatch) {
  // A plain server: no proxy section. A client whose request starts before the
  // inbound one: not enclosed, not matched.
  std::vector<Connection> server_only = {
      conn(1, Role::kServer, {req(Protocol::kRedis, "GET", "k", 10, 20)})};
  EXPECT_TRUE(match_proxy_hops(server_only).hops.empty());
  EXPECT_TRUE(match_proxy_hops(server_only).unmatched.empty());
  std::vector<Connection> early = {
      conn(1, Role::kServer, {req(Protocol::kRedis, "GET", "k", 100, 200)}),
      conn(2, Role::kClient, {req(Protocol::kRedis, "GET", "k", 50, 150)}),
  };
  ProxyMatch m = match_proxy_hops(early);
  EXPECT_TRUE(m.hops.empty());
  ASSERT_EQ(m.unmatched.size(), 1u);
  EXPECT_EQ(m.unmatched[0].inbound, 1u);
  EXPECT_EQ(m.unmatched[0].outbound, 1u);
  // HTTP served, a database called inside: an application, not a proxy.
  std::vector<Connection> app = {
      conn(1, Role::kServer, {req(Protocol::kHttp, "GET", "/users", 100, 900)}),
      conn(2, Role::kClient, {req(Protocol::kPostgres, "SELECT users", "", 200, 300)}),
  };
  EXPECT_TRUE(match_proxy_hops(app).hops.empty());
  EXPECT_TRUE(match_proxy_hops(app).unmatched.empty());
}

}  // namespace
}  // namespace ebt::report::l7
