#include "report/skb_report.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>
#include <tuple>

#include "report/trace_json.h"

namespace ebt::report {
namespace {

// An sk_buff address seen again this long after its last hop without an end
// in between is a new packet (the end fell outside the recording or the filters).
constexpr uint64_t kReuseGapNs = 1'000'000'000;

std::string str(const ReportContext& p, uint32_t id) {
  return p.string(id);
}

std::string address(const std::vector<uint8_t>& a) {
  char buf[INET6_ADDRSTRLEN] = "?";
  if (a.size() == 4) inet_ntop(AF_INET, a.data(), buf, sizeof buf);
  if (a.size() == 16) inet_ntop(AF_INET6, a.data(), buf, sizeof buf);
  return a.size() == 16 ? "[" + std::string(buf) + "]" : buf;
}

std::string flow_of(const SkbHop& h) {
  char proto[32];
  if (h.src_addr.empty()) {
    std::snprintf(proto, sizeof proto, "ethertype 0x%04x", h.protocol);
    return proto;
  }
  switch (h.l4_protocol) {
    case 6: std::snprintf(proto, sizeof proto, "TCP"); break;
    case 17: std::snprintf(proto, sizeof proto, "UDP"); break;
    case 1: std::snprintf(proto, sizeof proto, "ICMP"); break;
    case 58: std::snprintf(proto, sizeof proto, "ICMPv6"); break;
    default: std::snprintf(proto, sizeof proto, "proto %u", h.l4_protocol);
  }
  bool ports = h.l4_protocol == 6 || h.l4_protocol == 17;
  std::string src = address(h.src_addr), dst = address(h.dst_addr);
  if (ports) {
    src += ":" + std::to_string(h.src_port);
    dst += ":" + std::to_string(h.dst_port);
  }
  return std::string(proto) + " " + src + " > " + dst;
}

bool ends_packet(const std::string& hook) { return hook == "kfree_skb" || hook == "consume_skb"; }

std::string micros(uint64_t ns) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f", double(ns) / 1e3);
  return b;
}

std::string hook_at(const ReportContext& p, const SkbHop& h) {
  std::string dev = str(p, h.device_id);
  return str(p, h.location_id) + (dev.empty() ? "" : "@" + dev);
}

}  // namespace

std::vector<SkbPacket> skb_packets(const ReportContext& p, const std::vector<SkbHop>& skb_hops) {
  std::vector<const SkbHop*> hops;
  hops.reserve(skb_hops.size());
  for (const auto& h : skb_hops) hops.push_back(&h);
  std::stable_sort(hops.begin(), hops.end(), [](const SkbHop* a, const SkbHop* b) {
    return a->skb != b->skb ? a->skb < b->skb : a->time_ns < b->time_ns;
  });
  std::vector<SkbPacket> packets;
  auto finish = [&](size_t begin, size_t end) {  // one packet: hops[begin, end)
    if (begin == end) return;
    SkbPacket pk;
    pk.hops.assign(hops.begin() + begin, hops.begin() + end);
    const SkbHop* flow_hop = pk.hops[0];
    for (const SkbHop* h : pk.hops)
      if (!h->src_addr.empty()) {
        flow_hop = h;
        break;
      }
    pk.flow = flow_of(*flow_hop);
    std::string last = str(p, pk.hops.back()->location_id);
    pk.outcome = last == "consume_skb" ? "consumed" : "end not seen";
    if (last == "kfree_skb") {
      pk.dropped = true;
      pk.reason = str(p, pk.hops.back()->reason_id);
      pk.outcome = "dropped: " + pk.reason;
    }
    packets.push_back(std::move(pk));
  };
  // A packet's hops run until its end (drop or consume). Some paths free an
  // sk_buff without either, so a new packet also starts where the recorder saw
  // different headers at the address (new_packet), after a long gap, or where a
  // hook repeats on the same device (one packet passes each hook of a device
  // once; identical packets give identical fingerprints).
  size_t begin = 0;
  std::set<std::tuple<uint32_t, uint32_t, uint32_t>> seen;  // (hook, device, netns) in this packet
  for (size_t i = 0; i < hops.size(); i++) {
    const SkbHop& h = *hops[i];
    bool same = i > begin && h.skb == hops[i - 1]->skb && h.time_ns - hops[i - 1]->time_ns < kReuseGapNs &&
                !h.new_packet && !seen.count({h.location_id, h.device_id, h.netns});
    if (i > begin && !same) {
      finish(begin, i);
      begin = i;
      seen.clear();
    }
    seen.insert({h.location_id, h.device_id, h.netns});
    if (ends_packet(str(p, h.location_id))) {
      finish(begin, i + 1);
      begin = i + 1;
      seen.clear();
    }
  }
  finish(begin, hops.size());
  return packets;
}

