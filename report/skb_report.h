// Packet hops (--skb) as packets: each sk_buff's hops in time order, cut at
// its end (drop or consume), then three tables: the paths packets took (hook
// and device per hop), the latency between consecutive hops, and the drops by
// reason and by the kernel function that dropped them.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "report/offcpu_latency.h"
#include "report/context.h"
#include "report/trace_json.h"

namespace ebt::report {

// One packet: its hops in time order (pointers into the hops given).
struct SkbPacket {
  std::vector<const SkbHop*> hops;
  std::string flow;     // from its first hop with IP headers
  std::string outcome;  // "dropped: NO_SOCKET", "consumed", "end not seen" (freed without a tracepoint, or later)
  std::string reason;   // drop reason ("" unless dropped)
  bool dropped = false;  // ended in kfree_skb
};

// Cuts the hops into packets (see docs/skb.md: which hops belong to one packet).
std::vector<SkbPacket> skb_packets(const ReportContext& ctx, const std::vector<SkbHop>& hops);

struct SkbPathRow {
  std::string flow;     // of the first packet that took the path, e.g. "UDP 10.0.0.1:5000 > 10.0.0.2:53"
  std::string path;     // "net_dev_queue@veth0 > ... > consume_skb"
  std::string outcome;
  uint64_t packets = 0;
  DurationStats total;  // first hop -> last hop
};

struct SkbHopRow {
  std::string from, to;  // "hook@device"
  DurationStats stats;
};

struct SkbDropRow {
  std::string reason;    // e.g. "NO_SOCKET"
  std::string function;  // the kernel function that freed the packet
  std::string flow;      // of the first such packet
  uint64_t packets = 0;
};

struct SkbReport {
  uint64_t packets = 0;
  uint64_t hops = 0;
  uint64_t dropped = 0;
  std::vector<SkbPathRow> paths;  // most packets first
  std::vector<SkbHopRow> hop_latency;
  std::vector<SkbDropRow> drops;  // most packets first
};

SkbReport skb_report(ReportContext& ctx, const std::vector<SkbHop>& hops);

// Text tables (at most `top` rows each; 0: all) or one JSON object.
void write_skb_text(const SkbReport& r, size_t top, std::ostream& out);
void write_skb_json(const SkbReport& r, std::ostream& out);

// The packets on the trace timeline: a "network" process with one async span per
// packet (named by its flow) and a track per device with an instant per hop.
// Returns the number of packets added.
size_t add_skb_to_trace(TraceJson& trace, const ReportContext& ctx, const std::vector<SkbHop>& hops);

}  // namespace ebt::report
