// SPDX-License-Identifier: GPL-2.0
/* Off-CPU intervals: sched_switch remembers when and where (stack) a wanted task
 * left the CPU, sched_waking who woke it, and the next switch-in of that task
 * emits one EBT_EV_OFFCPU if it was away for at least `min_ns`.
 *
 * Two attachments of the same logic: tp_btf (cheaper: no trace-event record is
 * built, task fields are plain loads) and the classic tracepoint as a
 * fallback; record/ loads one of them.
 * The per-task state lives in a hash map keyed by tid whose entries are reused
 * from one switch to the next (no allocation on the hot path) and removed when
 * the task dies, so the map is bounded by the number of live wanted threads.
 */
#include "bpf/maps.bpf.h"
#include "bpf/user_stack.bpf.h"
#include "bpf/lua.bpf.h"
#include "bpf/sched_state.bpf.h"

#define STACK_BYTES (EBT_MAX_STACK_DEPTH * sizeof(__u64))

const volatile __u64 min_ns = 1000 * 1000;
const volatile __u8 waker_stacks = 0;
/* User stack bytes copied with the registers at switch-out (and wake-up):
 * fp mode, for leaf repair (at most EBT_LEAF_MAX_STACK, 0: none); with
 * `dwarf` set, --call-graph dwarf,SIZE (at most EBT_OFFCPU_MAX_STACK) and no
 * frame-pointer walk of the user stack. */
const volatile __u32 ustack_bytes = 0;
const volatile __u8 dwarf = 0;
/* Kernel frames to skip on top of every stack (BPF_F_SKIP_FIELD_MASK). record/
 * leaves it 0 and trims the tracing machinery itself, whose depth varies. */
const volatile __u32 kstack_skip = 0;

struct task_entry {
	__u64 start_ns;  /* 0: on CPU (or never seen leaving it) */
	__u64 wakeup_ns;
	__u32 pid;
	__u32 state;
	__u32 waker_pid;
	__u32 waker_tid;
	__u32 kbytes;
	__u32 ubytes;
	__u64 frames[2 * EBT_MAX_STACK_DEPTH];
	struct ebt_uregs regs;
	__u32 sbytes;  /* user stack bytes in leaf[] (fp) or in the offcpu_dwarf entry */
	__u32 stack_lost; /* dwarf: no offcpu_dwarf entry for the copy (counted if the interval is kept) */
	__u8 leaf[2 * EBT_LEAF_MAX_STACK];
};

struct waker_entry {
	__u64 interval_start; /* start_ns of the interval this wake-up ended */
	__u32 kbytes;
	__u32 ubytes;
	__u64 frames[2 * EBT_MAX_STACK_DEPTH];
	struct ebt_uregs regs;
	__u32 sbytes;
	__u32 stack_lost;
	__u8 leaf[2 * EBT_LEAF_MAX_STACK];
};

/* --call-graph dwarf: the user stack copies, per blocked thread and per wakee
 * (max_entries 1 when unused, else set by record/). Room for the copy's slack
 * (ebt_copy_user_stack).
 * Preallocated: an entry is 20 KiB, and allocating one on demand (as
 * BPF_F_NO_PREALLOC does, from the switch itself) is an order-3 atomic
 * allocation that fails for long stretches on a fragmented machine. When it
 * did, the copy was skipped without a word: off-CPU dwarf looked cheaper than
 * fp (no copy at all) and the intervals came without user stacks. Now a thread
 * that finds no room is counted (lost: stack) for each interval it keeps. */
struct dwarf_stack {
	__u8 bytes[EBT_OFFCPU_MAX_STACK + EBT_PAGE];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dwarf_stack);
} offcpu_dwarf SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dwarf_stack);
} offcpu_waker_dwarf SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 16384); /* --off-cpu-tasks; full -> EBT_LOST_OFFCPU */
	__type(key, __u32);
	__type(value, struct task_entry);
} offcpu_tasks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 16384); /* set to 1 when waker stacks are off */
	__type(key, __u32);
	__type(value, struct waker_entry);
} offcpu_wakers SEC(".maps");

/* Event assembly (ring buffer reservations must have a constant size) and a
 * template for new map entries. Too big for a per-CPU array value with the
 * dwarf stacks: a plain array with one slot per CPU (max_entries set by
 * record/ at load); sched_switch does not nest on one CPU. */
struct event_buf {
	struct ebt_offcpu_event e;
	__u64 frames[4 * (EBT_MAX_STACK_DEPTH + 1)];
	__u8 stacks[2 * EBT_OFFCPU_MAX_STACK];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct event_buf);
} offcpu_scratch SEC(".maps");

