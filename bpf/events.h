/* The one kernel -> user ABI of ebtrace.
 *
 * Included by every bpf/<family>.bpf.c and by record/. Only fixed-width types and
 * explicit padding: no bool, long, pointers or bitfields, so the BPF and host
 * compilers cannot disagree on a layout. bpf/events_abi.h asserts every size and
 * field offset, on both sides.
 *
 * Every event starts with struct ebt_event_header; `size` covers the whole event
 * including any variable tail (stack frames, payload bytes).
 */
#ifndef EBTRACE_BPF_EVENTS_H
#define EBTRACE_BPF_EVENTS_H

#ifdef __BPF__
/* vmlinux.h already provides __u8 ... __u64 */
#else
#include <linux/types.h>
#endif

#define EBT_TASK_COMM_LEN 16
#define EBT_MAX_STACK_DEPTH 127
#define EBT_MAX_TARGETS 16384 /* entries of the shared `targets` map */

enum ebt_event_kind {
	EBT_EV_CPU_SAMPLE = 1,
	EBT_EV_OFFCPU = 2,
	EBT_EV_SYSCALL = 3,
	EBT_EV_SKB_HOP = 4,
	EBT_EV_TASK = 5,    /* fork / exec / exit / rename */
	EBT_EV_MMAP = 6,    /* an executable mapping appeared */
	EBT_EV_SOCKET = 7,  /* first sighting of a socket (syscalls family) */
	EBT_EV_CPU_SAMPLE_DWARF = 8, /* --call-graph dwarf: user regs + stack bytes */
	EBT_EV_LUA_STACK = 9,   /* --lua: raw LuaJIT frames of the next dwarf sample */
	EBT_EV_TCP = 10,        /* --tcp: a connection's state change, retransmit, reset, accept */
};

/* Reasons indexing the per-CPU `lost` counter array shared by all programs:
 * WHY an event was lost, the same in every family (record/loss.h). A full ring
 * is always EBT_LOST_RINGBUF (ebt_output(), or by hand after a failed
 * bpf_ringbuf_reserve()). */
enum ebt_lost_reason {
	EBT_LOST_RINGBUF = 0, /* the ring buffer was full */
	EBT_LOST_STACK = 1,   /* bpf_get_stack failed: the event is kept without it */
	EBT_LOST_OFFCPU = 2,  /* the off-CPU task table was full */
	EBT_LOST_SYSCALL = 3, /* no task storage for a syscall in flight */
	EBT_LOST_SCHED = 4,   /* --sched: a full table (wake-up stamps or aggregates) */
	/* 5, 6: no longer used (task and Lua stack events that did not fit the ring); 4 was skb's */
	EBT_LOST_MAX = 8,
};

struct ebt_event_header {
	__u16 kind;   /* enum ebt_event_kind */
	__u16 flags;
	__u32 size;   /* bytes of the whole event */
	__u64 time_ns;
	__u32 pid;    /* tgid */
	__u32 tid;
	__u32 cpu;
	__u32 reserved;
};

/* The common task filter, in every object's rodata as `ebt_filter` (set by
 * record/ before load; see bpf/maps.bpf.h ebt_task_wanted()). */
struct ebt_filter {
	__u8 by_pid;   /* only tgids present in the `targets` map */
	__u8 by_comm;  /* only tasks whose comm equals `comm` */
	__u8 by_cgroup; /* only tasks under the cgroup in `cgroup_filter` (--cgroup, --container) */
	__u8 pad[5];
	char comm[EBT_TASK_COMM_LEN];
};

/* Frame-pointer stacks lose the caller of a leaf function that sets up no frame
 * (a libc syscall wrapper, memcpy, the vDSO): the walk starts at the caller's
 * frame pointer. With leaf repair (fp mode, the default) the event also carries
 * the user registers and the first stack_size bytes of the user stack from sp
 * up; record/leaf_repair.h unwinds the leaf frames with their CFI and splices
 * the frame-pointer chain after them. */
