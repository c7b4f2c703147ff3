/* Workloads of known cost for the container tests, independent of machine load:
 *   burn cpu MS        spin until this process has used MS ms of CPU time
 *   burn io N          N x (read 1 byte of /dev/zero, write it to /dev/null)
 *   burn sleep N MS    N sleeps of MS ms (off-CPU intervals)
 *   burn wait PATH     until PATH exists (10 ms polls, no CPU to speak of)
 * Several words run one after the other: burn cpu 200 io 1000 sleep 5 10. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double cpu_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static volatile unsigned long sink;

int main(int argc, char** argv) {
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "cpu") && i + 1 < argc) {
      double until = cpu_ms() + atof(argv[++i]);
      while (cpu_ms() < until)
        for (int k = 0; k < 100000; k++) sink += k;
    } else if (!strcmp(argv[i], "io") && i + 1 < argc) {
      long n = atol(argv[++i]);
      int in = open("/dev/zero", O_RDONLY), out = open("/dev/null", O_WRONLY);
      char c;
      for (long k = 0; k < n; k++)
        if (read(in, &c, 1) != 1 || write(out, &c, 1) != 1) return 1;
    } else if (!strcmp(argv[i], "sleep") && i + 2 < argc) {
      long n = atol(argv[++i]);
      long ms = atol(argv[++i]);
      struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
      for (long k = 0; k < n; k++) nanosleep(&ts, NULL);
    } else if (!strcmp(argv[i], "wait") && i + 1 < argc) {
      const char* path = argv[++i];
      struct timespec ts = {0, 10000000L};
      while (access(path, F_OK) != 0) nanosleep(&ts, NULL);
    } else {
      fprintf(stderr, "usage: burn [cpu MS] [io N] [sleep N MS] [wait PATH]...\n");
      return 2;
    }
  }
  return 0;
}
