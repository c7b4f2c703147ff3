// SPDX-License-Identifier: GPL-2.0
/* On-CPU sampler: a perf_event program (cpu-clock, one per CPU) that copies the
 * kernel and user stacks (frame pointers, bpf_get_stack) of the interrupted task
 * into one EBT_EV_CPU_SAMPLE, plus, for leaf repair, the user registers and the
 * first `leaf_bytes` of the user stack (record/leaf_repair.h). No aggregation
 * here: record/ interns stacks.
 */
#include "bpf/maps.bpf.h"
#include "bpf/user_stack.bpf.h"

#define PF_KTHREAD 0x00200000

/* Include pid 0 (the per-CPU idle tasks, "swapper") in samples. */
const volatile __u8 include_idle = 0;
/* --leaf-stack-bytes: user stack bytes for leaf repair (0: none, no registers). */
const volatile __u32 leaf_bytes = 0;

/* The event is built here, then copied with its real size: a ring buffer
 * reservation has to have a constant size. */
struct sample_buf {
	struct ebt_cpu_sample s;
	__u64 frames[2 * (EBT_MAX_STACK_DEPTH + 1)];
	/* the leaf stack bytes follow the last frame: room for the copy's slack */
	__u8 leaf[2 * EBT_LEAF_MAX_STACK];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sample_buf);
} scratch SEC(".maps");

#define STACK_BYTES (EBT_MAX_STACK_DEPTH * sizeof(__u64))

SEC("perf_event")
int ebt_profile(struct bpf_perf_event_data *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	struct sample_buf *b;
	long ulen;
	__u32 koff, size;

	b = ebt_sample_begin(ctx, &scratch, 0, tgid, include_idle,
			     __builtin_offsetof(struct sample_buf, frames), &koff);
	if (!b)
		return 0;
	ulen = bpf_get_stack(ctx, (void *)b->frames + koff, STACK_BYTES, BPF_F_USER_STACK);
	if (ulen < 0) {
		struct task_struct *task = (void *)bpf_get_current_task();
		/* kernel threads have no user stack: not a loss */
		if (!(BPF_CORE_READ(task, flags) & PF_KTHREAD) && tgid != 0)
			ebt_count_lost(EBT_LOST_STACK);
		ulen = 0;
	}
	b->s.kernel_frames = koff / 8;
	b->s.user_frames = ((__u32)ulen & 0x3ff) / 8;
	size = sizeof(b->s) + (b->s.kernel_frames + b->s.user_frames) * 8;
	ebt_fill_header(&b->s.h, EBT_EV_CPU_SAMPLE, size, pid_tgid);
	b->s.ip = b->s.sp = b->s.bp = b->s.mm_start_stack = 0;
	b->s.stack_size = 0;
	b->s.reserved = 0;
	if (leaf_bytes && ulen > 0) {
		/* The registers the kernel's user walk started from: the sample's
		 * own in user mode, else the ones saved at kernel entry. */
		__u64 cs = *(volatile __u64 *)&ctx->regs.cs; /* 8-byte ctx loads only */
		__u32 off = size - sizeof(b->s);
		struct ebt_uregs r;
		ebt_current_uregs(&r);
		b->s.mm_start_stack = r.mm_start_stack;
		if ((cs & 3) == 3) {
			b->s.ip = ctx->regs.ip;
			b->s.sp = ctx->regs.sp;
			b->s.bp = ctx->regs.bp;
		} else {
			b->s.ip = r.ip;
			b->s.sp = r.sp;
			b->s.bp = r.bp;
		}
		if (b->s.ip && off <= 2 * EBT_MAX_STACK_DEPTH * 8) {
			b->s.stack_size = ebt_copy_user_stack((__u8 *)b->frames + off, b->s.sp, leaf_bytes,
							      EBT_LEAF_MAX_STACK);
			b->s.h.flags = EBT_DWARF_F_USER_REGS;
			size += b->s.stack_size;
			b->s.h.size = size;
		}
	}
	ebt_output(b, size, sizeof(*b));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
