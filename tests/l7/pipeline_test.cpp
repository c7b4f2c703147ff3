// Pipelined and large messages beyond the captured bytes (issue 15): counts stay
// exact, hidden requests are counted from their responses as "(truncated)".
#include <gtest/gtest.h>

#include <map>

#include "report/l7/connection.h"
#include "report/l7/latency.h"
#include "tests/l7/test_util.h"

namespace ebt::report::l7 {
namespace {

using test::syscall;

std::vector<const SyscallEvent*> ptrs(const std::vector<SyscallEvent>& v) {
  std::vector<const SyscallEvent*> p;
  for (auto& e : v) p.push_back(&e);
  return p;
}

std::string resp(const std::vector<std::string>& args) {
  std::string s = "*" + std::to_string(args.size()) + "\r\n";
  for (const auto& a : args) s += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
  return s;
}

std::string set_batch(int first, int n, size_t value_bytes) {
  std::string s;
  for (int i = 0; i < n; ++i) s += resp({"SET", "key:" + std::to_string(first + i), std::string(value_bytes, 'v')});
  return s;
}

std::string repeat(std::string_view s, int n) {
  std::string r;
  for (int i = 0; i < n; ++i) r += s;
  return r;
}

std::map<std::string, uint64_t> counts(const Connection& c) {
  std::map<std::string, uint64_t> m;
  for (const auto& r : c.requests) m[r.command]++;
  return m;
}

// The reproduction: 20 SETs (~1.3 KB) per write, 256 bytes captured.
// Before: 3 counted per batch, the other 17 replies blamed on "requests before
// the recording". Now: the hidden 17 are counted from their replies.
TEST(Pipeline, RedisServerBatchBeyondCaptureCountedFromReplies) {
  std::vector<SyscallEvent> ev;
  uint64_t t = 1000;
  for (int b = 0; b < 5; ++b) {
    ev.push_back(syscall(SyscallKind::kRead, t, t + 10, set_batch(b * 20, 20, 40), 7, 100, 256));
    ev.push_back(syscall(SyscallKind::kWrite, t + 20, t + 30, repeat("+OK\r\n", 20), 7, 100, 256));
    t += 1000;
  }
  Connection c = analyze_connection(7, ptrs(ev));
  ASSERT_EQ(c.role, Role::kServer);
  auto m = counts(c);
  EXPECT_EQ(c.requests.size(), 100u);
  EXPECT_EQ(m["SET"] + m[kTruncatedName], 100u);
  // 4 named per batch: 3 whole SETs (71-72 bytes) and the 4th's name and key
  // (its value is skipped by its length) fit in 256 bytes.
  EXPECT_EQ(m["SET"], 20u);
  EXPECT_EQ(c.name_hidden, 80u);
  EXPECT_EQ(c.unmatched_responses, 0u);
  EXPECT_EQ(c.unanswered, 0u);
  EXPECT_EQ(c.hidden_regions, 0u);
  for (const auto& r : c.requests) {
    EXPECT_FALSE(r.response_hidden);
    EXPECT_GE(r.end_ns, r.start_ns);
  }
  // With the whole batch captured (the --l7 default), every SET is named.
  std::vector<SyscallEvent> full;
  for (const auto& e : ev) {
    SyscallEvent f = e;
    f.payload.clear();
    full.push_back(f);
  }
  for (size_t i = 0; i < ev.size(); ++i) {
    std::string s = i % 2 ? repeat("+OK\r\n", 20) : set_batch(int(i / 2) * 20, 20, 40);
    full[i].payload.assign(s.begin(), s.end());
  }
  Connection c2 = analyze_connection(7, ptrs(full));
  EXPECT_EQ(counts(c2)["SET"], 100u);
  EXPECT_EQ(c2.name_hidden + c2.truncated, 0u);
}

TEST(Pipeline, RedisClientSideAndErrorsInsideTheHiddenPart) {
  // Client: batch of 10 (the 7th an INCR on a string); replies fully captured.
  std::string batch;
  for (int i = 0; i < 10; ++i)
    batch += i == 6 ? resp({"INCR", "strkey"}) : resp({"SET", "k" + std::to_string(i), std::string(50, 'x')});
  std::string replies = repeat("+OK\r\n", 6) + "-WRONGTYPE Operation against a key\r\n" + repeat("+OK\r\n", 3);
  std::vector<SyscallEvent> ev = {
      syscall(SyscallKind::kWrite, 1000, 1010, batch, 7, 100, 64),
      syscall(SyscallKind::kRead, 1020, 1500, replies, 7, 100, 4096),
  };
  Connection c = analyze_connection(7, ptrs(ev));
  ASSERT_EQ(c.role, Role::kClient);
  ASSERT_EQ(c.requests.size(), 10u);
  EXPECT_EQ(c.requests[0].command, "SET");
  uint64_t errors = 0;
  for (size_t i = 1; i < 10; ++i) EXPECT_EQ(c.requests[i].command, kTruncatedName) << i;
  for (const auto& r : c.requests) errors += r.error;
  EXPECT_EQ(errors, 1u);
  EXPECT_EQ(c.requests[6].error_text, "WRONGTYPE");
  EXPECT_EQ(c.requests[0].start_ns, 1000u);
  EXPECT_EQ(c.requests[9].start_ns, 1000u);  // hidden ones start with the write that held them
}

TEST(Pipeline, HoleEndsWhenALaterRequestWasSentBeforeTheReply) {
  // Two writes before any reply (a client that does not wait): write 1 is cut,
  // write 2 is whole. The replies after write 2 was sent could answer either;
  // in-order answering puts the hole's replies first, so the reply count
  // decides nothing here: the hole ends at the first reply written after write 2
  // was read. Server side: reads at 1010 and 1110, replies at 1200 (all 5).
  std::string b1 = resp({"SET", "a", std::string(100, 'x')}) + resp({"SET", "b", std::string(100, 'x')});
  std::string b2 = resp({"GET", "a"});
  std::vector<SyscallEvent> ev = {
      syscall(SyscallKind::kRead, 1000, 1010, b1, 7, 100, 40),
      syscall(SyscallKind::kWrite, 1020, 1030, "+OK\r\n+OK\r\n", 7, 100, 4096),
      syscall(SyscallKind::kRead, 1100, 1110, b2, 7, 100, 4096),
      syscall(SyscallKind::kWrite, 1200, 1210, "$1\r\nx\r\n", 7, 100, 4096),
  };
  Connection c = analyze_connection(7, ptrs(ev));
  auto m = counts(c);
  EXPECT_EQ(m["SET"], 1u);
  EXPECT_EQ(m[kTruncatedName], 1u);
  EXPECT_EQ(m["GET"], 1u);
  EXPECT_EQ(c.unmatched_responses, 0u);
}

TEST(Pipeline, ReplyHoleAnswersTheRequestsBeforeIt) {
  // 4 GETs whose replies (big values) lie beyond the capture: the requests are
  // named and counted; their replies' end is the write that held them.
  std::string reqs;
  for (int i = 0; i < 4; ++i) reqs += resp({"GET", "k" + std::to_string(i)});
  std::string replies;
  for (int i = 0; i < 4; ++i) replies += "$200\r\n" + std::string(200, 'y') + "\r\n";
  std::vector<SyscallEvent> ev = {
      syscall(SyscallKind::kRead, 1000, 1010, reqs, 7, 100, 4096),
      syscall(SyscallKind::kWrite, 1020, 1030, replies, 7, 100, 64),
      syscall(SyscallKind::kRead, 2000, 2010, resp({"GET", "k9"}), 7, 100, 4096),
      syscall(SyscallKind::kWrite, 2020, 2030, "$-1\r\n", 7, 100, 4096),
  };
  Connection c = analyze_connection(7, ptrs(ev));
  auto m = counts(c);
  EXPECT_EQ(m["GET"], 5u);
  EXPECT_EQ(c.response_hidden, 3u);  // the first reply's length was seen: skipped exactly
  EXPECT_EQ(c.unanswered, 0u);
  EXPECT_EQ(c.unmatched_responses, 0u);
  for (const auto& r : c.requests) EXPECT_EQ(r.end_ns, r.target == "k9" ? 2030u : 1030u);
}

TEST(Pipeline, BothDirectionsHiddenIsReportedNotGuessed) {
  std::string reqs;
  for (int i = 0; i < 6; ++i) reqs += resp({"GET", "key" + std::to_string(i)});
  std::string replies;
  for (int i = 0; i < 6; ++i) replies += "$100\r\n" + std::string(100, 'y') + "\r\n";
  std::vector<SyscallEvent> ev = {
      syscall(SyscallKind::kRead, 1000, 1010, reqs, 7, 100, 40),
      syscall(SyscallKind::kWrite, 1020, 1030, replies, 7, 100, 64),
  };
  Connection c = analyze_connection(7, ptrs(ev));
  EXPECT_EQ(counts(c)["GET"], 2u);  // the second one's name is within the 40 bytes
  EXPECT_EQ(c.hidden_regions, 1u);
  L7Analysis a;
  a.connections.push_back(c);
  std::ostringstream out;
  write_l7_latency(a, LatencyOptions{}, out);
  EXPECT_NE(out.str().find("NOT counted"), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("--payload-bytes"), std::string::npos) << out.str();
}

TEST(Pipeline, CutCommandNameIsNotAPrefix) {
  // "$3\r\nSE" then a hole: the name is unknown, not "SE".
  std::string req = resp({"SET", "k", "v"});
  std::vector<SyscallEvent> ev = {
      syscall(SyscallKind::kRead, 1000, 1010, req, 7, 100, 10),
      syscall(SyscallKind::kWrite, 1020, 1030, "+OK\r\n", 7, 100, 64),
  };
  Connection c = analyze_connection(7, ptrs(ev));
  ASSERT_EQ(c.requests.size(), 1u);
  EXPECT_EQ(c.requests[0].command, kTruncatedName);
}

TEST(Pipeline, ResyncDoesNotTakeAValueForAnInlineCommand) {
  // A read that starts inside a value after a hole ("value...") must not become
  // an inline command named "VALUE".
  std::string req = resp({"SET", "k", std::string(300, 'v')});
  std::vector<SyscallEvent> ev = {
      syscall(SyscallKind::kRead, 1000, 1010, req.substr(0, 100), 7, 100, 20),
      syscall(SyscallKind::kRead, 1020, 1030, "value and more\r\n" + req.substr(100 + 16), 7, 100, 64),
      syscall(SyscallKind::kWrite, 1040, 1050, "+OK\r\n", 7, 100, 64),
  };
  Connection c = analyze_connection(7, ptrs(ev));
  auto m = counts(c);
  EXPECT_EQ(m.count("VALUE"), 0u);
  EXPECT_EQ(c.requests.size(), 1u);
}

TEST(Pipeline, ReplyContinuedOverSyscallsAfterAHoleIsNotAnotherReply) {
  // A large nested reply (COMMAND DOCS-like) written in three syscalls, 64 bytes
  // captured each: the later writes start inside it ("$3\r\nabc...") and must not
  // count as replies to requests before the recording.
  std::string reply = "*40\r\n";
  for (int i = 0; i < 40; ++i) reply += "*2\r\n$3\r\nabc\r\n$20\r\n" + std::string(20, 'z') + "\r\n";
  size_t third = reply.size() / 3;
  size_t a = reply.find("$3", third), b = reply.find("$3", 2 * third);
  std::vector<SyscallEvent> ev = {
      syscall(SyscallKind::kRead, 1000, 1010, resp({"COMMAND", "DOCS"}), 7, 100, 64),
      syscall(SyscallKind::kWrite, 1020, 1030, reply.substr(0, a), 7, 100, 64),
      syscall(SyscallKind::kWrite, 1040, 1050, reply.substr(a, b - a), 7, 100, 64),
      syscall(SyscallKind::kWrite, 1060, 1070, reply.substr(b), 7, 100, 64),
  };
  Connection c = analyze_connection(7, ptrs(ev));
  ASSERT_EQ(c.requests.size(), 1u);
  EXPECT_EQ(c.requests[0].command, "COMMAND");
  EXPECT_EQ(c.requests[0].end_ns, 1070u);  // the reply's last syscall
  EXPECT_EQ(c.unmatched_responses, 0u);
}

TEST(Pipeline, HttpKeepAliveBodiesBeyondCapture) {
  // POSTs with 5000-byte bodies, 256 bytes captured: Content-Length skips them.
  std::vector<SyscallEvent> ev;
  uint64_t t = 1000;
  for (int i = 0; i < 10; ++i) {
    std::string req = "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n" + std::string(5000, 'b');
    std::string rsp = "HTTP/1.1 201 Created\r\nContent-Length: 3000\r\n\r\n" + std::string(3000, 'r');
    ev.push_back(syscall(SyscallKind::kRead, t, t + 10, req.substr(0, 1024), 7, 100, 256));
    ev.push_back(syscall(SyscallKind::kRead, t + 20, t + 30, req.substr(1024), 7, 100, 256));
    ev.push_back(syscall(SyscallKind::kWritev, t + 40, t + 50, rsp, 7, 100, 256));
    t += 1000;
  }
  Connection c = analyze_connection(7, ptrs(ev));
  ASSERT_EQ(c.requests.size(), 10u);
  for (const auto& r : c.requests) {
    EXPECT_EQ(r.command, "POST");
    EXPECT_EQ(r.target, "/upload");
    EXPECT_EQ(r.status, 201);
    EXPECT_FALSE(r.truncated);
  }
}

TEST(Pipeline, HttpHiddenRequestLineCountedFromStatus) {
  // A request line longer than the capture: counted as "(truncated)", status known.
  std::string req = "GET /" + std::string(400, 'p') + " HTTP/1.1\r\nHost: x\r\n\r\n";
  std::vector<SyscallEvent> ev = {
      syscall(SyscallKind::kRead, 1000, 1010, req, 7, 100, 64),
      syscall(SyscallKind::kWrite, 1020, 1030, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", 7, 100, 64),
  };
  Connection c = analyze_connection(7, ptrs(ev));
  ASSERT_EQ(c.requests.size(), 1u);
  EXPECT_EQ(c.requests[0].status, 404);
  EXPECT_TRUE(c.requests[0].error);
}

}  // namespace
}  // namespace ebt::report::l7
