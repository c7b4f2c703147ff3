// Framers and the matcher on hostile input: random bytes, random cuts and holes,
// absurd lengths. They must neither crash nor hang nor grow without bound.
#include <random>

#include <gtest/gtest.h>

#include "report/l7/connection.h"
#include "report/l7/http.h"
#include "report/l7/mysql.h"
#include "report/l7/postgres.h"
#include "report/l7/resp.h"
#include "tests/l7/test_util.h"

namespace ebt::report::l7 {
namespace {

using namespace std::string_literals;

const std::string kSeeds[] = {
    // PostgreSQL: startup, a query, its answer, an error, an absurd length
    "\0\0\0\x10\0\x03\0\0user\0u\0\0"s, "Q\0\0\0\x0dselect 1\0"s, "Z\0\0\0\x05I"s,
    "E\0\0\0\x10SERROR\0C42P01\0\0"s, "D\x7f\xff\xff\xff"s,
    // MySQL: greeting, a query, OK, ERR, a column count
    "\x0d\0\0\0\x0a" "5.5.5-10.11\0"s, "\x09\0\0\0\x03SELECT 1"s, "\x07\0\0\x01\0\0\0\x02\0\0\0"s,
    "\x09\0\0\x01\xff\x7a\x04#42S02"s, "\x01\0\0\x01\x02"s, "\xff\xff\xff\0\x03"s,
    "*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\nb\r\n", "+OK\r\n-ERR x\r\n$5\r\nhello\r\n*2\r\n:1\r\n:2\r\n",
    "GET /a HTTP/1.1\r\nHost: x\r\n\r\n",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    "$9223372036854775807\r\n", "*9223372036854775807\r\n", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n",
};

TEST(L7Fuzz, RandomCutsHolesAndMutations) {
  std::mt19937_64 rng(42);
  for (int iter = 0; iter < 3000; ++iter) {
    std::string s;
    int parts = 1 + rng() % 6;
    for (int i = 0; i < parts; ++i) s += kSeeds[rng() % std::size(kSeeds)];
    for (int m = rng() % 4; m > 0; --m) s[rng() % s.size()] = static_cast<char>(rng());
    std::vector<SyscallEvent> evs;
    uint64_t t = 1;
    size_t pos = 0;
    while (pos < s.size()) {
      size_t len = 1 + rng() % 40;
      len = std::min(len, s.size() - pos);
      size_t cap = rng() % 3 == 0 ? rng() % (len + 1) : len;
      auto kind = rng() % 2 ? SyscallKind::kRead : SyscallKind::kWrite;
      evs.push_back(test::syscall(kind, t, t + 1, std::string_view(s).substr(pos, len), 7, 100, cap));
      t += 2;
      pos += len;
    }
    std::vector<const SyscallEvent*> p;
    for (auto& e : evs) p.push_back(&e);
    Connection c = analyze_connection(7, p);
    EXPECT_LE(c.requests.size(), s.size());
    for (bool req : {true, false}) {
      MysqlShared shared;
      RespFramer r(req);
      HttpFramer h(req);
      PostgresFramer pg(req);
      MysqlFramer my(req, &shared);
      for (Framer* f : std::initializer_list<Framer*>{&r, &h, &pg, &my}) {
        test::feed(*f, 0, s);
        f->close();
        // At most one message and one hole marker per byte.
        EXPECT_LE(f->take().size(), 2 * s.size() + 1);
      }
    }
  }
}

}  // namespace
}  // namespace ebt::report::l7
