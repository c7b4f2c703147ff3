// Redis RESP (2 and 3) framing: requests (multi-bulk arrays and inline commands,
// pipelined) and replies (any value, nested), errors recognised.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "report/l7/framer.h"

namespace ebt::report::l7 {

class RespFramer : public Framer {
 public:
  explicit RespFramer(bool requests) : requests_(requests) {}

 protected:
  void on_line(std::string_view line) override;
  void on_skipped(std::string_view head, bool complete) override;
  void on_partial_line(std::string_view partial) override;
  void reset() override;

 private:
  void value_done(std::string_view bulk, bool has_bulk, bool complete = true);

  bool requests_;
  std::vector<int64_t> remaining_;  // elements left per open aggregate
  int64_t element_ = 0;             // index of the next top-level array element
};

// Does this look like the start of a RESP message? Sets *request when it can only
// be a request (array / inline command) and clears it for a reply.
bool looks_like_resp(std::span<const uint8_t> bytes, bool* request);

}  // namespace ebt::report::l7
