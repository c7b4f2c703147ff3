// SPDX-License-Identifier: GPL-2.0
/* On-CPU sampler for --call-graph dwarf: a perf_event program (cpu-clock, one
 * per CPU) like profile.bpf.c, but instead of a frame-pointer user stack it
 * sends the user registers x86_64 unwinding starts from (ip, sp, bp) and a copy
 * of up to `stack_bytes` bytes of the user stack from sp upwards, in one
 * EBT_EV_CPU_SAMPLE_DWARF. record/ unwinds it with libdw and keeps only the
 * resulting addresses. The kernel stack comes from bpf_get_stack as in fp mode.
 */
#include "bpf/maps.bpf.h"
#include "bpf/lua.bpf.h"

#define PF_KTHREAD 0x00200000
#define PAGE 4096

/* Include pid 0 (the per-CPU idle tasks, "swapper") in samples. */
const volatile __u8 include_idle = 0;
/* --call-graph dwarf,SIZE: bytes of user stack to copy (multiple of 8). */
const volatile __u32 stack_bytes = 8192;

/* The event is built here, then copied with its real size. The user stack is
 * written right after the kernel frames, so `frames` is followed by room for
 * the largest kernel stack plus the largest snapshot plus one page of slack
 * (each copy is at most one page). Too big for a per-CPU array value (32 KiB):
 * a plain array with one slot per CPU (max_entries set by record/ at load);
 * a cpu-clock sample cannot interrupt another one on the same CPU. */
struct dwarf_buf {
	struct ebt_cpu_sample_dwarf s;
	__u64 frames[EBT_MAX_STACK_DEPTH + 1];
	__u8 stack[EBT_DWARF_MAX_STACK + PAGE];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dwarf_buf);
} dwarf_scratch SEC(".maps");

#define MAX_PAGES (EBT_DWARF_MAX_STACK / PAGE + 2)

SEC("perf_event")
int ebt_profile_dwarf(struct bpf_perf_event_data *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	struct task_struct *task;
	struct dwarf_buf *b;
	struct pt_regs *uregs;
	__u32 koff, total = 0, size;
	__u64 addr;
	__u8 *dst;

	/* One slot per CPU. */
	b = ebt_sample_begin(ctx, &dwarf_scratch, bpf_get_smp_processor_id(), tgid, include_idle,
			     __builtin_offsetof(struct dwarf_buf, frames), &koff);
	if (!b)
		return 0;
	b->s.kernel_frames = koff / 8;
	b->s.ip = b->s.sp = b->s.bp = 0;
	b->s.mm_start_stack = 0;
	ebt_fill_header(&b->s.h, EBT_EV_CPU_SAMPLE_DWARF, 0, pid_tgid);

	task = bpf_get_current_task_btf();
	if (!(task->flags & PF_KTHREAD) && tgid != 0) {
		/* User mode interrupted: the sample's own registers; kernel mode: the
		 * user registers saved at kernel entry. */
		/* 8-byte ctx loads only: the verifier refuses narrower ones here */
		__u64 cs = *(volatile __u64 *)&ctx->regs.cs;
		__u64 r14, rdx, rbx;
		if ((cs & 3) == 3) {
			b->s.ip = ctx->regs.ip;
			b->s.sp = ctx->regs.sp;
			b->s.bp = ctx->regs.bp;
			r14 = ctx->regs.r14;
			rdx = ctx->regs.dx;
			rbx = ctx->regs.bx;
		} else {
			uregs = (struct pt_regs *)bpf_task_pt_regs(task);
			b->s.ip = BPF_CORE_READ(uregs, ip);
			b->s.sp = BPF_CORE_READ(uregs, sp);
			b->s.bp = BPF_CORE_READ(uregs, bp);
			r14 = BPF_CORE_READ(uregs, r14);
			rdx = BPF_CORE_READ(uregs, dx);
			rbx = BPF_CORE_READ(uregs, bx);
		}
		/* --lua: the Lua stack goes out first, with this sample's time. */
		ebt_lua_sample(tgid, &b->s.h, b->s.ip, b->s.sp, r14, rdx, rbx);
		b->s.mm_start_stack = BPF_CORE_READ(task, mm, start_stack);
		b->s.h.flags = EBT_DWARF_F_USER_REGS;

		/* Copy page by page: a copy either succeeds whole or fails, and the
		 * stack usually ends (unmapped) less than SIZE bytes above sp. */
		addr = b->s.sp;
		dst = (__u8 *)b->frames + koff;
		for (int i = 0; i < MAX_PAGES && addr; i++) {
			__u64 chunk = PAGE - (addr & (PAGE - 1));
			__u64 want;
			if (total >= stack_bytes)
				break;
			want = stack_bytes - total;
			if (chunk > want)
				chunk = want;
			barrier_var(chunk);
			if (chunk == 0 || chunk > PAGE || total > EBT_DWARF_MAX_STACK)
				break;
			if (bpf_probe_read_user(dst + total, chunk, (void *)addr))
				break;
			total += chunk;
			addr += chunk;
		}
		if (total == 0)
			ebt_count_lost(EBT_LOST_STACK);
	}
	b->s.stack_size = total;
	size = sizeof(b->s) + koff + total;
	b->s.h.size = size;
	ebt_output(b, size, sizeof(*b));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
