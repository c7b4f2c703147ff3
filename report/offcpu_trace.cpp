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

bool sample_passes(Profile& profile, const Filter& filter, uint32_t pid, uint32_t tid,
                   uint64_t time_ns) {
  const uint64_t origin = profile.start_ns();
  if (filter.time_begin_s &&
      time_ns < origin + static_cast<uint64_t>(std::llround(*filter.time_begin_s * 1e9)))
    return false;
  if (filter.time_end_s &&
      time_ns > origin + static_cast<uint64_t>(std::llround(*filter.time_end_s * 1e9)))
    return false;
  if (!filter.pids.empty() && !filter.pids.count(pid)) return false;
  if (!filter.tids.empty() && !filter.tids.count(tid)) return false;
  if (!filter.comms.empty()) {
    if (filter.comms.count(profile.comm_of(pid, tid, time_ns))) return true;
    auto p = profile.processes.find(pid);
    return p != profile.processes.end() && filter.comms.count(p->second.comm);
  }
  return true;
}

}  // namespace

TraceJson start_trace(const Profile& profile) {
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

void name_trace_track(TraceJson& trace, const Profile& profile, uint32_t pid, uint32_t tid) {
  uint64_t when = profile.end_ns();
  std::string pcomm;
  if (auto p = profile.processes.find(pid); p != profile.processes.end()) pcomm = p->second.comm;
  if (pcomm.empty()) pcomm = profile.comm_of(pid, pid, when);
  trace.set_process_name(pid, pcomm);
  trace.set_thread_name(pid, tid, profile.comm_of(pid, tid, when) + " " + std::to_string(tid));
}

size_t add_offcpu_to_trace(TraceJson& trace, Profile& profile, const Filter& filter,
                           const OffCpuTraceOptions& options) {
  std::vector<OffCpuInterval> intervals = filter_intervals(profile, filter);
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
    args.emplace_back("stack", stack_names(profile, iv.pid, iv.start_ns, iv.stack_id, options.max_frames));
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

size_t add_cpu_samples_to_trace(TraceJson& trace, Profile& profile, const Filter& filter) {
  std::set<std::pair<uint32_t, uint32_t>> named;
  size_t n = 0;
  for (const Sample& s : profile.samples) {
    if (!sample_passes(profile, filter, s.pid, s.tid, s.time_ns)) continue;
    if (named.emplace(s.pid, s.tid).second) name_trace_track(trace, profile, s.pid, s.tid);
    std::vector<std::string> names = stack_names(profile, s.pid, s.time_ns, s.stack_id, 8);
    std::string leaf = names.empty() ? "[no stack]" : names.front();
    trace.instant(s.pid, s.tid, s.time_ns, leaf, "on-cpu",
                  {{"cpu", static_cast<uint64_t>(s.cpu)}, {"stack", std::move(names)}});
    n++;
  }
  return n;
}

}  // namespace ebt::report
