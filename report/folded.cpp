#include "report/folded.h"

#include <map>

namespace ebt::report {

std::vector<std::pair<std::string, uint64_t>> folded_lines(const ReportContext& profile,
                                                           const StackAggregate& stacks) {
  std::map<std::string, uint64_t> merged;
  std::string line;
  for (const auto& s : stacks.stacks) {
    line.clear();
    for (size_t i = 0; i < s.frames.size(); ++i) {
      if (i > 0) line += ';';
      line += folded_name(profile.frames[s.frames[i]]);
    }
    merged[line] += s.weight;
  }
  return {merged.begin(), merged.end()};
}

void write_folded(const ReportContext& profile, const StackAggregate& stacks, std::ostream& out) {
  for (const auto& [line, weight] : folded_lines(profile, stacks)) {
    out << line << ' ' << weight << '\n';
  }
}

}  // namespace ebt::report
