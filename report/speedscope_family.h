// `report --speedscope FILE`: the capture's stacks in speedscope's JSON file
// format (https://www.speedscope.app/file-format-schema.json), one sampled
// profile per thread, its samples in time order with their weights (on-CPU:
// the sampling period in ns; off-CPU and wakers: blocked ns, or 1 per switch
// with --weight count), frames with source file and line.
#pragma once

#include <memory>

#include "report/family.h"

namespace ebt::report {

std::unique_ptr<ReportFamily> make_speedscope_family();

}  // namespace ebt::report
