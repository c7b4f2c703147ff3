// SPDX-License-Identifier: GPL-2.0
/* --sched: scheduler latency, on the sched tracepoints --off-cpu uses.
 *
 *  - run-queue latency: sched_wakeup / sched_wakeup_new (and an involuntary
 *    switch-out: the task stays runnable) stamp the thread as queued; its next
 *    switch-in adds now - stamp to the histogram of (thread, CPU);
 *  - preemptions: an involuntary switch-out of a recorded thread counts one
 *    for (thread, the task switched in);
 *  - cgroup switches: every switch between two tasks (neither idle, one of
 *    them recorded) counts one for (CPU, prev's cgroup, next's cgroup).
 *
 * Why aggregated here and not events: a switch-heavy workload (perf bench
 * sched pipe: two switches per round trip, ~10^5-10^6 a second) would cost one
 * ring-buffer record per switch plus the recorder's decoding and writing of it,
 * several times what runqlat (libbpf-tools) spends. The aggregates are keyed by
 * CPU, so only the CPU that owns a key ever writes it (no atomics, no locks).
 * record/sched_probe.cpp reads the maps every second and writes what changed;
 * the histograms keep the exact sum and max, and quarter-octave slots (a
 * percentile is known within its slot: at most 25 % of the slot's lower bound).
 *
 * What a switch costs is the point of this file (the target: no more than
 * runqlat), so:
 *  - BTF-typed tracepoints (tp_btf): task fields (pid, tgid, comm, the cgroup
 *    pointer chain) are plain loads, not one bpf_probe_read_kernel() call each
 *    (a v1 cpu-cgroup id alone was five of them per task, two tasks per switch);
 *  - the clock is read only when a stamp is set or consumed.
 * The wake-up stamps stay in a preallocated hash (as runqlat's): task local
 * storage would save a hash per lookup, but creating it allocates, and these
 * hooks run with the run-queue lock held (before 6.4 that allocation was a
 * GFP_ATOMIC kmalloc, which may wake kswapd: a deadlock on that lock).
 */
#include "bpf/maps.bpf.h"
#include "bpf/sched_state.bpf.h"

/* Cgroup ids from the v1 cpu controller's hierarchy (hybrid and v1 hosts:
 * record/ sets it when the cpu controller is mounted as v1), else the default
 * (v2) hierarchy's, the ids bpf_get_current_cgroup_id() returns. */
const volatile __u8 cgroup_v1_cpu = 0;
/* --tid: only the threads in sched_tids. */
const volatile __u8 by_tid = 0;

/* tid -> when it became runnable (0: not queued). Preallocated like runqlat's:
 * nothing is allocated while the run-queue lock is held (these hooks run under
 * it); an entry is rewritten and cleared in place, removed when the thread dies. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u64);
} sched_start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 16384);
	__type(key, struct ebt_rq_key);
	__type(value, struct ebt_rq_hist);
} sched_rq SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 16384);
	__type(key, struct ebt_preempt_key);
	__type(value, struct ebt_preempt_val);
} sched_preempt SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 4096);
	__type(key, struct ebt_cgswitch_key);
	__type(value, __u64);
} sched_cgswitch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1); /* --tid: set by record/ */
	__type(key, __u32);
	__type(value, __u8);
} sched_tids SEC(".maps");

/* Per CPU: the run of switches within one cgroup going on (count_cgroup_switch). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ebt_cgrun);
} sched_cgrun SEC(".maps");

/* A zeroed histogram to insert new keys from (too big for the stack). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ebt_rq_hist);
} sched_zero SEC(".maps");

static __always_inline __u32 log2_u64(__u64 v)
{
	__u32 r, shift;

	r = (v > 0xFFFFFFFFULL) << 5;
	v >>= r;
	shift = (v > 0xFFFF) << 4;
	v >>= shift;
	r |= shift;
	shift = (v > 0xFF) << 3;
	v >>= shift;
	r |= shift;
	shift = (v > 0xF) << 2;
	v >>= shift;
	r |= shift;
	shift = (v > 0x3) << 1;
	v >>= shift;
	r |= shift;
	r |= (v >> 1);
	return r;
}

/* bpf/events.h EBT_RQ_SLOTS */
static __always_inline __u32 rq_slot(__u64 ns)
{
	__u32 l, s;

	if (ns < 8)
		return ns;
	l = log2_u64(ns);
	s = 4 * (l - 1) + ((ns >> (l - 2)) & 3);
	return s < EBT_RQ_SLOTS ? s : EBT_RQ_SLOTS - 1;
}

