// SPDX-License-Identifier: GPL-2.0
/* Packet hops through the kernel network stack (--skb), on raw tracepoints
 * (no kprobes needed): device queue and transmit, receive (backlog, core,
 * GRO), copy to a reader, and the end of each sk_buff (drop with its reason,
 * or consume).
 *
 * A packet is chosen by the filters (netns, L4 protocol, address, port) at the
 * first hop it is seen at; from then on its sk_buff address is tracked, so later
 * hops are kept even where the filters would not choose them (another netns),
 * until kfree_skb or consume_skb. Some paths free or recycle an sk_buff without
 * either (UDP's stateless consume, TCP's pure ACKs, the per-CPU skb caches), so
 * the address can come back holding another packet: each tracked address keeps
 * a fingerprint of its packet's headers, and a hop whose headers differ or no
 * longer parse starts a new packet, chosen by the filters afresh
 * (EBT_SKB_F_NEW_PACKET).
 */
#include "bpf/maps.bpf.h"
#include <bpf/bpf_endian.h>

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define NO_HEADER ((__u16)~0U)

/* Set by record/ before load. */
const volatile __u32 filter_netns = 0;     /* 0: any */
const volatile __u8 filter_l4 = 0;         /* IPPROTO_*; 0: any */
const volatile __u16 filter_port = 0;      /* source or destination; 0: any */
const volatile __u8 filter_addr_len = 0;   /* 4 or 16: source or destination address; 0: any */
const volatile __u8 filter_addr[16] = {};
const volatile __u8 stacks_at_every_hop = 0; /* else only at drops */

/* sk_buffs chosen by the filters, until they are freed: address -> header
 * fingerprint (0: not known yet). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, __u64);
} skb_tracked SEC(".maps");

struct hop_buf {
	struct ebt_skb_hop e;
	__u64 frames[EBT_MAX_STACK_DEPTH];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct hop_buf);
} skb_scratch SEC(".maps");

static __always_inline __u32 net_inum(struct sk_buff *skb, struct net_device *dev)
{
	if (dev)
		return BPF_CORE_READ(dev, nd_net.net, ns.inum);
	struct sock *sk = BPF_CORE_READ(skb, sk);
	if (sk)
		return BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	return 0;
}

/* IP addresses and TCP/UDP ports from the headers the stack has set. Returns a
 * fingerprint of the packet (0: headers not parsed). */
static __always_inline __u64 parse_headers(struct sk_buff *skb, struct ebt_skb_hop *e)
{
	__u64 fp = 0;
	unsigned char *head = BPF_CORE_READ(skb, head);
	__u16 nh = BPF_CORE_READ(skb, network_header);
	__u16 th = BPF_CORE_READ(skb, transport_header);
	__u16 l4 = NO_HEADER;
	__u8 first = 0;

	if (nh == NO_HEADER) /* not set yet (fresh from a driver): data is at L3 */
		nh = BPF_CORE_READ(skb, data) - head;
	if (bpf_probe_read_kernel(&first, 1, head + nh))
		return 0;
	if ((first >> 4) == 4) {
		struct iphdr ip;
		if (bpf_probe_read_kernel(&ip, sizeof(ip), head + nh))
			return 0;
		fp = (__u64)ip.id << 48 | (__u64)ip.tot_len << 32 | (ip.saddr ^ ip.daddr);
		e->ip_version = 4;
		e->l4_proto = ip.protocol;
		__builtin_memcpy(e->saddr, &ip.saddr, 4);
		__builtin_memcpy(e->daddr, &ip.daddr, 4);
		l4 = nh + ip.ihl * 4;
	} else if ((first >> 4) == 6) {
		struct ipv6hdr ip6;
		if (bpf_probe_read_kernel(&ip6, sizeof(ip6), head + nh))
			return 0;
		fp = (__u64)ip6.payload_len << 32 | (ip6.saddr.in6_u.u6_addr32[3] ^ ip6.daddr.in6_u.u6_addr32[3]);
		e->ip_version = 6;
		e->l4_proto = ip6.nexthdr; /* extension headers are not followed */
		bpf_probe_read_kernel(e->saddr, 16, &ip6.saddr);
		bpf_probe_read_kernel(e->daddr, 16, &ip6.daddr);
		l4 = nh + sizeof(ip6);
	} else {
		return 0;
	}
	if (th != NO_HEADER && th > nh)
		l4 = th;
	if (e->l4_proto == IPPROTO_TCP || e->l4_proto == IPPROTO_UDP) {
		__be16 ports[2];
		if (bpf_probe_read_kernel(ports, sizeof(ports), head + l4) == 0) {
			e->sport = bpf_ntohs(ports[0]);
			e->dport = bpf_ntohs(ports[1]);
			fp ^= (__u64)e->sport << 16 | e->dport;
		}
	}
	return fp | 1; /* never 0 once parsed */
}

static __always_inline int addr_matches(const __u8 *a)
{
	for (int i = 0; i < 16; i++) {
		if (i >= filter_addr_len)
			break;
		if (a[i] != filter_addr[i])
			return 0;
	}
	return 1;
}

static __always_inline int wanted(const struct ebt_skb_hop *e)
{
	if (filter_netns && e->netns != filter_netns)
		return 0;
	if (filter_l4 && e->l4_proto != filter_l4)
		return 0;
	if (filter_port && e->sport != filter_port && e->dport != filter_port)
		return 0;
	if (filter_addr_len) {
		if (e->ip_version != (filter_addr_len == 4 ? 4 : 6))
			return 0;
		if (!addr_matches(e->saddr) && !addr_matches(e->daddr))
			return 0;
	}
	return 1;
}

