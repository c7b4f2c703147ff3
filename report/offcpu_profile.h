// Off-CPU intervals as weighted stacks for the shared aggregation (folded output,
// flame graphs), the combined on+off-CPU view, and the naming helpers the
// latency table and the trace timeline use.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "report/aggregate.h"
#include "report/offcpu_latency.h"
#include "report/context.h"

namespace ebt::report {

enum class OffCpuWeight {
  kTime,   // blocked nanoseconds (the default for off-CPU data)
  kCount,  // number of switches: context-switch storms
};

// The Sample of one interval: weight = duration_ns (kTime) or 1 (kCount), root
// marker "[off-cpu: S]" (state R/S/D/?) right under the thread's comm frame.
Sample offcpu_sample(ReportContext& ctx, const OffCpuInterval& interval, OffCpuWeight weight);
std::vector<Sample> offcpu_samples(ReportContext& ctx, const std::vector<OffCpuInterval>& intervals,
                                   OffCpuWeight weight);

// The wakers' side (record --off-cpu-waker): for an interval that has a waker
// stack, a Sample on the waker's thread, stack = the waker's stack, weight =
// the wakee's blocked ns (kTime) or 1, root marker "[woke: COMM]" naming the
// wakee. "Who made my threads wait, and from where." False without a waker stack.
bool waker_sample(ReportContext& ctx, const OffCpuInterval& interval, OffCpuWeight weight, Sample* out);
std::vector<Sample> waker_samples(ReportContext& ctx, const std::vector<OffCpuInterval>& intervals,
                                  OffCpuWeight weight);

// The marker frame name of a state: "[off-cpu: S]".
std::string offcpu_marker_name(TaskState state);

// Where an interval blocked, as one name: the innermost user-space frame (the
// application's or library's function that made the blocking call), else the
// innermost kernel frame that is not scheduler plumbing (kernel threads).
std::string offcpu_top_frame(ReportContext& ctx, const OffCpuInterval& interval);

// Symbolized frame names of a stack, leaf first, at most `max` (0: all), with
// the Lua stack `lua_stack_id` spliced in (0: none).
std::vector<std::string> stack_names(ReportContext& ctx, uint32_t pid, uint64_t time_ns,
                                     uint32_t stack_id, size_t max = 0, uint32_t lua_stack_id = 0);

// True when the recorded waker stack shows the wake-up ran in interrupt context
// (timer, I/O completion): the waker pid/tid is then just the interrupted task.
// False when there is no waker stack.
bool waker_in_interrupt(ReportContext& ctx, const OffCpuInterval& interval);

// Naming callbacks for offcpu_latency() backed by a ReportContext.
OffCpuNaming offcpu_naming(ReportContext& ctx);

// Intervals passing the pid/tid/comm/time part of `filter`.
std::vector<OffCpuInterval> filter_intervals(ReportContext& ctx, const std::vector<OffCpuInterval>& intervals,
                                             const Filter& filter);

}  // namespace ebt::report
