// End to end: real PostgreSQL and MariaDB servers, started by the test in
// temporary data directories on loopback, recorded with `ebtrace record --l7 -p
// SERVER` (PostgreSQL's per-connection backends are forked children: followed).
// The clients are written here, byte by byte, so the statement mix is exact:
// counts per statement kind and error counts must match exactly.
#include <pwd.h>

#include <map>
#include <string>

#include <gtest/gtest.h>

#include "report/l7/l7_load.h"
#include "tests/bpf_guard.h"
#include "tests/l7/l7_harness.h"

namespace ebt::test {
namespace {

using report::l7::GroupBy;
using report::l7::Protocol;
using report::l7::Role;

// A system user to run a database server as (they refuse root), or skip.
struct RunAs {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
};

bool find_user(const std::vector<std::string>& names, RunAs* out) {
  for (const auto& n : names) {
    if (passwd* pw = getpwnam(n.c_str())) {
      *out = {n, pw->pw_uid, pw->pw_gid};
      return true;
    }
  }
  return false;
}

void chown_tree(const fs::path& p, const RunAs& u) {
  if (chown(p.c_str(), u.uid, u.gid) != 0) throw std::runtime_error("chown " + p.string());
  for (const auto& e : fs::recursive_directory_iterator(p))
    if (chown(e.path().c_str(), u.uid, u.gid) != 0) throw std::runtime_error("chown " + e.path().string());
}

// argv run as user u: setpriv execs in place, so the child's pid is the program's.
std::vector<std::string> as_user(const RunAs& u, std::vector<std::string> argv) {
  argv.insert(argv.begin(), {"setpriv", "--reuid=" + std::to_string(u.uid), "--regid=" + std::to_string(u.gid),
                             "--clear-groups", "--"});
  return argv;
}

// Runs argv as user u, waits up to timeout_s; returns the exit status.
int run_as(const RunAs& u, std::vector<std::string> argv, const fs::path& log, double timeout_s) {
  Child c(as_user(u, std::move(argv)), log.string());
  return c.stop(0, timeout_s);
}

class Socket {
 public:
  explicit Socket(uint16_t port) : fd_(connect_loopback(port)) {
    if (fd_ < 0) throw std::runtime_error("connect");
  }
  ~Socket() { close(fd_); }
  void send(const std::string& s) {
    if (write(fd_, s.data(), s.size()) != static_cast<ssize_t>(s.size())) throw std::runtime_error("short write");
  }
  std::string take(size_t n) {
    while (buf_.size() < n) {
      char tmp[65536];
      ssize_t r = read(fd_, tmp, sizeof tmp);
      if (r <= 0) throw std::runtime_error("connection closed");
      buf_.append(tmp, r);
    }
    std::string out = buf_.substr(0, n);
    buf_.erase(0, n);
    return out;
  }

 private:
  int fd_;
  std::string buf_;
};

uint32_t be32(const std::string& s, size_t o) {
  return uint32_t(uint8_t(s[o])) << 24 | uint32_t(uint8_t(s[o + 1])) << 16 | uint32_t(uint8_t(s[o + 2])) << 8 |
         uint8_t(s[o + 3]);
}
std::string be32s(uint32_t v) { return {char(v >> 24), char(v >> 16), char(v >> 8), char(v)}; }
std::string be16s(uint16_t v) { return {char(v >> 8), char(v)}; }

// ---------------------------------------------------------------- PostgreSQL

class PgClient {
 public:
  PgClient(uint16_t port, const std::string& user) : s_(port) {
    std::string body = be32s(196608) + "user" + std::string(1, '\0') + user + std::string(1, '\0') + "database" +
                       std::string(1, '\0') + "postgres" + std::string(2, '\0');
    s_.send(be32s(body.size() + 4) + body);
    if (until_ready() != 0) throw std::runtime_error("postgres startup failed");
  }
  ~PgClient() {
    try {
      s_.send(msg('X', ""));
    } catch (...) {
    }
  }
  static std::string msg(char t, const std::string& body) { return std::string(1, t) + be32s(body.size() + 4) + body; }
  // Simple query; returns the number of ErrorResponses.
  int query(const std::string& q) {
    s_.send(msg('Q', q + std::string(1, '\0')));
    return until_ready();
  }
  // Extended query: Parse (when parse), Bind with one text parameter, Execute, Sync.
  int extended(const std::string& stmt, const std::string& sql, bool parse, const std::string& param) {
    std::string out;
    if (parse) out += msg('P', stmt + std::string(1, '\0') + sql + std::string(1, '\0') + be16s(0));
    out += msg('B', std::string(1, '\0') + stmt + std::string(1, '\0') + be16s(0) + be16s(1) +
                        be32s(param.size()) + param + be16s(0));
    out += msg('E', std::string(1, '\0') + be32s(0));
    out += msg('S', "");
    s_.send(out);
    return until_ready();
  }

