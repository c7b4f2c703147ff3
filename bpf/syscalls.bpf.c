// SPDX-License-Identifier: GPL-2.0
/* Syscall payload capture: read/write/readv/writev/sendto/recvfrom/sendmsg/recvmsg.
 *
 * Enter: filter the task, stash fd, the struct file it names, user buffer (or the
 * iovec array of the vector calls) and the enter time in the thread's task storage.
 * Exit: resolve the stashed file to its socket (filter: sockets only, port), then
 * emit one EBT_EV_SYSCALL with the return value and the first bytes actually
 * transferred (min(ret, --payload-bytes), across up to EBT_SC_MAX_IOV iovecs, read
 * on the exit side so they are the real bytes). The event is as long as the bytes
 * it carries: the cost follows the bytes moved, not --payload-bytes.
 * The socket behind the fd is resolved through the task's file table, so its
 * addresses are known even for connections shorter than the recording.
 *
 * Why the file is resolved at exit and not at enter: at enter the file, inode,
 * socket and seen_sockets entry of the connection are usually cold (a server
 * touched other connections since), and their loads were half of the enter
 * program's time under redis-benchmark (perf samples per BPF source line,
 * docs/l7.md); at exit the syscall has just used them. The file pointer itself
 * is taken at enter, so the exit describes the file the syscall was given even
 * if another thread closes the fd meanwhile: the syscall's own reference keeps
 * that file alive until after the exit tracepoint (the last fput is deferred to
 * the return to user space).
 *
 * Why the classic syscalls:sys_{enter,exit}_* tracepoints and not one raw_tp /
 * tp_btf program on raw_syscalls:sys_{enter,exit}: measured on redis (6.18,
 * docs/benchmarks.md), the raw ones run for every syscall of every task and cost
 * the machine more per request than these, which only fire for the 8 syscalls.
 */
#include "bpf/maps.bpf.h"
#include <bpf/bpf_endian.h>

#define AF_UNIX 1
#define EBT_SC_SEEN_SLOTS 64 /* per-thread cache of described sockets, a power of 2 */
#define AF_INET 2
#define AF_INET6 10
#define S_IFMT 00170000
#define S_IFSOCK 0140000

/* Set by record/ before load. */
const volatile __u32 payload_bytes = 0;  /* <= EBT_SYSCALL_MAX_PAYLOAD */
const volatile __u8 sockets_only = 1;    /* drop non-socket fds in the kernel */
const volatile __u16 port_filter = 0;    /* host order; local or remote; 0 = any */

/* The syscall in flight of a thread, from enter to exit. Task-local storage
 * rather than a tid-keyed hash: a lookup is a pointer walk from current, with no
 * hashing, no element allocation per syscall and nothing left behind by exited
 * threads. enter_ns == 0: nothing pending. */
struct pending {
	__u64 enter_ns;
	__u64 buf;      /* user buffer, or the iovec array when iov */
	__u64 buf_len;  /* its length (count), or the number of iovecs */
	__u64 file;     /* the struct file fd named at enter; 0: none */
	__s32 fd;
	__u16 kind;
	__u16 iov;      /* buf is a struct iovec array */
	/* Kept from syscall to syscall: */
	__u8 target;    /* passed the pid filter (a target until its process exits) */
	/* Sockets this thread found already described (in seen_sockets), direct
	 * mapped by inode number: an event loop alternates between its connections
	 * (read A, read B, write A, write B), which a single "last socket" missed
	 * most of the time, each miss an LRU hash lookup. */
	__u64 seen[EBT_SC_SEEN_SLOTS];
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct pending);
} pending_sc SEC(".maps");

/* Sockets whose addresses were already sent (user space dedups anyway). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u8);
} seen_sockets SEC(".maps");

/* Twice the largest payload: an iovec's copy starts below EBT_SYSCALL_MAX_PAYLOAD
 * and is shorter than it, which is what the verifier can prove of the masked
 * offset and length. A plain array with one slot per CPU (set by record/), since
 * per-CPU values are limited to 32 KiB. */
struct sc_buf {
	struct ebt_syscall_event e;
	__u8 data[2 * EBT_SYSCALL_MAX_PAYLOAD];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1); /* nr possible CPUs, from record/ */
	__type(key, __u32);
	__type(value, struct sc_buf);
} sc_scratch SEC(".maps");

#define EBT_SC_MAX_IOV 8 /* iovecs copied from per readv/writev/sendmsg/recvmsg */

struct iovec_user {
	__u64 base;
	__u64 len;
};

extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;