static __always_inline int on_hop(void *ctx, struct sk_buff *skb, struct net_device *dev, __u32 hook,
				  __u64 location, __u32 reason)
{
	__u64 key = (__u64)skb;
	__u32 zero = 0;
	int ends = hook == EBT_SKB_KFREE || hook == EBT_SKB_CONSUME;
	__u64 fp, *tracked;
	__u16 flags = 0;
	struct hop_buf *b;
	long klen = 0;
	__u32 size;

	if (!skb)
		return 0;
	b = bpf_map_lookup_elem(&skb_scratch, &zero);
	if (!b)
		return 0;
	__builtin_memset(&b->e, 0, sizeof(b->e));
	if (!dev)
		dev = BPF_CORE_READ(skb, dev);
	b->e.netns = net_inum(skb, dev);
	fp = parse_headers(skb, &b->e);
	tracked = bpf_map_lookup_elem(&skb_tracked, &key);
	/* Headers that differ: the address holds another packet now. Headers that
	 * do not parse where the packet's did: not provably that packet either (a
	 * tracked packet's headers stay readable to its end, and the address is
	 * often recycled for, e.g., a Unix socket's buffer, whose bytes are no IP
	 * header): such a hop is chosen by the filters afresh, never joined to it. */
	if (tracked && *tracked && *tracked != fp)
		tracked = NULL;
	if (!tracked) {
		if (!wanted(&b->e)) {
			bpf_map_delete_elem(&skb_tracked, &key);
			return 0;
		}
		flags = EBT_SKB_F_NEW_PACKET;
		if (!ends)
			bpf_map_update_elem(&skb_tracked, &key, &fp, BPF_ANY);
	} else if (ends) {
		bpf_map_delete_elem(&skb_tracked, &key);
	} else if (!*tracked && fp) {
		*tracked = fp;
	}
	b->e.skb = key;
	b->e.location = location;
	b->e.hook = hook;
	b->e.reason = reason;
	b->e.len = BPF_CORE_READ(skb, len);
	b->e.protocol = bpf_ntohs(BPF_CORE_READ(skb, protocol));
	if (dev) {
		b->e.ifindex = BPF_CORE_READ(dev, ifindex);
		bpf_probe_read_kernel_str(b->e.dev, sizeof(b->e.dev), &dev->name);
	}
	if (stacks_at_every_hop || hook == EBT_SKB_KFREE) {
		klen = bpf_get_stack(ctx, b->frames, sizeof(b->frames), 0);
		if (klen < 0) {
			ebt_count_lost(EBT_LOST_STACK);
			klen = 0;
		}
	}
	b->e.kernel_frames = (__u32)klen / 8;
	size = sizeof(b->e) + (b->e.kernel_frames & 0x7f) * 8;
	ebt_fill_header(&b->e.h, EBT_EV_SKB_HOP, size, bpf_get_current_pid_tgid());
	b->e.h.flags = flags;
	ebt_output(b, size, sizeof(*b));
	return 0;
}

SEC("raw_tp/net_dev_queue")
int BPF_PROG(ebt_net_dev_queue, struct sk_buff *skb)
{ return on_hop(ctx, skb, NULL, EBT_SKB_NET_DEV_QUEUE, 0, 0); }

SEC("raw_tp/net_dev_start_xmit")
int BPF_PROG(ebt_net_dev_start_xmit, struct sk_buff *skb, struct net_device *dev)
{ return on_hop(ctx, skb, dev, EBT_SKB_START_XMIT, 0, 0); }

SEC("raw_tp/net_dev_xmit")
int BPF_PROG(ebt_net_dev_xmit, struct sk_buff *skb, int rc, struct net_device *dev)
{ return on_hop(ctx, skb, dev, EBT_SKB_XMIT, 0, (__u32)rc); }

SEC("raw_tp/netif_rx")
int BPF_PROG(ebt_netif_rx, struct sk_buff *skb)
{ return on_hop(ctx, skb, NULL, EBT_SKB_NETIF_RX, 0, 0); }

SEC("raw_tp/netif_receive_skb")
int BPF_PROG(ebt_netif_receive_skb, struct sk_buff *skb)
{ return on_hop(ctx, skb, NULL, EBT_SKB_NETIF_RECEIVE, 0, 0); }

SEC("raw_tp/napi_gro_receive_entry")
int BPF_PROG(ebt_napi_gro_receive_entry, struct sk_buff *skb)
{ return on_hop(ctx, skb, NULL, EBT_SKB_GRO_RECEIVE, 0, 0); }

SEC("raw_tp/skb_copy_datagram_iovec")
int BPF_PROG(ebt_skb_copy_datagram_iovec, struct sk_buff *skb, int len)
{ return on_hop(ctx, skb, NULL, EBT_SKB_COPY_DATAGRAM, 0, 0); }

SEC("raw_tp/kfree_skb")
int BPF_PROG(ebt_kfree_skb, struct sk_buff *skb, void *location, int reason)
{ return on_hop(ctx, skb, NULL, EBT_SKB_KFREE, (__u64)location, (__u32)reason); }

SEC("raw_tp/consume_skb")
int BPF_PROG(ebt_consume_skb, struct sk_buff *skb, void *location)
{ return on_hop(ctx, skb, NULL, EBT_SKB_CONSUME, (__u64)location, 0); }

char LICENSE[] SEC("license") = "GPL";
