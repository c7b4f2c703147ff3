// Reading what the L7 analysis needs from a capture: sockets, syscall events,
// process names and the recorded span.
#pragma once

#include <string>

#include "report/l7/latency.h"

namespace ebt::report::l7 {

// Throws BadInput for files that are not readable captures. `warnings` gets one
// line per damaged region (the rest is still read).
L7Input load_l7_input(const std::string& path, std::vector<std::string>* warnings = nullptr);

}  // namespace ebt::report::l7
