/* Maps and helpers every ebtrace BPF object shares.
 *
 * Each bpf/<family>.bpf.c includes this file, so all objects declare `events`,
 * `lost` and `targets` identically; record/ creates them once and every object
 * reuses them (bpf_map__reuse_fd) before load. The ring buffer size set here is
 * only a placeholder: the real one comes from --buffer-size.
 *
 * The common task filter lives in rodata (`ebt_filter`), set by user space
 * before load through record/bpf_util.h.
 */
#ifndef EBTRACE_BPF_MAPS_BPF_H
#define EBTRACE_BPF_MAPS_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#include "bpf/events.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, EBT_LOST_MAX);
	__type(key, __u32);
	__type(value, __u64);
} lost SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, EBT_MAX_TARGETS);
	__type(key, __u32);   /* tgid */
	__type(value, __u8);
} targets SEC(".maps");

/* --cgroup / --container: [0] holds the cgroup v2 directory whose tasks (and
 * its descendants') are recorded. */
struct {
	__uint(type, BPF_MAP_TYPE_CGROUP_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} cgroup_filter SEC(".maps");

const volatile struct ebt_filter ebt_filter = {};

static __always_inline void ebt_count_lost(__u32 reason)
{
	__u64 *n = bpf_map_lookup_elem(&lost, &reason);
	if (n)
		*n += 1; /* per-CPU slot: no atomics needed */
}

static __always_inline int ebt_comm_equal(const char *a, const volatile char *b)
{
	for (int i = 0; i < EBT_TASK_COMM_LEN; i++) {
		if (a[i] != b[i])
			return 0;
		if (a[i] == 0)
			return 1;
	}
	return 1;
}

/* The common filter: target pids (-p / -- CMD and their children), --comm,
 * --cgroup. The cgroup test is on the CURRENT task (bpf_current_task_under_cgroup:
 * its cgroup v2 or a descendant): callers pass the current task's tgid and comm.
 * Families whose events run elsewhere test what the event belongs to instead
 * (tcp: the socket, ebt_sock_under_cgroup; user space clears by_cgroup in their
 * copy of the filter); skb is refused with --cgroup. */
static __always_inline int ebt_task_wanted(__u32 tgid, const char *comm)
{
	if (ebt_filter.by_pid && !bpf_map_lookup_elem(&targets, &tgid))
		return 0;
	if (ebt_filter.by_comm && !ebt_comm_equal(comm, ebt_filter.comm))
		return 0;
	if (ebt_filter.by_cgroup && bpf_current_task_under_cgroup(&cgroup_filter, 0) != 1)
		return 0;
	return 1;
}

/* --cgroup / --container for events that run outside their owner's context
 * (softirq, timers): whether socket `sk` is in cgroup v2 `cgroup_id` or below
 * it. A socket keeps the cgroup of the task that created it (cgroup_sk_alloc);
 * a passive open's child socket, made in softirq, takes its listener's
 * (cgroup_sk_clone): a server's connections are in the server's cgroup,
 * whichever task the softirq interrupted. The filter cgroup's level is not
 * known to user space when the recorder runs in a cgroup namespace (its paths
 * are relative to the namespace), so the socket's ancestors are compared, root
 * first, up to EBT_CGROUP_MAX_LEVEL deep; callers test a socket once. */
#define EBT_CGROUP_MAX_LEVEL 32
static __always_inline int ebt_sock_under_cgroup(const struct sock *sk, __u64 cgroup_id)
{
	struct cgroup *cg = BPF_CORE_READ(sk, sk_cgrp_data.cgroup);
	/* ancestors[i]: the cgroup's ancestor at level i, itself at its own level */
	__u32 off = bpf_core_field_offset(struct cgroup, ancestors);
	int level;

	if (!cg)
		return 0;
	level = BPF_CORE_READ(cg, level);
	for (int i = 0; i < EBT_CGROUP_MAX_LEVEL; i++) {
		struct cgroup *anc = NULL;

		if (i > level)
			break;
		if (bpf_probe_read_kernel(&anc, sizeof(anc), (void *)cg + off + i * sizeof(anc)) || !anc)
			return 0;
		if (BPF_CORE_READ(anc, kn, id) == cgroup_id)
			return 1;
	}
	return 0;
}

static __always_inline void ebt_fill_header(struct ebt_event_header *h, __u16 kind,
					    __u32 size, __u64 pid_tgid)
{
	h->kind = kind;
	h->flags = 0;
	h->size = size;
	h->time_ns = bpf_ktime_get_ns();
	h->pid = pid_tgid >> 32;
	h->tid = (__u32)pid_tgid;
	h->cpu = bpf_get_smp_processor_id();
	h->reserved = 0;
}

/* The start that the on-CPU sample events (struct ebt_cpu_sample and struct
 * ebt_cpu_sample_dwarf) share, as ebt_sample_begin() fills it. */
struct ebt_sample_head {
	struct ebt_event_header h;
	__u64 cgroup_id;
	char comm[EBT_TASK_COMM_LEN];
};
_Static_assert(__builtin_offsetof(struct ebt_cpu_sample, cgroup_id) ==
		       __builtin_offsetof(struct ebt_sample_head, cgroup_id) &&
	       __builtin_offsetof(struct ebt_cpu_sample, comm) ==
		       __builtin_offsetof(struct ebt_sample_head, comm) &&
	       __builtin_offsetof(struct ebt_cpu_sample_dwarf, cgroup_id) ==
		       __builtin_offsetof(struct ebt_sample_head, cgroup_id) &&
	       __builtin_offsetof(struct ebt_cpu_sample_dwarf, comm) ==
		       __builtin_offsetof(struct ebt_sample_head, comm),
	       "on-CPU sample events start like struct ebt_sample_head");

/* The opening steps of an on-CPU sampler (bpf/profile.bpf.c and
 * bpf/profile_dwarf.bpf.c): drop the idle tasks (tgid 0) unless include_idle,
 * take slot `slot` of the scratch map `scratch`, read comm and apply the common
 * filter, set cgroup_id, and copy the kernel stack (bpf_get_stack) to
 * `frames_off` bytes into the slot. The slot must start with the event, itself
 * starting like struct ebt_sample_head; the event header is left to the caller.
 * Returns the slot, or NULL to drop the sample; *kstack_bytes gets the bytes of
 * kernel stack copied (0 on failure, counted as lost), at most
 * EBT_MAX_STACK_DEPTH * 8 and masked so that the verifier knows it. */
static __always_inline void *ebt_sample_begin(struct bpf_perf_event_data *ctx, void *scratch,
					      __u32 slot, __u32 tgid, __u8 include_idle,
					      __u32 frames_off, __u32 *kstack_bytes)
{
	struct ebt_sample_head *s;
	long klen;

	if (tgid == 0 && !include_idle)
		return NULL;
	s = bpf_map_lookup_elem(scratch, &slot);
	if (!s)
		return NULL;
	bpf_get_current_comm(s->comm, sizeof(s->comm));
	if (!ebt_task_wanted(tgid, s->comm))
		return NULL;

	s->cgroup_id = bpf_get_current_cgroup_id();
	klen = bpf_get_stack(ctx, (void *)s + frames_off, EBT_MAX_STACK_DEPTH * sizeof(__u64), 0);
	if (klen < 0) {
		ebt_count_lost(EBT_LOST_STACK);
		klen = 0;
	}
	*kstack_bytes = (__u32)klen & 0x3ff; /* <= 127 * 8; the mask proves it to the verifier */
	return s;
}

/* Flags for bpf_ringbuf_output(). Waking the reader costs the interrupted task an
 * irq_work, i.e. a self-IPI (a VM exit on a VM), more than the event itself. So
 * the reader is woken once, by the event that takes the data waiting past 1/16
 * of the ring: it then drains everything there is, including what arrives while
 * it runs (a wake-up that finds it awake is not lost either: epoll keeps the ring
 * ready). Waking it at every event past the mark, as before, meant an IPI per
 * event for as long as the reader took to catch up: 7 % of redis-server's time
 * under redis-benchmark -P 16 with --l7 (docs/l7.md). Past 1/4 of the ring every
 * event wakes it: the reader is late, and a crossing two CPUs raced past without
 * seeing it ends up there. Below 1/16 the recorder's 100 ms poll picks the
 * events up (record/recorder.cpp poll_loop). */
static __always_inline __u64 ebt_ringbuf_wakeup_flags(__u64 event_size)
{
	__u64 avail = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
	__u64 ring = bpf_ringbuf_query(&events, BPF_RB_RING_SIZE);
	__u64 mark = ring / 16;

	if (avail + event_size >= ring / 4 || (avail < mark && avail + event_size >= mark))
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

/* Sends an event of `size` bytes assembled in a scratch buffer of `max` bytes.
 * A size past the buffer is dropped (it cannot happen for a well-formed event;
 * the check also bounds the copy for the verifier); a full ring counts one
 * EBT_LOST_RINGBUF, whatever the family. Returns 0 when the event was sent. */
static __always_inline int ebt_output(void *data, __u64 size, __u64 max)
{
	if (size > max)
		return -1;
	if (bpf_ringbuf_output(&events, data, size, ebt_ringbuf_wakeup_flags(size))) {
		ebt_count_lost(EBT_LOST_RINGBUF);
		return -1;
	}
	return 0;
}

#endif /* EBTRACE_BPF_MAPS_BPF_H */
