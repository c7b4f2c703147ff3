#include "report/l7/l7_trace.h"

#include <gtest/gtest.h>

#include "tests/l7/test_util.h"

namespace ebt::report::l7 {
namespace {

using test::syscall;

size_t count(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t p = 0; (p = hay.find(needle, p)) != std::string::npos; ++p) ++n;
  return n;
}

TEST(L7Trace, SlicesOnTheThreadTrackAndOverlapLanes) {
  L7Input in;
  // Two connections served by one thread (tid 100), overlapping without nesting.
  in.events.push_back(syscall(SyscallKind::kRead, 1000, 2000, "*2\r\n$3\r\nGET\r\n$1\r\na\r\n", 1));
  in.events.push_back(syscall(SyscallKind::kRead, 2500, 3000, "*2\r\n$3\r\nGET\r\n$1\r\nb\r\n", 2));
  in.events.push_back(syscall(SyscallKind::kWrite, 3500, 4000, "$1\r\nx\r\n", 1));
  in.events.push_back(syscall(SyscallKind::kWrite, 4500, 5000, "$1\r\ny\r\n", 2));
  // Later, a request that fits on the thread's own track again.
  in.events.push_back(syscall(SyscallKind::kRead, 6000, 7000, "GET /p HTTP/1.1\r\n\r\n", 3));
  in.events.push_back(syscall(SyscallKind::kWrite, 8000, 9000, "HTTP/1.1 503 No\r\nContent-Length: 0\r\n\r\n", 3));
  L7Analysis a = analyze_l7(std::move(in));
  TraceJson t(0);
  EXPECT_EQ(add_l7_trace(a, t), 3u);
  std::string js = t.str();
  EXPECT_EQ(count(js, "\"ph\":\"X\""), 3u) << js;
  EXPECT_EQ(count(js, "\"tid\":100,"), 2u) << js;  // first GET and the HTTP request
  EXPECT_NE(js.find("100 requests +1"), std::string::npos) << js;
  EXPECT_NE(js.find("\"name\":\"GET /p 503\""), std::string::npos) << js;
  EXPECT_NE(js.find("\"key\":\"b\""), std::string::npos) << js;
  EXPECT_NE(js.find("\"status\":503"), std::string::npos) << js;
}

}  // namespace
}  // namespace ebt::report::l7
