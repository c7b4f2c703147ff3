// Requests as slices in the Chrome trace JSON (`ebtrace report --trace`).
#pragma once

#include "report/l7/latency.h"
#include "report/trace_json.h"

namespace ebt::report::l7 {

// One slice per matched request on the track of the thread that received
// (server) or sent (client) it, named after the command ("GET /x 200", "SET"),
// with protocol, role, key or path, status, bytes and the peer as args.
// Requests of one thread that overlap without nesting (an event loop serving
// many connections) would garble the track, so they go to extra tracks of the
// same process named "<tid> requests +N".
// Returns the number of requests added.
size_t add_l7_trace(const L7Analysis& a, TraceJson& trace);

}  // namespace ebt::report::l7