 private:
  int until_ready() {
    int errors = 0;
    for (;;) {
      std::string h = s_.take(5);
      std::string body = s_.take(be32(h, 1) - 4);
      if (h[0] == 'E') errors++;
      if (h[0] == 'Z') return errors;
    }
  }
  Socket s_;
};

TEST(DatabaseL7, PostgresExactStatementMixWithErrors) {
  EBT_REQUIRE_BPF_OR_SKIP();
  RunAs u;
  if (!find_user({"postgres", "nobody"}, &u)) GTEST_SKIP() << "no user to run postgres as";
  fs::path bin = "/usr/lib/postgresql/15/bin";
  if (!fs::exists(bin / "postgres")) {
    for (int v = 20; v >= 11; --v)
      if (fs::exists("/usr/lib/postgresql/" + std::to_string(v) + "/bin/postgres")) {
        bin = "/usr/lib/postgresql/" + std::to_string(v) + "/bin";
        break;
      }
  }
  ASSERT_TRUE(fs::exists(bin / "postgres")) << "postgresql is not installed (scripts/setup-deps.sh --with-tests)";
  fs::path dir = make_temp_dir("ebt-l7-pg");
  fs::create_directory(dir / "data");
  chown_tree(dir, u);
  ASSERT_EQ(run_as(u, {(bin / "initdb").string(), "-D", (dir / "data").string(), "-U", "ebt", "--auth=trust",
                       "--no-sync", "-E", "UTF8", "--locale=C"},
                   dir / "initdb.log", 120),
            0)
      << read_file(dir / "initdb.log");
  uint16_t port = free_port();
  Child server(as_user(u, {(bin / "postgres").string(), "-D", (dir / "data").string(), "-k", dir.string(), "-p",
                           std::to_string(port), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c",
                           "ssl=off", "-c", "shared_buffers=16MB"}),
               (dir / "postgres.log").string());
  ASSERT_TRUE(wait_port(port, 60)) << read_file(dir / "postgres.log");
  // Listening is not ready: connections fail while the system starts up.
  ASSERT_TRUE(wait_until([&] {
    try {
      PgClient probe(port, "ebt");
      return true;
    } catch (const std::exception&) {
      return false;
    }
  }, 60)) << read_file(dir / "postgres.log");
  {
    PgClient setup(port, "ebt");
    ASSERT_EQ(setup.query("CREATE TABLE users (id int PRIMARY KEY, name text)"), 0);
    ASSERT_EQ(setup.query("CREATE TABLE kv (k int PRIMARY KEY, v text)"), 0);
    ASSERT_EQ(setup.query("INSERT INTO kv SELECT g, repeat('x', 100) FROM generate_series(1, 50) g"), 0);
  }
  // The postmaster; the backend it forks for the connection is followed.
  int errors = 0;
  {
    Recording rec(dir, {"-p", std::to_string(server.pid())});
    {
      PgClient c(port, "ebt");
      for (int i = 0; i < 30; ++i)
        errors += c.query("INSERT INTO users VALUES (" + std::to_string(i) + ", 'name" + std::to_string(i) + "')");
      for (int i = 0; i < 5; ++i) errors += c.query("INSERT INTO users VALUES (1, 'dup')");  // 23505
      for (int i = 0; i < 20; ++i) errors += c.query("SELECT * FROM users WHERE id < " + std::to_string(i));
      for (int i = 0; i < 10; ++i) errors += c.query("UPDATE users SET name = 'x' WHERE id = " + std::to_string(i));
      for (int i = 0; i < 5; ++i) errors += c.query("SELECT * FROM nope");  // 42P01
      errors += c.query("SELECT * FROM kv");  // 50 rows of 100 bytes: beyond a small capture
      for (int i = 0; i < 15; ++i)
        errors += c.extended("s1", "SELECT v FROM kv WHERE k = $1", i == 0, i == 7 ? "abc" : std::to_string(i));
    }
    ASSERT_EQ(errors, 11);
    ASSERT_EQ(rec.stop(), 0) << rec.log();
    auto a = report::l7::analyze_l7(report::l7::load_l7_input(rec.capture().string()));
    std::map<std::string, std::pair<uint64_t, uint64_t>> rows;
    for (const auto& r : report::l7::latency_rows(a, GroupBy::kNone)) {
      EXPECT_EQ(r.protocol, Protocol::kPostgres) << r.request;
      EXPECT_EQ(r.role, Role::kServer) << r.request;
      rows[r.request] = {r.count, r.errors};
    }
    using P = std::pair<uint64_t, uint64_t>;
    EXPECT_EQ(rows["INSERT users"], (P{35, 5}));
    EXPECT_EQ(rows["SELECT users"], (P{20, 0}));
    EXPECT_EQ(rows["UPDATE users"], (P{10, 0}));
    EXPECT_EQ(rows["SELECT nope"], (P{5, 5}));
    EXPECT_EQ(rows["SELECT kv"], (P{16, 1}));  // 1 simple + 15 extended (one with a bad parameter)
    EXPECT_EQ(rows.size(), 5u);
    for (const auto& c : a.connections) {
      if (c.protocol != Protocol::kPostgres) continue;
      EXPECT_EQ(c.unanswered, 0u);
      EXPECT_EQ(c.unmatched_responses, 0u);
      EXPECT_EQ(c.hidden_regions, 0u);
    }
  }
  server.stop(SIGINT, 30);
  std::error_code ec;
  fs::remove_all(dir, ec);
}

// ---------------------------------------------------------------- MariaDB

std::string le3(size_t n) { return {char(n), char(n >> 8), char(n >> 16)}; }

class MysqlClient {
 public:
  explicit MysqlClient(uint16_t port) : s_(port) {
    packet();  // greeting
    // HandshakeResponse41: LONG_PASSWORD | PROTOCOL_41 | TRANSACTIONS | SECURE_CONNECTION;
    // the server runs with --skip-grant-tables, so no password.
    uint32_t caps = 0x1 | 0x200 | 0x2000 | 0x8000;
    std::string p = {char(caps), char(caps >> 8), char(caps >> 16), char(caps >> 24)};
    p += std::string("\0\0\0\x01", 4) + char(33) + std::string(23, '\0') + "root" + std::string(1, '\0') +
         std::string(1, '\0');
    send(1, p);
    std::string ok = packet();
    if (ok.empty() || uint8_t(ok[0]) != 0) throw std::runtime_error("mariadb login failed");
  }
  ~MysqlClient() {
    try {
      send(0, "\x01");
    } catch (...) {
    }
  }
  // Returns 1 for an ERR response, 0 otherwise (a result set is read whole).
  int query(const std::string& sql) {
    send(0, "\x03" + sql);
    return response();
  }
  uint32_t prepare(const std::string& sql, int* params) {
    send(0, "\x16" + sql);
    std::string p = packet();
    if (uint8_t(p[0]) != 0) throw std::runtime_error("prepare failed");
    uint32_t id = uint8_t(p[1]) | uint8_t(p[2]) << 8 | uint8_t(p[3]) << 16 | uint32_t(uint8_t(p[4])) << 24;
    int cols = uint8_t(p[5]) | uint8_t(p[6]) << 8;
    *params = uint8_t(p[7]) | uint8_t(p[8]) << 8;
    for (int i = 0; i < *params; ++i) packet();
    if (*params) packet();  // EOF
    for (int i = 0; i < cols; ++i) packet();
    if (cols) packet();
    return id;
  }
  // One BIGINT parameter.
  int execute(uint32_t id, int64_t v) {
    std::string p = "\x17";
    p += {char(id), char(id >> 8), char(id >> 16), char(id >> 24)};
    p += std::string("\0\x01\0\0\0", 5);  // flags, iteration count 1
    p += std::string("\0\x01\x08\0", 4);  // null bitmap, new params bound, MYSQL_TYPE_LONGLONG
    for (int i = 0; i < 8; ++i) p += char(uint64_t(v) >> (8 * i));
    send(0, p);
    return response();
  }
  void close_stmt(uint32_t id) {
    send(0, std::string("\x19") + std::string{char(id), char(id >> 8), char(id >> 16), char(id >> 24)});
  }

