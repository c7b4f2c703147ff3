// Helpers for the L7 unit tests: feed framers and build syscall events.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "format/records.h"
#include "report/l7/framer.h"

namespace ebt::test {

inline std::span<const uint8_t> bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// Feeds `s` as one fully captured chunk.
inline void feed(report::l7::Framer& f, size_t chunk, std::string_view s) {
  f.feed(chunk, bytes(s), s.size());
}

// Feeds only the first `captured` bytes of `s`; the rest is a hole.
inline void feed_capped(report::l7::Framer& f, size_t chunk, std::string_view s, size_t captured) {
  f.feed(chunk, bytes(s.substr(0, captured)), s.size());
}

inline SyscallEvent syscall(SyscallKind kind, uint64_t enter, uint64_t exit, std::string_view data,
                            uint64_t socket_id = 7, uint32_t tid = 100, size_t cap = 256) {
  SyscallEvent e;
  e.enter_ns = enter;
  e.exit_ns = exit;
  e.pid = 100;
  e.tid = tid;
  e.kind = kind;
  e.fd = 5;
  e.ret = static_cast<int64_t>(data.size());
  e.socket_id = socket_id;
  std::string_view c = data.substr(0, std::min(cap, data.size()));
  e.payload.assign(c.begin(), c.end());
  return e;
}

}  // namespace ebt::test
