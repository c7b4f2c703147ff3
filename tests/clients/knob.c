// knob: a workload whose split between two functions is a command-line knob,
// for the export and differential tests (tests/clients/).
//
//   knob --hot-share 0.4 --duration 2
//
// burns CPU for DURATION wall seconds in one thread, in knob_hot() for
// HOT-SHARE of its CPU time and in knob_cold() for the rest, both called from
// knob_run() under main. Adaptive: each 2 ms slice goes to the function whose
// measured thread CPU time is furthest behind its share, so the split holds on
// a loaded machine. Prints "hot=SECONDS cold=SECONDS" at the end.
// Built with frame pointers and without inlining of the two functions.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static volatile uint64_t sink;

// Spins until this thread has used `slice` more seconds of CPU.
#define BURN(slice)                                                      \
  do {                                                                   \
    double until = now(CLOCK_THREAD_CPUTIME_ID) + (slice);               \
    uint64_t s = sink;                                                   \
    while (now(CLOCK_THREAD_CPUTIME_ID) < until)                         \
      for (int i = 0; i < 500000; i++) s = s * 6364136223846793005ULL + 1; \
    sink = s;                                                            \
  } while (0)

__attribute__((noinline)) void knob_hot(double slice) { BURN(slice); }
__attribute__((noinline)) void knob_cold(double slice) { BURN(slice); }

__attribute__((noinline)) void knob_run(double share, double duration) {
  double hot = 0, cold = 0;
  double end = now(CLOCK_MONOTONIC) + duration;
  while (now(CLOCK_MONOTONIC) < end) {
    double total = hot + cold;
    double t0 = now(CLOCK_THREAD_CPUTIME_ID);
    if (hot <= share * (total + 0.002)) {
      knob_hot(0.002);
      hot += now(CLOCK_THREAD_CPUTIME_ID) - t0;
    } else {
      knob_cold(0.002);
      cold += now(CLOCK_THREAD_CPUTIME_ID) - t0;
    }
  }
  printf("hot=%.3f cold=%.3f\n", hot, cold);
}

int main(int argc, char** argv) {
  double share = 0.5, duration = 2;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--hot-share") && i + 1 < argc) share = atof(argv[++i]);
    else if (!strcmp(argv[i], "--duration") && i + 1 < argc) duration = atof(argv[++i]);
    else {
      fprintf(stderr, "usage: knob [--hot-share FRACTION] [--duration SECONDS]\n");
      return 2;
    }
  }
  if (share < 0 || share > 1 || duration <= 0) {
    fprintf(stderr, "knob: --hot-share must be within 0..1 and --duration positive\n");
    return 2;
  }
  knob_run(share, duration);
  return 0;
}
