// Packets from SkbHop records (report/skb_report.h) without BPF: how hops are
// cut into packets at reused sk_buff addresses, and what the tables count.
#include <gtest/gtest.h>

#include <sstream>

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

}  // namespace
}  // namespace ebt::report
