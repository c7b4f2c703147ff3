#include "report/l7/connection.h"

#include <deque>
#include <memory>

#include <map>

#include "report/l7/http.h"
#include "report/l7/mysql.h"
#include "report/l7/postgres.h"
#include "report/l7/resp.h"

namespace ebt::report::l7 {
namespace {

constexpr size_t kHeadBytes = 64;

struct ChunkRec {
  uint64_t enter_ns;
  uint64_t exit_ns;
  uint32_t tid;
};

}  // namespace

const char* protocol_name(Protocol p) {
  switch (p) {
    case Protocol::kRedis: return "redis";
    case Protocol::kHttp: return "http";
    case Protocol::kMysql: return "mysql";
    case Protocol::kPostgres: return "postgres";
    default: return "unknown";
  }
}

const char* role_name(Role r) {
  switch (r) {
    case Role::kServer: return "server";
    case Role::kClient: return "client";
    default: return "?";
  }
}

bool is_read_kind(SyscallKind k) {
  return k == SyscallKind::kRead || k == SyscallKind::kReadv || k == SyscallKind::kRecvfrom ||
         k == SyscallKind::kRecvmsg;
}

Connection analyze_connection(uint64_t id, std::span<const SyscallEvent* const> events) {
  Connection c;
  c.id = id;
  if (!events.empty()) {
    c.pid = events.front()->pid;
    c.fd = events.front()->fd;
    c.first_ns = events.front()->enter_ns;
  }
  bool request_in = false;
  std::unique_ptr<Framer> req, resp;
  std::deque<std::string> methods;  // HTTP: open requests' methods
  MysqlShared mysql;                // MySQL: open requests' commands, capabilities
  std::map<uint32_t, std::string> prepared;  // MySQL: statement id + 1 -> name
  bool resp_hole_open = false;      // a hole in the responses, no request since
  std::deque<Message> open;
  std::vector<ChunkRec> chunks_in, chunks_out;

  // When a request / response crossed the syscall boundary (connection.h).
  auto req_time = [&](const Message& q) {
    const ChunkRec& ch = (request_in ? chunks_in : chunks_out).at(q.first_chunk);
    return request_in ? ch.exit_ns : ch.enter_ns;
  };
  auto resp_time = [&](const Message& m) {
    const ChunkRec& ch = (request_in ? chunks_out : chunks_in).at(m.first_chunk);
    return request_in ? ch.enter_ns : ch.exit_ns;
  };
  auto make_request = [&](const Message& q, const Message* m, uint64_t end_ns) {
    Request r;
    r.protocol = c.protocol;
    r.role = c.role;
    r.conn_id = c.id;
    r.pid = c.pid;
    const ChunkRec& first = (request_in ? chunks_in : chunks_out).at(q.first_chunk);
    r.tid = first.tid;
    r.start_ns = req_time(q);
    r.end_ns = end_ns;
    r.name_hidden = q.gap;
    r.response_hidden = m == nullptr;
    r.request_bytes = q.gap ? 0 : q.bytes;
    r.response_bytes = m ? m->bytes : 0;
    r.truncated = q.truncated || q.gap || !m || m->truncated;
    switch (c.protocol) {
      case Protocol::kRedis:
        r.command = q.command.empty() ? kTruncatedName : q.command;
        r.target = q.key;
        break;
      case Protocol::kHttp:
        r.command = q.method.empty() ? kTruncatedName : q.method;
        r.target = q.method.empty() ? std::string() : q.path;
        break;
      default:
        r.command = q.statement.empty() ? kTruncatedName : q.statement;
        if (c.protocol == Protocol::kMysql && q.stmt_id) {
          auto it = prepared.find(q.stmt_id);
          r.command = it == prepared.end() ? "EXECUTE ?" : "EXECUTE " + it->second;
        }
        if (c.protocol == Protocol::kMysql && m && m->stmt_id && !q.key.empty()) prepared[m->stmt_id] = q.key;
        break;
    }
    if (m) {
      r.status = m->status;
      r.error = c.protocol == Protocol::kHttp ? m->status >= 400 : m->error;
      r.error_text = m->error_text;
    }
    if (r.name_hidden) ++c.name_hidden;
    if (r.response_hidden) ++c.response_hidden;
    c.requests.push_back(std::move(r));
  };

  auto pop_open = [&] {
    open.pop_front();
    if (!methods.empty()) methods.pop_front();
    if (!mysql.pending_commands.empty()) mysql.pending_commands.pop_front();
  };

  auto drain = [&] {
    if (!req) return;
    for (Message& m : req->take()) {
      resp_hole_open = false;
      if (m.truncated) ++c.truncated;
      if (c.protocol == Protocol::kHttp) methods.push_back(m.method);
      if (c.protocol == Protocol::kMysql)
        mysql.pending_commands.push_back(m.gap || m.command.empty() ? 0 : uint8_t(m.command[0]));
      open.push_back(std::move(m));
    }
    for (Message& m : resp->take()) {
      if (m.gap) {
        resp_hole_open = true;
        // A hole in the responses answers what was asked before it.
        uint64_t t = resp_time(m);
        uint64_t end = (request_in ? chunks_out : chunks_in).at(m.first_chunk).exit_ns;
        while (!open.empty() && req_time(open.front()) <= t) {
          if (open.front().gap) ++c.hidden_regions;
          else make_request(open.front(), nullptr, end);
          pop_open();
        }
        continue;
      }
      if (m.truncated) ++c.truncated;
      if (c.protocol == Protocol::kHttp && m.status >= 100 && m.status < 200 && m.status != 101)
        continue;  // interim response, the final one follows
      uint64_t end = (request_in ? chunks_out : chunks_in).at(m.last_chunk).exit_ns;
      for (;;) {
        if (open.empty()) {
          // After a hole in the responses with no request since, these bytes
          // continue the cut response (a large reply written in several
          // syscalls), not an answer to a request before the recording.
          if (resp_hole_open && !c.requests.empty()) {
            c.requests.back().end_ns = std::max(c.requests.back().end_ns, end);
            c.requests.back().response_bytes += m.bytes;
          } else {
            ++c.unmatched_responses;
          }
          break;
        }
        if (open.front().gap) {
          // The hole is over once a later request was sent before this response.
          if (open.size() > 1 && req_time(open[1]) <= resp_time(m)) {
            pop_open();
            continue;
          }
          make_request(open.front(), &m, end);  // the gap stays open for more
          break;
        }
        make_request(open.front(), &m, end);
        pop_open();
        break;
      }
    }
  };

  for (const SyscallEvent* ev : events) {
    ++c.syscalls;
    c.last_ns = ev->exit_ns;
    if (ev->ret <= 0) continue;
    bool in = is_read_kind(ev->kind);
    uint64_t len = static_cast<uint64_t>(ev->ret);
    (in ? c.bytes_in : c.bytes_out) += len;
    std::span<const uint8_t> cap(ev->payload.data(), std::min<size_t>(ev->payload.size(), len));
    auto& head = in ? c.head_in : c.head_out;
    if (head.size() < kHeadBytes)
      head.insert(head.end(), cap.begin(), cap.begin() + std::min(cap.size(), kHeadBytes - head.size()));
    if (!req) {
      bool is_request = false;
      if (looks_like_http(cap, &is_request)) {
        c.protocol = Protocol::kHttp;
      } else if (looks_like_resp(cap, &is_request)) {
        c.protocol = Protocol::kRedis;
      } else if (looks_like_postgres(cap, &is_request)) {
        c.protocol = Protocol::kPostgres;
      } else if (looks_like_mysql(cap, &is_request)) {
        c.protocol = Protocol::kMysql;
      } else {
        continue;
      }
      request_in = in == is_request;
      c.role = request_in ? Role::kServer : Role::kClient;
      if (c.protocol == Protocol::kHttp) {
        req = std::make_unique<HttpFramer>(true);
        auto h = std::make_unique<HttpFramer>(false);
        h->pending_methods = &methods;
        resp = std::move(h);
      } else if (c.protocol == Protocol::kRedis) {
        req = std::make_unique<RespFramer>(true);
        resp = std::make_unique<RespFramer>(false);
      } else if (c.protocol == Protocol::kPostgres) {
        req = std::make_unique<PostgresFramer>(true);
        resp = std::make_unique<PostgresFramer>(false);
      } else {
        req = std::make_unique<MysqlFramer>(true, &mysql);
        resp = std::make_unique<MysqlFramer>(false, &mysql);
      }
    }
    auto& chunks = in ? chunks_in : chunks_out;
    chunks.push_back({ev->enter_ns, ev->exit_ns, ev->tid});
    Framer& f = (in == request_in) ? *req : *resp;
    f.feed(chunks.size() - 1, cap, len);
    drain();
  }
  if (req) {
    req->close();
    resp->close();
    drain();
  }
  for (const Message& q : open)
    if (!q.gap) ++c.unanswered;
  return c;
}

}  // namespace ebt::report::l7
