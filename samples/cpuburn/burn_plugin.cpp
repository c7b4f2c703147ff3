// libburn_plugin.so: the part of cpuburn that lives in a shared library the
// program dlopen()s only after it started (after a delay, or once a file
// appears), so a recorder must notice a mapping that appeared while recording.
#include <cstdint>

#include "burn_kernel.h"

extern "C" __attribute__((noinline, visibility("default"))) uint64_t plugin_burn(uint64_t iters,
                                                                                 uint64_t seed) {
  uint64_t s = seed;
  EBT_BURN_LOOP(iters, s);
  return s;
}
