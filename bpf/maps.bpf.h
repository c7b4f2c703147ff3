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

/* The common filter: target pids (-p / -- CMD and their children), --comm. */
static __always_inline int ebt_task_wanted(__u32 tgid, const char *comm)
{
	if (ebt_filter.by_pid && !bpf_map_lookup_elem(&targets, &tgid))
		return 0;
	if (ebt_filter.by_comm && !ebt_comm_equal(comm, ebt_filter.comm))
		return 0;
	return 1;
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

/* Flags for bpf_ringbuf_output(). Waking the reader costs the interrupted task an
 * irq_work and a cross-CPU wake-up (a VM exit here) per event, more than the
 * event itself: only wake it once the ring is 1/16 full. Below that the
 * recorder's 100 ms poll picks the events up (record/recorder.cpp poll_loop). */
static __always_inline __u64 ebt_ringbuf_wakeup_flags(__u64 event_size)
{
	__u64 avail = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
	__u64 ring = bpf_ringbuf_query(&events, BPF_RB_RING_SIZE);

	return avail + event_size >= ring / 16 ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

#endif /* EBTRACE_BPF_MAPS_BPF_H */
