// HTTP/1.x framing: requests and responses, keep-alive and pipelining, bodies by
// Content-Length, chunked transfer coding, or (responses) until the connection
// closes.
#pragma once

#include <cstdint>
#include <deque>
#include <span>
#include <string>

#include "report/l7/framer.h"

namespace ebt::report::l7 {

class HttpFramer : public Framer {
 public:
  explicit HttpFramer(bool requests) : requests_(requests) {}
  // Responses: methods of the requests still awaiting an answer, oldest first
  // (a response to HEAD has no body). The matcher pushes; the framer pops.
  std::deque<std::string>* pending_methods = nullptr;

 protected:
  void on_line(std::string_view line) override;
  void on_skipped(std::string_view head, bool complete) override;
  void on_partial_line(std::string_view partial) override;
  void reset() override;

 private:
  enum class State { kStart, kHeaders, kBody, kChunkSize, kChunkData, kTrailers };
  void end_of_headers();

  bool requests_;
  State state_ = State::kStart;
  int64_t content_length_ = -1;
  bool http10_ = false;
  bool saw_connection_header_ = false;
};

// Does this look like the start of an HTTP/1.x message? Sets *request.
bool looks_like_http(std::span<const uint8_t> bytes, bool* request);

}  // namespace ebt::report::l7