/* The user registers and stack bytes of the current task into `r` / `leaf`
 * (fp) or the dwarf map entry of `key`; returns the bytes copied. *lost: the
 * dwarf entry could not be made (table full, or no memory for it). */
static __always_inline __u32 save_user_stack(struct ebt_uregs *r, __u8 *leaf, void *dwarf_map, __u32 key,
					     __u32 *lost)
{
	__u32 want;

	*lost = 0;
	if (!ustack_bytes || !ebt_current_uregs(r))
		return 0;
	want = ebt_user_stack_want(r, ustack_bytes);
	if (dwarf) {
		struct dwarf_stack *d = bpf_map_lookup_elem(dwarf_map, &key);
		if (!d) {
			__u32 zero = 0;
			void *t = bpf_map_lookup_elem(&offcpu_scratch, &zero); /* zero enough: only read up to sbytes */
			if (!t || bpf_map_update_elem(dwarf_map, &key, t, BPF_NOEXIST)) {
				*lost = 1;
				return 0;
			}
			d = bpf_map_lookup_elem(dwarf_map, &key);
			if (!d)
				return 0;
		}
		return ebt_copy_user_stack(d->bytes, r->sp, want, EBT_OFFCPU_MAX_STACK);
	}
	return ebt_copy_user_stack(leaf, r->sp, want, EBT_LEAF_MAX_STACK);
}

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct task_entry);
} offcpu_template SEC(".maps");

/* Per-CPU counters read by user space at the end (enum offcpu_stat). */
enum offcpu_stat { STAT_EMITTED = 0, STAT_SHORT = 1, STAT_SHORT_NS = 2, STAT_MAX = 4 };

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} offcpu_stats SEC(".maps");

static __always_inline void stat_add(__u32 which, __u64 v)
{
	__u64 *n = bpf_map_lookup_elem(&offcpu_stats, &which);
	if (n)
		*n += v;
}

/* --lua: the Lua stack each blocked thread of a LuaJIT process left the CPU in,
 * walked at switch-out (bpf/lua.bpf.h, from the user registers saved at kernel
 * entry) and sent just before its interval's event, with the same time and tid.
 * The header's time_ns holds the start of the interval it belongs to until
 * then. max_entries 1 when --lua is off. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct lua_buf);
} offcpu_lua SEC(".maps");

static __always_inline void lua_switch_out(__u32 tgid, __u32 tid)
{
	struct task_entry *e;
	struct pt_regs *u;
	struct lua_buf *b;

	if (!lua_enabled || !bpf_map_lookup_elem(&lua_procs, &tgid))
		return;
	e = bpf_map_lookup_elem(&offcpu_tasks, &tid);
	if (!e || e->start_ns == 0)
		return;
	u = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	b = ebt_lua_walk(tgid, BPF_CORE_READ(u, ip), BPF_CORE_READ(u, sp), BPF_CORE_READ(u, r14),
			 BPF_CORE_READ(u, dx), BPF_CORE_READ(u, bx), 0);
	if (!b) {
		bpf_map_delete_elem(&offcpu_lua, &tid);
		return;
	}
	b->s.h.time_ns = e->start_ns;
	if (bpf_map_update_elem(&offcpu_lua, &tid, b, BPF_ANY))
		ebt_count_lost(EBT_LOST_OFFCPU);
}

/* The Lua stack of the interval (tid, start) that ends now, if walked. */
static __always_inline void lua_switch_in(__u32 tid, __u64 start, const struct ebt_event_header *ih)
{
	struct lua_buf *b;

	if (!lua_enabled)
		return;
	b = bpf_map_lookup_elem(&offcpu_lua, &tid);
	if (!b || b->s.h.time_ns != start)
		return;
	ebt_lua_header(b, ih);
	ebt_output(b, b->s.h.size, sizeof(*b));
	b->s.h.time_ns = 0;
}

