#include "report/offcpu_trace.h"

#include <cmath>
#include <cstdio>
#include <set>

#include "common/wall_clock.h"
#include "report/offcpu_latency.h"
#include "report/offcpu_profile.h"

namespace ebt::report {

namespace {

const char* state_text(TaskState s) {
  switch (s) {
    case TaskState::kRunning: return "R (preempted)";
    case TaskState::kInterruptible: return "S (sleeping)";
    case TaskState::kUninterruptible: return "D (uninterruptible)";
    default: return "? (other)";
  }
}

}  // namespace

TraceJson start_trace(const ReportContext& profile) {
  const SessionInfo& s = profile.session;
  uint64_t origin = profile.start_ns();
  TraceJson t(origin);
  if (s.clock_realtime_ns != 0) {
    uint64_t wall = wall_clock_ns(origin, s.clock_monotonic_ns, s.clock_realtime_ns);
    t.set_other("wall_clock_start", format_wall_clock(wall, 9, WallClockStyle::kIso));
    t.set_other("wall_clock_start_ns", std::to_string(wall));
  }
  t.set_other("clock", "CLOCK_MONOTONIC; ts is microseconds since monotonic_origin_ns");
  t.set_other("monotonic_origin_ns", std::to_string(origin));
  if (!s.hostname.empty()) t.set_other("hostname", s.hostname);
  if (!s.kernel_release.empty()) t.set_other("kernel", s.kernel_release);
  if (!s.ebtrace_version.empty()) t.set_other("ebtrace_version", s.ebtrace_version);
  std::string cmd;
  for (const auto& a : s.command_line) cmd += (cmd.empty() ? "" : " ") + a;
  if (!cmd.empty()) t.set_other("command_line", cmd);
  if (s.sample_frequency_hz) t.set_other("sample_frequency_hz", std::to_string(s.sample_frequency_hz));
  return t;
}

void name_trace_track(TraceJson& trace, const ReportContext& profile, uint32_t pid, uint32_t tid) {
  uint64_t when = profile.end_ns();
  std::string pcomm;
  if (auto p = profile.processes.find(pid); p != profile.processes.end()) pcomm = p->second.comm;
  if (pcomm.empty()) pcomm = profile.comm_of(pid, pid, when);
  trace.set_process_name(pid, pcomm);
  trace.set_thread_name(pid, tid, profile.comm_of(pid, tid, when) + " " + std::to_string(tid));
}

size_t add_offcpu_to_trace(TraceJson& trace, ReportContext& profile, const std::vector<OffCpuInterval>& intervals,
                           const OffCpuTraceOptions& options) {
  std::set<std::pair<uint32_t, uint32_t>> named;
  auto name = [&](uint32_t pid, uint32_t tid) {
    if (named.emplace(pid, tid).second) name_trace_track(trace, profile, pid, tid);
  };
  OffCpuNaming naming = offcpu_naming(profile);
  for (const auto& iv : intervals) {
    name(iv.pid, iv.tid);
    const uint64_t end = iv.start_ns + iv.duration_ns;
    TraceArgs args;
    args.emplace_back("state", std::string(state_text(iv.state)));
    args.emplace_back("duration_us", static_cast<double>(iv.duration_ns) / 1e3);
    args.emplace_back("cpu", static_cast<uint64_t>(iv.cpu));
    args.emplace_back("stack", stack_names(profile, iv.pid, iv.start_ns, iv.stack_id, options.max_frames, iv.lua_stack_id));
    bool woken = iv.wakeup_ns > iv.start_ns && iv.wakeup_ns <= end;
    bool irq = waker_in_interrupt(profile, iv);
    if (iv.waker_tid != 0 || irq) {
      std::string who = profile.comm_of(iv.waker_pid, iv.waker_tid, end) + " " +
                        std::to_string(iv.waker_pid) + "/" + std::to_string(iv.waker_tid);
      args.emplace_back("waker", irq ? "[interrupt] (interrupted " + who + ")" : who);
    }
    if (iv.waker_stack_id != 0)
      args.emplace_back("waker_stack", stack_names(profile, iv.waker_pid, end, iv.waker_stack_id,
                                                   options.max_frames));
    if (woken) args.emplace_back("runnable_us", static_cast<double>(end - iv.wakeup_ns) / 1e3);
    trace.slice(iv.pid, iv.tid, iv.start_ns, iv.duration_ns, naming.top_frame(iv), "off-cpu",
                std::move(args));
    if (!woken) continue;
    trace.slice(iv.pid, iv.tid, iv.wakeup_ns, end - iv.wakeup_ns, "runnable", "off-cpu");
    if (iv.waker_tid == 0 || irq) continue;
    name(iv.waker_pid, iv.waker_tid);
    trace.slice(iv.waker_pid, iv.waker_tid, iv.wakeup_ns, 0,
                "wakeup " + profile.comm_of(iv.pid, iv.tid, end) + " " + std::to_string(iv.tid),
                "wakeup", {{"wakee_tid", static_cast<uint64_t>(iv.tid)}});
    trace.flow(iv.waker_pid, iv.waker_tid, iv.wakeup_ns, iv.pid, iv.tid, iv.wakeup_ns, "wakeup",
               "wakeup");
  }
  return intervals.size();
}

}  // namespace ebt::report
