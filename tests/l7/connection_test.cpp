#include "report/l7/connection.h"

#include <gtest/gtest.h>

#include "tests/l7/test_util.h"

namespace ebt::report::l7 {
namespace {

using test::syscall;

std::vector<const SyscallEvent*> ptrs(const std::vector<SyscallEvent>& v) {
  std::vector<const SyscallEvent*> p;
  for (auto& e : v) p.push_back(&e);
  return p;
}

TEST(Connection, RedisServerPipelinedWithErrors) {
  std::vector<SyscallEvent> ev = {
      syscall(SyscallKind::kRead, 1000, 1100,
              "*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n*2\r\n$4\r\nINCR\r\n$1\r\ns\r\n"),
      syscall(SyscallKind::kWrite, 1500, 1600, "+OK\r\n-ERR value is not an integer\r\n"),
      syscall(SyscallKind::kRead, 2000, 2050, ""),  // EAGAIN-like empty read is ignored
      syscall(SyscallKind::kRecvfrom, 3000, 3100, "*2\r\n$3\r\nGET\r\n$1\r\na\r\n"),
      syscall(SyscallKind::kSendto, 3200, 3300, "$1\r\n1\r\n"),
  };
  ev[2].ret = -11;
  Connection c = analyze_connection(7, ptrs(ev));
  EXPECT_EQ(c.protocol, Protocol::kRedis);
  EXPECT_EQ(c.role, Role::kServer);
  ASSERT_EQ(c.requests.size(), 3u);
  EXPECT_EQ(c.requests[0].command, "SET");
  EXPECT_EQ(c.requests[0].start_ns, 1100u);  // server: exit of the read
  EXPECT_EQ(c.requests[0].end_ns, 1600u);
  EXPECT_FALSE(c.requests[0].error);
  EXPECT_EQ(c.requests[1].command, "INCR");
  EXPECT_TRUE(c.requests[1].error);
  EXPECT_EQ(c.requests[1].error_text, "ERR");
  EXPECT_EQ(c.requests[2].command, "GET");
  EXPECT_EQ(c.requests[2].target, "a");
  EXPECT_EQ(c.requests[2].start_ns, 3100u);
  EXPECT_EQ(c.requests[2].end_ns, 3300u);
  EXPECT_EQ(c.unanswered, 0u);
  EXPECT_EQ(c.syscalls, 5u);
}

TEST(Connection, RedisClientResponseSplitOverReads) {
  std::vector<SyscallEvent> ev = {
      syscall(SyscallKind::kWrite, 1000, 1010, "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"),
      syscall(SyscallKind::kRead, 1020, 1500, "$10\r\n01234"),
      syscall(SyscallKind::kRead, 1510, 1700, "56789\r\n"),
      syscall(SyscallKind::kWrite, 2000, 2010, "*1\r\n$4\r\nPING\r\n"),  // never answered
  };
  Connection c = analyze_connection(7, ptrs(ev));
  EXPECT_EQ(c.role, Role::kClient);
  ASSERT_EQ(c.requests.size(), 1u);
  EXPECT_EQ(c.requests[0].start_ns, 1000u);  // client: enter of the write
  EXPECT_EQ(c.requests[0].end_ns, 1700u);
  EXPECT_EQ(c.requests[0].response_bytes, 17u);
  EXPECT_EQ(c.unanswered, 1u);
}

TEST(Connection, RecordingStartsMidRequest) {
  // The first thing seen is a reply: the role still comes out right and the
  // orphan reply is counted, not matched.
  std::vector<SyscallEvent> ev = {
      syscall(SyscallKind::kRead, 900, 1000, "+OK\r\n"),
      syscall(SyscallKind::kWrite, 1100, 1110, "*1\r\n$4\r\nPING\r\n"),
      syscall(SyscallKind::kRead, 1120, 1300, "+PONG\r\n"),
  };
  Connection c = analyze_connection(7, ptrs(ev));
  EXPECT_EQ(c.role, Role::kClient);
  EXPECT_EQ(c.unmatched_responses, 1u);
  ASSERT_EQ(c.requests.size(), 1u);
  EXPECT_EQ(c.requests[0].command, "PING");
}

TEST(Connection, HttpServerKeepAliveAndPipelined) {
  std::vector<SyscallEvent> ev = {
      syscall(SyscallKind::kRecvfrom, 100, 200, "GET /ok HTTP/1.1\r\nHost: x\r\n\r\nGET /missing HTTP/1.1\r\n\r\n"),
      syscall(SyscallKind::kWritev, 300, 400, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nhi\n"),
      syscall(SyscallKind::kWritev, 500, 600, "HTTP/1.1 404 Not Found\r\nContent-Length: 5\r\n\r\nnope\n"),
      syscall(SyscallKind::kRead, 700, 800, "HEAD /ok HTTP/1.1\r\n\r\n"),
      syscall(SyscallKind::kWrite, 900, 1000, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n"),
  };
  Connection c = analyze_connection(7, ptrs(ev));
  EXPECT_EQ(c.protocol, Protocol::kHttp);
  EXPECT_EQ(c.role, Role::kServer);
  ASSERT_EQ(c.requests.size(), 3u);
  EXPECT_EQ(c.requests[0].target, "/ok");
  EXPECT_EQ(c.requests[0].status, 200);
  EXPECT_FALSE(c.requests[0].error);
  EXPECT_EQ(c.requests[1].target, "/missing");
  EXPECT_EQ(c.requests[1].status, 404);
  EXPECT_TRUE(c.requests[1].error);
  EXPECT_EQ(c.requests[1].start_ns, 200u);
  EXPECT_EQ(c.requests[1].end_ns, 600u);
  EXPECT_EQ(c.requests[2].command, "HEAD");
  EXPECT_EQ(c.unanswered, 0u);
  EXPECT_EQ(c.truncated, 0u);
}

TEST(Connection, UnknownProtocolKeepsByteCounts) {
  std::vector<SyscallEvent> ev = {
      syscall(SyscallKind::kWrite, 1, 2, "SSH-2.0-OpenSSH_9\r\n"),
      syscall(SyscallKind::kRead, 3, 4, std::string(100, '\x01')),
  };
  Connection c = analyze_connection(7, ptrs(ev));
  EXPECT_EQ(c.protocol, Protocol::kUnknown);
  EXPECT_EQ(c.bytes_out, 19u);
  EXPECT_EQ(c.bytes_in, 100u);
  EXPECT_TRUE(c.requests.empty());
  EXPECT_EQ(c.head_out.size(), 19u);
}

}  // namespace
}  // namespace ebt::report::l7
