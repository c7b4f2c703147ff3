/* Copying the user registers and the top of the user stack of the current task,
 * for record/ to unwind with CFI: the leaf frames in fp mode (leaf repair), the
 * whole stack with --call-graph dwarf. Used by bpf/profile.bpf.c and
 * bpf/offcpu.bpf.c (bpf/profile_dwarf.bpf.c has its own sample-context copy). */
#ifndef EBTRACE_BPF_USER_STACK_BPF_H
#define EBTRACE_BPF_USER_STACK_BPF_H

#include "bpf/maps.bpf.h"

#define EBT_PAGE 4096
#define EBT_PF_KTHREAD 0x00200000

struct ebt_uregs {
	__u64 ip, sp, bp, mm_start_stack;
};

/* The user registers saved at kernel entry of the current task (the ones the
 * kernel's own user-stack walk starts from when the task is in the kernel).
 * 0 when the task has no user context (kernel threads). */
static __always_inline int ebt_current_uregs(struct ebt_uregs *r)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct pt_regs *regs;

	r->ip = r->sp = r->bp = r->mm_start_stack = 0;
	if (task->flags & EBT_PF_KTHREAD)
		return 0;
	/* BTF pointers: plain loads (a fault reads 0), not one
	 * bpf_probe_read_kernel() call each; on a context switch every call counts. */
	regs = (struct pt_regs *)bpf_task_pt_regs(task);
	r->ip = regs->ip;
	r->sp = regs->sp;
	r->bp = regs->bp;
	r->mm_start_stack = task->mm->start_stack;
	return r->ip != 0;
}

/* Room above the main thread's initial stack pointer that may still hold
 * frames: ld.so run as a program (`ld.so PROG ARGS`) starts PROG with the stack
 * pointer moved up past its own arguments (older glibc). */
#define EBT_STACK_TOP_SLACK 512

/* How many of `want` bytes above r->sp can hold frames of the current task.
 *  - Main thread: every frame lies below mm->start_stack, the stack pointer
 *    _start was entered with; above it come argc, argv, the environment strings
 *    and the auxiliary vector, which no unwinding reads (glibc's _start ends
 *    the walk: its return address is undefined in its CFI).
 *  - Other threads (glibc, musl): the thread pointer (fs base) points at the
 *    thread's control block, which the thread library puts at the top of the
 *    thread's stack mapping, above its TLS and every frame.
 * Why it matters: a shallow thread blocks a KiB or two below that top, and the
 * stack mapping often ends within `want` above it. Copying on past the top read
 * the environment or the TLS for nothing, and the read of the page past the
 * mapping's end failed through a page fault: on the test VM that failed read
 * alone cost ~5 us, more than the rest of the switch-out (docs/offcpu.md
 * "Cost"). A stack pointer elsewhere (a signal stack, a runtime's own stacks)
 * gets all of `want`. */
static __always_inline __u32 ebt_user_stack_want(const struct ebt_uregs *r, __u32 want)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u64 top = r->mm_start_stack + EBT_STACK_TOP_SLACK;
	__u64 tcb = task->thread.fsbase;

	if (r->mm_start_stack && r->sp < top && top - r->sp < want)
		want = top - r->sp;
	if (tcb > r->sp && tcb - r->sp < want)
		want = tcb - r->sp;
	return want;
}

/* Copies up to `want` (at most `max`, a power of two known at compile time) bytes of the
 * current task's user stack from `sp` up to `dst`, page by page: a copy either
 * succeeds whole or fails, and the stack may end (unmapped) less than `want`
 * bytes above sp. `dst` must have room for max + min(max, EBT_PAGE) bytes (the
 * verifier cannot see that total + chunk <= want). Returns the bytes copied. */
static __always_inline __u32 ebt_copy_user_stack(__u8 *dst, __u64 sp, __u32 want, const __u32 max)
{
	const __u32 piece = max < EBT_PAGE ? max : EBT_PAGE;
	__u32 total = 0, at;
	__u64 addr = sp;

	if (want > max)
		want = max;
	for (int i = 0; i < max / EBT_PAGE + 2 && addr; i++) {
		__u64 chunk = EBT_PAGE - (addr & (EBT_PAGE - 1));
		if (total >= want)
			break;
		if (chunk > want - total)
			chunk = want - total;
		barrier_var(chunk);
		if (chunk == 0 || chunk > piece)
			break;
		/* total < want <= max here: the mask (max is a power of two) changes
		 * nothing but shows the verifier the bound the compiler optimized away */
		at = total;
		barrier_var(at);
		if (bpf_probe_read_user(dst + (at & (max - 1)), chunk, (void *)addr))
			break;
		total += chunk;
		addr += chunk;
	}
	return total;
}

_Static_assert((EBT_LEAF_MAX_STACK & (EBT_LEAF_MAX_STACK - 1)) == 0 &&
		       (EBT_OFFCPU_MAX_STACK & (EBT_OFFCPU_MAX_STACK - 1)) == 0,
	       "ebt_copy_user_stack() masks with max - 1");

#endif /* EBTRACE_BPF_USER_STACK_BPF_H */
