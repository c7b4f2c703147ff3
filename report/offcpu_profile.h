// Off-CPU intervals as weighted stacks for the shared aggregation (folded output,
// flame graphs), the combined on+off-CPU view, and the naming helpers the
// latency table and the trace timeline use.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "report/aggregate.h"
#include "report/offcpu_latency.h"
#include "report/profile.h"

namespace ebt::report {

enum class OffCpuWeight {
  kTime,   // blocked nanoseconds (the default for off-CPU data)
  kCount,  // number of switches: context-switch storms
};

// One Sample per interval: weight = duration_ns (kTime) or 1 (kCount), root
// marker "[off-cpu: S]" (state R/S/D/?) right under the thread's comm frame.
std::vector<Sample> offcpu_samples(Profile& profile, OffCpuWeight weight);

// The wakers' side (record --off-cpu-waker): one Sample per interval that has a
// waker stack, on the waker's thread, stack = the waker's stack, weight = the
// wakee's blocked ns (kTime) or 1, root marker "[woke: COMM]" naming the wakee.
// "Who made my threads wait, and from where."
std::vector<Sample> waker_samples(Profile& profile, OffCpuWeight weight);

// On-CPU samples (each weighing 1e9 / sample_frequency_hz ns) plus off-CPU
// intervals (weighing their duration, marked as above): a thread's whole
// wall-clock time in one flame graph. Weight unit: ns.
std::vector<Sample> on_off_samples(Profile& profile);

// The marker frame name of a state: "[off-cpu: S]".
std::string offcpu_marker_name(TaskState state);

// Where an interval blocked, as one name: the innermost user-space frame (the
// application's or library's function that made the blocking call), else the
// innermost kernel frame that is not scheduler plumbing (kernel threads).
std::string offcpu_top_frame(Profile& profile, const OffCpuInterval& interval);

// Symbolized frame names of a stack, leaf first, at most `max` (0: all).
std::vector<std::string> stack_names(Profile& profile, uint32_t pid, uint64_t time_ns,
                                     uint32_t stack_id, size_t max = 0);

// True when the recorded waker stack shows the wake-up ran in interrupt context
// (timer, I/O completion): the waker pid/tid is then just the interrupted task.
// False when there is no waker stack.
bool waker_in_interrupt(Profile& profile, const OffCpuInterval& interval);

// What `ebtrace report` turns into stacks: on-CPU samples (default when the
// capture has them), off-CPU intervals (--off-cpu, or a capture without
// samples), or both (--on-off).
struct StackSelection {
  std::vector<Sample> samples;
  std::string unit;   // StackAggregate::unit: "samples", "ns" or "switches"
  std::string title;  // default flame graph title
};
// weight: "" (default for the data), "time" or "count". Throws BadInput for an
// unknown weight, --weight count with --on-off, or --weight on on-CPU data.
StackSelection select_stacks(Profile& profile, bool off_cpu, bool on_off, const std::string& weight,
                             bool wakers = false);

// Naming callbacks for offcpu_latency() backed by a Profile.
OffCpuNaming offcpu_naming(Profile& profile);

// Intervals passing the pid/tid/comm/time part of `filter`.
std::vector<OffCpuInterval> filter_intervals(Profile& profile, const Filter& filter);

}  // namespace ebt::report
