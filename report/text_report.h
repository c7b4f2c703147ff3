// The default `ebtrace report` output: header, per-process overhead, and the top
// functions by self overhead (perf report --stdio --no-children) and by total
// overhead including callees (perf's children view).
#pragma once

#include <cstddef>
#include <ostream>
#include <string>

#include "report/aggregate.h"
#include "report/containers.h"

namespace ebt::report {

struct TextReportOptions {
  size_t top = 30;           // lines per function table
  std::string input;         // capture path shown in the header
  std::string filters;       // human-readable active filters, shown when not empty
  bool by_container = false; // --by container: the Containers table (rows below)
  std::vector<ContainerRow> containers;
};

void write_text_report(const ReportContext& profile, const StackAggregate& stacks,
                       const TextReportOptions& options, std::ostream& out);

}  // namespace ebt::report
