#include "report/l7/connection.h"

#include <deque>
#include <memory>

#include "report/l7/http.h"
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
  std::deque<Message> open;
  std::vector<ChunkRec> chunks_in, chunks_out;

  auto drain = [&] {
    if (!req) return;
    for (Message& m : req->take()) {
      if (m.truncated) ++c.truncated;
      if (c.protocol == Protocol::kHttp) methods.push_back(m.method);
      open.push_back(std::move(m));
    }
    for (Message& m : resp->take()) {
      if (m.truncated) ++c.truncated;
      if (c.protocol == Protocol::kHttp && m.status >= 100 && m.status < 200 && m.status != 101)
        continue;  // interim response, the final one follows
      if (open.empty()) {
        ++c.unmatched_responses;
        continue;
      }
      Message q = std::move(open.front());
      open.pop_front();
      if (!methods.empty()) methods.pop_front();
      const auto& qc = request_in ? chunks_in : chunks_out;
      const auto& rc = request_in ? chunks_out : chunks_in;
      Request r;
      r.protocol = c.protocol;
      r.role = c.role;
      r.conn_id = c.id;
      r.pid = c.pid;
      const ChunkRec& first = qc.at(q.first_chunk);
      r.tid = first.tid;
      r.start_ns = request_in ? first.exit_ns : first.enter_ns;
      r.end_ns = rc.at(m.last_chunk).exit_ns;
      r.request_bytes = q.bytes;
      r.response_bytes = m.bytes;
      r.truncated = q.truncated || m.truncated;
      if (c.protocol == Protocol::kRedis) {
        r.command = q.command.empty() ? "?" : q.command;
        r.target = q.key;
        r.error = m.error;
        r.error_text = m.error_text;
      } else {
        r.command = q.method;
        r.target = q.path;
        r.status = m.status;
        r.error = m.status >= 400;
      }
      c.requests.push_back(std::move(r));
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
      } else {
        req = std::make_unique<RespFramer>(true);
        resp = std::make_unique<RespFramer>(false);
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
  c.unanswered = open.size();
  return c;
}

}  // namespace ebt::report::l7
