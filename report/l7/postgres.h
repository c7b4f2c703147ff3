// PostgreSQL frontend/backend protocol v3 framing. Every message after the
// startup is a type byte and a 4-byte length, so bodies beyond the capture are
// skipped exactly. One request is a simple query ('Q'), or an extended-query
// batch up to its Sync ('P'arse/'B'ind/'D'escribe/'E'xecute... 'S'); its
// response runs to ReadyForQuery ('Z'). ErrorResponse ('E') marks it failed
// (error_text: the SQLSTATE). The startup, SSL negotiation and authentication
// exchange are not requests.
#pragma once

#include <map>
#include <span>
#include <string>

#include "report/l7/framer.h"

namespace ebt::report::l7 {

class PostgresFramer : public Framer {
 public:
  explicit PostgresFramer(bool requests);

 protected:
  void on_line(std::string_view) override { lose_sync(); }
  void on_exact(std::string_view bytes) override;
  void on_skipped(std::string_view head, bool complete) override;
  void reset() override;

 private:
  enum class State { kFirst, kStartupLength, kType, kLength };
  void request_message(std::string_view body, bool complete);
  void response_message(std::string_view body);

  bool requests_;
  State state_ = State::kFirst;
  char type_ = 0;
  bool startup_ = false;   // responses: inside the authentication exchange
  bool swallow_ = false;   // the body being skipped belongs to no request
  std::map<std::string, std::string> statements_;  // prepared statement name -> its name
};

// A client's first bytes (startup / SSLRequest, or a typed message such as 'Q'
// when the recording began later), or a server's (authentication, 'Z', ...).
bool looks_like_postgres(std::span<const uint8_t> bytes, bool* request);

}  // namespace ebt::report::l7
