// MySQL / MariaDB client/server protocol framing (TiDB speaks it too). Every
// packet is a 3-byte length and a sequence id, so payloads beyond the capture
// are skipped exactly. Requests are commands (sequence id 0): COM_QUERY named
// after its statement ("SELECT users"), COM_STMT_PREPARE ("PREPARE SELECT
// users"), COM_STMT_EXECUTE (named after the statement it executes, by the id
// the prepare's response gave). Responses (sequence id 1 onwards): OK, ERR
// (error_text: the SQLSTATE), or a result set (column count, column
// definitions, rows, up to EOF/OK; more results when the server says so). The
// handshake and the commands that get no response (COM_STMT_CLOSE,
// COM_STMT_SEND_LONG_DATA, COM_QUIT) are not requests.
#pragma once

#include <cstdint>
#include <deque>
#include <span>

#include "report/l7/framer.h"

namespace ebt::report::l7 {

// What the two directions of one connection share: the command each open
// request is (a prepare's response has its own shape) and whether the client
// asked for CLIENT_DEPRECATE_EOF (result sets without the EOF packets).
struct MysqlShared {
  std::deque<uint8_t> pending_commands;  // pushed by the matcher, popped when answered; 0: unknown
  bool deprecate_eof = false;
};

class MysqlFramer : public Framer {
 public:
  MysqlFramer(bool requests, MysqlShared* shared);

 protected:
  void on_line(std::string_view) override { lose_sync(); }
  void on_exact(std::string_view bytes) override;
  void on_skipped(std::string_view head, bool complete) override;
  void reset() override;

 private:
  enum class Resp { kStart, kColumns, kColumnsEof, kRows, kPrepareDefs };
  void request_packet(std::string_view payload, bool complete);
  void response_packet(std::string_view payload);
  void result_done(uint16_t status);

  bool requests_;
  MysqlShared* shared_;
  uint32_t length_ = 0;
  uint8_t seq_ = 0;
  Resp resp_ = Resp::kStart;
  uint64_t remaining_ = 0;  // column / parameter definitions still to come
};

// A server greeting (protocol 10) or a client command packet (sequence id 0).
bool looks_like_mysql(std::span<const uint8_t> bytes, bool* request);

}  // namespace ebt::report::l7
