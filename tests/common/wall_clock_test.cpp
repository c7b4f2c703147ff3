// common/wall_clock.h: the monotonic -> realtime conversion and the formats
// `ebtrace info` (µs, ISO), the trace JSON (ns, ISO) and the text / SVG
// reports (ms, "UTC") print.
#include "common/wall_clock.h"

#include <gtest/gtest.h>

namespace ebt {
namespace {

constexpr uint64_t kRealtime = 1'700'000'000'123'456'789ull;  // 2023-11-14 22:13:20.123456789

TEST(WallClock, ConvertsThroughThePair) {
  EXPECT_EQ(wall_clock_ns(5'000'000'000, 5'000'000'000, kRealtime), kRealtime);
  EXPECT_EQ(wall_clock_ns(7'500'000'000, 5'000'000'000, kRealtime), kRealtime + 2'500'000'000);
  // Before the pair's instant too (unsigned wrap-around cancels out).
  EXPECT_EQ(wall_clock_ns(4'000'000'000, 5'000'000'000, kRealtime), kRealtime - 1'000'000'000);
}

TEST(WallClock, UnknownRealtimeIsZero) {
  EXPECT_EQ(wall_clock_ns(5'000'000'000, 5'000'000'000, 0), 0u);
  EXPECT_EQ(wall_clock_ns(9, 0, 0), 0u);
}

TEST(WallClock, IsoStyle) {
  EXPECT_EQ(format_wall_clock(kRealtime, 9, WallClockStyle::kIso), "2023-11-14T22:13:20.123456789Z");
  EXPECT_EQ(format_wall_clock(kRealtime, 6, WallClockStyle::kIso), "2023-11-14T22:13:20.123456Z");
  EXPECT_EQ(format_wall_clock(kRealtime, 0, WallClockStyle::kIso), "2023-11-14T22:13:20Z");
}

TEST(WallClock, TextStyle) {
  EXPECT_EQ(format_wall_clock(kRealtime, 3, WallClockStyle::kText), "2023-11-14 22:13:20.123 UTC");
  EXPECT_EQ(format_wall_clock(kRealtime, 1, WallClockStyle::kText), "2023-11-14 22:13:20.1 UTC");
}

TEST(WallClock, SubSecondDigitsAreTruncatedAndZeroPadded) {
  const uint64_t s = 1'790'000'000'000'000'000ull;  // 2026-09-21 14:13:20 UTC
  EXPECT_EQ(format_wall_clock(s + 999'999'999, 3, WallClockStyle::kText), "2026-09-21 14:13:20.999 UTC");
  EXPECT_EQ(format_wall_clock(s + 1'000, 6, WallClockStyle::kIso), "2026-09-21T14:13:20.000001Z");
  EXPECT_EQ(format_wall_clock(s + 7, 9, WallClockStyle::kIso), "2026-09-21T14:13:20.000000007Z");
  EXPECT_EQ(format_wall_clock(s + 7, 12, WallClockStyle::kIso), "2026-09-21T14:13:20.000000007Z");
}

TEST(WallClock, Epoch) {
  EXPECT_EQ(format_wall_clock(0, 3, WallClockStyle::kText), "1970-01-01 00:00:00.000 UTC");
  EXPECT_EQ(format_wall_clock(0, 6, WallClockStyle::kIso), "1970-01-01T00:00:00.000000Z");
}

}  // namespace
}  // namespace ebt
