/* The layout of every kernel -> user event (bpf/events.h), asserted field by
 * field. Included at the end of bpf/events.h, so the BPF compiler and the host
 * compiler both check it: a field that moves, grows or changes type breaks the
 * build on both sides instead of corrupting events at run time.
 *
 * Changing an event: change the struct, then the numbers here (they are the ABI
 * record/ decodes); a new event struct gets its EBT_ABI_SIZE and one EBT_ABI_AT
 * per field. The C++ section checks the enums record/ casts straight into
 * format/ values.
 */
#ifndef EBTRACE_BPF_EVENTS_ABI_H
#define EBTRACE_BPF_EVENTS_ABI_H

#ifdef __cplusplus
#define EBT_ABI_ASSERT(cond, what) static_assert(cond, what)
#else
#define EBT_ABI_ASSERT(cond, what) _Static_assert(cond, what)
#endif
#define EBT_ABI_SIZE(s, n) EBT_ABI_ASSERT(sizeof(struct s) == (n), "bpf/events.h: size of " #s " changed")
#define EBT_ABI_AT(s, f, off) \
	EBT_ABI_ASSERT(__builtin_offsetof(struct s, f) == (off), "bpf/events.h: " #s "." #f " moved")

EBT_ABI_SIZE(ebt_event_header, 32);
EBT_ABI_AT(ebt_event_header, kind, 0);
EBT_ABI_AT(ebt_event_header, flags, 2);
EBT_ABI_AT(ebt_event_header, size, 4);
EBT_ABI_AT(ebt_event_header, time_ns, 8);
EBT_ABI_AT(ebt_event_header, pid, 16);
EBT_ABI_AT(ebt_event_header, tid, 20);
EBT_ABI_AT(ebt_event_header, cpu, 24);
EBT_ABI_AT(ebt_event_header, reserved, 28);

EBT_ABI_SIZE(ebt_filter, 24);
EBT_ABI_AT(ebt_filter, by_pid, 0);
EBT_ABI_AT(ebt_filter, by_comm, 1);
EBT_ABI_AT(ebt_filter, by_cgroup, 2);
EBT_ABI_AT(ebt_filter, pad, 3);
EBT_ABI_AT(ebt_filter, comm, 8);

EBT_ABI_SIZE(ebt_cpu_sample, 104);
EBT_ABI_AT(ebt_cpu_sample, h, 0);
EBT_ABI_AT(ebt_cpu_sample, cgroup_id, 32);
EBT_ABI_AT(ebt_cpu_sample, comm, 40);
EBT_ABI_AT(ebt_cpu_sample, kernel_frames, 56);
EBT_ABI_AT(ebt_cpu_sample, user_frames, 60);
EBT_ABI_AT(ebt_cpu_sample, ip, 64);
EBT_ABI_AT(ebt_cpu_sample, sp, 72);
EBT_ABI_AT(ebt_cpu_sample, bp, 80);
EBT_ABI_AT(ebt_cpu_sample, mm_start_stack, 88);
EBT_ABI_AT(ebt_cpu_sample, stack_size, 96);
EBT_ABI_AT(ebt_cpu_sample, reserved, 100);

EBT_ABI_SIZE(ebt_cpu_sample_dwarf, 96);
EBT_ABI_AT(ebt_cpu_sample_dwarf, h, 0);
EBT_ABI_AT(ebt_cpu_sample_dwarf, cgroup_id, 32);
EBT_ABI_AT(ebt_cpu_sample_dwarf, comm, 40);
EBT_ABI_AT(ebt_cpu_sample_dwarf, ip, 56);
EBT_ABI_AT(ebt_cpu_sample_dwarf, sp, 64);
EBT_ABI_AT(ebt_cpu_sample_dwarf, bp, 72);
EBT_ABI_AT(ebt_cpu_sample_dwarf, mm_start_stack, 80);
EBT_ABI_AT(ebt_cpu_sample_dwarf, kernel_frames, 88);
EBT_ABI_AT(ebt_cpu_sample_dwarf, stack_size, 92);

EBT_ABI_SIZE(ebt_task_event, 64);
EBT_ABI_AT(ebt_task_event, h, 0);
EBT_ABI_AT(ebt_task_event, op, 32);
EBT_ABI_AT(ebt_task_event, parent_pid, 36);
EBT_ABI_AT(ebt_task_event, exit_code, 40);
EBT_ABI_AT(ebt_task_event, ns_pid, 44);
EBT_ABI_AT(ebt_task_event, comm, 48);

EBT_ABI_SIZE(ebt_mmap_event, 48);
EBT_ABI_AT(ebt_mmap_event, h, 0);
EBT_ABI_AT(ebt_mmap_event, addr, 32);
EBT_ABI_AT(ebt_mmap_event, len, 40);

EBT_ABI_SIZE(ebt_syscall_event, 64);
EBT_ABI_AT(ebt_syscall_event, h, 0);
EBT_ABI_AT(ebt_syscall_event, enter_ns, 32);
EBT_ABI_AT(ebt_syscall_event, socket_id, 40);
EBT_ABI_AT(ebt_syscall_event, ret, 48);
EBT_ABI_AT(ebt_syscall_event, fd, 56);
EBT_ABI_AT(ebt_syscall_event, syscall, 60);
EBT_ABI_AT(ebt_syscall_event, payload_len, 62);

EBT_ABI_SIZE(ebt_socket_event, 88);
EBT_ABI_AT(ebt_socket_event, h, 0);
EBT_ABI_AT(ebt_socket_event, socket_id, 32);
EBT_ABI_AT(ebt_socket_event, fd, 40);
EBT_ABI_AT(ebt_socket_event, family, 44);
EBT_ABI_AT(ebt_socket_event, protocol, 46);
EBT_ABI_AT(ebt_socket_event, local_port, 48);
EBT_ABI_AT(ebt_socket_event, remote_port, 50);
EBT_ABI_AT(ebt_socket_event, netns, 52);
EBT_ABI_AT(ebt_socket_event, local_addr, 56);
EBT_ABI_AT(ebt_socket_event, remote_addr, 72);

EBT_ABI_SIZE(ebt_offcpu_event, 168);
EBT_ABI_AT(ebt_offcpu_event, h, 0);
EBT_ABI_AT(ebt_offcpu_event, start_ns, 32);
EBT_ABI_AT(ebt_offcpu_event, wakeup_ns, 40);
EBT_ABI_AT(ebt_offcpu_event, state, 48);
EBT_ABI_AT(ebt_offcpu_event, waker_pid, 52);
EBT_ABI_AT(ebt_offcpu_event, waker_tid, 56);
EBT_ABI_AT(ebt_offcpu_event, kernel_frames, 60);
EBT_ABI_AT(ebt_offcpu_event, user_frames, 64);
EBT_ABI_AT(ebt_offcpu_event, waker_kernel_frames, 68);
EBT_ABI_AT(ebt_offcpu_event, waker_user_frames, 72);
EBT_ABI_AT(ebt_offcpu_event, reserved, 76);
EBT_ABI_AT(ebt_offcpu_event, comm, 80);
EBT_ABI_AT(ebt_offcpu_event, ip, 96);
EBT_ABI_AT(ebt_offcpu_event, sp, 104);
EBT_ABI_AT(ebt_offcpu_event, bp, 112);
EBT_ABI_AT(ebt_offcpu_event, mm_start_stack, 120);
EBT_ABI_AT(ebt_offcpu_event, waker_ip, 128);
EBT_ABI_AT(ebt_offcpu_event, waker_sp, 136);
EBT_ABI_AT(ebt_offcpu_event, waker_bp, 144);
EBT_ABI_AT(ebt_offcpu_event, waker_mm_start_stack, 152);
EBT_ABI_AT(ebt_offcpu_event, stack_size, 160);
EBT_ABI_AT(ebt_offcpu_event, waker_stack_size, 164);

EBT_ABI_SIZE(ebt_skb_hop, 136);
EBT_ABI_AT(ebt_skb_hop, h, 0);
EBT_ABI_AT(ebt_skb_hop, skb, 32);
EBT_ABI_AT(ebt_skb_hop, location, 40);
EBT_ABI_AT(ebt_skb_hop, hook, 48);
EBT_ABI_AT(ebt_skb_hop, reason, 52);
EBT_ABI_AT(ebt_skb_hop, ifindex, 56);
EBT_ABI_AT(ebt_skb_hop, netns, 60);
EBT_ABI_AT(ebt_skb_hop, len, 64);
EBT_ABI_AT(ebt_skb_hop, protocol, 68);
EBT_ABI_AT(ebt_skb_hop, l4_proto, 70);
EBT_ABI_AT(ebt_skb_hop, ip_version, 71);
EBT_ABI_AT(ebt_skb_hop, saddr, 72);
EBT_ABI_AT(ebt_skb_hop, daddr, 88);
EBT_ABI_AT(ebt_skb_hop, sport, 104);
EBT_ABI_AT(ebt_skb_hop, dport, 106);
EBT_ABI_AT(ebt_skb_hop, dev, 108);
EBT_ABI_AT(ebt_skb_hop, kernel_frames, 124);
EBT_ABI_AT(ebt_skb_hop, pad, 128);

EBT_ABI_SIZE(ebt_lua_config, 96);
EBT_ABI_AT(ebt_lua_config, interp_start, 0);
EBT_ABI_AT(ebt_lua_config, interp_end, 8);
EBT_ABI_AT(ebt_lua_config, g, 16);
EBT_ABI_AT(ebt_lua_config, gc64, 24);
EBT_ABI_AT(ebt_lua_config, pad, 25);
EBT_ABI_AT(ebt_lua_config, g2disp, 28);
EBT_ABI_AT(ebt_lua_config, l_glref, 32);
EBT_ABI_AT(ebt_lua_config, l_base, 34);
EBT_ABI_AT(ebt_lua_config, l_stack, 36);
EBT_ABI_AT(ebt_lua_config, l_maxstack, 38);
EBT_ABI_AT(ebt_lua_config, l_cframe, 40);
EBT_ABI_AT(ebt_lua_config, g_vmstate, 42);
EBT_ABI_AT(ebt_lua_config, g_cur_l, 44);
EBT_ABI_AT(ebt_lua_config, g_jit_base, 46);
EBT_ABI_AT(ebt_lua_config, gc_marked, 48);
EBT_ABI_AT(ebt_lua_config, fn_pc, 50);
EBT_ABI_AT(ebt_lua_config, fn_f, 52);
EBT_ABI_AT(ebt_lua_config, pt_size, 54);
EBT_ABI_AT(ebt_lua_config, pt_chunkname, 56);
EBT_ABI_AT(ebt_lua_config, cf_pc, 58);
EBT_ABI_AT(ebt_lua_config, cf_l, 60);
EBT_ABI_AT(ebt_lua_config, cf_prev, 62);
EBT_ABI_AT(ebt_lua_config, cf_size, 64);
EBT_ABI_AT(ebt_lua_config, pad2, 66);
EBT_ABI_AT(ebt_lua_config, samples, 72);
EBT_ABI_AT(ebt_lua_config, no_g, 80);
EBT_ABI_AT(ebt_lua_config, idle, 88);

EBT_ABI_SIZE(ebt_lua_frame, 24);
EBT_ABI_AT(ebt_lua_frame, obj, 0);
EBT_ABI_AT(ebt_lua_frame, pc, 8);
EBT_ABI_AT(ebt_lua_frame, fp, 16);
EBT_ABI_AT(ebt_lua_frame, kind, 20);
EBT_ABI_AT(ebt_lua_frame, link_type, 21);
EBT_ABI_AT(ebt_lua_frame, flags, 22);
EBT_ABI_AT(ebt_lua_frame, pad, 23);

EBT_ABI_SIZE(ebt_lua_stack, 72);
EBT_ABI_AT(ebt_lua_stack, h, 0);
EBT_ABI_AT(ebt_lua_stack, g, 32);
EBT_ABI_AT(ebt_lua_stack, l, 40);
EBT_ABI_AT(ebt_lua_stack, cframe, 48);
EBT_ABI_AT(ebt_lua_stack, vmstate, 56);
EBT_ABI_AT(ebt_lua_stack, nframes, 60);
EBT_ABI_AT(ebt_lua_stack, flags, 64);
EBT_ABI_AT(ebt_lua_stack, pad, 68);
EBT_ABI_SIZE(ebt_tcp_event, 152);
EBT_ABI_AT(ebt_tcp_event, h, 0);
EBT_ABI_AT(ebt_tcp_event, cookie, 32);
EBT_ABI_AT(ebt_tcp_event, socket_ino, 40);
EBT_ABI_AT(ebt_tcp_event, bytes_sent, 48);
EBT_ABI_AT(ebt_tcp_event, bytes_received, 56);
EBT_ABI_AT(ebt_tcp_event, bytes_retrans, 64);
EBT_ABI_AT(ebt_tcp_event, srtt_ns, 72);
EBT_ABI_AT(ebt_tcp_event, segs_out, 80);
EBT_ABI_AT(ebt_tcp_event, segs_in, 84);
EBT_ABI_AT(ebt_tcp_event, retransmits, 88);
EBT_ABI_AT(ebt_tcp_event, netns, 92);
EBT_ABI_AT(ebt_tcp_event, sport, 96);
EBT_ABI_AT(ebt_tcp_event, dport, 98);
EBT_ABI_AT(ebt_tcp_event, type, 100);
EBT_ABI_AT(ebt_tcp_event, old_state, 101);
EBT_ABI_AT(ebt_tcp_event, new_state, 102);
EBT_ABI_AT(ebt_tcp_event, family, 103);
EBT_ABI_AT(ebt_tcp_event, saddr, 104);
EBT_ABI_AT(ebt_tcp_event, daddr, 120);
EBT_ABI_AT(ebt_tcp_event, comm, 136);
EBT_ABI_ASSERT(EBT_TCP_TYPE_COUNT == 5, "bpf/events.h: tcp event types changed: update record/tcp_probe.cpp");

EBT_ABI_SIZE(ebt_rq_key, 16);
EBT_ABI_AT(ebt_rq_key, pid, 0);
EBT_ABI_AT(ebt_rq_key, tid, 4);
EBT_ABI_AT(ebt_rq_key, cpu, 8);
EBT_ABI_AT(ebt_rq_key, pad, 12);
EBT_ABI_SIZE(ebt_rq_hist, 40 + 8 * EBT_RQ_SLOTS);
EBT_ABI_AT(ebt_rq_hist, total_ns, 0);
EBT_ABI_AT(ebt_rq_hist, max_ns, 8);
EBT_ABI_AT(ebt_rq_hist, last_ns, 16);
EBT_ABI_AT(ebt_rq_hist, comm, 24);
EBT_ABI_AT(ebt_rq_hist, slots, 40);
EBT_ABI_SIZE(ebt_preempt_key, 16);
EBT_ABI_AT(ebt_preempt_key, pid, 0);
EBT_ABI_AT(ebt_preempt_key, tid, 4);
EBT_ABI_AT(ebt_preempt_key, by_pid, 8);
EBT_ABI_AT(ebt_preempt_key, by_tid, 12);
EBT_ABI_SIZE(ebt_preempt_val, 24);
EBT_ABI_AT(ebt_preempt_val, count, 0);
EBT_ABI_AT(ebt_preempt_val, by_comm, 8);
EBT_ABI_SIZE(ebt_cgswitch_key, 24);
EBT_ABI_AT(ebt_cgswitch_key, cpu, 0);
EBT_ABI_AT(ebt_cgswitch_key, pad, 4);
EBT_ABI_AT(ebt_cgswitch_key, prev_cgroup, 8);
EBT_ABI_AT(ebt_cgswitch_key, next_cgroup, 16);
EBT_ABI_SIZE(ebt_cgrun, 24);
EBT_ABI_AT(ebt_cgrun, seq, 0);
EBT_ABI_AT(ebt_cgrun, cgroup, 8);
EBT_ABI_AT(ebt_cgrun, count, 16);

EBT_ABI_ASSERT(EBT_SKB_HOOK_COUNT == 9, "bpf/events.h: skb hooks changed: update record/skb_probe.cpp's names");
EBT_ABI_ASSERT(EBT_LOST_SCHED < EBT_LOST_MAX, "bpf/events.h: more loss reasons than the lost array holds");

#ifdef __cplusplus
#include "format/records.h"
/* record/ stores these straight into the capture: same numbers on both sides. */
EBT_ABI_ASSERT(EBT_SC_READ == static_cast<int>(ebt::SyscallKind::kRead), "syscall kinds diverged");
EBT_ABI_ASSERT(EBT_SC_WRITE == static_cast<int>(ebt::SyscallKind::kWrite), "syscall kinds diverged");
EBT_ABI_ASSERT(EBT_SC_READV == static_cast<int>(ebt::SyscallKind::kReadv), "syscall kinds diverged");
EBT_ABI_ASSERT(EBT_SC_WRITEV == static_cast<int>(ebt::SyscallKind::kWritev), "syscall kinds diverged");
EBT_ABI_ASSERT(EBT_SC_SENDTO == static_cast<int>(ebt::SyscallKind::kSendto), "syscall kinds diverged");
EBT_ABI_ASSERT(EBT_SC_RECVFROM == static_cast<int>(ebt::SyscallKind::kRecvfrom), "syscall kinds diverged");
EBT_ABI_ASSERT(EBT_SC_SENDMSG == static_cast<int>(ebt::SyscallKind::kSendmsg), "syscall kinds diverged");
EBT_ABI_ASSERT(EBT_SC_RECVMSG == static_cast<int>(ebt::SyscallKind::kRecvmsg), "syscall kinds diverged");
#endif

#undef EBT_ABI_AT
#undef EBT_ABI_SIZE
#undef EBT_ABI_ASSERT

#endif /* EBTRACE_BPF_EVENTS_ABI_H */
