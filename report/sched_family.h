// report --sched: the scheduler latency tables of a --sched capture
// (report/sched_report.h), as text, csv or json (--format).
#pragma once

#include <memory>

#include "report/family.h"

namespace ebt::report {

std::unique_ptr<ReportFamily> make_sched_family();

}  // namespace ebt::report
