#include "report/diff.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <unordered_map>
#include <vector>

namespace ebt::report {
namespace {

struct Shares {
  std::unordered_map<std::string, uint64_t> self, total;
  uint64_t sum = 0;
};

// Per function name (folded, so kernel/inline frames keep their suffix):
// weight of the stacks it is the leaf of, and of the stacks it is on (once
// per stack). The comm frame is not a function.
Shares shares_of(const DiffSide& side) {
  Shares s;
  std::set<std::string> seen;
  for (const auto& st : side.stacks.stacks) {
    s.sum += st.weight;
    if (st.frames.size() < 2) continue;
    s.self[folded_name(side.ctx.frames[st.frames.back()])] += st.weight;
    seen.clear();
    for (size_t i = 1; i < st.frames.size(); ++i) {
      std::string n = folded_name(side.ctx.frames[st.frames[i]]);
      if (seen.insert(n).second) s.total[n] += st.weight;
    }
  }
  return s;
}

double pct(uint64_t w, uint64_t total) { return total ? 100.0 * static_cast<double>(w) / static_cast<double>(total) : 0; }

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

void table(const char* what, const std::unordered_map<std::string, uint64_t>& now, uint64_t now_sum,
           const std::unordered_map<std::string, uint64_t>& base, uint64_t base_sum, size_t top, std::ostream& out) {
  struct Row {
    std::string name;
    double now, was, change;
  };
  std::vector<Row> rows;
  std::set<std::string> names;
  for (const auto& [n, w] : now) names.insert(n);
  for (const auto& [n, w] : base) names.insert(n);
  for (const auto& n : names) {
    auto a = now.find(n), b = base.find(n);
    uint64_t wn = a == now.end() ? 0 : a->second, wb = b == base.end() ? 0 : b->second;
    // Exactly equal shares are no change (identical inputs: an empty table).
    if (static_cast<unsigned __int128>(wn) * base_sum == static_cast<unsigned __int128>(wb) * now_sum) continue;
    double x = pct(wn, now_sum), y = pct(wb, base_sum);
    rows.push_back({n, x, y, x - y});
  }
  auto show = [&](const char* title, bool gain) {
    std::vector<Row> part;
    for (const auto& r : rows)
      if ((r.change > 0) == gain) part.push_back(r);
    std::sort(part.begin(), part.end(), [](const Row& a, const Row& b) {
      if (std::fabs(a.change) != std::fabs(b.change)) return std::fabs(a.change) > std::fabs(b.change);
      return a.name < b.name;
    });
    out << "#\n# " << title << " by " << what << " share\n#    Change       New  Baseline  Symbol\n";
    if (part.empty()) out << "  (none)\n";
    for (size_t i = 0; i < part.size() && i < top; ++i) {
      const Row& r = part[i];
      char buf[96];
      std::snprintf(buf, sizeof buf, "  %+8.2f  %7.2f%%  %7.2f%%  ", r.change, r.now, r.was);
      out << buf << r.name << '\n';
    }
  };
  show("Gainers", true);
  show("Losers", false);
}

}  // namespace

void write_diff_table(const DiffSide& now, const DiffSide& base, const DiffTableOptions& options,
                      std::ostream& out) {
  Shares a = shares_of(now), b = shares_of(base);
  out << "# ebtrace report: " << now.name << " against baseline " << base.name << '\n'
      << "# new: " << now.stacks.total_weight << ' ' << now.stacks.unit << "  baseline: " << base.stacks.total_weight
      << ' ' << base.stacks.unit << '\n';
  if (!options.filters.empty()) out << "# filters: " << options.filters << '\n';
  out << "# shares are of each capture's own total; changes in percentage points (new - baseline)\n";
  table("self", a.self, a.sum, b.self, b.sum, options.top, out);
  table("total", a.total, a.sum, b.total, b.sum, options.top, out);
}

void write_diff_folded(const DiffSide& now, const DiffSide& base, std::ostream& out) {
  std::map<std::string, std::pair<uint64_t, uint64_t>> paths;  // path -> (base, new)
  auto add = [&](const DiffSide& side, bool is_new) {
    std::string path;
    for (const auto& st : side.stacks.stacks) {
      path.clear();
      for (size_t i = 0; i < st.frames.size(); ++i) {
        if (i) path += ';';
        path += folded_name(side.ctx.frames[st.frames[i]]);
      }
      auto& p = paths[path];
      (is_new ? p.second : p.first) += st.weight;
    }
  };
  add(base, false);
  add(now, true);
  for (const auto& [path, w] : paths) out << path << ' ' << w.first << ' ' << w.second << '\n';
}

}  // namespace ebt::report
