// Message framing over a captured byte stream with holes.
//
// The recorder keeps only the first N bytes of every syscall, so one direction of
// a connection arrives as chunks: `captured` bytes followed by `length -
// captured` unknown bytes. Both RESP and HTTP/1.x are "lines + length-prefixed
// blobs", so a framer here reads lines and skips counted bytes; a counted skip
// can cross unknown bytes exactly. When a hole hides bytes the framer needs to
// see (a header line), it loses sync: the partial message is emitted marked
// `truncated`, assumed to end with that syscall, and framing restarts at the next
// syscall, since request/response peers write whole messages per syscall.
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
  // A skip() finished; `head` holds its first bytes (up to the capture size).
  virtual void on_skipped(std::string_view head) = 0;
  virtual void on_close() {}
  // Forget the subclass's parse state (after sync was lost).
  virtual void reset() = 0;

  void begin_message();  // the current byte starts a message
  void skip(uint64_t n, size_t keep = 0);  // n counted bytes follow, keep their first `keep`
  void skip_until_close();
  void finish_message();  // the last byte consumed ends the message
  void lose_sync();       // unparseable: drop the rest of this chunk
  bool in_message() const { return in_message_; }

  Message cur_;

 private:
  void consume_gap(uint64_t n);

  std::vector<Message> done_;
  bool in_message_ = false;
  bool desync_ = false;
  uint64_t skip_ = 0;
  bool until_close_ = false;
  size_t keep_ = 0;
  std::string skip_head_;
  std::string line_;
  uint64_t line_bytes_ = 0;     // raw bytes of the line being read, terminator included
  size_t line_start_chunk_ = 0;
  uint64_t pending_line_bytes_ = 0;  // the line being handed to on_line()
  bool line_counted_ = true;
  size_t chunk_ = 0;
};

}  // namespace ebt::report::l7
