// SPDX-License-Identifier: GPL-2.0
/* TCP connection lifecycle (--tcp): every state change of a connection
 * (sock:inet_sock_set_state), retransmits (tcp:tcp_retransmit_skb), resets
 * sent and received (tcp:tcp_send_reset, tcp:tcp_receive_reset), with the
 * socket's counters (bytes, segments, smoothed RTT, retransmits) read with
 * CO-RE at each change, so the CLOSE transition carries the totals.
 *
 * Who owns a connection: most transitions run in softirq, on behalf of
 * whatever task was interrupted, so the current task says nothing. The owner is
 * taken where the kernel runs in the owner's context: connect() (CLOSE ->
 * SYN_SENT) for active opens, the return of accept()/accept4() for passive
 * ones (an EBT_TCP_ACCEPT event), and kept per socket in `tcp_socks`.
 *
 * connect() sets SYN_SENT before it picks the local port, so that transition
 * is held in `tcp_socks` and sent with the next event of the socket, once the
 * 4-tuple is complete and the filters (--port, --host, the task filter) can
 * decide; the decision is kept per socket, so a connection is kept or dropped
 * whole.
 *
 * --cgroup / --container test the socket's cgroup (ebt_sock_under_cgroup),
 * not the current task's: a passive open runs in softirq, in whatever task
 * it interrupted, but its socket is in its listener's cgroup.
 */
#include "bpf/maps.bpf.h"
#include <bpf/bpf_endian.h>

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define S_IFMT 00170000
#define S_IFSOCK 0140000

/* TCP states (include/net/tcp_states.h) */
#define TCP_SYN_SENT 2
#define TCP_CLOSE 7
#define TCP_LISTEN 10

/* Set by record/ before load. */
const volatile __u16 filter_port = 0;      /* local or remote; 0: any */
const volatile __u8 filter_addr_len = 0;   /* 4 or 16: local or remote address; 0: any */
const volatile __u8 filter_addr[16] = {};
/* --cgroup / --container: the cgroup v2 id sockets must be in (or below); 0: any.
 * ebt_filter.by_cgroup is cleared in this object's copy (it tests the current task). */
const volatile __u64 filter_cgroup_id = 0;

enum { V_UNDECIDED = 0, V_KEEP = 1, V_DROP = 2 };

/* Per socket (its address) from its first event to its CLOSE. */
struct sk_info {
	__u64 cookie;
	__u64 syn_sent_ns;  /* a held SYN_SENT transition (connect() in progress); 0: none */
	__u32 pid;          /* owner, when `owner` */
	__u32 tid;
	char comm[EBT_TASK_COMM_LEN];
	__u8 verdict;
	__u8 owner;
	__u8 pad[6];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct sk_info);
} tcp_socks SEC(".maps");

extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;

