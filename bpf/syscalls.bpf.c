// SPDX-License-Identifier: GPL-2.0
/* Syscall payload capture: read/write/readv/writev/sendto/recvfrom/sendmsg/recvmsg.
 *
 * Enter: filter (task, socket fd, port), stash fd, socket id, user buffer (first
 * iovec for the vector calls) and the enter time per thread. Exit: emit one
 * EBT_EV_SYSCALL with the return value and the first bytes actually transferred
 * (bounded by ret, read on the exit side so they are the real bytes).
 * The socket behind the fd is resolved through the task's file table, so its
 * addresses are known even for connections shorter than the recording.
 */
#include "bpf/maps.bpf.h"
#include <bpf/bpf_endian.h>

#define AF_UNIX 1
#define AF_INET 2
#define AF_INET6 10
#define S_IFMT 00170000
#define S_IFSOCK 0140000

/* Set by record/ before load. */
const volatile __u32 payload_bytes = 0;  /* <= EBT_SYSCALL_MAX_PAYLOAD */
const volatile __u8 sockets_only = 1;    /* drop non-socket fds in the kernel */
const volatile __u16 port_filter = 0;    /* host order; local or remote; 0 = any */

struct pending {
	__u64 enter_ns;
	__u64 buf;      /* user buffer of the first segment */
	__u64 buf_len;  /* its length (count, or iov_len of the first iovec) */
	__u64 socket_id;
	__s32 fd;
	__u32 kind;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32); /* tid */
	__type(value, struct pending);
} pending_sc SEC(".maps");

/* Sockets whose addresses were already sent (user space dedups anyway). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u8);
} seen_sockets SEC(".maps");

struct sc_buf {
	struct ebt_syscall_event e;
	__u8 data[EBT_SYSCALL_MAX_PAYLOAD];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sc_buf);
} sc_scratch SEC(".maps");

struct iovec_user {
	__u64 base;
	__u64 len;
};

/* The struct socket behind fd of the current task, or NULL. */
static __always_inline struct socket *fd_socket(int fd, __u64 *ino)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds;
	struct file *f = NULL;
	struct inode *inode;

	if (!fdt || fd < 0 || (unsigned int)fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	if (!f)
		return NULL;
	inode = BPF_CORE_READ(f, f_inode);
	if (!inode || (BPF_CORE_READ(inode, i_mode) & S_IFMT) != S_IFSOCK)
		return NULL;
	*ino = BPF_CORE_READ(inode, i_ino);
	return BPF_CORE_READ(f, private_data);
}

static __always_inline void emit_socket(struct sock *sk, __u64 id, int fd, __u64 pid_tgid)
{
	struct ebt_socket_event *e;
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	__u16 remote_port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	__u8 one = 1;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		ebt_count_lost(EBT_LOST_SYSCALL);
		return;
	}
	ebt_fill_header(&e->h, EBT_EV_SOCKET, sizeof(*e), pid_tgid);
	e->socket_id = id;
	e->fd = fd;
	e->family = family;
	e->protocol = BPF_CORE_READ(sk, sk_protocol);
	e->local_port = BPF_CORE_READ(sk, __sk_common.skc_num);
	e->remote_port = remote_port;
	e->reserved = 0;
	__builtin_memset(e->local_addr, 0, sizeof(e->local_addr));
	__builtin_memset(e->remote_addr, 0, sizeof(e->remote_addr));
	if (family == AF_INET) {
		bpf_probe_read_kernel(e->local_addr, 4, &sk->__sk_common.skc_rcv_saddr);
		bpf_probe_read_kernel(e->remote_addr, 4, &sk->__sk_common.skc_daddr);
	} else if (family == AF_INET6) {
		bpf_probe_read_kernel(e->local_addr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_probe_read_kernel(e->remote_addr, 16, &sk->__sk_common.skc_v6_daddr);
	}
	bpf_ringbuf_submit(e, 0);
	/* A TCP socket without a peer yet is sent again once it has one. */
	if (remote_port != 0 || (family != AF_INET && family != AF_INET6))
		bpf_map_update_elem(&seen_sockets, &id, &one, BPF_ANY);
}

static __always_inline int on_enter(int fd, __u64 buf, __u64 buf_len, __u32 kind)
{
	__u64 now = bpf_ktime_get_ns(); /* before our own work: closest to the real enter */
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	char comm[EBT_TASK_COMM_LEN] = {};
	struct pending p = {};
	struct socket *sock;
	struct sock *sk = NULL;
	__u32 tid = (__u32)pid_tgid;
	__u64 ino = 0;

	if (ebt_filter.by_comm)
		bpf_get_current_comm(comm, sizeof(comm));
	if (!ebt_task_wanted(pid_tgid >> 32, comm))
		return 0;
	sock = fd_socket(fd, &ino);
	if (sock)
		sk = BPF_CORE_READ(sock, sk);
	if (!sk) {
		if (sockets_only)
			return 0;
		ino = 0;
	}
	if (port_filter) {
		if (!sk)
			return 0;
		if (BPF_CORE_READ(sk, __sk_common.skc_num) != port_filter &&
		    bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport)) != port_filter)
			return 0;
	}
	if (sk && !bpf_map_lookup_elem(&seen_sockets, &ino))
		emit_socket(sk, ino, fd, pid_tgid);

	p.enter_ns = now;
	p.buf = buf;
	p.buf_len = buf_len;
	p.socket_id = ino;
	p.fd = fd;
	p.kind = kind;
	if (bpf_map_update_elem(&pending_sc, &tid, &p, BPF_ANY))
		ebt_count_lost(EBT_LOST_SYSCALL);
	return 0;
}

