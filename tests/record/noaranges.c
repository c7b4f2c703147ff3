/* Built by clang without -gdwarf-aranges (tests/record/CMakeLists.txt), as clang
 * and rustc build objects by default: no .debug_aranges. harvest_test finds the
 * source lines and the inline chain of these functions anyway; it looks the
 * lines up by the LINE: markers below. */
#include <stdint.h>

uintptr_t noaranges_ret = 0;

__attribute__((noinline)) int noaranges_marker(int x) { return x * 3 + 1; } /* LINE:marker */

__attribute__((noinline)) int noaranges_callee(int x) {
  noaranges_ret = (uintptr_t)__builtin_return_address(0);
  return x + 1;
}

static inline __attribute__((always_inline)) int noaranges_inlined(int x) {
  return noaranges_callee(x) * 2; /* LINE:call_in_inlined */
}

__attribute__((noinline)) int noaranges_outer(int x) {
  return noaranges_inlined(x) + 5; /* LINE:inlined_call_site */
}
