// The trace timeline (`ebtrace report --trace OUT.json`): session metadata,
// named thread tracks, off-CPU slices with wake-up arrows (on-CPU slices:
// report/cpu_timeline.h). Other record kinds add their own slices to the
// same TraceJson after start_trace() (e.g. request slices from report/l7).
#pragma once

#include "report/aggregate.h"
#include "report/context.h"
#include "report/trace_json.h"

namespace ebt::report {

// A TraceJson whose time origin is the session start, with the session in
// "otherData": wall_clock_start (UTC, from the monotonic<->realtime pair),
// wall_clock_start_ns, clock, monotonic_origin_ns, hostname, kernel, version,
// command line.
TraceJson start_trace(const ReportContext& ctx);

// Names the process and thread tracks of (pid, tid) from the capture.
void name_trace_track(TraceJson& trace, const ReportContext& ctx, uint32_t pid, uint32_t tid);

struct OffCpuTraceOptions {
  size_t max_frames = 24;  // frames per stack listed in a slice's args
};

// Off-CPU intervals as "X" slices on their thread's track (name: the top
// blocking frame; args: state, stack, waker, waker stack, runnable time); when
// the wake-up time is known, a nested "runnable" slice from wake-up to switch-in
// and a flow arrow from a zero-length "wakeup" slice on the waker's track.
// `intervals` are already filtered. Returns the number of intervals written.
size_t add_offcpu_to_trace(TraceJson& trace, ReportContext& ctx, const std::vector<OffCpuInterval>& intervals,
                           const OffCpuTraceOptions& options = {});

}  // namespace ebt::report
