// OpenTelemetry traces in the OTLP JSON encoding (report --otlp FILE): a span
// per TCP connection, with child spans for its handshake, each L7 request
// (captures with --l7 data; a request a proxy forwarded is a child of the
// request it received) and its teardown; retransmits, resets and packet hops
// (--skb data) as span events. The two ends of a connection recorded on the same host share one
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

// A packet hop of a TCP segment (record --skb), shown as an event of its
// connection's span: matched by addresses, ports (either direction) and netns.
struct OtlpHop {
  uint64_t time_ns = 0;
  uint32_t netns = 0;
  std::vector<uint8_t> src_addr, dst_addr;
  uint16_t src_port = 0, dst_port = 0;
  std::string name;  // "netif_receive_skb@veth0", "kfree_skb NO_SOCKET"
};

struct OtlpStats {
  size_t traces = 0, spans = 0;
};

// `l7` may be null (a capture without --l7 data); `hops` empty (without --skb data).
OtlpStats write_otlp_json(std::ostream& out, const std::vector<TcpConnection>& connections,
                          const l7::L7Analysis* l7, const std::vector<OtlpHop>& hops, const SessionInfo& session,
                          uint64_t end_ns);

}  // namespace ebt::report
