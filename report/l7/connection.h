// Per-connection protocol detection and request <-> response matching.
//
// A connection is one socket of one process, seen through its read-side and
// write-side syscalls in time order. The side that speaks first with a request
// (HTTP method line, RESP array/inline command) decides the role: requests read
// -> server, requests written -> client. Responses answer the oldest open request
// (HTTP/1.x and RESP are strictly in order, pipelining included).
//
// Holes (bytes beyond --payload-bytes that framing could not skip) are counted
// from the other direction: each response that arrives while the oldest open
// request is a hole of the request stream answers a request hidden there, named
// "(truncated)", until a request that came after the hole was already sent
// before that response (causality ends the hole). A hole of the response stream
// answers every open request received before it (their names are known; their
// errors are not). Holes on both sides at once hide a number of requests that
// cannot be known: counted as `hidden_regions`, never guessed.
//
// Latency: a request starts when its first byte crosses the syscall boundary:
// the ENTER of the write that sends it (client), or the EXIT of the read that
// receives it (server; a blocking read's enter only says when it began waiting).
// It ends at the EXIT of the syscall that moved the last byte of its response.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "format/records.h"

namespace ebt::report::l7 {

enum class Protocol : uint8_t { kUnknown = 0, kRedis, kHttp, kMysql, kPostgres };
enum class Role : uint8_t { kUnknown = 0, kServer, kClient };

const char* protocol_name(Protocol p);
const char* role_name(Role r);

struct Request {
  Protocol protocol = Protocol::kUnknown;
  Role role = Role::kUnknown;
  uint64_t conn_id = 0;
  uint32_t pid = 0;
  uint32_t tid = 0;          // thread that sent (client) / received (server) the request
  uint64_t start_ns = 0;
  uint64_t end_ns = 0;
  std::string command;       // Redis command ("SET"), HTTP method ("GET"), SQL statement ("SELECT users")
  std::string target;        // Redis key or HTTP path (payload-derived)
  int status = 0;            // HTTP status
  bool error = false;        // Redis error reply, HTTP status >= 400, SQL error
  std::string error_text;    // Redis error class ("WRONGTYPE"), SQLSTATE ("42P01")
  uint64_t request_bytes = 0;
  uint64_t response_bytes = 0;
  bool truncated = false;    // framing lost sync on one side: the borders are guesses
  bool name_hidden = false;  // the request bytes were not captured: command "(truncated)"
  bool response_hidden = false;  // the response was not captured: end = that syscall's exit, error unknown
};

inline constexpr const char* kTruncatedName = "(truncated)";

struct Connection {
  uint64_t id = 0;           // socket id; non-sockets get a synthetic id (pid, fd)
  uint32_t pid = 0;
  int32_t fd = -1;
  Protocol protocol = Protocol::kUnknown;
  Role role = Role::kUnknown;
  uint64_t syscalls = 0;
  uint64_t bytes_in = 0;     // as returned by the syscalls (not only captured)
  uint64_t bytes_out = 0;
  uint64_t first_ns = 0;
  uint64_t last_ns = 0;
  std::vector<Request> requests;
  uint64_t unanswered = 0;           // requests without a response by the end
  uint64_t unmatched_responses = 0;  // responses to requests sent before the recording
  uint64_t truncated = 0;            // messages whose borders were guessed
  uint64_t name_hidden = 0;          // requests counted from their responses ("(truncated)")
  uint64_t response_hidden = 0;      // requests whose response bytes were not captured
  uint64_t hidden_regions = 0;       // holes on both sides: requests there not countable
  std::vector<uint8_t> head_in;      // first captured bytes each way (--show-payload)
  std::vector<uint8_t> head_out;
};

bool is_read_kind(SyscallKind k);

// `events` all belong to one connection, sorted by exit time.
Connection analyze_connection(uint64_t id, std::span<const SyscallEvent* const> events);

}  // namespace ebt::report::l7