/* The struct file that fd names in the current task's file table, or 0. It runs
 * at every read/write of the traced tasks, so it walks BTF pointers from
 * bpf_get_current_task_btf() with plain loads (the verifier guards them like
 * probe reads) instead of one bpf_probe_read_kernel() call per field: only the
 * fd array slot, a pointer to a pointer, needs the helper. */
static __always_inline __u64 fd_file(struct task_struct *task, int fd)
{
	struct files_struct *files = task->files;
	struct fdtable *fdt;
	struct file *f = NULL;

	if (!files || fd < 0)
		return 0;
	fdt = files->fdt;
	if (!fdt || (unsigned int)fd >= fdt->max_fds)
		return 0;
	if (bpf_probe_read_kernel(&f, sizeof(f), &fdt->fd[fd]))
		return 0;
	return (__u64)f;
}

/* The struct sock of file `file` (from fd_file), or NULL when it is not a
 * socket; *ino gets the socket's inode number. */
static __always_inline struct sock *file_sock(__u64 file, __u64 *ino)
{
	struct file *f;
	struct inode *inode;
	struct socket *sock;

	if (!file)
		return NULL;
	f = bpf_rdonly_cast((void *)file, bpf_core_type_id_kernel(struct file));
	inode = f->f_inode;
	if (!inode || (inode->i_mode & S_IFMT) != S_IFSOCK)
		return NULL;
	*ino = inode->i_ino;
	sock = bpf_rdonly_cast(f->private_data, bpf_core_type_id_kernel(struct socket));
	return sock->sk;
}

/* Sends the addresses of socket `id`; returns 1 when it is now in seen_sockets
 * (it need not be sent again). */
static __always_inline int emit_socket(struct sock *sk, __u64 id, int fd, __u64 pid_tgid)
{
	struct ebt_socket_event *e;
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	__u16 remote_port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	__u8 one = 1;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		ebt_count_lost(EBT_LOST_RINGBUF);
		return 0;
	}
	ebt_fill_header(&e->h, EBT_EV_SOCKET, sizeof(*e), pid_tgid);
	e->socket_id = id;
	e->fd = fd;
	e->family = family;
	e->protocol = BPF_CORE_READ(sk, sk_protocol);
	e->local_port = BPF_CORE_READ(sk, __sk_common.skc_num);
	e->remote_port = remote_port;
	e->netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
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
	if (remote_port != 0 || (family != AF_INET && family != AF_INET6)) {
		bpf_map_update_elem(&seen_sockets, &id, &one, BPF_ANY);
		return 1;
	}
	return 0;
}

/* The last task on this CPU that the pid filter refused, by address and start
 * time (an address alone could be a later task's). A client on the same machine
 * as its traced server (redis-benchmark) makes as many of these syscalls as the
 * server; without this each of them hashed its tgid into `targets`, 60 % of
 * their programs' time. Whether a running task's process is a target never
 * changes while the probes are attached: user space fills `targets` before
 * attaching, and bpf/task.bpf.c adds only new processes (children of targets,
 * added before they first run). */
struct refused {
	__u64 task;
	__u64 start_time;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct refused);
} last_refused SEC(".maps");

/* The common task filter (ebt_task_wanted) for a thread whose own storage may
 * already say that its process is a target: a target stays one until its last
 * thread exits (bpf/task.bpf.c), so the targets hash is asked once per thread
 * instead of at every syscall, and not again for the task last refused on this
 * CPU. --comm and --cgroup are asked every time (an exec renames a task, tasks
 * move between cgroups). */
static __always_inline int task_wanted(struct task_struct *task, __u32 tgid, int known_target)
{
	char comm[EBT_TASK_COMM_LEN] = {};

	if (ebt_filter.by_pid && !known_target) {
		__u32 zero = 0;
		struct refused *r = bpf_map_lookup_elem(&last_refused, &zero);

		if (r && r->task == (__u64)task && r->start_time == task->start_time)
			return 0;
		if (!bpf_map_lookup_elem(&targets, &tgid)) {
			if (r) {
				r->task = (__u64)task;
				r->start_time = task->start_time;
			}
			return 0;
		}
	}
	if (ebt_filter.by_comm) {
		bpf_get_current_comm(comm, sizeof(comm));
		if (!ebt_comm_equal(comm, ebt_filter.comm))
			return 0;
	}
	if (ebt_filter.by_cgroup && bpf_current_task_under_cgroup(&cgroup_filter, 0) != 1)
		return 0;
	return 1;
}

