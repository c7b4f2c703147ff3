#include "report/l7/http.h"

#include <gtest/gtest.h>

#include "tests/l7/test_util.h"

namespace ebt::report::l7 {
namespace {

using test::feed;
using test::feed_capped;

TEST(Http, RequestSplitAtEveryByte) {
  const std::string req = "GET /ok?x=1 HTTP/1.1\r\nHost: a\r\nUser-Agent: t\r\n\r\n";
  for (size_t cut = 1; cut < req.size(); ++cut) {
    HttpFramer f(true);
    feed(f, 0, std::string_view(req).substr(0, cut));
    EXPECT_TRUE(f.take().empty()) << cut;
    feed(f, 1, std::string_view(req).substr(cut));
    auto m = f.take();
    ASSERT_EQ(m.size(), 1u) << cut;
    EXPECT_EQ(m[0].method, "GET");
    EXPECT_EQ(m[0].path, "/ok");
    EXPECT_EQ(m[0].bytes, req.size());
    EXPECT_TRUE(m[0].keep_alive);
  }
}

TEST(Http, PipelinedRequestsWithBodies) {
  HttpFramer f(true);
  feed(f, 0,
       "POST /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET /b HTTP/1.1\r\n\r\n"
       "PUT /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
       "GET /d HTTP/1.0\r\n\r\n");
  auto m = f.take();
  ASSERT_EQ(m.size(), 4u);
  EXPECT_EQ(m[0].method, "POST");
  EXPECT_EQ(m[0].body_bytes, 5u);
  EXPECT_EQ(m[1].path, "/b");
  EXPECT_TRUE(m[2].chunked);
  EXPECT_EQ(m[2].body_bytes, 3u);
  EXPECT_EQ(m[3].path, "/d");
  EXPECT_FALSE(m[3].keep_alive);
}

TEST(Http, ResponsesContentLengthChunkedAndHead) {
  std::deque<std::string> methods = {"GET", "HEAD", "GET", "GET"};
  HttpFramer f(false);
  f.pending_methods = &methods;
  feed(f, 0, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi");
  auto m = f.take();
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].status, 200);
  methods.pop_front();
  // HEAD: Content-Length describes the body it would have had.
  feed(f, 1, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
  m = f.take();
  ASSERT_EQ(m.size(), 1u);
  methods.pop_front();
  // Chunked, split over three syscalls, chunk data across the border.
  feed(f, 2, "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab");
  feed(f, 3, "cde\r\n");
  EXPECT_TRUE(f.take().empty());
  feed(f, 4, "0\r\n\r\n");
  m = f.take();
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].status, 404);
  EXPECT_EQ(m[0].first_chunk, 2u);
  EXPECT_EQ(m[0].last_chunk, 4u);
  EXPECT_EQ(m[0].body_bytes, 5u);
  methods.pop_front();
  feed(f, 5, "HTTP/1.1 204 No Content\r\n\r\n");
  EXPECT_EQ(f.take().size(), 1u);
}

TEST(Http, BodyUntilClose) {
  HttpFramer f(false);
  feed(f, 0, "HTTP/1.0 200 OK\r\n\r\nabc");
  feed(f, 1, "def");
  EXPECT_TRUE(f.take().empty());
  f.close();
  auto m = f.take();
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].last_chunk, 1u);
  EXPECT_FALSE(m[0].keep_alive);
}

TEST(Http, BodyInTheUncapturedPartOfAWritev) {
  // nginx: headers in the first iovec (captured), body in the hole.
  std::string headers = "HTTP/1.1 404 Not Found\r\nContent-Length: 150\r\n\r\n";
  std::string resp = headers + std::string(150, 'b');
  HttpFramer f(false);
  feed_capped(f, 0, resp, headers.size());
  feed(f, 1, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  auto m = f.take();
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].status, 404);
  EXPECT_FALSE(m[0].truncated);
  EXPECT_EQ(m[0].bytes, resp.size());
  EXPECT_EQ(m[1].status, 200);
}

TEST(Http, HeadersCutByTheCaptureLimit) {
  std::string resp = "HTTP/1.1 200 OK\r\nServer: x\r\nContent-Length: 3\r\n\r\nabc";
  HttpFramer f(false);
  feed_capped(f, 0, resp, 20);
  feed(f, 1, "HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n");
  auto m = f.take();
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[0].status, 200);
  EXPECT_TRUE(m[0].truncated);
  EXPECT_TRUE(m[1].gap);
  EXPECT_EQ(m[2].status, 500);
  EXPECT_FALSE(m[2].truncated);
}

TEST(Http, InterimResponseIsItsOwnMessage) {
  HttpFramer f(false);
  feed(f, 0, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n");
  auto m = f.take();
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].status, 100);
  EXPECT_EQ(m[1].status, 201);
}

TEST(Http, Detection) {
  bool req = false;
  EXPECT_TRUE(looks_like_http(test::bytes("GET / HTTP/1.1\r\n"), &req));
  EXPECT_TRUE(req);
  EXPECT_TRUE(looks_like_http(test::bytes("HTTP/1.1 200 OK\r\n"), &req));
  EXPECT_FALSE(req);
  EXPECT_FALSE(looks_like_http(test::bytes("*1\r\n$4\r\nPING\r\n"), &req));
  EXPECT_FALSE(looks_like_http(test::bytes("GETX / HTTP/1.1"), &req));
}

}  // namespace
}  // namespace ebt::report::l7