 private:
  void send(uint8_t seq, const std::string& payload) { s_.send(le3(payload.size()) + char(seq) + payload); }
  std::string packet() {
    std::string h = s_.take(4);
    size_t n = uint8_t(h[0]) | uint8_t(h[1]) << 8 | uint8_t(h[2]) << 16;
    return s_.take(n);
  }
  int response() {
    std::string p = packet();
    uint8_t b = uint8_t(p[0]);
    if (b == 0xff) return 1;
    if (b == 0x00) return 0;
    int cols = b;  // < 251 here
    for (int i = 0; i < cols; ++i) packet();
    packet();  // EOF
    for (;;) {
      std::string r = packet();
      if (uint8_t(r[0]) == 0xfe && r.size() < 9) return 0;
      if (uint8_t(r[0]) == 0xff) return 1;
    }
  }
  Socket s_;
};

TEST(DatabaseL7, MariadbExactStatementMixWithErrors) {
  EBT_REQUIRE_BPF_OR_SKIP();
  RunAs u;
  if (!find_user({"mysql", "nobody"}, &u)) GTEST_SKIP() << "no user to run mariadbd as";
  ASSERT_TRUE(fs::exists("/usr/sbin/mariadbd")) << "mariadb-server is not installed (scripts/setup-deps.sh --with-tests)";
  fs::path dir = make_temp_dir("ebt-l7-maria");
  fs::create_directory(dir / "data");
  chown_tree(dir, u);
  ASSERT_EQ(run_as(u, {"mariadb-install-db", "--no-defaults", "--datadir=" + (dir / "data").string(),
                       "--auth-root-authentication-method=normal", "--skip-test-db"},
                   dir / "install.log", 180),
            0)
      << read_file(dir / "install.log");
  uint16_t port = free_port();
  Child server(as_user(u, {"/usr/sbin/mariadbd", "--no-defaults", "--datadir=" + (dir / "data").string(),
                           "--socket=" + (dir / "sock").string(), "--pid-file=" + (dir / "pid").string(),
                           "--port=" + std::to_string(port), "--bind-address=127.0.0.1", "--skip-grant-tables",
                           "--innodb-buffer-pool-size=16M", "--skip-log-bin",
                           "--log-error=" + (dir / "err.log").string()}),
               (dir / "mariadbd.log").string());
  ASSERT_TRUE(wait_port(port, 90)) << read_file(dir / "err.log");
  {
    MysqlClient setup(port);
    ASSERT_EQ(setup.query("CREATE DATABASE t"), 0);
    ASSERT_EQ(setup.query("CREATE TABLE t.users (id INT PRIMARY KEY, name VARCHAR(64))"), 0);
    ASSERT_EQ(setup.query("CREATE TABLE t.kv (k INT PRIMARY KEY, v VARCHAR(200))"), 0);
    ASSERT_EQ(setup.query("INSERT INTO t.kv WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 50) SELECT n, REPEAT('x', 100) FROM s"), 0);
  }
  int errors = 0;
  {
    Recording rec(dir, {"-p", std::to_string(server.pid())});
    {
      MysqlClient c(port);
      for (int i = 0; i < 30; ++i)
        errors += c.query("INSERT INTO t.users VALUES (" + std::to_string(i) + ", 'n" + std::to_string(i) + "')");
      for (int i = 0; i < 5; ++i) errors += c.query("INSERT INTO t.users VALUES (1, 'dup')");  // 23000
      for (int i = 0; i < 20; ++i) errors += c.query("SELECT * FROM t.users WHERE id < " + std::to_string(i));
      for (int i = 0; i < 10; ++i) errors += c.query("UPDATE t.users SET name = 'x' WHERE id = " + std::to_string(i));
      for (int i = 0; i < 5; ++i) errors += c.query("SELECT * FROM t.nope");  // 42S02
      errors += c.query("SELECT * FROM t.kv");  // 50 rows of 100 bytes
      int params = 0;
      uint32_t id = c.prepare("SELECT v FROM t.kv WHERE k = ?", &params);
      ASSERT_EQ(params, 1);
      for (int i = 0; i < 15; ++i) errors += c.execute(id, i);
      c.close_stmt(id);
    }
    ASSERT_EQ(errors, 10);
    ASSERT_EQ(rec.stop(), 0) << rec.log();
    auto a = report::l7::analyze_l7(report::l7::load_l7_input(rec.capture().string()));
    std::map<std::string, std::pair<uint64_t, uint64_t>> rows;
    for (const auto& r : report::l7::latency_rows(a, GroupBy::kNone)) {
      EXPECT_EQ(r.protocol, Protocol::kMysql) << r.request;
      EXPECT_EQ(r.role, Role::kServer) << r.request;
      rows[r.request] = {r.count, r.errors};
    }
    using P = std::pair<uint64_t, uint64_t>;
    EXPECT_EQ(rows["INSERT t.users"], (P{35, 5}));
    EXPECT_EQ(rows["SELECT t.users"], (P{20, 0}));
    EXPECT_EQ(rows["UPDATE t.users"], (P{10, 0}));
    EXPECT_EQ(rows["SELECT t.nope"], (P{5, 5}));
    EXPECT_EQ(rows["SELECT t.kv"], (P{1, 0}));
    EXPECT_EQ(rows["PREPARE SELECT t.kv"], (P{1, 0}));
    EXPECT_EQ(rows["EXECUTE SELECT t.kv"], (P{15, 0}));
    EXPECT_EQ(rows.size(), 7u);
    for (const auto& c : a.connections) {
      if (c.protocol != Protocol::kMysql) continue;
      EXPECT_EQ(c.unanswered, 0u);
      EXPECT_EQ(c.unmatched_responses, 0u);
      EXPECT_EQ(c.hidden_regions, 0u);
    }
  }
  server.stop(SIGTERM, 60);
  std::error_code ec;
  fs::remove_all(dir, ec);
}

}  // namespace
}  // namespace ebt::test
