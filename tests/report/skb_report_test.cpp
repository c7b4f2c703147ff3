// Packets from SkbHop records (report/skb_report.h) without BPF: how hops are
// cut into packets at reused sk_buff addresses, and what the tables count.
#include <gtest/gtest.h>

#include <sstream>

#include "report/family.h"
#include "report/skb_report.h"
#include "tests/report/profile_fixture.h"

namespace ebt::report {
namespace {

class SkbHops {
 public:
  SkbHops() {
    symbolize::SymbolizerOptions o;
    o.local_files = false;
    o.debug_dirs.clear();
    p_ = std::make_unique<Profile>(o);
    for (const char* s : {"net_dev_queue", "netif_receive_skb", "kfree_skb", "consume_skb", "veth0", "veth1",
                          "NO_SOCKET"})
      p_->strings[uint32_t(p_->strings.size() + 1)] = s;
  }
  uint32_t id(const std::string& s) const {
    for (const auto& [k, v] : p_->strings)
      if (v == s) return k;
    return 0;
  }
  // One hop of the UDP flow 10.0.0.1:5000 > 10.0.0.2:<dport>.
  void hop(uint64_t t_us, uint64_t skb, const char* hook, const char* dev, uint16_t dport = 53,
           bool new_packet = false) {
    SkbHop h;
    h.time_ns = t_us * 1000;
    h.skb = skb;
    h.location_id = id(hook);
    h.device_id = dev ? id(dev) : 0;
    h.l4_protocol = 17;
    h.src_addr = {10, 0, 0, 1};
    h.dst_addr = {10, 0, 0, 2};
    h.src_port = 5000;
    h.dst_port = dport;
    h.new_packet = new_packet;
    if (std::string(hook) == "kfree_skb") h.reason_id = id("NO_SOCKET");
    p_->skb_hops.push_back(h);
  }
  Profile& profile() { return *p_; }