namespace {

// An unspecified address (0.0.0.0, ::) or none: a wildcard.
std::vector<uint8_t> specific(const std::vector<uint8_t>& a) {
  for (uint8_t b : a)
    if (b) return a;
  return {};
}

}  // namespace

void SkbSocketOwners::add(const TcpEvent& e) {
  if (!e.pid || !e.local_port || e.local_addr.empty()) return;  // owner or tuple not known yet
  tcp_[{e.netns, e.local_addr, e.local_port, e.remote_addr, e.remote_port}].insert(e.pid);
}

void SkbSocketOwners::add(const SocketInfo& s) {
  if (!s.pid || !s.local_port || (s.protocol != 6 && s.protocol != 17)) return;
  std::vector<uint8_t> remote = specific(s.remote_addr);
  sockets_[{s.netns, uint8_t(s.protocol), specific(s.local_addr), s.local_port, remote,
            remote.empty() ? uint16_t(0) : s.remote_port}]
      .insert(s.pid);
}

uint32_t SkbSocketOwners::match(uint8_t proto, uint32_t netns, const Addr& local, uint16_t lport, const Addr& remote,
                                uint16_t rport) const {
  auto one = [](const std::set<uint32_t>& pids) { return pids.size() == 1 ? *pids.begin() : 0u; };
  if (proto == 6)
    if (auto it = tcp_.find({netns, local, lport, remote, rport}); it != tcp_.end()) return one(it->second);
  // --syscalls sockets: the connected one, else one bound to the address, else
  // to any address; in the hop's namespace, then (captures from before sockets
  // carried theirs) in an unknown one.
  for (uint32_t ns : {netns, 0u})
    for (const auto& key : {std::tuple{ns, proto, local, lport, remote, rport},
                            std::tuple{ns, proto, local, lport, Addr{}, uint16_t(0)},
                            std::tuple{ns, proto, Addr{}, lport, Addr{}, uint16_t(0)}})
      if (auto it = sockets_.find(key); it != sockets_.end()) return one(it->second);
  return 0;
}

uint32_t SkbSocketOwners::owner(const SkbPacket& p, bool* sender) const {
  // The sender first (in the namespace of a hop on its side), then the receiver.
  for (bool as_sender : {true, false})
    for (const SkbHop* h : p.hops) {
      if (h->src_addr.empty() || (h->l4_protocol != 6 && h->l4_protocol != 17)) continue;
      uint32_t pid = as_sender ? match(h->l4_protocol, h->netns, h->src_addr, h->src_port, h->dst_addr, h->dst_port)
                               : match(h->l4_protocol, h->netns, h->dst_addr, h->dst_port, h->src_addr, h->src_port);
      if (pid) {
        *sender = as_sender;
        return pid;
      }
    }
  return 0;
}