/* `prev` is current: its stacks are the ones it blocked in. */
static __always_inline void on_switch_out(void *ctx, __u32 state, int dead)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = pid_tgid, tgid = pid_tgid >> 32, zero = 0;
	struct task_entry *e;
	char comm[EBT_TASK_COMM_LEN] = {};
	long klen, ulen;

	if (tid == 0)
		return; /* idle */
	if (dead) {
		bpf_map_delete_elem(&offcpu_tasks, &tid);
		if (lua_enabled)
			bpf_map_delete_elem(&offcpu_lua, &tid);
		if (waker_stacks)
			bpf_map_delete_elem(&offcpu_wakers, &tid);
		if (dwarf) {
			bpf_map_delete_elem(&offcpu_dwarf, &tid);
			if (waker_stacks)
				bpf_map_delete_elem(&offcpu_waker_dwarf, &tid);
		}
		return;
	}
	/* The name only for --comm here: the event takes it at the switch-in,
	 * and only for the intervals that are kept (most are not). */
	if (ebt_filter.by_comm)
		bpf_get_current_comm(comm, sizeof(comm));
	if (!ebt_task_wanted(tgid, comm))
		return;
	e = bpf_map_lookup_elem(&offcpu_tasks, &tid);
	if (!e) {
		struct task_entry *t = bpf_map_lookup_elem(&offcpu_template, &zero);
		if (!t || bpf_map_update_elem(&offcpu_tasks, &tid, t, BPF_NOEXIST)) {
			ebt_count_lost(EBT_LOST_OFFCPU);
			return;
		}
		e = bpf_map_lookup_elem(&offcpu_tasks, &tid);
		if (!e)
			return;
	}
	e->pid = tgid;
	e->state = state;
	e->wakeup_ns = 0;
	e->waker_pid = 0;
	e->waker_tid = 0;
	klen = bpf_get_stack(ctx, e->frames, STACK_BYTES, kstack_skip & BPF_F_SKIP_FIELD_MASK);
	if (klen < 0)
		klen = 0;
	klen &= 0x3ff;
	if (klen > STACK_BYTES)
		klen = STACK_BYTES;
	ulen = dwarf ? 0 : bpf_get_stack(ctx, (void *)e->frames + klen, STACK_BYTES, BPF_F_USER_STACK);
	if (ulen < 0)
		ulen = 0; /* kernel threads have none */
	e->kbytes = klen;
	e->ubytes = ulen;
	e->sbytes = (dwarf || ulen > 0) ? save_user_stack(&e->regs, e->leaf, &offcpu_dwarf, tid, &e->stack_lost) : 0;
	e->start_ns = bpf_ktime_get_ns(); /* last: marks the entry complete */
	lua_switch_out(tgid, tid);
}

static __always_inline void on_waking(void *ctx, __u32 wakee_tid)
{
	struct task_entry *e = bpf_map_lookup_elem(&offcpu_tasks, &wakee_tid);
	__u64 pid_tgid;

	if (!e || e->start_ns == 0)
		return;
	pid_tgid = bpf_get_current_pid_tgid();
	e->waker_pid = pid_tgid >> 32;
	e->waker_tid = pid_tgid;
	e->wakeup_ns = bpf_ktime_get_ns();
	if (waker_stacks) {
		struct waker_entry *w = bpf_map_lookup_elem(&offcpu_wakers, &wakee_tid);
		long klen, ulen;

		if (!w) {
			__u32 zero = 0;
			void *t = bpf_map_lookup_elem(&offcpu_template, &zero);
			/* the template is larger than a waker entry and zero enough */
			if (!t || bpf_map_update_elem(&offcpu_wakers, &wakee_tid, t, BPF_NOEXIST))
				return;
			w = bpf_map_lookup_elem(&offcpu_wakers, &wakee_tid);
			if (!w)
				return;
		}
		klen = bpf_get_stack(ctx, w->frames, STACK_BYTES, kstack_skip & BPF_F_SKIP_FIELD_MASK);
		if (klen < 0)
			klen = 0;
		klen &= 0x3ff;
		if (klen > STACK_BYTES)
			klen = STACK_BYTES;
		ulen = dwarf ? 0 : bpf_get_stack(ctx, (void *)w->frames + klen, STACK_BYTES, BPF_F_USER_STACK);
		if (ulen < 0)
			ulen = 0;
		w->kbytes = klen;
		w->ubytes = ulen;
		w->sbytes = (dwarf || ulen > 0) ? save_user_stack(&w->regs, w->leaf, &offcpu_waker_dwarf, wakee_tid,
								  &w->stack_lost) : 0;
		w->interval_start = e->start_ns;
	}
}

/* `next` is the task switched in: its name comes from `comm` (a kernel
 * address: its task_struct's, or the trace event's copy). */
