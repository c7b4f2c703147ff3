#include "report/l7/postgres.h"

#include <cstring>

#include "report/l7/sql.h"

namespace ebt::report::l7 {
namespace {

constexpr uint32_t kMaxMessage = 1u << 30;
constexpr size_t kKeep = 512;  // body bytes kept: statement text, error fields
constexpr uint32_t kProtocol3 = 196608, kSslRequest = 80877103, kGssEnc = 80877104, kCancel = 80877102;

uint32_t be32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }

// A NUL-terminated string at *pos of body; advances past the NUL. Empty when
// the terminator is not inside body.
std::string_view cstr(std::string_view body, size_t* pos) {
  if (*pos >= body.size()) return {};
  size_t e = body.find('\0', *pos);
  if (e == std::string_view::npos) {
    *pos = body.size();
    return {};
  }
  std::string_view r = body.substr(*pos, e - *pos);
  *pos = e + 1;
  return r;
}

}  // namespace

PostgresFramer::PostgresFramer(bool requests) : requests_(requests) { read_exact(1); }

void PostgresFramer::reset() {
  // After lost sync the next syscall starts with a typed message (a client that
  // started up is past the startup).
  state_ = State::kType;
  swallow_ = false;
  read_exact(1);
}

void PostgresFramer::on_exact(std::string_view b) {
  const auto* u = reinterpret_cast<const uint8_t*>(b.data());
  switch (state_) {
    case State::kFirst:
      if (requests_ && u[0] == 0) {  // untyped startup / SSLRequest: a length's high byte
        state_ = State::kStartupLength;
        return read_exact(3);
      }
      if (!requests_ && (b[0] == 'N' || b[0] == 'G')) {  // SSL / GSS encryption refused: one byte
        return read_exact(1);
      }
      [[fallthrough]];
    case State::kType:
      type_ = b[0];
      state_ = State::kLength;
      return read_exact(4);
    case State::kStartupLength: {
      uint32_t len = uint32_t(u[0]) << 16 | uint32_t(u[1]) << 8 | u[2];
      if (len < 8 || len > 10000) return lose_sync();
      swallow_ = true;
      state_ = State::kFirst;  // SSLRequest is followed by the real startup
      return skip(len - 4);
    }
    case State::kLength: {
      uint32_t len = be32(u);
      if (len < 4 || len > kMaxMessage) return lose_sync();
      return skip(len - 4, kKeep);
    }
  }
}

void PostgresFramer::on_skipped(std::string_view head, bool complete) {
  if (swallow_) {
    swallow_ = false;
    return read_exact(1);
  }
  state_ = State::kType;
  if (requests_) request_message(head, complete);
  else response_message(head);
  read_exact(1);
}

void PostgresFramer::request_message(std::string_view body, bool complete) {
  switch (type_) {
    case 'p':  // password / SASL: part of the startup
    case 'X':  // Terminate: no response
    case 'd': case 'c': case 'f':  // COPY data from the client: part of the COPY's request
      return;
    case 'Q': {
      if (!in_message()) begin_message();
      size_t pos = 0;
      std::string_view q = cstr(body, &pos);
      cur_.statement = pos ? sql_name(q, true) : sql_name(body, complete);
      return finish_message();
    }
    case 'F':
      if (!in_message()) begin_message();
      cur_.statement = "FUNCTION";
      return finish_message();
    case 'P': {
      if (!in_message()) begin_message();
      size_t pos = 0;
      std::string name(cstr(body, &pos));
      if (pos == 0) return;  // the name ran beyond the capture
      size_t start = pos;
      std::string_view q = cstr(body, &pos);
      std::string sname = pos > start ? sql_name(q, true) : sql_name(body.substr(start), false);
      if (!sname.empty()) statements_[name] = sname;
      if (cur_.statement.empty()) cur_.statement = sname;
      return;
    }
    case 'B': {
      if (!in_message()) begin_message();
      size_t pos = 0;
      cstr(body, &pos);  // portal
      size_t before = pos;
      std::string name(cstr(body, &pos));
      if (cur_.statement.empty() && pos > before) {
        auto it = statements_.find(name);
        if (it != statements_.end()) cur_.statement = it->second;
      }
      return;
    }
    case 'S':  // Sync: the extended-query batch is complete
      if (!in_message()) begin_message();
      if (cur_.statement.empty()) cur_.statement = "SYNC";
      return finish_message();
    default:  // Describe, Execute, Close, Flush...: part of the batch
      if (!in_message()) begin_message();
      return;
  }
}

void PostgresFramer::response_message(std::string_view body) {
  switch (type_) {
    case 'R':  // authentication: the startup's answers, up to its ReadyForQuery
      startup_ = true;
      return;
    case 'Z':
      if (startup_) {
        startup_ = false;
        if (in_message()) abort_message();
        return;
      }
      if (!in_message()) begin_message();
      return finish_message();
    case 'A': case 'N': case 'S':  // notification, notice, parameter status: may come unasked
      return;
    case 'E': {
      if (startup_) return;
      if (!in_message()) begin_message();
      if (!cur_.error) {
        cur_.error = true;
        // Fields: a type byte and a NUL-terminated value each; 'C' is the SQLSTATE.
        size_t pos = 0;
        while (pos < body.size() && body[pos] != 0) {
          char field = body[pos++];
          std::string_view v = cstr(body, &pos);
          if (field == 'C') {
            cur_.error_text = std::string(v.substr(0, 8));
            break;
          }
        }
      }
      return;
    }
    default:
      if (startup_) return;
      if (!in_message()) begin_message();
      return;
  }
}

bool looks_like_postgres(std::span<const uint8_t> b, bool* request) {
  if (b.size() >= 8 && b[0] == 0) {
    uint32_t len = be32(b.data()), code = be32(b.data() + 4);
    if (len >= 8 && len <= 10000 &&
        (code == kProtocol3 || code == kSslRequest || code == kGssEnc || code == kCancel)) {
      *request = true;
      return true;
    }
    return false;
  }
  if (b.size() < 5) return false;
  uint32_t len = be32(b.data() + 1);
  switch (b[0]) {
    case 'Q':  // a simple query: its text is NUL-terminated at len
      *request = true;
      return len >= 5 && len <= kMaxMessage && (b.size() < len + 1 || b[len] == 0);
    case 'P':
      *request = true;
      return len >= 6 && len <= kMaxMessage;
    case 'R':  // authentication request: 8 + 4n bytes
      *request = false;
      return len >= 8 && len <= 2048;
    default:
      return false;
  }
}

}  // namespace ebt::report::l7