#define EBT_LEAF_MAX_STACK 1024 /* --leaf-stack-bytes upper bound */

/* EBT_EV_CPU_SAMPLE: followed by kernel_frames + user_frames __u64 addresses,
 * then stack_size bytes of user stack (the bytes at sp, sp+1, ...). ip/sp/bp
 * are valid when h.flags has EBT_DWARF_F_USER_REGS. */
struct ebt_cpu_sample {
	struct ebt_event_header h;
	__u64 cgroup_id;
	char comm[EBT_TASK_COMM_LEN];
	__u32 kernel_frames; /* count, may be 0 */
	__u32 user_frames;
	/* __u64 frames[kernel_frames + user_frames]; kernel first, leaf first */
	__u64 ip;
	__u64 sp;
	__u64 bp;
	__u64 mm_start_stack; /* task->mm->start_stack: changes with every exec */
	__u32 stack_size;    /* bytes of user stack after the frames (0: no leaf repair) */
	__u32 reserved;
};

/* EBT_EV_CPU_SAMPLE_DWARF (--call-graph dwarf, bpf/profile_dwarf.bpf.c): the
 * kernel stack as in EBT_EV_CPU_SAMPLE, plus the user registers x86_64 unwinding
 * starts from and a copy of the user stack from sp upwards; record/ unwinds it
 * with libdw (record/dwarf_unwinder.h). Followed by __u64 kernel[kernel_frames]
 * (leaf first), then __u8 stack[stack_size] (the bytes at sp, sp+1, ...). */
#define EBT_DWARF_MAX_STACK 65528      /* --call-graph dwarf,SIZE upper bound */
#define EBT_DWARF_F_USER_REGS 0x1      /* h.flags: ip/sp/bp are valid user registers */
struct ebt_cpu_sample_dwarf {
	struct ebt_event_header h;
	__u64 cgroup_id;
	char comm[EBT_TASK_COMM_LEN];
	__u64 ip;
	__u64 sp;
	__u64 bp;
	__u64 mm_start_stack; /* task->mm->start_stack: changes with every exec */
	__u32 kernel_frames;
	__u32 stack_size;     /* bytes of user stack that follow the kernel frames */
};

enum ebt_task_op {
	EBT_TASK_FORK = 1,  /* new process (thread group) */
	EBT_TASK_CLONE = 2, /* new thread */
	EBT_TASK_EXEC = 3,
	EBT_TASK_EXIT = 4,  /* thread exit; pid == tid means the group leader */
	EBT_TASK_COMM = 5,  /* comm changed */
};

/* EBT_EV_TASK */
struct ebt_task_event {
	struct ebt_event_header h;
	__u32 op;          /* enum ebt_task_op */
	__u32 parent_pid;  /* fork/clone: the parent's tgid */
	__s32 exit_code;
	__u32 ns_pid;      /* fork: the new process's pid in its own pid namespace (0: the host's) */
	char comm[EBT_TASK_COMM_LEN];
};

/* EBT_EV_MMAP: an executable mapping was created; user space rereads maps. */
struct ebt_mmap_event {
	struct ebt_event_header h;
	__u64 addr;
	__u64 len;
};

/* Syscalls family (bpf/syscalls.bpf.c). Values equal ebt::SyscallKind. */
enum ebt_syscall_kind {
	EBT_SC_READ = 0,
	EBT_SC_WRITE = 1,
	EBT_SC_READV = 2,
	EBT_SC_WRITEV = 3,
	EBT_SC_SENDTO = 4,
	EBT_SC_RECVFROM = 5,
	EBT_SC_SENDMSG = 6,
	EBT_SC_RECVMSG = 7,
};

#define EBT_SYSCALL_MAX_PAYLOAD 16384 /* --payload-bytes upper bound; a power of two */
#define EBT_SC_FLAG_PAYLOAD_FAULT 0x1 /* the user buffer could not be read */

/* EBT_EV_SYSCALL: one read/write-family syscall; h.time_ns is the exit time.
 * Followed by payload_len bytes: the first bytes actually transferred
 * (min(--payload-bytes, ret), across the first 8 iovecs of the vector calls),
 * read on the exit side. */