static __always_inline void on_switch_in(__u32 tid, const char *comm)
{
	struct task_entry *e;
	struct event_buf *b;
	__u64 now, start, dur;
	__u32 zero = 0, n, off, size;
	__u64 sbytes, wbytes, sofs, sn;

	if (tid == 0)
		return; /* idle: never in the table */
	e = bpf_map_lookup_elem(&offcpu_tasks, &tid);
	if (!e || e->start_ns == 0)
		return;
	now = bpf_ktime_get_ns();
	start = e->start_ns;
	e->start_ns = 0;
	dur = now - start;
	if (dur < min_ns) {
		stat_add(STAT_SHORT, 1);
		stat_add(STAT_SHORT_NS, dur);
		return;
	}
	if (e->stack_lost)
		ebt_count_lost(EBT_LOST_STACK); /* kept without its user stack: said, not silent */
	zero = bpf_get_smp_processor_id(); /* this CPU's slot */
	b = bpf_map_lookup_elem(&offcpu_scratch, &zero);
	if (!b)
		return;
	b->e.start_ns = start;
	b->e.state = e->state;
	b->e.waker_pid = e->waker_pid;
	b->e.waker_tid = e->waker_tid;
	b->e.wakeup_ns = e->wakeup_ns;
	b->e.reserved = 0;
	if (bpf_probe_read_kernel(b->e.comm, sizeof(b->e.comm), comm))
		__builtin_memset(b->e.comm, 0, sizeof(b->e.comm));
	n = (e->kbytes & 0x7ff) + (e->ubytes & 0x7ff);
	if (n > 2 * STACK_BYTES)
		n = 2 * STACK_BYTES;
	b->e.kernel_frames = e->kbytes / 8;
	b->e.user_frames = (n - (e->kbytes & 0x7ff)) / 8;
	bpf_probe_read_kernel(b->frames, n & 0xfff, e->frames);
	off = n & 0xfff;
	b->e.waker_kernel_frames = 0;
	b->e.waker_user_frames = 0;
	b->e.ip = e->regs.ip;
	b->e.sp = e->regs.sp;
	b->e.bp = e->regs.bp;
	b->e.mm_start_stack = e->regs.mm_start_stack;
	b->e.waker_ip = b->e.waker_sp = b->e.waker_bp = b->e.waker_mm_start_stack = 0;
	b->e.stack_size = 0;
	b->e.waker_stack_size = 0;
	sbytes = e->sbytes;
	barrier_var(sbytes);
	if (sbytes > EBT_OFFCPU_MAX_STACK || (!dwarf && sbytes > EBT_LEAF_MAX_STACK))
		sbytes = 0;
	barrier_var(sbytes);
	if (sbytes && dwarf) {
		struct dwarf_stack *d = bpf_map_lookup_elem(&offcpu_dwarf, &tid);
		if (d && bpf_probe_read_kernel(b->stacks, sbytes, d->bytes) == 0)
			b->e.stack_size = sbytes;
	} else if (sbytes) {
		if (bpf_probe_read_kernel(b->stacks, sbytes & (2 * EBT_LEAF_MAX_STACK - 1), e->leaf) == 0)
			b->e.stack_size = sbytes;
	}
	if (waker_stacks) {
		struct waker_entry *w = bpf_map_lookup_elem(&offcpu_wakers, &tid);
		if (w && w->interval_start == start) {
			__u32 wn = (w->kbytes & 0x7ff) + (w->ubytes & 0x7ff);
			if (wn > 2 * STACK_BYTES)
				wn = 2 * STACK_BYTES;
			if (off <= 2 * STACK_BYTES) {
				bpf_probe_read_kernel((void *)b->frames + off, wn & 0xfff, w->frames);
				b->e.waker_kernel_frames = (w->kbytes & 0x7ff) / 8;
				b->e.waker_user_frames = (wn - (w->kbytes & 0x7ff)) / 8;
				off += wn & 0xfff;
			}
			if (w->stack_lost)
				ebt_count_lost(EBT_LOST_STACK);
			wbytes = w->sbytes;
			barrier_var(wbytes);
			if (wbytes > EBT_OFFCPU_MAX_STACK || (!dwarf && wbytes > EBT_LEAF_MAX_STACK))
				wbytes = 0;
			barrier_var(wbytes);
			b->e.waker_ip = w->regs.ip;
			b->e.waker_sp = w->regs.sp;
			b->e.waker_bp = w->regs.bp;
			b->e.waker_mm_start_stack = w->regs.mm_start_stack;
			sofs = b->e.stack_size;
			barrier_var(sofs);
			if (sofs > EBT_OFFCPU_MAX_STACK)
				sofs = EBT_OFFCPU_MAX_STACK;
			barrier_var(sofs);
			if (wbytes && dwarf) {
				struct dwarf_stack *d = bpf_map_lookup_elem(&offcpu_waker_dwarf, &tid);
				if (d && bpf_probe_read_kernel(b->stacks + sofs, wbytes, d->bytes) == 0)
					b->e.waker_stack_size = wbytes;
			} else if (wbytes) {
				if (bpf_probe_read_kernel(b->stacks + sofs, wbytes & (2 * EBT_LEAF_MAX_STACK - 1), w->leaf) == 0)
					b->e.waker_stack_size = wbytes;
			}
		}
	}
	/* the stack bytes follow the frames: move them down (off <= the frames' room) */
	sn = b->e.stack_size + b->e.waker_stack_size;
	barrier_var(sn);
	if (sn > 2 * EBT_OFFCPU_MAX_STACK)
		sn = 0;
	barrier_var(sn);
	if (sn && off <= 4 * (EBT_MAX_STACK_DEPTH + 1) * 8) {
		if (bpf_probe_read_kernel((void *)b->frames + off, sn, b->stacks))
			sn = 0;
	}
	size = sizeof(b->e) + off + sn;
	b->e.h.kind = EBT_EV_OFFCPU;
	b->e.h.flags = 0;
	b->e.h.size = size;
	b->e.h.time_ns = now;
	b->e.h.pid = e->pid;
	b->e.h.tid = tid;
	b->e.h.cpu = bpf_get_smp_processor_id();
	b->e.h.reserved = 0;
	lua_switch_in(tid, start, &b->e.h); /* --lua: its Lua stack goes first */
	if (ebt_output(b, size, sizeof(*b)) == 0)
		stat_add(STAT_EMITTED, 1);
}

