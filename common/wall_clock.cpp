#include "common/wall_clock.h"

#include <cstdio>
#include <ctime>

namespace ebt {

uint64_t wall_clock_ns(uint64_t monotonic_ns, uint64_t pair_monotonic_ns, uint64_t pair_realtime_ns) {
  if (pair_realtime_ns == 0) return 0;
  return pair_realtime_ns + (monotonic_ns - pair_monotonic_ns);
}

std::string format_wall_clock(uint64_t realtime_ns, unsigned digits, WallClockStyle style) {
  const bool iso = style == WallClockStyle::kIso;
  time_t secs = static_cast<time_t>(realtime_ns / 1000000000ull);
  struct tm tm {};
  gmtime_r(&secs, &tm);
  char date[48];
  std::strftime(date, sizeof date, iso ? "%Y-%m-%dT%H:%M:%S" : "%Y-%m-%d %H:%M:%S", &tm);
  std::string out = date;
  if (digits > 9) digits = 9;
  if (digits > 0) {
    unsigned long long frac = realtime_ns % 1000000000ull;
    for (unsigned i = digits; i < 9; ++i) frac /= 10;
    char sub[16];
    std::snprintf(sub, sizeof sub, ".%0*llu", static_cast<int>(digits), frac);
    out += sub;
  }
  out += iso ? "Z" : " UTC";
  return out;
}

}  // namespace ebt
