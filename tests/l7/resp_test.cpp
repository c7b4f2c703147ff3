#include "report/l7/resp.h"

#include <gtest/gtest.h>

#include "tests/l7/test_util.h"

namespace ebt::report::l7 {
namespace {

using test::feed;
using test::feed_capped;

TEST(Resp, MultiBulkRequestSplitAtEveryByte) {
  const std::string req = "*3\r\n$3\r\nset\r\n$5\r\nkey:1\r\n$3\r\nabc\r\n";
  for (size_t cut = 1; cut < req.size(); ++cut) {
    RespFramer f(true);
    feed(f, 0, std::string_view(req).substr(0, cut));
    EXPECT_TRUE(f.take().empty()) << cut;
    feed(f, 1, std::string_view(req).substr(cut));
    auto m = f.take();
    ASSERT_EQ(m.size(), 1u) << cut;
    EXPECT_EQ(m[0].command, "SET");
    EXPECT_EQ(m[0].key, "key:1");
    EXPECT_EQ(m[0].first_chunk, 0u);
    EXPECT_EQ(m[0].last_chunk, 1u);
    EXPECT_EQ(m[0].bytes, req.size());
    EXPECT_FALSE(m[0].truncated);
  }
}

TEST(Resp, PipelinedRequestsInOneWrite) {
  RespFramer f(true);
  feed(f, 0, "*2\r\n$3\r\nGET\r\n$1\r\na\r\n*2\r\n$3\r\nDEL\r\n$1\r\nb\r\n*2\r\n$4\r\nINCR\r\n$1\r\nc\r\n");
  auto m = f.take();
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[0].command, "GET");
  EXPECT_EQ(m[1].command, "DEL");
  EXPECT_EQ(m[1].key, "b");
  EXPECT_EQ(m[2].command, "INCR");
}

TEST(Resp, InlineCommands) {
  RespFramer f(true);
  feed(f, 0, "PING\r\nset k v\r\n");
  auto m = f.take();
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].command, "PING");
  EXPECT_EQ(m[1].command, "SET");
  EXPECT_EQ(m[1].key, "k");
}

TEST(Resp, RepliesOfEveryShape) {
  RespFramer f(false);
  feed(f, 0, "+OK\r\n$5\r\nhello\r\n$-1\r\n:42\r\n*2\r\n$1\r\na\r\n*1\r\n:1\r\n*0\r\n%1\r\n+a\r\n:1\r\n");
  auto m = f.take();
  ASSERT_EQ(m.size(), 7u);
  for (auto& x : m) EXPECT_FALSE(x.error);
  EXPECT_EQ(m[0].bytes, 5u);
  EXPECT_EQ(m[4].bytes, std::string("*2\r\n$1\r\na\r\n*1\r\n:1\r\n").size());
}

TEST(Resp, ErrorReplies) {
  RespFramer f(false);
  feed(f, 0, "-ERR value is not an integer or out of range\r\n-WRONGTYPE Operation\r\n+OK\r\n");
  auto m = f.take();
  ASSERT_EQ(m.size(), 3u);
  EXPECT_TRUE(m[0].error);
  EXPECT_EQ(m[0].error_text, "ERR");
  EXPECT_TRUE(m[1].error);
  EXPECT_EQ(m[1].error_text, "WRONGTYPE");
  EXPECT_FALSE(m[2].error);
}

TEST(Resp, BulkValueInsideTheHoleIsSkippedExactly) {
  // A SET with a 300-byte value, of which only 40 bytes were captured, followed
  // by a fully captured GET: both framed, nothing truncated.
  std::string set = "*3\r\n$3\r\nSET\r\n$3\r\nfoo\r\n$300\r\n" + std::string(300, 'x') + "\r\n";
  RespFramer f(true);
  feed_capped(f, 0, set, 40);
  feed(f, 1, "*2\r\n$3\r\nGET\r\n$3\r\nfoo\r\n");
  auto m = f.take();
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].command, "SET");
  EXPECT_EQ(m[0].key, "foo");
  EXPECT_FALSE(m[0].truncated);
  EXPECT_EQ(m[0].bytes, set.size());
  EXPECT_EQ(m[1].command, "GET");
}

TEST(Resp, HoleOverAHeaderLosesSyncUntilTheNextSyscall) {
  std::string two = "*2\r\n$3\r\nGET\r\n$3\r\nfoo\r\n*2\r\n$3\r\nGET\r\n$3\r\nbar\r\n";
  RespFramer f(true);
  feed_capped(f, 0, two, 35);  // the second request's key header is in the hole
  feed(f, 1, "*1\r\n$4\r\nPING\r\n");
  auto m = f.take();
  ASSERT_EQ(m.size(), 4u);
  EXPECT_EQ(m[0].key, "foo");
  EXPECT_FALSE(m[0].truncated);
  EXPECT_EQ(m[1].command, "GET");  // began in the captured part, ended in the hole
  EXPECT_TRUE(m[1].truncated);
  EXPECT_TRUE(m[2].gap);  // the rest of syscall 0 may hide more requests
  EXPECT_EQ(m[2].first_chunk, 0u);
  EXPECT_EQ(m[3].command, "PING");
}

TEST(Resp, GarbageLosesSyncAndRecovers) {
  RespFramer f(false);
  feed(f, 0, "?garbage\r\n+OK\r\n");
  feed(f, 1, "+OK\r\n");
  auto m = f.take();
  ASSERT_EQ(m.size(), 2u);
  EXPECT_TRUE(m[0].gap);
  EXPECT_EQ(m[0].first_chunk, 0u);
  EXPECT_FALSE(m[1].gap);
  EXPECT_EQ(m[1].first_chunk, 1u);
}

TEST(Resp, Detection) {
  bool req = false;
  EXPECT_TRUE(looks_like_resp(test::bytes("*1\r\n$4\r\nPING\r\n"), &req));
  EXPECT_TRUE(req);
  EXPECT_TRUE(looks_like_resp(test::bytes("+OK\r\n"), &req));
  EXPECT_FALSE(req);
  EXPECT_TRUE(looks_like_resp(test::bytes("PING\r\n"), &req));
  EXPECT_TRUE(req);
  EXPECT_FALSE(looks_like_resp(test::bytes("SSH-2.0-OpenSSH\r\n"), &req));
}

}  // namespace
}  // namespace ebt::report::l7