SkbReport skb_report(ReportContext& p, const std::vector<SkbHop>& skb_hops, const SkbContainers& containers) {
  SkbReport r;
  r.by_container = containers.tables && containers.owners && containers.label;
  std::map<std::string, SkbContainerRow> by_container;
  struct PathAcc {
    SkbPathRow row;
    std::vector<uint64_t> totals;
  };
  std::map<std::string, PathAcc> paths;  // by path + outcome
  std::map<std::pair<std::string, std::string>, std::vector<uint64_t>> gaps;
  std::map<std::pair<std::string, std::string>, SkbDropRow> drops;
  for (const SkbPacket& pk : skb_packets(p, skb_hops)) {
    if (containers.owners && (containers.wanted || r.by_container)) {
      bool sender = false;
      uint32_t pid = containers.owners->owner(pk, &sender);
      if (containers.wanted && !containers.wanted(pid)) {  // --container
        r.left_out++;
        if (!pid) r.left_out_unknown++;
        continue;
      }
      if (r.by_container) {
        std::string label = containers.label(pid);
        SkbContainerRow& row = by_container[label];
        row.container = label;
        row.packets++;
        if (pid) (sender ? row.sent : row.received)++;
        if (pk.dropped) row.dropped++;
        row.hops += pk.hops.size();
      }
    }
    r.packets++;
    r.hops += pk.hops.size();
    std::string path;
    for (size_t i = 0; i < pk.hops.size(); i++) {
      if (i) {
        path += " > ";
        gaps[{hook_at(p, *pk.hops[i - 1]), hook_at(p, *pk.hops[i])}].push_back(pk.hops[i]->time_ns -
                                                                                pk.hops[i - 1]->time_ns);
      }
      path += hook_at(p, *pk.hops[i]);
    }
    const SkbHop& last = *pk.hops.back();
    if (pk.dropped) {
      r.dropped++;
      const auto& frames = p.symbolized_stack(0, last.time_ns, last.stack_id);
      std::string fn = frames.empty() ? "?" : p.frames[frames[0]].name;
      auto& d = drops[{pk.reason, fn}];
      if (d.packets++ == 0) {
        d.reason = pk.reason;
        d.function = fn;
        d.flow = pk.flow;
      }
    }
    auto& acc = paths[path + "\n" + pk.outcome];
    if (acc.row.packets++ == 0) {
      acc.row.path = path;
      acc.row.outcome = pk.outcome;
      acc.row.flow = pk.flow;
    }
    acc.totals.push_back(last.time_ns - pk.hops.front()->time_ns);
  }
  for (auto& [key, acc] : paths) {
    acc.row.total = duration_stats(acc.totals);
    r.paths.push_back(std::move(acc.row));
  }
  std::stable_sort(r.paths.begin(), r.paths.end(),
                   [](const SkbPathRow& a, const SkbPathRow& b) { return a.packets > b.packets; });
  for (auto& [key, v] : gaps) r.hop_latency.push_back({key.first, key.second, duration_stats(v)});
  std::stable_sort(r.hop_latency.begin(), r.hop_latency.end(),
                   [](const SkbHopRow& a, const SkbHopRow& b) { return a.stats.count > b.stats.count; });
  for (auto& [key, row] : by_container) r.containers.push_back(row);
  std::stable_sort(r.containers.begin(), r.containers.end(),
                   [](const SkbContainerRow& a, const SkbContainerRow& b) { return a.packets > b.packets; });
  for (auto& [key, d] : drops) r.drops.push_back(d);
  std::stable_sort(r.drops.begin(), r.drops.end(),
                   [](const SkbDropRow& a, const SkbDropRow& b) { return a.packets > b.packets; });
  return r;
}

size_t add_skb_to_trace(TraceJson& trace, const ReportContext& p, const std::vector<SkbHop>& skb_hops,
                        const SkbContainers& containers) {
  // Above every real pid (pid_max is at most 2^22): the tracks of the network.
  constexpr uint32_t kNetworkPid = 0x7fff0000;
  std::vector<SkbPacket> packets = skb_packets(p, skb_hops);
  if (containers.owners && containers.wanted)  // --container
    std::erase_if(packets, [&](const SkbPacket& pk) {
      bool sender = false;
      return !containers.wanted(containers.owners->owner(pk, &sender));
    });
  if (packets.empty()) return 0;
  trace.set_process_name(kNetworkPid, "network (skb hops)");
  std::map<std::pair<uint32_t, uint32_t>, uint32_t> tracks;  // (device, netns) -> tid
  uint64_t id = 0;
  for (const SkbPacket& pk : packets) {
    const SkbHop& first = *pk.hops.front();
    const SkbHop& last = *pk.hops.back();
    TraceArgs args{{"outcome", pk.outcome}, {"hops", uint64_t(pk.hops.size())}, {"len", uint64_t(first.len)}};
    trace.async_span(kNetworkPid, ++id, first.time_ns, last.time_ns - first.time_ns, pk.flow, "skb", std::move(args));
    for (const SkbHop* h : pk.hops) {
      auto [it, fresh] = tracks.try_emplace({h->device_id, h->netns}, uint32_t(tracks.size() + 1));
      if (fresh) {
        std::string dev = str(p, h->device_id);
        trace.set_thread_name(kNetworkPid, it->second,
                              (dev.empty() ? std::string("(no device)") : dev) + " netns " + std::to_string(h->netns));
      }
      std::string name = str(p, h->location_id);
      if (h->reason_id) name += " " + str(p, h->reason_id);
      trace.instant(kNetworkPid, it->second, h->time_ns, name, "skb", {{"flow", pk.flow}, {"packet", id}});
    }
  }
  return packets.size();
}

