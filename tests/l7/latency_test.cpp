#include "report/l7/latency.h"

#include <sstream>

#include <gtest/gtest.h>

#include "tests/l7/test_util.h"

namespace ebt::report::l7 {
namespace {

using test::syscall;

TEST(Percentile, NearestRank) {
  std::vector<uint64_t> v;
  for (uint64_t i = 1; i <= 1000; ++i) v.push_back(i);
  EXPECT_EQ(percentile(v, 50), 500u);
  EXPECT_EQ(percentile(v, 90), 900u);
  EXPECT_EQ(percentile(v, 99), 990u);
  EXPECT_EQ(percentile(v, 99.9), 999u);
  EXPECT_EQ(percentile(v, 100), 1000u);
  EXPECT_EQ(percentile({}, 50), 0u);
  EXPECT_EQ(percentile({7}, 99.9), 7u);
  EXPECT_EQ(percentile({1, 2}, 50), 1u);
}

L7Input two_connections() {
  L7Input in;
  in.begin_ns = 0;
  in.end_ns = 2'000'000'000;  // 2 s
  // A Redis server connection: 3 SET (10, 20, 30 us) and 1 failing INCR.
  uint64_t t = 1000;
  for (int i = 1; i <= 3; ++i) {
    in.events.push_back(syscall(SyscallKind::kRead, t, t + 1, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n", 11));
    in.events.push_back(syscall(SyscallKind::kWrite, t + 5, t + 1 + i * 10'000, "+OK\r\n", 11));
    t += 100'000;
  }
  in.events.push_back(syscall(SyscallKind::kRead, t, t + 1, "*2\r\n$4\r\nINCR\r\n$1\r\nk\r\n", 11));
  in.events.push_back(syscall(SyscallKind::kWrite, t + 5, t + 5001, "-ERR not an integer\r\n", 11));
  // An HTTP client connection.
  in.events.push_back(syscall(SyscallKind::kWrite, 10, 20, "GET /a HTTP/1.1\r\n\r\n", 12));
  in.events.push_back(syscall(SyscallKind::kRead, 30, 1010, "HTTP/1.1 404 NF\r\nContent-Length: 0\r\n\r\n", 12));
  // Something else.
  in.events.push_back(syscall(SyscallKind::kWrite, 10, 20, "\x16\x03\x01 tls", 13));
  SocketInfo s;
  s.id = 11;
  s.family = 2;
  s.local_addr = {127, 0, 0, 1};
  s.local_port = 6379;
  s.remote_addr = {127, 0, 0, 1};
  s.remote_port = 40000;
  in.sockets[11] = s;
  return in;
}

TEST(LatencyTable, RowsCountsErrorsPercentiles) {
  L7Analysis a = analyze_l7(two_connections());
  auto rows = latency_rows(a, GroupBy::kNone);
  ASSERT_EQ(rows.size(), 3u);
  // Sorted by (group, protocol, role, request, status): redis < http.
  const LatencyRow* set = nullptr;
  const LatencyRow* incr = nullptr;
  const LatencyRow* get = nullptr;
  for (auto& r : rows) {
    if (r.request == "SET") set = &r;
    if (r.request == "INCR") incr = &r;
    if (r.request == "GET /a") get = &r;
  }
  ASSERT_TRUE(set && incr && get);
  EXPECT_EQ(set->count, 3u);
  EXPECT_EQ(set->errors, 0u);
  EXPECT_EQ(set->p50_ns, 20'000u);
  EXPECT_EQ(set->max_ns, 30'000u);
  EXPECT_NEAR(set->per_second, 1.5, 1e-6);
  EXPECT_EQ(set->role, Role::kServer);
  EXPECT_EQ(incr->errors, 1u);
  EXPECT_EQ(get->status, 404);
  EXPECT_EQ(get->role, Role::kClient);
  EXPECT_EQ(get->p50_ns, 1000u);
}

TEST(LatencyTable, GroupByPeerAndPid) {
  L7Analysis a = analyze_l7(two_connections());
  auto rows = latency_rows(a, GroupBy::kPeer);
  bool found = false;
  for (auto& r : rows)
    if (r.request == "SET") {
      EXPECT_EQ(r.group, "127.0.0.1");  // a server's peers: address only
      found = true;
    }
  EXPECT_TRUE(found);
  rows = latency_rows(a, GroupBy::kPid);
  for (auto& r : rows) EXPECT_EQ(r.group, "pid 100");
}

TEST(LatencyTable, Formats) {
  L7Analysis a = analyze_l7(two_connections());
  std::ostringstream text, csv, json, shown;
  write_l7_latency(a, {GroupBy::kNone, TableFormat::kText, false}, text);
  EXPECT_NE(text.str().find("SET"), std::string::npos);
  EXPECT_NE(text.str().find("Other connections"), std::string::npos);
  EXPECT_EQ(text.str().find("tls"), std::string::npos) << "payload printed without --show-payload";
  write_l7_latency(a, {GroupBy::kNone, TableFormat::kText, true}, shown);
  EXPECT_NE(shown.str().find("\\x16\\x03\\x01 tls"), std::string::npos);
  write_l7_latency(a, {GroupBy::kConn, TableFormat::kCsv, false}, csv);
  std::string c = csv.str();
  EXPECT_EQ(c.substr(0, c.find('\n')),
            "conn,protocol,role,request,status,count,errors,per_second,p50_ns,p90_ns,p99_ns,p999_ns,max_ns");
  EXPECT_NE(c.find("redis,server,SET,0,3,0,1.500,20000,30000,30000,30000,30000"), std::string::npos) << c;
  write_l7_latency(a, {GroupBy::kNone, TableFormat::kJson, false}, json);
  EXPECT_NE(json.str().find("\"request\":\"INCR\",\"status\":0,\"count\":1,\"errors\":1"), std::string::npos)
      << json.str();
}

TEST(Escape, Bytes) {
  EXPECT_EQ(escape_bytes({'a', '\r', '\n', 0, 0xff, '\\'}), "a\\r\\n\\x00\\xff\\\\");
}

}  // namespace
}  // namespace ebt::report::l7