/* The common filter (bpf/maps.bpf.h) for a task that need not be current,
 * plus --tid. */
static __always_inline int task_wanted(struct task_struct *t, __u32 tgid, __u32 tid)
{
	char comm[EBT_TASK_COMM_LEN] = {};

	if (by_tid && !bpf_map_lookup_elem(&sched_tids, &tid))
		return 0;
	if (ebt_filter.by_comm)
		BPF_CORE_READ_STR_INTO(&comm, t, comm);
	return ebt_task_wanted(tgid, comm);
}

/* The task's cgroup id in the hierarchy record/ chose: plain loads through
 * the task's css_set (tp_btf: a NULL on the way reads as 0, never faults). */
static __always_inline __u64 task_cgroup(struct task_struct *t)
{
	struct css_set *cs = t->cgroups;

	if (cgroup_v1_cpu) {
		int idx = bpf_core_enum_value(enum cgroup_subsys_id, cpu_cgrp_id);
		struct cgroup_subsys_state *css;

		if (idx < 0 || idx >= 64) /* a constant once relocated: the verifier drops this */
			return 0;
		css = cs->subsys[idx];
		if (!css)
			return 0;
		return css->cgroup->kn->id;
	}
	return cs->dfl_cgrp->kn->id;
}

static __always_inline void mark_queued(__u32 tid, __u64 now)
{
	__u64 *ts = bpf_map_lookup_elem(&sched_start, &tid);

	if (ts) {
		*ts = now;
		return;
	}
	if (bpf_map_update_elem(&sched_start, &tid, &now, BPF_ANY))
		ebt_count_lost(EBT_LOST_SCHED);
}

static __always_inline void on_wakeup(struct task_struct *p)
{
	__u32 tid = p->pid, tgid = p->tgid;

	if (tid == 0 || !task_wanted(p, tgid, tid))
		return;
	mark_queued(tid, bpf_ktime_get_ns());
}

static __always_inline void count_preemption(__u32 tgid, __u32 tid, struct task_struct *next, __u32 next_tgid,
					     __u32 next_tid)
{
	struct ebt_preempt_key k = {.pid = tgid, .tid = tid, .by_pid = next_tgid, .by_tid = next_tid};
	struct ebt_preempt_val *v = bpf_map_lookup_elem(&sched_preempt, &k);
	struct ebt_preempt_val n = {.count = 1};

	if (v) {
		v->count++; /* only the preempted thread's CPU writes this key now */
		return;
	}
	BPF_CORE_READ_STR_INTO(&n.by_comm, next, comm);
	if (bpf_map_update_elem(&sched_preempt, &k, &n, BPF_NOEXIST))
		ebt_count_lost(EBT_LOST_SCHED);
}

/* `now`: the clock if already read, else 0 (read here only when needed). */
static __always_inline void switch_in(struct task_struct *next, __u32 tgid, __u32 tid, __u32 cpu, __u64 now)
{
	struct ebt_rq_key k = {.pid = tgid, .tid = tid, .cpu = cpu};
	struct ebt_rq_hist *h;
	__u64 *ts = bpf_map_lookup_elem(&sched_start, &tid);
	__u64 d;
	__u32 zero = 0, s;

	if (!ts || *ts == 0)
		return;
	if (!now)
		now = bpf_ktime_get_ns();
	d = now - *ts;
	*ts = 0;
	if ((__s64)d < 0)
		return;
	h = bpf_map_lookup_elem(&sched_rq, &k);
	if (!h) {
		struct ebt_rq_hist *z = bpf_map_lookup_elem(&sched_zero, &zero);

		if (!z || bpf_map_update_elem(&sched_rq, &k, z, BPF_NOEXIST)) {
			ebt_count_lost(EBT_LOST_SCHED);
			return;
		}
		h = bpf_map_lookup_elem(&sched_rq, &k);
		if (!h)
			return;
	}
	h->total_ns += d;
	if (d > h->max_ns)
		h->max_ns = d;
	h->last_ns = now;
	__builtin_memcpy(h->comm, next->comm, sizeof(h->comm));
	s = rq_slot(d);
	barrier_var(s); /* keep the bound check on the register used as the index */
	if (s < EBT_RQ_SLOTS)
		h->slots[s]++;
}

