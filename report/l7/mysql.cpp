#include "report/l7/mysql.h"

#include <string>

#include "report/l7/sql.h"

namespace ebt::report::l7 {
namespace {

constexpr size_t kKeep = 512;
constexpr uint32_t kDeprecateEof = 1u << 24;
constexpr uint16_t kMoreResults = 0x0008;

enum : uint8_t {
  kComQuit = 0x01, kComInitDb = 0x02, kComQuery = 0x03, kComPing = 0x0e, kComStmtPrepare = 0x16,
  kComStmtExecute = 0x17, kComStmtSendLongData = 0x18, kComStmtClose = 0x19, kComStmtReset = 0x1a,
};

uint32_t le(std::string_view p, size_t off, size_t n) {
  uint32_t v = 0;
  for (size_t i = 0; i < n && off + i < p.size(); ++i) v |= uint32_t(uint8_t(p[off + i])) << (8 * i);
  return v;
}

// Length-encoded integer at *pos; false if it does not fit in p.
bool lenenc(std::string_view p, size_t* pos, uint64_t* out) {
  if (*pos >= p.size()) return false;
  uint8_t b = uint8_t(p[*pos]);
  size_t n = b < 0xfb ? 0 : b == 0xfc ? 2 : b == 0xfd ? 3 : b == 0xfe ? 8 : 0;
  if (b == 0xfb || b == 0xff) return false;
  if (*pos + 1 + n > p.size()) return false;
  if (n == 0) {
    *out = b;
  } else {
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v |= uint64_t(uint8_t(p[*pos + 1 + i])) << (8 * i);
    *out = v;
  }
  *pos += 1 + n;
  return true;
}

}  // namespace

MysqlFramer::MysqlFramer(bool requests, MysqlShared* shared) : requests_(requests), shared_(shared) {
  read_exact(4);
}

void MysqlFramer::reset() {
  resp_ = Resp::kStart;
  remaining_ = 0;
  read_exact(4);
}

void MysqlFramer::on_exact(std::string_view b) {
  length_ = le(b, 0, 3);
  seq_ = uint8_t(b[3]);
  skip(length_, kKeep);
}

void MysqlFramer::on_skipped(std::string_view head, bool complete) {
  if (requests_) request_packet(head, complete);
  else response_packet(head);
  read_exact(4);
}

void MysqlFramer::request_packet(std::string_view p, bool complete) {
  if (seq_ != 0) {
    // The handshake response (sequence 1): its capability flags say whether
    // result sets end without EOF packets.
    if (seq_ == 1 && p.size() >= 4 && shared_) shared_->deprecate_eof = le(p, 0, 4) & kDeprecateEof;
    return;
  }
  if (p.empty()) return lose_sync();
  uint8_t cmd = uint8_t(p[0]);
  if (cmd == kComQuit || cmd == kComStmtClose || cmd == kComStmtSendLongData) return;  // no response
  begin_message();
  cur_.command = std::string(1, char(cmd));  // the raw command byte, for the matcher
  std::string_view text = p.substr(1);
  bool whole = complete && p.size() == length_;
  switch (cmd) {
    case kComQuery: cur_.statement = sql_name(text, whole); break;
    case kComStmtPrepare: {
      std::string n = sql_name(text, whole);
      cur_.statement = n.empty() ? std::string() : "PREPARE " + n;
      cur_.key = n;  // what EXECUTE of this statement will be called
      break;
    }
    case kComStmtExecute:
      if (p.size() >= 5) cur_.stmt_id = le(p, 1, 4) + 1;  // +1: 0 means unknown
      break;
    case kComPing: cur_.statement = "PING"; break;
    case kComInitDb: cur_.statement = "USE"; break;
    case kComStmtReset: cur_.statement = "STMT_RESET"; break;
    default: {
      char b[16];
      std::snprintf(b, sizeof b, "COM_0x%02x", cmd);
      cur_.statement = b;
    }
  }
  finish_message();
}

void MysqlFramer::result_done(uint16_t status) {
  if (status & kMoreResults) {
    resp_ = Resp::kStart;  // another result follows within the same response
    return;
  }
  resp_ = Resp::kStart;
  finish_message();
}

void MysqlFramer::response_packet(std::string_view p) {
  bool deprecate = shared_ && shared_->deprecate_eof;
  uint8_t first = p.empty() ? 0 : uint8_t(p[0]);
  switch (resp_) {
    case Resp::kStart: {
      if (!in_message()) {
        // Sequence 1 starts the answer to a command; anything else is the
        // handshake (greeting 0, authentication 2+).
        if (seq_ != 1 || p.empty()) return;
        begin_message();
      }
      if (first == 0xff) {  // ERR: code(2) '#' sqlstate(5) message
        cur_.error = true;
        cur_.error_text = p.size() >= 9 && p[3] == '#' ? std::string(p.substr(4, 5)) : std::to_string(le(p, 1, 2));
        resp_ = Resp::kStart;
        return finish_message();
      }
      uint8_t cmd = shared_ && !shared_->pending_commands.empty() ? shared_->pending_commands.front() : 0;
      if (first == 0x00 && cmd == kComStmtPrepare) {  // stmt id(4) columns(2) params(2) 0 warnings(2)
        cur_.stmt_id = le(p, 1, 4) + 1;
        uint64_t cols = le(p, 5, 2), params = le(p, 7, 2);
        remaining_ = params + cols;
        if (!deprecate) remaining_ += (params > 0) + (cols > 0);
        if (remaining_ == 0) return finish_message();
        resp_ = Resp::kPrepareDefs;
        return;
      }
      if (first == 0x00 || first == 0xfe) {  // OK (or EOF): status after two length-encoded ints
        size_t pos = 1;
        uint64_t ignored;
        uint16_t status = 0;
        if (first == 0xfe && p.size() < 9) status = uint16_t(le(p, 3, 2));
        else if (lenenc(p, &pos, &ignored) && lenenc(p, &pos, &ignored)) status = uint16_t(le(p, pos, 2));
        return result_done(status);
      }
      if (first == 0xfb) return finish_message();  // LOCAL INFILE request
      size_t pos = 0;
      uint64_t cols = 0;
      if (!lenenc(p, &pos, &cols) || cols == 0) return lose_sync();
      remaining_ = cols;
      resp_ = Resp::kColumns;
      return;
    }
    case Resp::kColumns:
      if (--remaining_ == 0) resp_ = deprecate ? Resp::kRows : Resp::kColumnsEof;
      return;
    case Resp::kColumnsEof:
      // Classic EOF is exactly 5 bytes; a CLIENT_DEPRECATE_EOF result has no
      // EOF here but a row, or (empty) its closing OK packet with a 0xfe
      // header, 7 bytes or more: what follows tells the mode when the
      // handshake was not seen (recording began later).
      if (first == 0xfe && length_ == 5) {
        resp_ = Resp::kRows;
        return;
      }
      if (shared_) shared_->deprecate_eof = true;
      resp_ = Resp::kRows;
      return response_packet(p);
    case Resp::kRows:
      if (first == 0xff) {
        cur_.error = true;
        cur_.error_text = p.size() >= 9 && p[3] == '#' ? std::string(p.substr(4, 5)) : std::to_string(le(p, 1, 2));
        resp_ = Resp::kStart;
        return finish_message();
      }
      if (first == 0xfe && p.size() < 9 && length_ < 9) return result_done(uint16_t(le(p, 3, 2)));
      if (first == 0xfe && deprecate && length_ < 0xffffff) {
        size_t pos = 1;
        uint64_t ignored;
        uint16_t status = 0;
        if (lenenc(p, &pos, &ignored) && lenenc(p, &pos, &ignored)) status = uint16_t(le(p, pos, 2));
        return result_done(status);
      }
      return;  // a row
    case Resp::kPrepareDefs:
      if (--remaining_ == 0) {
        resp_ = Resp::kStart;
        finish_message();
      }
      return;
  }
}

bool looks_like_mysql(std::span<const uint8_t> b, bool* request) {
  if (b.size() < 5) return false;
  uint32_t len = uint32_t(b[0]) | uint32_t(b[1]) << 8 | uint32_t(b[2]) << 16;
  uint8_t seq = b[3];
  if (seq == 0 && b[4] == 10 && len >= 20 && len < 1024) {  // greeting, protocol 10: "5.5.5-10.11..."
    // The server version: "8.0.36", "5.5.5-10.11.6-MariaDB": a digit first,
    // then printable up to its NUL.
    if (b.size() < 6 || b[5] < '0' || b[5] > '9') return false;
    for (size_t i = 6; i < b.size() && b[i] != 0; ++i)
      if (b[i] < 0x20 || b[i] > 0x7e) return false;
    *request = false;
    return true;
  }
  if (seq == 0 && len >= 1 && (b[4] == kComQuery || b[4] == kComStmtPrepare) &&
      (b.size() != 4 + len ? b.size() > 4 + len || b.size() >= 16 : true)) {
    *request = true;
    return true;
  }
  return false;
}

}  // namespace ebt::report::l7