static __always_inline void fill_tuple(struct ebt_tcp_event *e, const struct sock *sk)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	e->sport = bpf_ntohs(BPF_CORE_READ((struct inet_sock *)sk, inet_sport));
	e->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	e->netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	if (family == AF_INET) {
		e->family = 4;
		bpf_probe_read_kernel(e->saddr, 4, &sk->__sk_common.skc_rcv_saddr);
		bpf_probe_read_kernel(e->daddr, 4, &sk->__sk_common.skc_daddr);
	} else if (family == AF_INET6) {
		e->family = 6;
		bpf_probe_read_kernel(e->saddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_probe_read_kernel(e->daddr, 16, &sk->__sk_common.skc_v6_daddr);
		/* IPv4 on a dual-stack socket (::ffff:a.b.c.d): shown and filtered as IPv4 */
		__u32 *s = (__u32 *)e->saddr, *d = (__u32 *)e->daddr;
		if (s[0] == 0 && s[1] == 0 && s[2] == bpf_htonl(0xffff) && d[0] == 0 && d[1] == 0 &&
		    d[2] == bpf_htonl(0xffff)) {
			e->family = 4;
			s[0] = s[3];
			d[0] = d[3];
			s[1] = s[2] = s[3] = d[1] = d[2] = d[3] = 0;
		}
	}
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

static __always_inline int tuple_wanted(const struct ebt_tcp_event *e)
{
	if (filter_port && e->sport != filter_port && e->dport != filter_port)
		return 0;
	if (filter_addr_len) {
		if (e->family != (filter_addr_len == 4 ? 4 : 6))
			return 0;
		if (!addr_matches(e->saddr) && !addr_matches(e->daddr))
			return 0;
	}
	return 1;
}

static __always_inline int sock_wanted(const struct sock *sk)
{
	return !filter_cgroup_id || ebt_sock_under_cgroup(sk, filter_cgroup_id);
}

/* The counters of a full TCP socket (not a listener's request or a timewait
 * socket). A received FIN counts one in bytes_received (rcv_nxt moves over it):
 * SOCK_DONE, set only by tcp_fin(), says it did. */
static __always_inline void fill_stats(struct ebt_tcp_event *e, const struct sock *sk)
{
	struct tcp_sock *tp = bpf_skc_to_tcp_sock((void *)sk);
	__u64 rx, sent, retrans;

	if (!tp)
		return;
	sent = BPF_CORE_READ(tp, bytes_sent);
	retrans = BPF_CORE_READ(tp, bytes_retrans);
	rx = BPF_CORE_READ(tp, bytes_received);
	if ((BPF_CORE_READ(sk, __sk_common.skc_flags) >> bpf_core_enum_value(enum sock_flags, SOCK_DONE)) & 1 && rx)
		rx--;
	e->bytes_sent = sent > retrans ? sent - retrans : 0;
	e->bytes_retrans = retrans;
	e->bytes_received = rx;
	e->srtt_ns = (__u64)BPF_CORE_READ(tp, srtt_us) * 125; /* srtt_us is in 1/8 us */
	e->segs_out = BPF_CORE_READ(tp, segs_out);
	e->segs_in = BPF_CORE_READ(tp, segs_in);
	e->retransmits = BPF_CORE_READ(tp, total_retrans);
	e->h.flags |= EBT_TCP_F_STATS;
}

static __always_inline void set_owner(struct ebt_tcp_event *e, const struct sk_info *info)
{
	if (!info || !info->owner)
		return;
	e->h.pid = info->pid;
	e->h.tid = info->tid;
	__builtin_memcpy(e->comm, info->comm, sizeof(e->comm));
	e->h.flags |= EBT_TCP_F_OWNER;
}

/* Sets e's header (time now, no owner) and type. */
static __always_inline void begin(struct ebt_tcp_event *e, __u8 type, __u64 cookie)
{
	ebt_fill_header(&e->h, EBT_EV_TCP, sizeof(*e), 0);
	e->type = type;
	e->cookie = cookie;
}

/* Decides a socket on the first event with its whole 4-tuple in `e`, and sends
 * its held SYN_SENT before that event. Returns 1 when the socket is kept. */
static __always_inline int decide(struct sk_info *info, const struct ebt_tcp_event *e,
				  const struct sock *sk)
{
	if (info->verdict == V_UNDECIDED) {
		if (!tuple_wanted(e) || !sock_wanted(sk) ||
		    (info->owner && !ebt_task_wanted(info->pid, info->comm)))
			info->verdict = V_DROP;
		else
			info->verdict = V_KEEP;
	}
	if (info->verdict != V_KEEP)
		return 0;
	if (info->syn_sent_ns) {
		struct ebt_tcp_event s = *e;
		s.h.time_ns = info->syn_sent_ns;
		s.h.flags &= ~EBT_TCP_F_STATS;
		s.type = EBT_TCP_STATE;
		s.old_state = TCP_CLOSE;
		s.new_state = TCP_SYN_SENT;
		s.bytes_sent = s.bytes_received = s.bytes_retrans = s.srtt_ns = 0;
		s.segs_out = s.segs_in = s.retransmits = 0;
		info->syn_sent_ns = 0;
		ebt_output(&s, sizeof(s), sizeof(s));
	}
	return 1;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(ebt_tcp_state, const struct sock *sk, const int oldstate, const int newstate)
{
	struct ebt_tcp_event e = {};
	struct sk_info *info;
	__u64 key = (__u64)sk;
	int keep;

	if (sk->sk_protocol != IPPROTO_TCP)
		return 0;
	if (newstate == TCP_LISTEN || (oldstate == TCP_LISTEN && newstate == TCP_CLOSE))
		return 0; /* listeners are not connections */

	if (newstate == TCP_SYN_SENT) {
		/* connect(): the caller's context, so the current task owns it. */
		struct sk_info n = {};
		__u64 pid_tgid = bpf_get_current_pid_tgid();

		n.cookie = bpf_get_socket_cookie((void *)sk);
		n.pid = pid_tgid >> 32;
		n.tid = (__u32)pid_tgid;
		bpf_get_current_comm(n.comm, sizeof(n.comm));
		n.owner = 1;
		n.syn_sent_ns = bpf_ktime_get_ns();
		if (!ebt_task_wanted(n.pid, n.comm) || !sock_wanted(sk))
			n.verdict = V_DROP;
		if (bpf_map_update_elem(&tcp_socks, &key, &n, BPF_ANY) == 0)
			return 0; /* held until the 4-tuple is known */
		/* no room to hold it: sent now, the local port may still be 0 */
		if (n.verdict == V_DROP)
			return 0;
		begin(&e, EBT_TCP_STATE, n.cookie);
		fill_tuple(&e, sk);
		set_owner(&e, &n);
		e.old_state = oldstate;
		e.new_state = newstate;
		if (tuple_wanted(&e))
			ebt_output(&e, sizeof(e), sizeof(e));
		return 0;
	}

	info = bpf_map_lookup_elem(&tcp_socks, &key);
	if (info && info->verdict == V_DROP) {
		if (newstate == TCP_CLOSE)
			bpf_map_delete_elem(&tcp_socks, &key);
		return 0;
	}
	begin(&e, EBT_TCP_STATE, info ? info->cookie : bpf_get_socket_cookie((void *)sk));
	if (!info && newstate != TCP_CLOSE) {
		struct sk_info n = {};
		n.cookie = e.cookie;
		bpf_map_update_elem(&tcp_socks, &key, &n, BPF_NOEXIST);
		info = bpf_map_lookup_elem(&tcp_socks, &key);
	}
	fill_tuple(&e, sk);
	fill_stats(&e, sk);
	e.socket_ino = BPF_CORE_READ(sk, sk_socket, file, f_inode, i_ino);
	e.old_state = oldstate;
	e.new_state = newstate;
	set_owner(&e, info);
	keep = info ? decide(info, &e, sk) : tuple_wanted(&e) && sock_wanted(sk);
	if (keep)
		ebt_output(&e, sizeof(e), sizeof(e));
	if (newstate == TCP_CLOSE)
		bpf_map_delete_elem(&tcp_socks, &key);
	return 0;
}

/* Retransmits and resets of a socket: kept or dropped like its transitions. */
static __always_inline int on_sock_event(const struct sock *sk, __u8 type)
{
	struct ebt_tcp_event e = {};
	struct sk_info *info;
	__u64 key = (__u64)sk;
	int keep;

	if (!sk)
		return 0; /* a reset answering a packet for no socket (a closed port) */
	info = bpf_map_lookup_elem(&tcp_socks, &key);
	if (info && info->verdict == V_DROP)
		return 0;
	begin(&e, type, info ? info->cookie : bpf_get_socket_cookie((void *)sk));
	fill_tuple(&e, sk);
	fill_stats(&e, sk);
	set_owner(&e, info);
	keep = info ? decide(info, &e, sk) : tuple_wanted(&e) && sock_wanted(sk);
	if (keep)
		ebt_output(&e, sizeof(e), sizeof(e));
	return 0;
}

SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(ebt_tcp_retransmit, const struct sock *sk, const struct sk_buff *skb)
{ return on_sock_event(sk, EBT_TCP_RETRANSMIT); }

SEC("tp_btf/tcp_send_reset")
int BPF_PROG(ebt_tcp_send_reset, const struct sock *sk, const struct sk_buff *skb)
{ return on_sock_event(sk, EBT_TCP_SEND_RESET); }

SEC("tp_btf/tcp_receive_reset")
int BPF_PROG(ebt_tcp_receive_reset, struct sock *sk)
{ return on_sock_event(sk, EBT_TCP_RECV_RESET); }

/* The struct sock behind fd of the current task, or NULL (not a socket). */
static __always_inline struct sock *fd_sock(struct task_struct *task, int fd, __u64 *ino)
{
	struct files_struct *files = task->files;
	struct fdtable *fdt;
	struct file *f = NULL;
	struct inode *inode;
	struct socket *sock;

	if (!files || fd < 0)
		return NULL;
	fdt = files->fdt;
	if (!fdt || (unsigned int)fd >= fdt->max_fds)
		return NULL;
	if (bpf_probe_read_kernel(&f, sizeof(f), &fdt->fd[fd]) || !f)
		return NULL;
	f = bpf_rdonly_cast(f, bpf_core_type_id_kernel(struct file));
	inode = f->f_inode;
	if (!inode || (inode->i_mode & S_IFMT) != S_IFSOCK)
		return NULL;
	*ino = inode->i_ino;
	sock = bpf_rdonly_cast(f->private_data, bpf_core_type_id_kernel(struct socket));
	return sock->sk;
}

/* accept()/accept4() returned fd: the calling process owns that connection
 * from now on (its transitions so far ran in softirq). */
static __always_inline int on_accept(long ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct ebt_tcp_event e = {};
	struct sk_info *info;
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 ino = 0, key, cookie;
	struct sock *sk;

	if (ret < 0)
		return 0;
	sk = fd_sock(task, (int)ret, &ino);
	if (!sk || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	key = (__u64)sk;
	info = bpf_map_lookup_elem(&tcp_socks, &key);
	if (info && info->verdict == V_DROP)
		return 0;
	/* the cookie its earlier events carried (made by bpf_get_socket_cookie) */
	cookie = info ? info->cookie : BPF_CORE_READ(sk, __sk_common.skc_cookie.counter);
	if (!cookie)
		return 0; /* none of its events was sent */
	begin(&e, EBT_TCP_ACCEPT, cookie);
	fill_tuple(&e, sk);
	if (!tuple_wanted(&e) || (!info && !sock_wanted(sk)))
		return 0;
	e.socket_ino = ino;
	e.h.pid = pid_tgid >> 32;
	e.h.tid = (__u32)pid_tgid;
	bpf_get_current_comm(e.comm, sizeof(e.comm));
	e.h.flags |= EBT_TCP_F_OWNER;
	if (!ebt_task_wanted(e.h.pid, e.comm))
		e.h.flags |= EBT_TCP_F_UNWANTED;
	if (info) {
		info->pid = e.h.pid;
		info->tid = e.h.tid;
		__builtin_memcpy(info->comm, e.comm, sizeof(info->comm));
		info->owner = 1;
		info->verdict = (e.h.flags & EBT_TCP_F_UNWANTED) ? V_DROP : V_KEEP;
	}
	ebt_output(&e, sizeof(e), sizeof(e));
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int ebt_tcp_exit_accept4(struct trace_event_raw_sys_exit *ctx)
{ return on_accept(ctx->ret); }

SEC("tracepoint/syscalls/sys_exit_accept")
int ebt_tcp_exit_accept(struct trace_event_raw_sys_exit *ctx)
{ return on_accept(ctx->ret); }

char LICENSE[] SEC("license") = "GPL";
