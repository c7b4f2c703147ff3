// The off-CPU family: intervals a thread spent off the CPU (record --off-cpu)
// as latency tables (--latency: per thread and per blocking frame) and as
// slices with wake-up arrows on the --trace timeline. Their flame graphs are
// views of the stack family (report/stacks_family.h).
#pragma once

#include <memory>

#include "report/family.h"

namespace ebt::report {

std::unique_ptr<ReportFamily> make_offcpu_family();

}  // namespace ebt::report
