// Captures written by the --tcp report tests (no BPF): a session and TCP
// events between 10.0.0.1:40000 (client) and 10.0.0.2:PORT (server).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "format/records.h"

namespace ebt::test {

inline SessionInfo tcp_test_session(const std::string& hostname) {
  SessionInfo s;
  s.hostname = hostname;
  s.boot_id = "0b5e1d2c-1111-2222-3333-444455556666";
  s.clock_monotonic_ns = 1'000'000'000;
  s.clock_realtime_ns = 1'790'000'000'000'000'000ull;
  s.cpu_count = 2;
  s.ebtrace_version = "0.1.0";
  s.start_ns = 1'500'000'000;
  s.machine = "x86_64";
  return s;
}

// One event of connection `cookie` seen from the client's end (`client`) or
// the server's; `from`/`to` are Linux TCP_* states; pid 0: owner not known.
inline TcpEvent tcp_event(uint64_t t, TcpEventType type, uint64_t cookie, uint32_t pid, uint8_t from, uint8_t to,
                          bool client, uint16_t server_port = 80) {
  TcpEvent e;
  e.time_ns = t;
  e.type = type;
  e.cookie = cookie;
  e.pid = e.tid = pid;
  e.old_state = from;
  e.new_state = to;
  std::vector<uint8_t> a{10, 0, 0, 1}, b{10, 0, 0, 2};
  e.local_addr = client ? a : b;
  e.remote_addr = client ? b : a;
  e.local_port = client ? 40000 : server_port;
  e.remote_port = client ? server_port : 40000;
  e.netns = 4026531840u;
  return e;
}

}  // namespace ebt::test
