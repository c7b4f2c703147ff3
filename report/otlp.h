// OpenTelemetry traces in the OTLP JSON encoding (report --otlp FILE): a span
// per TCP connection, with child spans for its handshake, each L7 request
// (captures with --l7 data) and its teardown; retransmits and resets as span
// events. The two ends of a connection recorded on the same host share one
// trace (the server's span is a child of the client's). Ids are derived from
// the capture (boot id, start time, socket cookies): the same capture always
// gives the same ids. docs/tcp.md.
#pragma once

#include <ostream>
#include <vector>

#include "format/records.h"
#include "report/l7/latency.h"
#include "report/tcp_report.h"

namespace ebt::report {

struct OtlpStats {
  size_t traces = 0, spans = 0;
};

// `l7` may be null (a capture without --l7 data).
OtlpStats write_otlp_json(std::ostream& out, const std::vector<TcpConnection>& connections,
                          const l7::L7Analysis* l7, const SessionInfo& session, uint64_t end_ns);

}  // namespace ebt::report
