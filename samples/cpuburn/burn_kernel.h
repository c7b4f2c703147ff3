// The one CPU-burning loop every part of cpuburn runs, as a macro on purpose:
// an inline function would leave a DW_TAG_inlined_subroutine in every caller,
// and the sample wants exactly one inlined function (hot_inner in burn_b).
// A serial multiply-xorshift chain: same cost per iteration wherever it is
// expanded, not vectorizable, and its result is returned so it is not elided.
#pragma once

#include <cstdint>

#define EBT_BURN_LOOP(iters, state)                      \
  do {                                                   \
    for (uint64_t ebt_i_ = 0; ebt_i_ < (iters); ++ebt_i_) { \
      (state) = (state) * 6364136223846793005ULL + ebt_i_; \
      (state) ^= (state) >> 29;                          \
    }                                                    \
  } while (0)