static __always_inline int on_enter(int fd, __u64 buf, __u64 buf_len, __u32 kind, __u16 iov)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct task_struct *task = bpf_get_current_task_btf();
	struct pending *p;
	__u64 now, file;

	/* Every task's syscalls come here: the task filter goes first. Only
	 * recorded threads have storage; a lookup is a pointer walk from current. */
	p = bpf_task_storage_get(&pending_sc, task, 0, 0);
	if (!task_wanted(task, pid_tgid >> 32, p && p->target))
		return 0;
	now = bpf_ktime_get_ns();
	file = fd_file(task, fd);
	if (!file && (sockets_only || port_filter)) {
		/* A syscall whose exit was missed (attached between its enter and
		 * exit) must not lend its record to this one's exit. */
		if (p)
			p->enter_ns = 0;
		return 0;
	}
	if (!p) {
		p = bpf_task_storage_get(&pending_sc, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
		if (!p) {
			ebt_count_lost(EBT_LOST_SYSCALL);
			return 0;
		}
	}
	p->target = 1;
	p->enter_ns = now;
	p->buf = buf;
	p->buf_len = buf_len;
	p->file = file;
	p->fd = fd;
	p->kind = kind;
	p->iov = iov;
	return 0;
}

static __always_inline int on_enter_iov(int fd, __u64 iov_ptr, __u64 vlen, __u32 kind)
{
	return on_enter(fd, payload_bytes ? iov_ptr : 0, vlen, kind, 1);
}

static __always_inline int on_enter_msg(int fd, __u64 msg_ptr, __u32 kind)
{
	struct user_msghdr msg = {};

	if (payload_bytes && msg_ptr)
		bpf_probe_read_user(&msg, sizeof(msg), (void *)msg_ptr);
	return on_enter_iov(fd, (__u64)msg.msg_iov, msg.msg_iovlen, kind);
}

/* Copies len user bytes from src to s->data + off; returns len, or ~0 on a fault. */
static __always_inline __u64 copy_user(struct sc_buf *s, __u64 off, __u64 src, __u64 len)
{
	if (off >= EBT_SYSCALL_MAX_PAYLOAD || len == 0)
		return 0;
	if (len > EBT_SYSCALL_MAX_PAYLOAD)
		len = EBT_SYSCALL_MAX_PAYLOAD;
	/* The masks restate the bounds above in a form the verifier keeps. */
	off &= EBT_SYSCALL_MAX_PAYLOAD - 1;
	len &= 2 * EBT_SYSCALL_MAX_PAYLOAD - 1;
	if (len > EBT_SYSCALL_MAX_PAYLOAD || !src)
		return 0;
	if (bpf_probe_read_user(s->data + off, len, (void *)src))
		return ~0ull;
	return len;
}

static __always_inline int on_exit(long ret, __u32 kind)
{
	struct pending *p;
	struct sc_buf *s;
	struct sock *sk;
	__u32 cpu, slot;
	__u64 now, pid_tgid, n = 0, want, m, ino = 0;
	__u32 size;

	/* No storage (every untraced task), nothing pending, or an enter of
	 * another syscall: not ours. This runs for every task's exits, so it comes
	 * before the clock (a lookup of a few ns). */
	p = bpf_task_storage_get(&pending_sc, bpf_get_current_task_btf(), 0, 0);
	if (!p || !p->enter_ns)
		return 0;
	now = bpf_ktime_get_ns();
	if (p->kind != kind) {
		p->enter_ns = 0;
		return 0;
	}
	pid_tgid = bpf_get_current_pid_tgid();
	sk = file_sock(p->file, &ino);
	if (!sk) {
		ino = 0;
		if (sockets_only)
			goto drop;
	}
	if (port_filter) {
		if (!sk)
			goto drop;
		if (sk->__sk_common.skc_num != port_filter &&
		    bpf_ntohs(sk->__sk_common.skc_dport) != port_filter)
			goto drop;
	}
	/* Sockets are described before their first event (seen_sockets: once
	 * per recording, unless the LRU forgot them; user space dedups). */
	slot = ino & (EBT_SC_SEEN_SLOTS - 1);
	if (sk && p->seen[slot] != ino) {
		if (bpf_map_lookup_elem(&seen_sockets, &ino) || emit_socket(sk, ino, p->fd, pid_tgid))
			p->seen[slot] = ino;
	}
	cpu = bpf_get_smp_processor_id();
	s = bpf_map_lookup_elem(&sc_scratch, &cpu);
	if (!s)
		goto drop;
	s->e.h.flags = 0;
	if (payload_bytes && ret > 0 && p->buf) {
		want = ret;
		if (want > payload_bytes)
			want = payload_bytes;
		if (want > EBT_SYSCALL_MAX_PAYLOAD)
			want = EBT_SYSCALL_MAX_PAYLOAD;
		if (!p->iov) {
			n = copy_user(s, 0, p->buf, want < p->buf_len ? want : p->buf_len);
		} else {
			for (__u32 i = 0; i < EBT_SC_MAX_IOV && i < p->buf_len && n < want; i++) {
				struct iovec_user v;
				if (bpf_probe_read_user(&v, sizeof(v), (void *)(p->buf + i * sizeof(v)))) {
					n = ~0ull;
					break;
				}
				if (v.len > want - n)
					v.len = want - n;
				m = copy_user(s, n, v.base, v.len);
				if (m == ~0ull) {
					n = ~0ull;
					break;
				}
				n += m;
			}
		}
		if (n == ~0ull) {
			n = 0;
			s->e.h.flags = EBT_SC_FLAG_PAYLOAD_FAULT;
		}
	}
	size = sizeof(s->e) + n;
	/* The header by hand: ebt_fill_header() would read the clock again. */
	s->e.h.kind = EBT_EV_SYSCALL;
	s->e.h.size = size;
	s->e.h.time_ns = now;
	s->e.h.pid = pid_tgid >> 32;
	s->e.h.tid = (__u32)pid_tgid;
	s->e.h.cpu = cpu;
	s->e.h.reserved = 0;
	s->e.enter_ns = p->enter_ns;
	s->e.socket_id = ino;
	s->e.fd = p->fd;
	s->e.syscall = p->kind;
	s->e.ret = ret;
	s->e.payload_len = n;
	p->enter_ns = 0;
	ebt_output(s, size, sizeof(*s));
	return 0;
drop:
	p->enter_ns = 0;
	return 0;
}