static __always_inline __u32 state_from_raw(int preempt, __u64 s)
{
	if (ebt_switch_involuntary(preempt, s))
		return EBT_OFFCPU_PREEMPTED;
	if (s & TASK_NOLOAD)
		return EBT_OFFCPU_OTHER; /* TASK_IDLE kthreads */
	if (s & TASK_INTERRUPTIBLE)
		return EBT_OFFCPU_SLEEPING;
	if (s & TASK_UNINTERRUPTIBLE)
		return EBT_OFFCPU_UNINTERRUPTIBLE;
	return EBT_OFFCPU_OTHER;
}

/* BTF-typed raw tracepoints: the task fields are plain loads, where raw_tp
 * needed a bpf_probe_read_kernel() call for each (next->pid, prev->exit_state,
 * the wakee's pid): this runs at every context switch and wake-up. */
SEC("tp_btf/sched_switch")
int BPF_PROG(ebt_offcpu_switch_btf, bool preempt, struct task_struct *prev,
	     struct task_struct *next, unsigned int prev_state)
{
	int dead = (prev_state & TASK_DEAD) || (prev->exit_state & (EXIT_DEAD | EXIT_ZOMBIE));

	on_switch_out(ctx, state_from_raw(preempt, prev_state), dead);
	on_switch_in(next->pid, next->comm);
	return 0;
}

SEC("tp_btf/sched_waking")
int BPF_PROG(ebt_offcpu_waking_btf, struct task_struct *p)
{
	on_waking(ctx, p->pid);
	return 0;
}

/* Classic tracepoints report prev_state as TASK_REPORT bits: R=0 S=1 D=2 T=4
 * t=8 X=16 Z=32 P=64 I=128, preempted = TASK_REPORT_MAX (256). */
SEC("tracepoint/sched/sched_switch")
int ebt_offcpu_switch_tp(struct trace_event_raw_sched_switch *ctx)
{
	long s = ctx->prev_state;
	__u32 state;

	if (s == 0 || s >= 256)
		state = EBT_OFFCPU_PREEMPTED;
	else if (s & 1)
		state = EBT_OFFCPU_SLEEPING;
	else if (s & 2)
		state = EBT_OFFCPU_UNINTERRUPTIBLE;
	else
		state = EBT_OFFCPU_OTHER;
	on_switch_out(ctx, state, s > 0 && s < 256 && (s & (EXIT_DEAD | EXIT_ZOMBIE)));
	on_switch_in(ctx->next_pid, ctx->next_comm);
	return 0;
}

SEC("tracepoint/sched/sched_waking")
int ebt_offcpu_waking_tp(struct trace_event_raw_sched_wakeup_template *ctx)
{
	on_waking(ctx, ctx->pid);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
