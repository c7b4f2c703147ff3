// Wall-clock times of monotonic instants. A capture times everything with
// CLOCK_MONOTONIC and keeps one (monotonic, realtime) pair read at the same
// instant (SessionInfo::clock_monotonic_ns / clock_realtime_ns).
#pragma once

#include <cstdint>
#include <string>

namespace ebt {

// Realtime ns of `monotonic_ns` through the pair; 0 when the pair's realtime is
// 0 (unknown).
uint64_t wall_clock_ns(uint64_t monotonic_ns, uint64_t pair_monotonic_ns, uint64_t pair_realtime_ns);

enum class WallClockStyle {
  kIso,   // "2026-11-22T10:00:00.123456Z"
  kText,  // "2026-11-22 10:00:00.123 UTC"
};

// `realtime_ns` in UTC with `digits` (0 to 9; more count as 9) sub-second
// digits, truncated, not rounded; no '.' for 0 digits.
std::string format_wall_clock(uint64_t realtime_ns, unsigned digits, WallClockStyle style);

}  // namespace ebt
