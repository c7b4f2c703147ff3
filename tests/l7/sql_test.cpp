// MySQL / PostgreSQL framing and statement names, on hand-built packets.
#include <gtest/gtest.h>

#include <map>

#include "report/l7/connection.h"
#include "report/l7/sql.h"
#include "tests/l7/test_util.h"

namespace ebt::report::l7 {
namespace {

using test::syscall;

std::vector<const SyscallEvent*> ptrs(const std::vector<SyscallEvent>& v) {
  std::vector<const SyscallEvent*> p;
  for (auto& e : v) p.push_back(&e);
  return p;
}

std::map<std::string, std::pair<uint64_t, uint64_t>> counts(const Connection& c) {
  std::map<std::string, std::pair<uint64_t, uint64_t>> m;
  for (const auto& r : c.requests) {
    m[r.command].first++;
    m[r.command].second += r.error;
  }
  return m;
}

TEST(SqlName, KeywordAndTable) {
  EXPECT_EQ(sql_name("select * from users where id = 1", true), "SELECT users");
  EXPECT_EQ(sql_name("  /* hi */ INSERT INTO `orders` (a) VALUES (1)", true), "INSERT orders");
  EXPECT_EQ(sql_name("update t1 set a=1", true), "UPDATE t1");
  EXPECT_EQ(sql_name("DELETE FROM public.items", true), "DELETE public.items");
  EXPECT_EQ(sql_name("CREATE TABLE IF NOT EXISTS \"kv\" (k int)", true), "CREATE kv");
  EXPECT_EQ(sql_name("begin", true), "BEGIN");
  EXPECT_EQ(sql_name("SELECT 1", true), "SELECT");
  // A prefix: a word cut by the capture's end is not used.
  EXPECT_EQ(sql_name("SELECT a FROM use", false), "SELECT");
  EXPECT_EQ(sql_name("SEL", false), "");
  EXPECT_EQ(sql_name("", true), "");
}

std::string be32(uint32_t v) {
  return {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
}
std::string pg(char type, const std::string& body) { return std::string(1, type) + be32(body.size() + 4) + body; }
std::string pg_query(const std::string& q) { return pg('Q', q + std::string(1, '\0')); }
std::string pg_ready() { return pg('Z', "I"); }
std::string pg_error(const std::string& state) {
  return pg('E', std::string("SERROR\0C", 8) + state + std::string("\0Mboom\0\0", 8));
}

TEST(Postgres, SimpleAndExtendedQueriesWithErrors) {
  std::string startup = be32(8 + 8) + be32(196608) + std::string("user\0u\0\0", 8);
  std::string auth = pg('R', be32(0)) + pg('S', std::string("a\0b\0", 4)) + pg('K', be32(1) + be32(2)) + pg_ready();
  std::string ext = pg('P', std::string("s1\0", 3) + "SELECT v FROM kv WHERE k=$1" + std::string("\0\0\0", 3)) +
                    pg('B', std::string("\0s1\0", 4) + std::string(6, '\0')) + pg('E', std::string("\0\0\0\0\0", 5)) +
                    pg('S', "");
  std::string ext2 = pg('B', std::string("\0s1\0", 4) + std::string(6, '\0')) + pg('E', std::string(5, '\0')) + pg('S', "");
  std::string big(5000, 'x');
  std::vector<SyscallEvent> ev = {
      syscall(SyscallKind::kRead, 100, 110, startup),
      syscall(SyscallKind::kWrite, 120, 130, auth),
      syscall(SyscallKind::kRead, 200, 210, pg_query("select * from users")),
      syscall(SyscallKind::kWrite, 220, 230, pg('T', std::string(30, 'c')) + pg('D', big) + pg('C', std::string("SELECT 1\0", 9)) + pg_ready(), 7, 100, 64),
      syscall(SyscallKind::kRead, 300, 310, pg_query("select * from nope")),
      syscall(SyscallKind::kWrite, 320, 330, pg_error("42P01") + pg_ready()),
      syscall(SyscallKind::kRead, 400, 410, ext),
      syscall(SyscallKind::kWrite, 420, 430, pg('1', "") + pg('2', "") + pg('C', std::string("SELECT 0\0", 9)) + pg_ready()),
      syscall(SyscallKind::kRead, 500, 510, ext2),
      syscall(SyscallKind::kWrite, 520, 530, pg('2', "") + pg_error("22P02") + pg_ready()),
      syscall(SyscallKind::kRead, 600, 610, pg('X', "")),
  };
  Connection c = analyze_connection(7, ptrs(ev));
  EXPECT_EQ(c.protocol, Protocol::kPostgres);
  EXPECT_EQ(c.role, Role::kServer);
  auto m = counts(c);
  EXPECT_EQ(m["SELECT users"], (std::pair<uint64_t, uint64_t>{1, 0}));
  EXPECT_EQ(m["SELECT nope"], (std::pair<uint64_t, uint64_t>{1, 1}));
  EXPECT_EQ(m["SELECT kv"], (std::pair<uint64_t, uint64_t>{2, 1}));
  EXPECT_EQ(c.requests.size(), 4u);
  EXPECT_EQ(c.unanswered, 0u);
  EXPECT_EQ(c.unmatched_responses, 0u);
  EXPECT_EQ(c.truncated, 1u);  // the first result's rows ran beyond the capture
  EXPECT_EQ(c.requests[1].error_text, "42P01");
}

std::string my(uint8_t seq, const std::string& payload) {
  size_t n = payload.size();
  return std::string{char(n), char(n >> 8), char(n >> 16), char(seq)} + payload;
}
std::string my_ok(uint8_t seq) { return my(seq, std::string("\0\0\0\x02\0\0\0", 7)); }
std::string my_eof(uint8_t seq) { return my(seq, std::string("\xfe\0\0\x02\0", 5)); }
std::string my_err(uint8_t seq, const std::string& state) {
  return my(seq, std::string("\xff\x7a\x04#", 4) + state + "Table doesn't exist");
}

TEST(Mysql, QueriesResultSetsPreparedAndErrors) {
  std::string greeting = my(0, std::string("\x0a") + "5.5.5-10.11.6-MariaDB" + std::string(1, '\0') + std::string(40, 'g'));
  std::string login = my(1, std::string("\x0d\xa2\x00\x00", 4) + std::string(28, '\0') + "root" + std::string(2, '\0'));
  auto result = [](int rows, size_t row_bytes) {
    std::string r = my(1, "\x01") + my(2, std::string(40, 'c')) + my_eof(3);
    uint8_t seq = 4;
    for (int i = 0; i < rows; ++i) r += my(seq++, std::string(1, char(row_bytes - 1)) + std::string(row_bytes - 1, 'r'));
    return r + my_eof(seq);
  };
  std::string prep_ok = my(1, std::string("\x00\x05\x00\x00\x00\x01\x00\x01\x00\x00\x00\x00", 12)) +
                        my(2, std::string(30, 'p')) + my_eof(3) + my(4, std::string(30, 'c')) + my_eof(5);
  std::string exec = my(0, std::string("\x17\x05\x00\x00\x00\x00\x01\x00\x00\x00", 10) + std::string(8, 'a'));
  std::vector<SyscallEvent> ev = {
      syscall(SyscallKind::kWrite, 100, 110, greeting),
      syscall(SyscallKind::kRead, 120, 130, login),
      syscall(SyscallKind::kWrite, 140, 150, my_ok(2)),
      syscall(SyscallKind::kRead, 200, 210, my(0, "\x03SELECT * FROM users")),
      syscall(SyscallKind::kWrite, 220, 230, result(30, 100), 7, 100, 128),  // rows beyond the capture
      syscall(SyscallKind::kRead, 300, 310, my(0, "\x03INSERT INTO users VALUES (1)")),
      syscall(SyscallKind::kWrite, 320, 330, my_ok(1)),
      syscall(SyscallKind::kRead, 400, 410, my(0, "\x03SELECT * FROM nope")),
      syscall(SyscallKind::kWrite, 420, 430, my_err(1, "42S02")),
      syscall(SyscallKind::kRead, 500, 510, my(0, "\x16SELECT v FROM kv WHERE k=?")),
      syscall(SyscallKind::kWrite, 520, 530, prep_ok),
      syscall(SyscallKind::kRead, 600, 610, exec),
      syscall(SyscallKind::kWrite, 620, 630, result(2, 10)),
      syscall(SyscallKind::kRead, 700, 710, my(0, std::string("\x19\x05\0\0\0", 5))),  // close: no answer
      syscall(SyscallKind::kRead, 800, 810, my(0, "\x01")),
  };
  Connection c = analyze_connection(7, ptrs(ev));
  EXPECT_EQ(c.protocol, Protocol::kMysql);
  EXPECT_EQ(c.role, Role::kServer);
  auto m = counts(c);
  EXPECT_EQ(m["SELECT users"], (std::pair<uint64_t, uint64_t>{1, 0}));
  EXPECT_EQ(m["INSERT users"], (std::pair<uint64_t, uint64_t>{1, 0}));
  EXPECT_EQ(m["SELECT nope"], (std::pair<uint64_t, uint64_t>{1, 1}));
  EXPECT_EQ(m["PREPARE SELECT kv"], (std::pair<uint64_t, uint64_t>{1, 0}));
  EXPECT_EQ(m["EXECUTE SELECT kv"], (std::pair<uint64_t, uint64_t>{1, 0}));
  EXPECT_EQ(c.requests.size(), 5u);
  EXPECT_EQ(c.unanswered, 0u);
  EXPECT_EQ(c.unmatched_responses, 0u);
  EXPECT_EQ(c.truncated, 1u);  // the first result's rows ran beyond the capture
  EXPECT_EQ(c.requests[2].error_text, "42S02");
}

TEST(Mysql, DeprecateEofResultSetsAndMultipleResults) {
  // A MySQL 8-style client (CLIENT_DEPRECATE_EOF): no EOF after the column
  // definitions, results end with an OK packet whose header is 0xfe. And a
  // multi-statement answer: SERVER_MORE_RESULTS_EXISTS keeps the response open.
  // With the greeting the mode comes from the client's capability flags;
  // without it (a recording that began later) from the first result set.
  std::string greeting = my(0, std::string("\x0a") + "8.0.36" + std::string(1, '\0') + std::string(40, 'g'));
  std::string login = my(1, std::string("\x0d\xa2\x00\x01", 4) + std::string(28, '\0') + "u" + std::string(2, '\0'));
  std::string ok_fe = std::string("\xfe\0\0\x02\0\0\0", 7);
  std::string empty = my(1, "\x01") + my(2, std::string(40, 'c')) + my(3, ok_fe);
  std::string rows = my(1, "\x01") + my(2, std::string(40, 'c')) + my(3, "\x03" "abc") + my(4, ok_fe);
  std::string multi = my(1, std::string("\0\x01\0\x0a\0\0\0", 7)) +  // OK, more results follow
                      my(2, std::string("\0\x01\0\x02\0\0\0", 7));
  for (bool with_greeting : {false, true}) {
    SCOPED_TRACE(with_greeting ? "from the greeting" : "mid-connection");
    std::vector<SyscallEvent> ev;
    if (with_greeting) {
      ev.push_back(syscall(SyscallKind::kWrite, 100, 110, greeting));
      ev.push_back(syscall(SyscallKind::kRead, 120, 130, login));
      ev.push_back(syscall(SyscallKind::kWrite, 140, 150, my_ok(2)));
    }
    ev.push_back(syscall(SyscallKind::kRead, 200, 210, my(0, "\x03SELECT a FROM t2 WHERE 0")));
    ev.push_back(syscall(SyscallKind::kWrite, 220, 230, empty));
    ev.push_back(syscall(SyscallKind::kRead, 300, 310, my(0, "\x03SELECT a FROM t1")));
    ev.push_back(syscall(SyscallKind::kWrite, 320, 330, rows));
    ev.push_back(syscall(SyscallKind::kRead, 400, 410, my(0, "\x03UPDATE t1 SET a=1; UPDATE t2 SET a=2")));
    ev.push_back(syscall(SyscallKind::kWrite, 420, 430, multi));
    ev.push_back(syscall(SyscallKind::kRead, 500, 510, my(0, "\x03SELECT a FROM t3")));
    ev.push_back(syscall(SyscallKind::kWrite, 520, 530, my_err(1, "42S02")));
    Connection c = analyze_connection(7, ptrs(ev));
    EXPECT_EQ(c.protocol, Protocol::kMysql);
    auto m = counts(c);
    EXPECT_EQ(m["SELECT t1"], (std::pair<uint64_t, uint64_t>{1, 0}));
    EXPECT_EQ(m["SELECT t2"], (std::pair<uint64_t, uint64_t>{1, 0}));
    EXPECT_EQ(m["UPDATE t1"], (std::pair<uint64_t, uint64_t>{1, 0}));
    EXPECT_EQ(m["SELECT t3"], (std::pair<uint64_t, uint64_t>{1, 1}));
    EXPECT_EQ(c.requests.size(), 4u);
    EXPECT_EQ(c.unmatched_responses, 0u);
    EXPECT_EQ(c.unanswered, 0u);
    EXPECT_EQ(c.truncated, 0u);
    for (const auto& r : c.requests) EXPECT_EQ(r.end_ns, r.start_ns + 20) << r.command;
  }
}

}  // namespace
}  // namespace ebt::report::l7
