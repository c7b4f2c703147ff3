// On-CPU samples on the --trace timeline, as slices: consecutive samples of a
// thread with the same stack merge into one slice ("X", named by the leaf
// frame, args: samples and the first 8 frames) lasting samples x sampling
// period. Slices are kept compactly while the capture is read and written as a
// stream (TraceSource); when they would not fit the --trace-max-size budget,
// samples are merged per thread into time buckets (doubling the width until
// they fit: within a bucket, one slice per stack, laid end to end) and the
// run says so on stderr. Memory follows the slices kept, which the budget
// bounds, not the samples.
#pragma once

#include <memory>

#include "report/family.h"

namespace ebt::report {

std::unique_ptr<ReportFamily> make_cpu_timeline_family();

}  // namespace ebt::report