struct ebt_syscall_event {
	struct ebt_event_header h;
	__u64 enter_ns;
	__u64 socket_id;   /* socket inode number (as in /proc/PID/fd); 0: not a socket */
	__s64 ret;
	__s32 fd;
	__u16 syscall;     /* enum ebt_syscall_kind */
	__u16 payload_len;
	/* __u8 payload[payload_len]; */
};

/* EBT_EV_SOCKET: the addresses of a socket, sent the first time the syscalls
 * family sees it (and again while it is not yet connected). */
struct ebt_socket_event {
	struct ebt_event_header h;
	__u64 socket_id;
	__s32 fd;
	__u16 family;      /* AF_INET / AF_INET6 / AF_UNIX ... */
	__u16 protocol;    /* IPPROTO_TCP / IPPROTO_UDP */
	__u16 local_port;  /* host order */
	__u16 remote_port; /* host order */
	__u32 netns;       /* inode number of the socket's network namespace (0: not read) */
	__u8 local_addr[16];  /* network order; the first 4 bytes for AF_INET */
	__u8 remote_addr[16];
};

/* EBT_EV_OFFCPU: one off-CPU interval of a task, emitted when it runs again.
 * h.time_ns is the switch-in time, h.cpu the CPU it came back on, h.pid/h.tid
 * the task. Followed by kernel_frames + user_frames addresses of the stack it
 * blocked in, then waker_kernel_frames + waker_user_frames of the waker's stack
 * (only with --off-cpu-waker), each leaf first. */
enum ebt_offcpu_state {
	EBT_OFFCPU_PREEMPTED = 0,     /* left the CPU runnable (R) */
	EBT_OFFCPU_SLEEPING = 1,      /* S */
	EBT_OFFCPU_UNINTERRUPTIBLE = 2, /* D */
	EBT_OFFCPU_OTHER = 3,         /* idle kthread (I), stopped, traced, ... */
};

struct ebt_offcpu_event {
	struct ebt_event_header h;
	__u64 start_ns;       /* switch-out */
	__u64 wakeup_ns;      /* sched_waking; 0 if not woken (preempted) or unseen */
	__u32 state;          /* enum ebt_offcpu_state */
	__u32 waker_pid;      /* 0: not woken (preempted), waker unseen, or idle;
	                       * from an interrupt: whatever task it interrupted */
	__u32 waker_tid;
	__u32 kernel_frames;
	__u32 user_frames;
	__u32 waker_kernel_frames;
	__u32 waker_user_frames;
	__u32 reserved;
	char comm[EBT_TASK_COMM_LEN];
	/* The user registers at switch-out / at the wake-up (valid when nonzero ip)
	 * and the bytes of user stack from sp up that follow the frames:
	 * stack_size bytes of the blocked task's, then waker_stack_size of the
	 * waker's. fp mode: a small slice for leaf repair (user_frames hold the
	 * frame-pointer chain); --call-graph dwarf: SIZE bytes and no user frames. */
	__u64 ip, sp, bp;
	__u64 mm_start_stack;       /* changes with every exec (record/dwarf_unwinder.h) */
	__u64 waker_ip, waker_sp, waker_bp;
	__u64 waker_mm_start_stack;
	__u32 stack_size;
	__u32 waker_stack_size;
};
#define EBT_OFFCPU_MAX_STACK 16384 /* --off-cpu --call-graph dwarf,SIZE upper bound */

/* EBT_EV_SKB_HOP (--skb, bpf/skb.bpf.c): one packet (sk_buff) seen at one
 * hook of the network stack. Followed by __u64 kernel[kernel_frames]. */
