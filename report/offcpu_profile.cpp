#include "report/offcpu_profile.h"

#include <cmath>
#include <map>
#include <memory>
#include <string_view>

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

std::vector<Sample> offcpu_samples(Profile& profile, OffCpuWeight weight) {
  std::vector<Sample> out;
  out.reserve(profile.off_cpu.size());
  uint32_t markers[4];
  for (int s = 0; s < 4; s++)
    markers[s] = profile.frames.intern(offcpu_marker_name(static_cast<TaskState>(s)), FrameType::kMarker);
  for (const auto& iv : profile.off_cpu) {
    Sample s;
    s.time_ns = iv.start_ns;
    s.pid = iv.pid;
    s.tid = iv.tid;
    s.cpu = iv.cpu;
    s.stack_id = iv.stack_id;
    s.weight = weight == OffCpuWeight::kTime ? iv.duration_ns : 1;
    s.root_marker = markers[static_cast<int>(iv.state) & 3];
    out.push_back(s);
  }
  return out;
}

std::vector<Sample> waker_samples(Profile& profile, OffCpuWeight weight) {
  std::vector<Sample> out;
  std::map<std::pair<uint32_t, uint32_t>, uint32_t> markers;  // wakee -> marker frame
  for (const auto& iv : profile.off_cpu) {
    if (iv.waker_stack_id == 0) continue;
    uint64_t woken = iv.start_ns + iv.duration_ns;
    auto [it, inserted] = markers.try_emplace({iv.pid, iv.tid}, 0);
    if (inserted)
      it->second = profile.frames.intern("[woke: " + profile.comm_of(iv.pid, iv.tid, woken) + "]",
                                         FrameType::kMarker);
    Sample s;
    s.time_ns = iv.wakeup_ns ? iv.wakeup_ns : woken;
    s.pid = iv.waker_pid;
    s.tid = iv.waker_tid;
    s.cpu = iv.cpu;
    s.stack_id = iv.waker_stack_id;
    s.weight = weight == OffCpuWeight::kTime ? iv.duration_ns : 1;
    s.root_marker = it->second;
    out.push_back(s);
  }
  return out;
}

std::vector<Sample> on_off_samples(Profile& profile) {
  std::vector<Sample> out = offcpu_samples(profile, OffCpuWeight::kTime);
  uint32_t hz = profile.session.sample_frequency_hz;
  if (hz == 0 || profile.samples.empty()) return out;
  uint64_t per_sample = static_cast<uint64_t>(std::llround(1e9 / hz));
  out.reserve(out.size() + profile.samples.size());
  for (Sample s : profile.samples) {
    s.weight = per_sample;
    out.push_back(s);
  }
  return out;
}

std::vector<std::string> stack_names(Profile& profile, uint32_t pid, uint64_t time_ns,
                                     uint32_t stack_id, size_t max) {
  std::vector<std::string> names;
  if (stack_id == 0) return names;
  for (uint32_t id : profile.symbolized_stack(pid, time_ns, stack_id)) {
    const FrameInfo& f = profile.frames[id];
    names.push_back(f.type == FrameType::kKernel ? f.name + " [k]" : f.name);
    if (max && names.size() >= max) break;
  }
  return names;
}

std::string offcpu_top_frame(Profile& profile, const OffCpuInterval& iv) {
  if (iv.stack_id == 0) return "[no stack]";
  const auto& ids = profile.symbolized_stack(iv.pid, iv.start_ns, iv.stack_id);
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

bool waker_in_interrupt(Profile& profile, const OffCpuInterval& iv) {
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

StackSelection select_stacks(Profile& profile, bool off_cpu, bool on_off, const std::string& weight,
                             bool wakers) {
  if (!weight.empty() && weight != "time" && weight != "count")
    throw BadInput("--weight must be 'time' or 'count', not '" + weight + "'");
  StackSelection s;
  if (wakers) {
    if (on_off) throw BadInput("--wakers and --on-off are different views; pick one");
    bool count = weight == "count";
    s.samples = waker_samples(profile, count ? OffCpuWeight::kCount : OffCpuWeight::kTime);
    s.unit = count ? "switches" : "ns";
    s.title = "Off-CPU Wakers Flame Graph";
    return s;
  }
  if (on_off) {
    if (weight == "count")
      throw BadInput("--on-off weighs everything by time; --weight count needs --off-cpu");
    s.samples = on_off_samples(profile);
    s.unit = "ns";
    s.title = "On+Off-CPU Flame Graph";
    return s;
  }
  if (off_cpu || (profile.samples.empty() && !profile.off_cpu.empty())) {
    bool count = weight == "count";
    s.samples = offcpu_samples(profile, count ? OffCpuWeight::kCount : OffCpuWeight::kTime);
    s.unit = count ? "switches" : "ns";
    s.title = count ? "Off-CPU Flame Graph (context switches)" : "Off-CPU Time Flame Graph";
    return s;
  }
  if (!weight.empty())
    throw BadInput("--weight applies to off-CPU data (this capture has on-CPU samples: add --off-cpu)");
  s.samples = profile.samples;
  s.unit = "samples";
  s.title = "CPU Flame Graph";
  return s;
}

OffCpuNaming offcpu_naming(Profile& profile) {
  OffCpuNaming n;
  n.thread_name = [&profile](uint32_t pid, uint32_t tid) {
    return profile.comm_of(pid, tid, profile.end_ns());
  };
  auto cache = std::make_shared<std::map<std::pair<uint32_t, uint32_t>, std::string>>();
  n.top_frame = [&profile, cache](const OffCpuInterval& iv) {
    auto key = std::make_pair(iv.pid, iv.stack_id);
    auto it = cache->find(key);
    if (it != cache->end()) return it->second;
    std::string name = offcpu_top_frame(profile, iv);
    cache->emplace(key, name);
    return name;
  };
  return n;
}

std::vector<OffCpuInterval> filter_intervals(Profile& profile, const Filter& filter) {
  const uint64_t origin = profile.start_ns();
  auto to_ns = [&](double s) { return origin + static_cast<uint64_t>(std::llround(s * 1e9)); };
  const uint64_t begin = filter.time_begin_s ? to_ns(*filter.time_begin_s) : 0;
  const uint64_t end = filter.time_end_s ? to_ns(*filter.time_end_s) : UINT64_MAX;
  std::vector<OffCpuInterval> out;
  for (const auto& iv : profile.off_cpu) {
    if (iv.start_ns < begin || iv.start_ns > end) continue;
    if (!filter.pids.empty() && !filter.pids.count(iv.pid)) continue;
    if (!filter.tids.empty() && !filter.tids.count(iv.tid)) continue;
    if (!filter.comms.empty()) {
      std::string comm = profile.comm_of(iv.pid, iv.tid, iv.start_ns);
      if (!filter.comms.count(comm)) {
        auto p = profile.processes.find(iv.pid);
        if (p == profile.processes.end() || !filter.comms.count(p->second.comm)) continue;
      }
    }
    out.push_back(iv);
  }
  return out;
}

}  // namespace ebt::report