static __always_inline void add_cgroup_switches(__u32 cpu, __u64 prev_cgroup, __u64 next_cgroup, __u64 n)
{
	struct ebt_cgswitch_key k = {.cpu = cpu, .prev_cgroup = prev_cgroup, .next_cgroup = next_cgroup};
	__u64 *v = bpf_map_lookup_elem(&sched_cgswitch, &k);

	if (v) {
		*v += n; /* only this CPU writes keys of this CPU */
		return;
	}
	if (bpf_map_update_elem(&sched_cgswitch, &k, &n, BPF_NOEXIST))
		ebt_count_lost(EBT_LOST_SCHED);
}

/* A switch between two cgroups goes to sched_cgswitch at once. A switch within
 * one cgroup (most of them: a pipe or futex hand-off inside one service) is
 * counted in this CPU's run slot while the CPU keeps switching within that
 * cgroup, and the run's count goes to sched_cgswitch only when a run of another
 * cgroup starts: one per-CPU array slot (a few instructions) instead of hashing
 * a 24-byte key at every switch. The reader adds the slots to the table; `seq`
 * is odd while a run is being moved to the table, which the reader checks
 * (record/sched_probe.cpp read_cgroup_switches) so that it never counts a run
 * twice or under the wrong cgroup. */
static __always_inline void count_cgroup_switch(__u32 cpu, struct task_struct *prev, struct task_struct *next)
{
	__u64 prev_cgroup = task_cgroup(prev), next_cgroup = task_cgroup(next);
	struct ebt_cgrun *run;
	__u32 zero = 0;

	if (prev_cgroup != next_cgroup) {
		add_cgroup_switches(cpu, prev_cgroup, next_cgroup, 1);
		return;
	}
	run = bpf_map_lookup_elem(&sched_cgrun, &zero);
	if (!run)
		return;
	if (run->cgroup == next_cgroup && run->count) {
		run->count++; /* one aligned 8-byte store: the reader sees the old or the new count */
		return;
	}
	/* Stores are ordered on x86 (the BPF target here) and the JIT keeps their
	 * order; the compiler barriers keep clang from moving them. */
	run->seq++;
	asm volatile("" ::: "memory");
	if (run->count)
		add_cgroup_switches(cpu, run->cgroup, run->cgroup, run->count);
	run->cgroup = next_cgroup;
	run->count = 1;
	asm volatile("" ::: "memory");
	run->seq++;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(ebt_sched_wakeup, struct task_struct *p)
{
	on_wakeup(p);
	return 0;
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(ebt_sched_wakeup_new, struct task_struct *p)
{
	on_wakeup(p);
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(ebt_sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	__u32 prev_tid = prev->pid, next_tid = next->pid;
	__u32 prev_tgid = prev->tgid, next_tgid = next->tgid;
	__u32 cpu = bpf_get_smp_processor_id();
	__u64 now = 0;
	int prev_wanted = 0;

	if (prev_tid) {
		prev_wanted = task_wanted(prev, prev_tgid, prev_tid);
		if (prev_wanted && ebt_switch_involuntary(preempt, prev_state)) {
			now = bpf_ktime_get_ns();
			mark_queued(prev_tid, now);
			count_preemption(prev_tgid, prev_tid, next, next_tgid, next_tid);
		} else if (prev_state & TASK_DEAD) {
			bpf_map_delete_elem(&sched_start, &prev_tid); /* its last switch */
		}
	}
	if (next_tid)
		switch_in(next, next_tgid, next_tid, cpu, now);
	if (prev_tid && next_tid && (prev_wanted || task_wanted(next, next_tgid, next_tid)))
		count_cgroup_switch(cpu, prev, next);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