enum ebt_skb_hook {
	EBT_SKB_NET_DEV_QUEUE = 0,   /* net:net_dev_queue: handed to a device queue */
	EBT_SKB_START_XMIT = 1,      /* net:net_dev_start_xmit: driver transmit starts */
	EBT_SKB_XMIT = 2,            /* net:net_dev_xmit: driver transmit returned */
	EBT_SKB_NETIF_RX = 3,        /* net:netif_rx: queued to the receive backlog */
	EBT_SKB_NETIF_RECEIVE = 4,   /* net:netif_receive_skb: enters the receive path */
	EBT_SKB_GRO_RECEIVE = 5,     /* net:napi_gro_receive_entry */
	EBT_SKB_COPY_DATAGRAM = 6,   /* skb:skb_copy_datagram_iovec: payload copied to a reader */
	EBT_SKB_KFREE = 7,           /* skb:kfree_skb: dropped (reason) */
	EBT_SKB_CONSUME = 8,         /* skb:consume_skb: freed after normal use */
	EBT_SKB_HOOK_COUNT = 9,
};
#define EBT_SKB_F_NEW_PACKET 0x1   /* h.flags: the first hop of a packet at this address */
#define EBT_SKB_DEV_LEN 16
struct ebt_skb_hop {
	struct ebt_event_header h;
	__u64 skb;            /* address: ties the hops of one packet together */
	__u64 location;       /* kfree/consume: the kernel code that freed it */
	__u32 hook;           /* enum ebt_skb_hook */
	__u32 reason;         /* kfree_skb: enum skb_drop_reason */
	__u32 ifindex;        /* of skb->dev (0: none) */
	__u32 netns;          /* inode number of the device's (or socket's) network namespace */
	__u32 len;            /* skb->len */
	__u16 protocol;       /* ethertype, host order */
	__u8 l4_proto;        /* IPPROTO_* (0: not parsed) */
	__u8 ip_version;      /* 4, 6, or 0 */
	__u8 saddr[16];       /* network order; 4 bytes used for IPv4 */
	__u8 daddr[16];
	__u16 sport;          /* host order (TCP/UDP) */
	__u16 dport;
	char dev[EBT_SKB_DEV_LEN];
	__u32 kernel_frames;
	__u32 pad[2];
	/* __u64 kernel[kernel_frames]; leaf first */
};

/* --lua (bpf/lua.bpf.h, record/lua_*): LuaJIT frames.
 *
 * Per process, record/ puts a struct ebt_lua_config into the `lua_procs` map
 * (key: tgid) once it has identified the LuaJIT VM the process maps: where the
 * interpreter is, GC64 or not, and the struct offsets of that build. The dwarf
 * sampler then walks the Lua stack of the sampled thread and sends, just before
 * the EBT_EV_CPU_SAMPLE_DWARF it belongs to (same tid and time_ns), one
 * EBT_EV_LUA_STACK holding raw frames; names are made offline. */
#define EBT_LUA_MAX_FRAMES 48
#define EBT_LUA_MAX_PROCS 1024

struct ebt_lua_config {
	__u64 interp_start;   /* [start, end): the interpreter blob, absolute addresses */
	__u64 interp_end;
	__u64 g;              /* last validated global_State (written by BPF) */
	__u8 gc64;            /* 1: 64-bit GC refs and two-slot frames (LJ_GC64/LJ_FR2) */
	__u8 pad[3];
	__u32 g2disp;         /* GG_G2DISP: r14 (DISPATCH) - G */
	/* byte offsets */
	__u16 l_glref, l_base, l_stack, l_maxstack, l_cframe;
	__u16 g_vmstate, g_cur_l, g_jit_base;
	__u16 gc_marked;      /* GC header: marked (gct, ffid/ numparams follow) */
	__u16 fn_pc, fn_f;    /* GCfuncL.pc, GCfuncC.f */
	__u16 pt_size;        /* sizeof(GCproto): bytecode starts there */
	__u16 pt_chunkname;   /* 16 bytes from here fingerprint a proto */
	__u16 cf_pc, cf_l, cf_prev, cf_size; /* C frame: SAVE_PC, SAVE_L, SAVE_CFRAME, CFRAME_SIZE */
	__u16 pad2[3];
	/* counters written by BPF (atomic adds) */
	__u64 samples;        /* samples of this process the walk looked at */
	__u64 no_g;           /* no valid global_State found: native frames only */
	__u64 idle;           /* VM not running Lua (stale cur_L): no Lua frames, none sent */
};