 private:
  std::unique_ptr<Profile> p_;
};

TEST(SkbReport, PacketsEndAtTheirFreeAndCountDrops) {
  SkbHops h;
  // Two packets through veth0 -> veth1: one consumed, one dropped; the second
  // reuses the first one's address after its end.
  h.hop(10, 0xa, "net_dev_queue", "veth0");
  h.hop(12, 0xa, "netif_receive_skb", "veth1");
  h.hop(20, 0xa, "consume_skb", nullptr);
  h.hop(30, 0xa, "net_dev_queue", "veth0", 54);
  h.hop(31, 0xa, "netif_receive_skb", "veth1", 54);
  h.hop(35, 0xa, "kfree_skb", "veth1", 54);
  SkbReport r = skb_report(h.profile(), h.profile().skb_hops);
  EXPECT_EQ(r.packets, 2u);
  EXPECT_EQ(r.hops, 6u);
  EXPECT_EQ(r.dropped, 1u);
  ASSERT_EQ(r.drops.size(), 1u);
  EXPECT_EQ(r.drops[0].reason, "NO_SOCKET");
  EXPECT_EQ(r.drops[0].flow, "UDP 10.0.0.1:5000 > 10.0.0.2:54");
  ASSERT_EQ(r.paths.size(), 2u);
  for (const auto& p : r.paths) {
    if (p.outcome == "consumed") {
      EXPECT_EQ(p.path, "net_dev_queue@veth0 > netif_receive_skb@veth1 > consume_skb");
      EXPECT_EQ(p.total.max_ns, 10'000u);
    } else {
      EXPECT_EQ(p.outcome, "dropped: NO_SOCKET");
    }
  }
  // net_dev_queue@veth0 > netif_receive_skb@veth1 twice: 2 us and 1 us.
  bool found = false;
  for (const auto& row : r.hop_latency)
    if (row.from == "net_dev_queue@veth0" && row.to == "netif_receive_skb@veth1") {
      found = true;
      EXPECT_EQ(row.stats.count, 2u);
      EXPECT_EQ(row.stats.max_ns, 2'000u);
    }
  EXPECT_TRUE(found);
}

// An address reused without an end event (UDP's stateless free) is cut where
// the recorder flagged a new packet, and where a hook repeats on a device.
TEST(SkbReport, ReusedAddressesWithoutAnEndAreCut) {
  SkbHops h;
  h.hop(10, 0xb, "net_dev_queue", "veth0");
  h.hop(11, 0xb, "netif_receive_skb", "veth1");
  h.hop(50, 0xb, "net_dev_queue", "veth0", 53, /*new_packet=*/true);  // different headers
  h.hop(51, 0xb, "netif_receive_skb", "veth1");
  h.hop(90, 0xb, "net_dev_queue", "veth0");  // identical headers: the repeat cuts it
  h.hop(91, 0xb, "netif_receive_skb", "veth1");
  std::vector<SkbPacket> packets = skb_packets(h.profile(), h.profile().skb_hops);
  ASSERT_EQ(packets.size(), 3u);
  for (const auto& pk : packets) {
    EXPECT_EQ(pk.hops.size(), 2u);
    EXPECT_EQ(pk.outcome, "end not seen");
  }
  std::ostringstream text, json;
  write_skb_text(skb_report(h.profile(), h.profile().skb_hops), 0, text);
  write_skb_json(skb_report(h.profile(), h.profile().skb_hops), json);
  EXPECT_NE(text.str().find("# packets: 3 (6 hops, 0 dropped)"), std::string::npos) << text.str();
  EXPECT_NE(json.str().find("\"packets\":3"), std::string::npos) << json.str();
}

// --by container / --container: a packet belongs to the owner of the socket it
// left (in the namespace of a hop on that side), else of the one it reached;
// several owners for one endpoint are no owner.
TEST(SkbReport, PacketsBelongToTheirSocketsOwners) {
  auto packet = [](uint32_t netns, std::vector<uint8_t> src, uint16_t sport, std::vector<uint8_t> dst, uint16_t dport) {
    static SkbHop h;  // the packet keeps a pointer
    h = SkbHop{};
    h.l4_protocol = 6;
    h.netns = netns;
    h.src_addr = src;
    h.dst_addr = dst;
    h.src_port = sport;
    h.dst_port = dport;
    SkbPacket p;
    p.hops.push_back(&h);
    return p;
  };
  auto tcp = [](uint32_t pid, uint32_t netns, std::vector<uint8_t> l, uint16_t lp, std::vector<uint8_t> r, uint16_t rp) {
    TcpEvent e;
    e.pid = pid;
    e.netns = netns;
    e.local_addr = l;
    e.local_port = lp;
    e.remote_addr = r;
    e.remote_port = rp;
    return e;
  };
  const std::vector<uint8_t> a{10, 0, 0, 1}, b{10, 0, 0, 2};
  SkbSocketOwners o;
  o.add(tcp(7, 1, a, 4000, b, 80));  // client in netns 1
  o.add(tcp(9, 2, b, 80, a, 4000));  // its server in netns 2
  o.add(tcp(0, 2, b, 81, a, 4001));  // owner not known yet: ignored
  bool sender = false;
  EXPECT_EQ(o.owner(packet(1, a, 4000, b, 80), &sender), 7u);
  EXPECT_TRUE(sender);
  EXPECT_EQ(o.owner(packet(2, b, 80, a, 4000), &sender), 9u);
  EXPECT_TRUE(sender);
  // Seen only on the receiving side's namespace, from a sender of no known socket.
  EXPECT_EQ(o.owner(packet(2, a, 4000, b, 80), &sender), 9u);
  EXPECT_FALSE(sender);
  EXPECT_EQ(o.owner(packet(3, a, 4000, b, 80), &sender), 0u) << "another namespace";
  EXPECT_EQ(o.owner(packet(2, a, 4001, b, 81), &sender), 0u);
  // --syscalls sockets of a capture from before they carried their namespace
  // (netns 0): an unconnected UDP socket bound to any address, in any namespace.
  SocketInfo udp;
  udp.pid = 11;
  udp.protocol = 17;
  udp.local_addr = {0, 0, 0, 0};
  udp.local_port = 53;
  o.add(udp);
  SkbPacket q = packet(5, a, 5000, b, 53);
  const_cast<SkbHop*>(q.hops[0])->l4_protocol = 17;
  EXPECT_EQ(o.owner(q, &sender), 11u);
  EXPECT_FALSE(sender);
  udp.pid = 12;  // a second process on the same endpoint: ambiguous
  o.add(udp);
  EXPECT_EQ(o.owner(q, &sender), 0u);
}

// --syscalls sockets carry their network namespace: the same endpoint in two
// namespaces (two containers each with a server on 10.0.0.2:53) is two owners,
// each for the packets seen in its own namespace, not one ambiguous endpoint.
TEST(SkbReport, SyscallSocketsMatchInTheirNamespace) {
  auto udp_to_53 = [](uint32_t netns) {
    static SkbHop h;  // the packet keeps a pointer
    h = SkbHop{};
    h.l4_protocol = 17;
    h.netns = netns;
    h.src_addr = {10, 0, 0, 1};
    h.src_port = 5000;
    h.dst_addr = {10, 0, 0, 2};
    h.dst_port = 53;
    SkbPacket p;
    p.hops.push_back(&h);
    return p;
  };
  auto server = [](uint32_t pid, uint32_t netns, std::vector<uint8_t> addr) {
    SocketInfo s;
    s.pid = pid;
    s.netns = netns;
    s.protocol = 17;
    s.local_addr = std::move(addr);
    s.local_port = 53;
    return s;
  };
  SkbSocketOwners o;
  o.add(server(21, 4026532001, {10, 0, 0, 2}));
  o.add(server(22, 4026532002, {10, 0, 0, 2}));
  o.add(server(23, 4026532003, {0, 0, 0, 0}));  // bound to any address in a third namespace
  bool sender = true;
  EXPECT_EQ(o.owner(udp_to_53(4026532001), &sender), 21u);
  EXPECT_FALSE(sender);
  EXPECT_EQ(o.owner(udp_to_53(4026532002), &sender), 22u);
  EXPECT_EQ(o.owner(udp_to_53(4026532003), &sender), 23u);
  EXPECT_EQ(o.owner(udp_to_53(4026532004), &sender), 0u) << "no socket of that namespace";
}

// The skb family is one line of the registry (report/families.cpp). Naming
// report_families() here also makes the linker take the registry, which
// report/run.cpp (in the library below it) refers to.
TEST(SkbReport, FamilyIsRegistered) {
  bool found = false;
  for (const auto& f : report_families()) found = found || std::string(f.name) == "skb";
  EXPECT_TRUE(found);
}

}  // namespace
}  // namespace ebt::report
