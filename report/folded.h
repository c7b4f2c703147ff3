// FlameGraph "collapsed stacks": one line per distinct stack, root first,
// `comm;root;...;leaf weight`, sorted; input for flamegraph.pl, inferno, speedscope.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "report/aggregate.h"

namespace ebt::report {

// (line without the weight, weight), sorted by line; stacks of different pids with
// the same comm and frames are merged.
std::vector<std::pair<std::string, uint64_t>> folded_lines(const ReportContext& profile,
                                                           const StackAggregate& stacks);

void write_folded(const ReportContext& profile, const StackAggregate& stacks, std::ostream& out);

}  // namespace ebt::report
