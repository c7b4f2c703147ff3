/* How a sched_switch left the previous task, shared by bpf/offcpu.bpf.c and
 * bpf/sched.bpf.c: the task->__state / exit_state bits (include/linux/sched.h)
 * that raw_tp/sched_switch passes as prev_state. */
#ifndef EBTRACE_BPF_SCHED_STATE_BPF_H
#define EBTRACE_BPF_SCHED_STATE_BPF_H

#define TASK_INTERRUPTIBLE 0x1
#define TASK_UNINTERRUPTIBLE 0x2
#define EXIT_DEAD 0x10
#define EXIT_ZOMBIE 0x20
#define TASK_DEAD 0x80
#define TASK_NOLOAD 0x400

/* The task left the CPU runnable: preempted (or sched_yield()); it is still on
 * the run queue and waits there for its next turn. */
static __always_inline int ebt_switch_involuntary(int preempt, __u64 prev_state)
{
	return preempt || prev_state == 0;
}

#endif /* EBTRACE_BPF_SCHED_STATE_BPF_H */