static __always_inline int on_enter_iov(int fd, __u64 iov_ptr, __u64 vlen, __u32 kind)
{
	struct iovec_user iov = {};

	if (payload_bytes && vlen > 0 && iov_ptr)
		bpf_probe_read_user(&iov, sizeof(iov), (void *)iov_ptr);
	return on_enter(fd, iov.base, iov.len, kind);
}

static __always_inline int on_enter_msg(int fd, __u64 msg_ptr, __u32 kind)
{
	struct user_msghdr msg = {};

	if (payload_bytes && msg_ptr)
		bpf_probe_read_user(&msg, sizeof(msg), (void *)msg_ptr);
	return on_enter_iov(fd, (__u64)msg.msg_iov, msg.msg_iovlen, kind);
}

static __always_inline int on_exit(long ret)
{
	__u64 now = bpf_ktime_get_ns();
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid;
	__u32 zero = 0;
	struct pending *p;
	struct sc_buf *s;
	__u64 n = 0;

	p = bpf_map_lookup_elem(&pending_sc, &tid);
	if (!p)
		return 0;
	s = bpf_map_lookup_elem(&sc_scratch, &zero);
	if (!s) {
		bpf_map_delete_elem(&pending_sc, &tid);
		return 0;
	}
	s->e.h.flags = 0;
	if (payload_bytes && ret > 0 && p->buf) {
		n = ret;
		if (n > p->buf_len)
			n = p->buf_len;
		if (n > payload_bytes)
			n = payload_bytes;
		if (n > EBT_SYSCALL_MAX_PAYLOAD)
			n = EBT_SYSCALL_MAX_PAYLOAD;
		n &= (EBT_SYSCALL_MAX_PAYLOAD * 2 - 1); /* keeps the verifier's bound */
		if (n > EBT_SYSCALL_MAX_PAYLOAD)
			n = 0;
		if (n && bpf_probe_read_user(s->data, n, (void *)p->buf)) {
			n = 0;
			s->e.h.flags = EBT_SC_FLAG_PAYLOAD_FAULT;
		}
	}
	s->e.enter_ns = p->enter_ns;
	s->e.socket_id = p->socket_id;
	s->e.fd = p->fd;
	s->e.syscall = p->kind;
	bpf_map_delete_elem(&pending_sc, &tid);
	s->e.ret = ret;
	s->e.payload_len = n;
	{
		__u16 flags = s->e.h.flags;
		ebt_fill_header(&s->e.h, EBT_EV_SYSCALL, sizeof(s->e) + n, pid_tgid);
		s->e.h.flags = flags;
		s->e.h.time_ns = now;
	}
	if (bpf_ringbuf_output(&events, s, sizeof(s->e) + n, ebt_ringbuf_wakeup_flags(sizeof(s->e) + n)))
		ebt_count_lost(EBT_LOST_SYSCALL);
	return 0;
}

/* syscalls:sys_enter_* share this layout: args at offset 16, 8 bytes each. */
#define ARG(ctx, i) ((ctx)->args[i])

SEC("tracepoint/syscalls/sys_enter_read")
int ebt_enter_read(struct trace_event_raw_sys_enter *ctx)
{ return on_enter(ARG(ctx, 0), ARG(ctx, 1), ARG(ctx, 2), EBT_SC_READ); }

SEC("tracepoint/syscalls/sys_enter_write")
int ebt_enter_write(struct trace_event_raw_sys_enter *ctx)
{ return on_enter(ARG(ctx, 0), ARG(ctx, 1), ARG(ctx, 2), EBT_SC_WRITE); }

SEC("tracepoint/syscalls/sys_enter_readv")
int ebt_enter_readv(struct trace_event_raw_sys_enter *ctx)
{ return on_enter_iov(ARG(ctx, 0), ARG(ctx, 1), ARG(ctx, 2), EBT_SC_READV); }

SEC("tracepoint/syscalls/sys_enter_writev")
int ebt_enter_writev(struct trace_event_raw_sys_enter *ctx)
{ return on_enter_iov(ARG(ctx, 0), ARG(ctx, 1), ARG(ctx, 2), EBT_SC_WRITEV); }

SEC("tracepoint/syscalls/sys_enter_sendto")
int ebt_enter_sendto(struct trace_event_raw_sys_enter *ctx)
{ return on_enter(ARG(ctx, 0), ARG(ctx, 1), ARG(ctx, 2), EBT_SC_SENDTO); }

SEC("tracepoint/syscalls/sys_enter_recvfrom")
int ebt_enter_recvfrom(struct trace_event_raw_sys_enter *ctx)
{ return on_enter(ARG(ctx, 0), ARG(ctx, 1), ARG(ctx, 2), EBT_SC_RECVFROM); }

SEC("tracepoint/syscalls/sys_enter_sendmsg")
int ebt_enter_sendmsg(struct trace_event_raw_sys_enter *ctx)
{ return on_enter_msg(ARG(ctx, 0), ARG(ctx, 1), EBT_SC_SENDMSG); }

SEC("tracepoint/syscalls/sys_enter_recvmsg")
int ebt_enter_recvmsg(struct trace_event_raw_sys_enter *ctx)
{ return on_enter_msg(ARG(ctx, 0), ARG(ctx, 1), EBT_SC_RECVMSG); }

#define EXIT_PROG(name)                                                   \
	SEC("tracepoint/syscalls/sys_exit_" #name)                        \
	int ebt_exit_##name(struct trace_event_raw_sys_exit *ctx)         \
	{ return on_exit(ctx->ret); }

EXIT_PROG(read)
EXIT_PROG(write)
EXIT_PROG(readv)
EXIT_PROG(writev)
EXIT_PROG(sendto)
EXIT_PROG(recvfrom)
EXIT_PROG(sendmsg)
EXIT_PROG(recvmsg)

char LICENSE[] SEC("license") = "GPL";