/* syscalls:sys_enter_* share this layout: args at offset 16, 8 bytes each. */
#define ARG(ctx, i) ((ctx)->args[i])

SEC("tracepoint/syscalls/sys_enter_read")
int ebt_enter_read(struct trace_event_raw_sys_enter *ctx)
{ return on_enter(ARG(ctx, 0), ARG(ctx, 1), ARG(ctx, 2), EBT_SC_READ, 0); }

SEC("tracepoint/syscalls/sys_enter_write")
int ebt_enter_write(struct trace_event_raw_sys_enter *ctx)
{ return on_enter(ARG(ctx, 0), ARG(ctx, 1), ARG(ctx, 2), EBT_SC_WRITE, 0); }

SEC("tracepoint/syscalls/sys_enter_readv")
int ebt_enter_readv(struct trace_event_raw_sys_enter *ctx)
{ return on_enter_iov(ARG(ctx, 0), ARG(ctx, 1), ARG(ctx, 2), EBT_SC_READV); }

SEC("tracepoint/syscalls/sys_enter_writev")
int ebt_enter_writev(struct trace_event_raw_sys_enter *ctx)
{ return on_enter_iov(ARG(ctx, 0), ARG(ctx, 1), ARG(ctx, 2), EBT_SC_WRITEV); }

SEC("tracepoint/syscalls/sys_enter_sendto")
int ebt_enter_sendto(struct trace_event_raw_sys_enter *ctx)
{ return on_enter(ARG(ctx, 0), ARG(ctx, 1), ARG(ctx, 2), EBT_SC_SENDTO, 0); }

SEC("tracepoint/syscalls/sys_enter_recvfrom")
int ebt_enter_recvfrom(struct trace_event_raw_sys_enter *ctx)
{ return on_enter(ARG(ctx, 0), ARG(ctx, 1), ARG(ctx, 2), EBT_SC_RECVFROM, 0); }

SEC("tracepoint/syscalls/sys_enter_sendmsg")
int ebt_enter_sendmsg(struct trace_event_raw_sys_enter *ctx)
{ return on_enter_msg(ARG(ctx, 0), ARG(ctx, 1), EBT_SC_SENDMSG); }

SEC("tracepoint/syscalls/sys_enter_recvmsg")
int ebt_enter_recvmsg(struct trace_event_raw_sys_enter *ctx)
{ return on_enter_msg(ARG(ctx, 0), ARG(ctx, 1), EBT_SC_RECVMSG); }

#define EXIT_PROG(name, kind)                                             \
	SEC("tracepoint/syscalls/sys_exit_" #name)                        \
	int ebt_exit_##name(struct trace_event_raw_sys_exit *ctx)         \
	{ return on_exit(ctx->ret, kind); }

EXIT_PROG(read, EBT_SC_READ)
EXIT_PROG(write, EBT_SC_WRITE)
EXIT_PROG(readv, EBT_SC_READV)
EXIT_PROG(writev, EBT_SC_WRITEV)
EXIT_PROG(sendto, EBT_SC_SENDTO)
EXIT_PROG(recvfrom, EBT_SC_RECVFROM)
EXIT_PROG(sendmsg, EBT_SC_SENDMSG)
EXIT_PROG(recvmsg, EBT_SC_RECVMSG)

char LICENSE[] SEC("license") = "GPL";
