// Nearest-rank percentiles, the one definition every latency table uses.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

namespace ebt {

// The smallest value with at least p % of the values at or below it, of an
// ascending-sorted vector; 0 for an empty one. p in [0, 100].
inline uint64_t percentile_sorted(const std::vector<uint64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  if (p <= 0) return sorted.front();
  if (p >= 100) return sorted.back();
  // rank = ceil(p/100 * n), 1-based; computed in integers of 1/1000 % to avoid
  // 0.9 * 100 = 90.00000000000001 style surprises.
  uint64_t n = sorted.size();
  uint64_t permille = static_cast<uint64_t>(std::llround(p * 1000.0));
  uint64_t rank = (permille * n + 100000 - 1) / 100000;
  if (rank == 0) rank = 1;
  if (rank > n) rank = n;
  return sorted[rank - 1];
}

}  // namespace ebt
