// Packet hops (--skb) as packets: each sk_buff's hops in time order, cut at
// its end (drop or consume), then three tables: the paths packets took (hook
// and device per hop), the latency between consecutive hops, and the drops by
// reason and by the kernel function that dropped them.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <ostream>
#include <set>
#include <string>
#include <tuple>
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

// Who owns the sockets packets leave and reach (--container, --by container):
// hops run in softirq, so the task a hop ran in says nothing; a packet belongs
// to the process owning the socket it was sent from, else the one it was
// delivered to, matched by addresses and ports in the hop's network namespace.
// Sockets come from the capture's --tcp connections and its --syscalls sockets
// (both with their namespace; --syscalls sockets of captures from before it was
// recorded have none and match in any namespace). A match by several processes
// is no match.
class SkbSocketOwners {
 public:
  void add(const TcpEvent& e);
  void add(const SocketInfo& s);
  // The owner's pid and whether it sent the packet (else it received it); 0: not known.
  uint32_t owner(const SkbPacket& p, bool* sender) const;

 private:
  using Addr = std::vector<uint8_t>;
  // (netns, local addr, local port, remote addr, remote port) -> owners
  std::map<std::tuple<uint32_t, Addr, uint16_t, Addr, uint16_t>, std::set<uint32_t>> tcp_;
  // (netns, protocol, local addr, local port, remote addr, remote port) -> owners
  // (netns 0: not known; remote empty: unconnected)
  std::map<std::tuple<uint32_t, uint8_t, Addr, uint16_t, Addr, uint16_t>, std::set<uint32_t>> sockets_;
  uint32_t match(uint8_t proto, uint32_t netns, const Addr& local, uint16_t lport, const Addr& remote,
                 uint16_t rport) const;
};

// --by container: packets per container of their owner (SkbSocketOwners).
struct SkbContainerRow {
  std::string container;  // label; "[unknown]": no socket of a known process sent or received it
  uint64_t packets = 0, sent = 0, received = 0, dropped = 0, hops = 0;
};

// Packets' containers for skb_report() and add_skb_to_trace().
struct SkbContainers {
  const SkbSocketOwners* owners = nullptr;
  // The container label of a pid ("[unknown]" for 0 and processes not described).
  std::function<std::string(uint32_t pid)> label;
  // --container: whether packets of this pid's container are kept; unset: all.
  std::function<bool(uint32_t pid)> wanted;
  bool tables = false;  // --by container
};

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
  bool by_container = false;
  std::vector<SkbContainerRow> containers;  // --by container: most packets first
  std::string container_filter;  // --container as given ("" : none)
  uint64_t left_out = 0;         // packets of other containers (or unknown owner) left out by it
  uint64_t left_out_unknown = 0;
  uint64_t packets = 0;
  uint64_t hops = 0;
  uint64_t dropped = 0;
  std::vector<SkbPathRow> paths;  // most packets first
  std::vector<SkbHopRow> hop_latency;
  std::vector<SkbDropRow> drops;  // most packets first
};

SkbReport skb_report(ReportContext& ctx, const std::vector<SkbHop>& hops, const SkbContainers& containers = {});

// Text tables (at most `top` rows each; 0: all) or one JSON object.
void write_skb_text(const SkbReport& r, size_t top, std::ostream& out);
void write_skb_json(const SkbReport& r, std::ostream& out);

// The packets on the trace timeline: a "network" process with one async span per
// packet (named by its flow) and a track per device with an instant per hop.
// Returns the number of packets added.
size_t add_skb_to_trace(TraceJson& trace, const ReportContext& ctx, const std::vector<SkbHop>& hops,
                        const SkbContainers& containers = {});

}  // namespace ebt::report