enum ebt_lua_frame_kind {
	EBT_LUA_FRAME_LUA = 1,  /* obj = GCproto address, pc = bytecode PC (0: unknown) */
	EBT_LUA_FRAME_C = 2,    /* obj = lua_CFunction address */
	EBT_LUA_FRAME_FAST = 3, /* obj = fast-function id (builtin#ffid) */
};
#define EBT_LUA_FRAME_F_RESUMED 0x1 /* first frame of a coroutine's resumer (over the hop) */

struct ebt_lua_frame {
	__u64 obj;
	__u64 pc;          /* Lua: leaf PC (rbx / SAVE_PC) or the callee's return PC */
	__u32 fp;          /* Lua: fingerprint of the proto header (detects address reuse) */
	__u8 kind;         /* enum ebt_lua_frame_kind */
	__u8 link_type;    /* frame link & 7: FRAME_LUA 0/4, C 1, CONT 2, VARG 3, CP 5, PCALL 6/7 */
	__u8 flags;        /* EBT_LUA_FRAME_F_* */
	__u8 pad;
};

#define EBT_LUA_F_TRUNCATED 0x1 /* EBT_LUA_MAX_FRAMES reached before the stack bottom */
#define EBT_LUA_F_BAD 0x2       /* an inconsistent frame stopped the walk (frames before it kept) */
#define EBT_LUA_F_BOTTOM 0x4    /* the walk reached the bottom of the (last) Lua stack */
#define EBT_LUA_F_JIT_BASE 0x8  /* base from G->jit_base (a trace or GC from a trace) */
#define EBT_LUA_F_INTERP 0x10   /* ip in the interpreter: base = rdx, leaf pc = rbx */
/* Set by record/ (from the stack copy): the innermost VM C frame runs no Lua
 * function (lj_vm_cpcall of the JIT's trace exit or trace compiler), so the
 * first Lua frames belong to the activation below it. */
#define EBT_LUA_F_CFRAME_NO_FRAME 0x20

/* EBT_EV_LUA_STACK: followed by struct ebt_lua_frame frames[nframes], leaf first. */
struct ebt_lua_stack {
	struct ebt_event_header h;
	__u64 g;
	__u64 l;
	__u64 cframe;       /* L->cframe with its flag bits */
	__s32 vmstate;      /* ~LJ_VMST_*: -1 interp, -2 C, -3 GC, -4 exit, -5..-7 compiler; >= 0 trace */
	__u32 nframes;
	__u32 flags;        /* EBT_LUA_F_* */
	__u32 pad;
};

/* --tcp (bpf/tcp.bpf.c, record/tcp_probe.*): TCP connection lifecycle. */
enum ebt_tcp_event_type {
	EBT_TCP_STATE = 0,        /* sock:inet_sock_set_state: old_state -> new_state (TCP_* numbers) */
	EBT_TCP_RETRANSMIT = 1,   /* tcp:tcp_retransmit_skb */
	EBT_TCP_SEND_RESET = 2,   /* tcp:tcp_send_reset (on a socket) */
	EBT_TCP_RECV_RESET = 3,   /* tcp:tcp_receive_reset */
	EBT_TCP_ACCEPT = 4,       /* accept()/accept4() returned the socket: h.pid/h.tid own it */
	EBT_TCP_TYPE_COUNT = 5,
};
#define EBT_TCP_F_OWNER 0x1    /* h.pid, h.tid and comm are the socket's owner (else 0: unknown yet) */
#define EBT_TCP_F_STATS 0x2    /* the counters are set (a full TCP socket) */
#define EBT_TCP_F_UNWANTED 0x4 /* ACCEPT by a task the filters drop: forget the socket */

/* EBT_EV_TCP. h.pid/h.tid are the owner (EBT_TCP_F_OWNER), never the task a
 * softirq interrupted. Addresses and ports: local and remote of the socket. */
