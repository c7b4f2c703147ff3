#include "report/offcpu_profile.h"

#include <cmath>
#include <map>
#include <memory>
#include <string_view>
#include <tuple>

#include "common/error.h"

namespace ebt::report {

namespace {

// Kernel frames that only say "this task went to sleep": skipped when naming
// the blocking frame of a kernel-only stack.
bool scheduler_plumbing(std::string_view name) {
  for (std::string_view p : {"__schedule", "schedule", "preempt_schedule", "__cond_resched",
                             "io_schedule", "__traceiter_", "bpf_", "finish_task_switch"}) {
    if (name.substr(0, p.size()) == p) return true;
  }
  return false;
}

bool user_side(FrameType t) {
  return t == FrameType::kUser || t == FrameType::kInline || t == FrameType::kLua ||
         t == FrameType::kJit;
}

}  // namespace

std::string offcpu_marker_name(TaskState state) {
  return std::string("[off-cpu: ") + offcpu_state_letter(state) + "]";
}

Sample offcpu_sample(ReportContext& ctx, const OffCpuInterval& iv, OffCpuWeight weight) {
  Sample s;
  s.time_ns = iv.start_ns;
  s.pid = iv.pid;
  s.tid = iv.tid;
  s.cpu = iv.cpu;
  s.stack_id = iv.stack_id;
  s.aux_id = iv.lua_stack_id;  // --lua: the Lua frames it blocked in, spliced like on-CPU ones
  s.weight = weight == OffCpuWeight::kTime ? iv.duration_ns : 1;
  s.root_marker = ctx.frames.intern(offcpu_marker_name(iv.state), FrameType::kMarker);
  return s;
}

std::vector<Sample> offcpu_samples(ReportContext& ctx, const std::vector<OffCpuInterval>& intervals,
                                   OffCpuWeight weight) {
  std::vector<Sample> out;
  out.reserve(intervals.size());
  for (const auto& iv : intervals) out.push_back(offcpu_sample(ctx, iv, weight));
  return out;
}

bool waker_sample(ReportContext& ctx, const OffCpuInterval& iv, OffCpuWeight weight, Sample* out) {
  if (iv.waker_stack_id == 0) return false;
  uint64_t woken = iv.start_ns + iv.duration_ns;
  Sample& s = *out;
  s = Sample{};
  s.time_ns = iv.wakeup_ns ? iv.wakeup_ns : woken;
  s.pid = iv.waker_pid;
  s.tid = iv.waker_tid;
  s.cpu = iv.cpu;
  s.stack_id = iv.waker_stack_id;
  s.weight = weight == OffCpuWeight::kTime ? iv.duration_ns : 1;
  s.root_marker = ctx.frames.intern("[woke: " + ctx.comm_of(iv.pid, iv.tid, woken) + "]", FrameType::kMarker);
  return true;
}

std::vector<Sample> waker_samples(ReportContext& ctx, const std::vector<OffCpuInterval>& intervals,
                                  OffCpuWeight weight) {
  std::vector<Sample> out;
  Sample s;
  for (const auto& iv : intervals)
    if (waker_sample(ctx, iv, weight, &s)) out.push_back(s);
  return out;
}

std::vector<std::string> stack_names(ReportContext& profile, uint32_t pid, uint64_t time_ns,
                                     uint32_t stack_id, size_t max, uint32_t lua_stack_id) {
  std::vector<std::string> names;
  if (stack_id == 0 && lua_stack_id == 0) return names;
  for (uint32_t id : profile.symbolized_stack(StackRef{pid, time_ns, stack_id, lua_stack_id})) {
    const FrameInfo& f = profile.frames[id];
    names.push_back(f.type == FrameType::kKernel ? f.name + " [k]" : f.name);
    if (max && names.size() >= max) break;
  }
  return names;
}

std::string offcpu_top_frame(ReportContext& profile, const OffCpuInterval& iv) {
  if (iv.stack_id == 0 && iv.lua_stack_id == 0) return "[no stack]";
  const auto& ids = profile.symbolized_stack(StackRef{iv.pid, iv.start_ns, iv.stack_id, iv.lua_stack_id});
  for (uint32_t id : ids) {
    const FrameInfo& f = profile.frames[id];
    if (user_side(f.type)) return f.name;
  }
  for (uint32_t id : ids) {
    const FrameInfo& f = profile.frames[id];
    if (f.type == FrameType::kKernel && !scheduler_plumbing(f.name)) return f.name + " [k]";
  }
  return ids.empty() ? "[unknown]" : profile.frames[ids.front()].name;
}

bool waker_in_interrupt(ReportContext& profile, const OffCpuInterval& iv) {
  if (iv.waker_stack_id == 0) return false;
  bool irq = false;
  for (uint32_t id : profile.symbolized_stack(iv.waker_pid, iv.start_ns + iv.duration_ns,
                                              iv.waker_stack_id)) {
    const FrameInfo& f = profile.frames[id];
    if (f.type != FrameType::kKernel) continue;
    std::string_view n = f.name;
    if (n.substr(0, 10) == "asm_sysvec" || n.substr(0, 20) == "asm_common_interrupt" ||
        n == "__do_softirq" || n == "handle_softirqs" || n == "irq_exit_rcu" ||
        n == "do_softirq_own_stack")
      irq = true;
    if (n == "run_ksoftirqd") return false;  // softirq work in its own thread
  }
  return irq;
}

OffCpuNaming offcpu_naming(ReportContext& profile) {
  OffCpuNaming n;
  n.thread_name = [&profile](uint32_t pid, uint32_t tid) {
    return profile.comm_of(pid, tid, profile.end_ns());
  };
  auto cache = std::make_shared<std::map<std::tuple<uint32_t, uint32_t, uint32_t>, std::string>>();
  n.top_frame = [&profile, cache](const OffCpuInterval& iv) {
    auto key = std::make_tuple(iv.pid, iv.stack_id, iv.lua_stack_id);
    auto it = cache->find(key);
    if (it != cache->end()) return it->second;
    std::string name = offcpu_top_frame(profile, iv);
    cache->emplace(key, name);
    return name;
  };
  return n;
}

std::vector<OffCpuInterval> filter_intervals(ReportContext& ctx, const std::vector<OffCpuInterval>& intervals,
                                             const Filter& filter) {
  std::vector<OffCpuInterval> out;
  for (const auto& iv : intervals)
    if (passes(ctx, filter, iv.pid, iv.tid, iv.start_ns)) out.push_back(iv);
  return out;
}

}  // namespace ebt::report
