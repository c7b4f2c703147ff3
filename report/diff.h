// Differential reports (report NEW.ebt --baseline BASE.ebt): the stacks of two
// captures, each symbolized with its own tables, matched by symbolized name.
// Shares are of each capture's own total, so captures of different lengths,
// rates or machines compare; changes are in percentage points.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

#include "report/aggregate.h"
#include "report/context.h"

namespace ebt::report {

// One side of the comparison.
struct DiffSide {
  const ReportContext& ctx;
  const StackAggregate& stacks;
  std::string name;  // capture path, for headers
};

struct DiffTableOptions {
  size_t top = 30;
  std::string filters;
};

// Text tables: the functions whose self share and whose total share changed
// most (by |change|), with both shares and the change, gainers (+) and losers
// (-) each sorted by size.
void write_diff_table(const DiffSide& now, const DiffSide& base, const DiffTableOptions& options,
                      std::ostream& out);

// Folded stacks with both weights, "comm;root;...;leaf BASE NEW" (FlameGraph's
// difffolded.pl format), every path of either side, sorted by path.
void write_diff_folded(const DiffSide& now, const DiffSide& base, std::ostream& out);

}  // namespace ebt::report
