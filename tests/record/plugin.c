/* Loaded with dlopen by workload.c after the recording started. */
#include <time.h>

__attribute__((noinline)) static unsigned long plugin_step(unsigned long x) {
  for (int i = 0; i < 100000; i++) {
    x = x * 2862933555777941757ul + 3037000493ul;
    __asm__ volatile("" : "+r"(x));
  }
  return x;
}

unsigned long plugin_burn(double secs) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  double end = ts.tv_sec + ts.tv_nsec / 1e9 + secs;
  unsigned long acc = 1;
  for (;;) {
    acc = plugin_step(acc);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    if (ts.tv_sec + ts.tv_nsec / 1e9 >= end) break;
  }
  return acc;
}
