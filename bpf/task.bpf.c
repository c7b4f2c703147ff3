// SPDX-License-Identifier: GPL-2.0
/* Process and thread tracking: new tasks, exec, exit, comm changes and new
 * executable mappings (so user space rereads /proc/PID/maps after a dlopen).
 * Also maintains the `targets` set: children of a target become targets (this is
 * how `-- CMD` and `-p` follow forks), exited targets are removed.
 */
#include "bpf/maps.bpf.h"

#define CLONE_THREAD 0x00010000
#define PROT_EXEC 0x4

/* tid -> length of an executable file mmap in flight (enter -> exit). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u64);
} pending_mmap SEC(".maps");

static __always_inline void emit_task_ns(__u64 pid_tgid, __u32 op, __u32 parent_pid,
					 __s32 exit_code, const char *comm, __u32 ns_pid)
{
	struct ebt_task_event *e;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		ebt_count_lost(EBT_LOST_RINGBUF);
		return;
	}
	ebt_fill_header(&e->h, EBT_EV_TASK, sizeof(*e), pid_tgid);
	e->op = op;
	e->parent_pid = parent_pid;
	e->exit_code = exit_code;
	e->ns_pid = ns_pid;
	__builtin_memcpy(e->comm, comm, EBT_TASK_COMM_LEN);
	bpf_ringbuf_submit(e, 0);
}

static __always_inline void emit_task(__u64 pid_tgid, __u32 op, __u32 parent_pid,
				      __s32 exit_code, const char *comm)
{
	emit_task_ns(pid_tgid, op, parent_pid, exit_code, comm, 0);
}

/* A task's pid in its innermost pid namespace (NSpid's last column); 0 when
 * it is in the initial one. The recorder may read /proc too late for a short
 * process in a container: this is its pid inside all the same. */
static __always_inline __u32 ns_pid_of(struct task_struct *task)
{
	struct pid *p = BPF_CORE_READ(task, thread_pid);
	struct upid up = {};
	unsigned int level;

	if (!p)
		return 0;
	level = BPF_CORE_READ(p, level);
	if (level == 0 || level > 31)
		return 0;
	if (bpf_core_read(&up, sizeof(up), &p->numbers[level]))
		return 0;
	return up.nr;
}

/* Raw tracepoints: no trace-event record is built, and detaching one does not
 * wait for an RCU grace period (a perf tracepoint does, ~60 ms each). */

/* task_newtask runs in the parent and, unlike sched_process_fork, carries the
 * clone flags, which tell a new process from a new thread. */
SEC("raw_tp/task_newtask")
int BPF_PROG(ebt_task_newtask, struct task_struct *task, __u64 clone_flags)
{
	__u64 parent = bpf_get_current_pid_tgid();
	__u32 parent_tgid = parent >> 32;
	__u32 child = BPF_CORE_READ(task, pid);
	int thread = (clone_flags & CLONE_THREAD) != 0;
	__u32 child_tgid = thread ? parent_tgid : child;
	char comm[EBT_TASK_COMM_LEN];
	__u8 one = 1;

	if (!thread && ebt_filter.by_pid && bpf_map_lookup_elem(&targets, &parent_tgid))
		bpf_map_update_elem(&targets, &child_tgid, &one, BPF_ANY);
	BPF_CORE_READ_STR_INTO(&comm, task, comm);
	if (!ebt_task_wanted(child_tgid, comm))
		return 0;
	emit_task_ns(((__u64)child_tgid << 32) | child, thread ? EBT_TASK_CLONE : EBT_TASK_FORK,
		     parent_tgid, 0, comm, thread ? 0 : ns_pid_of(task));
	return 0;
}

SEC("raw_tp/sched_process_exec")
int BPF_PROG(ebt_exec)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	char comm[EBT_TASK_COMM_LEN];

	bpf_get_current_comm(comm, sizeof(comm));
	if (!ebt_task_wanted(pid_tgid >> 32, comm))
		return 0;
	emit_task(pid_tgid, EBT_TASK_EXEC, 0, 0, comm);
	return 0;
}

SEC("raw_tp/sched_process_exit")
int BPF_PROG(ebt_exit)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	struct task_struct *task = (void *)bpf_get_current_task();
	/* signal->live reaches 0 when the last thread of the group exits */
	int group_dead = BPF_CORE_READ(task, signal, live.counter) == 0;
	char comm[EBT_TASK_COMM_LEN];
	int wanted;

	bpf_get_current_comm(comm, sizeof(comm));
	wanted = ebt_task_wanted(tgid, comm);
	if (group_dead && ebt_filter.by_pid)
		bpf_map_delete_elem(&targets, &tgid);
	if (!wanted)
		return 0;
	/* tid == pid in the event means "the whole process is gone" */
	if (group_dead)
		pid_tgid = ((__u64)tgid << 32) | tgid;
	else if ((__u32)pid_tgid == tgid)
		return 0; /* the leader left early; the group lives on */
	emit_task(pid_tgid, EBT_TASK_EXIT, 0, BPF_CORE_READ(task, exit_code), comm);
	return 0;
}

SEC("raw_tp/task_rename")
int BPF_PROG(ebt_rename, struct task_struct *task, const char *newcomm)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	char comm[EBT_TASK_COMM_LEN];

	if ((__u32)BPF_CORE_READ(task, pid) != (__u32)pid_tgid)
		return 0; /* renamed through /proc by another task: rare, seen at next sample */
	bpf_probe_read_kernel_str(comm, sizeof(comm), newcomm);
	if (!ebt_task_wanted(pid_tgid >> 32, comm))
		return 0;
	emit_task(pid_tgid, EBT_TASK_COMM, 0, 0, comm);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_mmap")
int ebt_enter_mmap(struct trace_event_raw_sys_enter *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = pid_tgid;
	__u64 len = ctx->args[1];
	long prot = ctx->args[2];
	long fd = (long)ctx->args[4];
	char comm[EBT_TASK_COMM_LEN];

	if (!(prot & PROT_EXEC) || fd < 0)
		return 0;
	bpf_get_current_comm(comm, sizeof(comm));
	if (!ebt_task_wanted(pid_tgid >> 32, comm))
		return 0;
	bpf_map_update_elem(&pending_mmap, &tid, &len, BPF_ANY);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_mmap")
int ebt_exit_mmap(struct trace_event_raw_sys_exit *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = pid_tgid;
	struct ebt_mmap_event *e;
	__u64 *len = bpf_map_lookup_elem(&pending_mmap, &tid);
	__u64 n;

	if (!len)
		return 0;
	n = *len;
	bpf_map_delete_elem(&pending_mmap, &tid);
	if (ctx->ret < 0 && ctx->ret > -4096)
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		ebt_count_lost(EBT_LOST_RINGBUF);
		return 0;
	}
	ebt_fill_header(&e->h, EBT_EV_MMAP, sizeof(*e), pid_tgid);
	e->addr = ctx->ret;
	e->len = n;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