void write_skb_text(const SkbReport& r, size_t top, std::ostream& out) {
  auto limit = [&](size_t n) { return top ? std::min(n, top) : n; };
  out << "# packets: " << r.packets << " (" << r.hops << " hops, " << r.dropped << " dropped)\n";
  if (!r.container_filter.empty())
    out << "# --container " << r.container_filter << ": " << r.left_out
        << " packets of other containers left out (" << r.left_out_unknown << " of them of unknown owner)\n";
  out << "\n";
  if (r.by_container) {
    out << "# by container (of the process owning the socket that sent a packet, else the one it reached)\n";
    char line[160];
    std::snprintf(line, sizeof line, "%8s %8s %8s %8s %8s  %s\n", "packets", "sent", "received", "dropped", "hops",
                  "container");
    out << line;
    for (size_t i = 0; i < limit(r.containers.size()); i++) {
      const auto& c = r.containers[i];
      std::snprintf(line, sizeof line, "%8llu %8llu %8llu %8llu %8llu  ", (unsigned long long)c.packets,
                    (unsigned long long)c.sent, (unsigned long long)c.received, (unsigned long long)c.dropped,
                    (unsigned long long)c.hops);
      out << line << c.container << "\n";
    }
    out << "\n";
  }
  out << "# drops\n";
  if (r.drops.empty()) out << "none\n";
  for (size_t i = 0; i < limit(r.drops.size()); i++) {
    const auto& d = r.drops[i];
    char line[64];
    std::snprintf(line, sizeof line, "%8llu  ", static_cast<unsigned long long>(d.packets));
    out << line << d.reason << " in " << d.function << "  (e.g. " << d.flow << ")\n";
  }
  out << "\n# paths (packets, first -> last hop p50 / max in us)\n";
  for (size_t i = 0; i < limit(r.paths.size()); i++) {
    const auto& pr = r.paths[i];
    char line[96];
    std::snprintf(line, sizeof line, "%8llu  %10s %10s  ", static_cast<unsigned long long>(pr.packets),
                  micros(pr.total.p50_ns).c_str(), micros(pr.total.max_ns).c_str());
    out << line << pr.outcome << "  " << pr.flow << "\n          " << pr.path << "\n";
  }
  out << "\n# hop latency (us)\n";
  char head[128];
  std::snprintf(head, sizeof head, "%8s %10s %10s %10s %10s  %s\n", "count", "p50", "p90", "p99", "max", "hop");
  out << head;
  for (size_t i = 0; i < limit(r.hop_latency.size()); i++) {
    const auto& h = r.hop_latency[i];
    char line[128];
    std::snprintf(line, sizeof line, "%8llu %10s %10s %10s %10s  ", static_cast<unsigned long long>(h.stats.count),
                  micros(h.stats.p50_ns).c_str(), micros(h.stats.p90_ns).c_str(), micros(h.stats.p99_ns).c_str(),
                  micros(h.stats.max_ns).c_str());
    out << line << h.from << " > " << h.to << "\n";
  }
}

void write_skb_json(const SkbReport& r, std::ostream& out) {
  auto stats = [&](const DurationStats& s) {
    out << "\"count\":" << s.count << ",\"p50_ns\":" << s.p50_ns << ",\"p90_ns\":" << s.p90_ns
        << ",\"p99_ns\":" << s.p99_ns << ",\"max_ns\":" << s.max_ns;
  };
  out << "{\"packets\":" << r.packets << ",\"hops\":" << r.hops << ",\"dropped\":" << r.dropped;
  if (!r.container_filter.empty())
    out << ",\"container_filter\":" << json_quote(r.container_filter) << ",\"left_out\":" << r.left_out
        << ",\"left_out_unknown\":" << r.left_out_unknown;
  if (r.by_container) {
    out << ",\"containers\":[";
    for (size_t i = 0; i < r.containers.size(); i++) {
      const auto& c = r.containers[i];
      out << (i ? "," : "") << "{\"container\":" << json_quote(c.container) << ",\"packets\":" << c.packets
          << ",\"sent\":" << c.sent << ",\"received\":" << c.received << ",\"dropped\":" << c.dropped
          << ",\"hops\":" << c.hops << "}";
    }
    out << "]";
  }
  out << ",\"drops\":[";
  for (size_t i = 0; i < r.drops.size(); i++) {
    const auto& d = r.drops[i];
    out << (i ? "," : "") << "{\"reason\":" << json_quote(d.reason) << ",\"function\":" << json_quote(d.function)
        << ",\"flow\":" << json_quote(d.flow) << ",\"packets\":" << d.packets << "}";
  }
  out << "],\"paths\":[";
  for (size_t i = 0; i < r.paths.size(); i++) {
    const auto& pr = r.paths[i];
    out << (i ? "," : "") << "{\"path\":" << json_quote(pr.path) << ",\"outcome\":" << json_quote(pr.outcome)
        << ",\"flow\":" << json_quote(pr.flow) << ",\"packets\":" << pr.packets << ",";
    stats(pr.total);
    out << "}";
  }
  out << "],\"hop_latency\":[";
  for (size_t i = 0; i < r.hop_latency.size(); i++) {
    const auto& h = r.hop_latency[i];
    out << (i ? "," : "") << "{\"from\":" << json_quote(h.from) << ",\"to\":" << json_quote(h.to) << ",";
    stats(h.stats);
    out << "}";
  }
  out << "]}\n";
}

}  // namespace ebt::report
