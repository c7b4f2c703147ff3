// Message framing over a captured byte stream with holes.
//
// The recorder keeps only the first N bytes of every syscall, so one direction of
// a connection arrives as chunks: `captured` bytes followed by `length -
// captured` unknown bytes. Both RESP and HTTP/1.x are "lines + length-prefixed
// blobs" (and the binary database protocols are length-prefixed), so a framer
// here reads lines and skips counted bytes; a counted skip can cross unknown
// bytes exactly. When a hole hides bytes the framer needs to see (a header line),
// it loses sync: the partial message is emitted marked `truncated`, followed by a
// `gap` marker ("zero or more messages hidden here, up to the end of this
// syscall"), and framing restarts at the next syscall, since request/response
// peers write whole messages (or whole pipelined batches) per syscall. The
// matcher (connection.cpp) counts what a gap hid from the other direction.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ebt::report::l7 {

struct Message {
  size_t first_chunk = 0;  // ids passed to feed(): where the first / last byte was
  size_t last_chunk = 0;
  uint64_t bytes = 0;
  bool truncated = false;  // sync lost; the end is a guess (end of a syscall)
  bool gap = false;        // not a message: hidden bytes up to the end of first_chunk
  // Databases (MySQL, PostgreSQL): the request's name ("SELECT users").
  std::string statement;
  uint32_t stmt_id = 0;    // MySQL: prepared statement id + 1 (EXECUTE, prepare response)
  // Redis
  std::string command;     // requests: upper-cased command name
  std::string key;         // requests: first argument (at most kMaxField bytes)
  bool error = false;      // Redis error reply (-ERR, !blob)
  std::string error_text;  // first word of the error, e.g. "WRONGTYPE"
  // HTTP
  std::string method;
  std::string path;        // request target without the query string
  int status = 0;
  bool keep_alive = true;
  bool chunked = false;
  uint64_t body_bytes = 0;
};

class Framer {
 public:
  static constexpr size_t kMaxLine = 8192;
  static constexpr size_t kMaxField = 128;

  virtual ~Framer() = default;
  // One syscall's worth of bytes: `captured` known bytes, then `length -
  // captured.size()` unknown ones.
  void feed(size_t chunk_id, std::span<const uint8_t> captured, uint64_t length);
  // End of stream (connection closed or recording ended).
  void close();
  // Completed messages since the last call, in order.
  std::vector<Message> take();

 protected:
  // A complete line (without CRLF/LF).
  virtual void on_line(std::string_view line) = 0;
  // A skip() finished; `head` holds its first bytes (up to `keep`); `complete`
  // is false when some of those fell into a hole (then head is only a prefix).
  virtual void on_skipped(std::string_view head, bool complete) = 0;
  // A hole starts inside a line: `partial` is what was captured of it. Called
  // before sync is lost, so a subclass may still begin or classify a message
  // (a reply's type, an error line, a status code).
  virtual void on_partial_line(std::string_view /*partial*/) {}
  virtual void on_close() {}
  // Forget the subclass's parse state (after sync was lost).
  virtual void reset() = 0;

  void begin_message();  // the current byte starts a message
  void skip(uint64_t n, size_t keep = 0);  // n counted bytes follow, keep their first `keep`
  void skip_until_close();
  // Binary protocols: the next n bytes (n <= kMaxLine) go to on_exact() in one
  // piece instead of line mode (a message header).
  void read_exact(size_t n);
  virtual void on_exact(std::string_view /*bytes*/) {}
  // Drop the message being framed without emitting it (not a request / response:
  // a handshake, a notification).
  void abort_message();
  void finish_message();  // the last byte consumed ends the message
  void lose_sync();       // unparseable: drop the rest of this chunk
  bool in_message() const { return in_message_; }
  // Framing restarts after lost sync: subclasses accept only unambiguous
  // message starts until the next message is complete.
  bool resyncing() const { return resyncing_; }

  Message cur_;

 private:
  void consume_gap(uint64_t n);

  std::vector<Message> done_;
  bool in_message_ = false;
  bool desync_ = false;
  bool resyncing_ = false;
  uint64_t skip_ = 0;
  bool until_close_ = false;
  size_t keep_ = 0;
  size_t exact_ = 0;  // read_exact(): bytes wanted, collected in line_
  std::string skip_head_;
  std::string line_;
  uint64_t line_bytes_ = 0;     // raw bytes of the line being read, terminator included
  size_t line_start_chunk_ = 0;
  uint64_t pending_line_bytes_ = 0;  // the line being handed to on_line()
  bool line_counted_ = true;
  size_t chunk_ = 0;
};

}  // namespace ebt::report::l7
