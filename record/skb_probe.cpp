#include "record/skb_probe.h"

#include <arpa/inet.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>

#include "common/error.h"
#include "format/writer.h"
#include "record/bpf_util.h"
#include "skb.skel.h"

namespace ebt::record {
namespace {

const char* const kHookNames[EBT_SKB_HOOK_COUNT] = {
    "net_dev_queue", "net_dev_start_xmit", "net_dev_xmit", "netif_rx",      "netif_receive_skb",
    "napi_gro_receive_entry", "skb_copy_datagram_iovec", "kfree_skb", "consume_skb",
};

// enum skb_drop_reason value -> name without the SKB_DROP_REASON_ prefix, from
// the running kernel's BTF (the values change between kernel versions).
std::map<uint32_t, std::string> drop_reason_names() {
  std::map<uint32_t, std::string> names;
  btf* vmlinux = btf__load_vmlinux_btf();
  if (!vmlinux) return names;
  int id = btf__find_by_name_kind(vmlinux, "skb_drop_reason", BTF_KIND_ENUM);
  if (id > 0) {
    const btf_type* t = btf__type_by_id(vmlinux, id);
    const struct btf_enum* e = btf_enum(t);
    for (int i = 0; i < btf_vlen(t); i++) {
      std::string n = btf__name_by_offset(vmlinux, e[i].name_off);
      if (n.rfind("SKB_DROP_REASON_", 0) == 0) n = n.substr(16);
      names[uint32_t(e[i].val)] = n;
    }
  }
  btf__free(vmlinux);
  return names;
}

class SkbProbe : public Probe {
 public:
  explicit SkbProbe(const RecordOptions& o) : f_(o.skb) {}
  ~SkbProbe() override {
    detach();
    skb_bpf__destroy(skel_);
  }

  std::string name() const override { return "skb"; }
  std::vector<uint16_t> event_kinds() const override { return {EBT_EV_SKB_HOP}; }

  void load(const SharedMaps& maps, const TargetFilter&) override {
    skel_ = skb_bpf__open();
    if (!skel_) throw RuntimeFailure("skb: cannot open the BPF object: " + std::string(strerror(errno)));
    reuse_shared_maps(skel_->obj, maps);
    auto* ro = skel_->rodata;
    ro->filter_netns = f_.netns;
    ro->filter_l4 = f_.l4_protocol;
    ro->filter_port = f_.port;
    ro->filter_addr_len = uint8_t(f_.addr.size());
    for (size_t i = 0; i < f_.addr.size() && i < 16; i++) const_cast<uint8_t&>(ro->filter_addr[i]) = f_.addr[i];
    ro->stacks_at_every_hop = f_.stacks ? 1 : 0;
    bpf_call_or_throw("skb", "loading the BPF programs (raw_tp net:* and skb:* tracepoints)",
                      [&] { return skb_bpf__load(skel_); });
    reasons_ = drop_reason_names();
  }

  void attach() override {
    bpf_program* prog;
    bpf_object__for_each_program(prog, skel_->obj) links_.attach("skb", prog);
  }

  void detach() override { links_.detach(); }

  void handle(const ebt_event_header& h, std::span<const uint8_t> event, RecordContext& ctx) override {
    if (event.size() < sizeof(ebt_skb_hop)) {
      malformed_++;
      return;
    }
    ebt_skb_hop e;
    std::memcpy(&e, event.data(), sizeof e);
    if (e.hook >= EBT_SKB_HOOK_COUNT || e.kernel_frames > EBT_MAX_STACK_DEPTH ||
        sizeof e + uint64_t(e.kernel_frames) * 8 > event.size()) {
      malformed_++;
      return;
    }
    SkbHop out;
    out.time_ns = h.time_ns;
    out.skb = e.skb;
    out.location_id = ctx.intern_string(kHookNames[e.hook]);
    out.ifindex = e.ifindex;
    out.netns = e.netns;
    out.len = e.len;
    out.protocol = e.protocol;
    out.cpu = h.cpu;
    out.pid = h.pid;
    out.tid = h.tid;
    char dev[EBT_SKB_DEV_LEN + 1] = {};
    std::memcpy(dev, e.dev, EBT_SKB_DEV_LEN);
    if (dev[0]) out.device_id = ctx.intern_string(dev);
    out.l4_protocol = e.l4_proto;
    size_t n = e.ip_version == 4 ? 4 : e.ip_version == 6 ? 16 : 0;
    out.src_addr.assign(e.saddr, e.saddr + n);
    out.dst_addr.assign(e.daddr, e.daddr + n);
    out.src_port = e.sport;
    out.dst_port = e.dport;
    out.new_packet = (h.flags & EBT_SKB_F_NEW_PACKET) != 0;
    if (e.hook == EBT_SKB_KFREE) {
      auto it = reasons_.find(e.reason);
      out.reason_id = ctx.intern_string(it != reasons_.end() ? it->second : "reason " + std::to_string(e.reason));
    }
    // The kernel stack, starting where the packet was freed (the tracing
    // frames above that are dropped); without a stack, that place alone.
    kernel_.resize(e.kernel_frames);
    if (e.kernel_frames) std::memcpy(kernel_.data(), event.data() + sizeof e, e.kernel_frames * 8ull);
    if (e.location) {
      auto at = std::find(kernel_.begin(), kernel_.end(), e.location);
      if (at != kernel_.end())
        kernel_.erase(kernel_.begin(), at);
      else
        kernel_.insert(kernel_.begin(), e.location);
    }
    out.stack_id = ctx.intern_stack(0, kernel_, {});
    ctx.writer().add(out);
    hops_++;
    if (e.hook == EBT_SKB_KFREE) drops_++;
  }

  std::string summary() const override {
    std::string s = std::to_string(hops_) + " packet hops (" + std::to_string(drops_) + " drops)";
    if (malformed_) s += ", " + std::to_string(malformed_) + " malformed";
    return s;
  }

 private:
  SkbFilter f_;
  skb_bpf* skel_ = nullptr;
  ProgramLinks links_;
  std::map<uint32_t, std::string> reasons_;
  std::vector<uint64_t> kernel_;
  uint64_t hops_ = 0, drops_ = 0, malformed_ = 0;
};

}  // namespace

std::unique_ptr<Probe> make_skb_probe(const RecordOptions& options) { return std::make_unique<SkbProbe>(options); }

}  // namespace ebt::record
