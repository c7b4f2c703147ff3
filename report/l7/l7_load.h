// Reading what the L7 analysis needs from a capture: sockets, syscall events,
// process names and the recorded span.
#pragma once

#include <string>

#include "format/reader.h"
#include "report/l7/latency.h"

namespace ebt::report::l7 {

// Collects it from records as they are read (report's one pass feeds it).
class L7Collector : public format::RecordVisitor {
 public:
  void on(const SessionEnd& e) override { end_ns_ = e.end_ns; }
  void on(const ProcessInfo& p) override { in_.comms[p.pid] = p.comm; }
  void on(const SocketInfo& s) override;
  void on(const SyscallEvent& e) override;
  // What was collected; `session_start_ns` begins the recorded span.
  L7Input take(uint64_t session_start_ns);

 private:
  L7Input in_;
  uint64_t end_ns_ = 0;
  uint64_t last_ns_ = 0;
};

// Throws BadInput for files that are not readable captures. `warnings` gets one
// line per damaged region (the rest is still read).
L7Input load_l7_input(const std::string& path, std::vector<std::string>* warnings = nullptr);

}  // namespace ebt::report::l7