struct ebt_tcp_event {
	struct ebt_event_header h;
	__u64 cookie;         /* socket cookie: unique for the socket's life */
	__u64 socket_ino;     /* inode of its struct socket (the syscalls family's socket id); 0: none */
	__u64 bytes_sent;     /* STATS: payload bytes sent, retransmissions excluded */
	__u64 bytes_received; /* STATS: payload bytes received in order, FIN excluded */
	__u64 bytes_retrans;  /* STATS: payload bytes retransmitted */
	__u64 srtt_ns;        /* STATS: smoothed RTT (at a passive open's ESTABLISHED: the SYN-ACK's RTT) */
	__u32 segs_out;       /* STATS */
	__u32 segs_in;
	__u32 retransmits;    /* STATS: total_retrans */
	__u32 netns;          /* network namespace inode */
	__u16 sport;          /* local port, host order */
	__u16 dport;          /* remote port */
	__u8 type;            /* enum ebt_tcp_event_type */
	__u8 old_state;
	__u8 new_state;
	__u8 family;          /* 4 or 6 */
	__u8 saddr[16];       /* local address, network order (4 bytes for IPv4) */
	__u8 daddr[16];       /* remote */
	char comm[EBT_TASK_COMM_LEN]; /* the owner's */
};

/* --sched (bpf/sched.bpf.c, record/sched_probe.*): scheduler latency,
 * aggregated in the kernel (no ring-buffer events). record/ reads the maps
 * every second and writes what changed. Map keys and values: */

/* Run-queue latency histogram slots: quarter octaves of nanoseconds. Slot s < 8
 * holds exactly s ns; above, slot 4 * (l - 1) + m holds [(4 + m) << (l - 2),
 * (5 + m) << (l - 2)) for l = floor(log2(ns)), m = the two bits below the top
 * one. The last slot also takes everything above (about 1100 s). */
#define EBT_RQ_SLOTS 160

/* sched_rq: one histogram per (thread, CPU it was switched in on). */
struct ebt_rq_key {
	__u32 pid;   /* tgid */
	__u32 tid;
	__u32 cpu;
	__u32 pad;
};

struct ebt_rq_hist {
	__u64 total_ns;   /* sum of the latencies */
	__u64 max_ns;     /* since the recording started */
	__u64 last_ns;    /* its latest switch-in */
	char comm[EBT_TASK_COMM_LEN]; /* then (names threads gone by the next read) */
	__u64 slots[EBT_RQ_SLOTS];
};

/* sched_preempt: involuntary switch-outs of a recorded thread (it left the CPU
 * runnable) by the task that took the CPU. */
struct ebt_preempt_key {
	__u32 pid;       /* the preempted thread */
	__u32 tid;
	__u32 by_pid;    /* the task switched in */
	__u32 by_tid;
};

struct ebt_preempt_val {
	__u64 count;
	char by_comm[EBT_TASK_COMM_LEN]; /* the preemptor's comm at its first preemption */
};

/* sched_cgswitch: switches between two tasks (neither idle, one recorded) per
 * CPU and pair of cgroups (ids of the hierarchy record/ chose: the cpu
 * controller's, v1 or v2). Same-cgroup pairs too: they are the denominator. */
struct ebt_cgswitch_key {
	__u32 cpu;
	__u32 pad;
	__u64 prev_cgroup;
	__u64 next_cgroup;
};

/* sched_cgrun (per CPU, one slot): switches within cgroup `cgroup` on that CPU
 * not yet added to sched_cgswitch's (cpu, cgroup, cgroup) entry; they are added
 * when that CPU next switches within another cgroup. */
struct ebt_cgrun {
	__u64 seq;    /* odd while the run is being moved to sched_cgswitch */
	__u64 cgroup;
	__u64 count;
};

/* Every size and field offset above, asserted on both sides. */
#include "events_abi.h"

#endif /* EBTRACE_BPF_EVENTS_H */
