/* Test workload for tests/record: known functions burning CPU in known ways.
 *   workload busy SECS           burn in ebt_busy_function
 *   workload fork SECS           a child process burns, the parent waits
 *   workload dlopen SECS LIB     after 0.3 s dlopen LIB and burn in its plugin_burn
 *   workload syscalls SECS       read /dev/zero in a loop (kernel frames)
 *   workload threads SECS        the main thread and a second thread both burn
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* CPU time of the calling thread: "burn 1 s" means 1 s on a CPU however
 * loaded the machine is, so sample counts do not depend on other load. */
static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

__attribute__((noinline)) unsigned long ebt_busy_function(unsigned long n) {
  unsigned long x = 1;
  for (unsigned long i = 0; i < n; i++) {
    x = x * 6364136223846793005ul + 1442695040888963407ul;
    __asm__ volatile("" : "+r"(x));
  }
  return x;
}

static unsigned long burn(double secs) {
  unsigned long acc = 0;
  double end = now() + secs;
  while (now() < end) acc += ebt_busy_function(200000);
  return acc;
}

__attribute__((noinline)) void ebt_syscall_function(double secs) {
  static char buf[1 << 16];
  int fd = open("/dev/zero", O_RDONLY);
  double end = now() + secs;
  while (now() < end)
    if (read(fd, buf, sizeof buf) < 0) break;
  close(fd);
}

static void* thread_burn(void* arg) {
  burn(*(double*)arg);
  return NULL;
}

int main(int argc, char** argv) {
  if (argc < 3) return 2;
  double secs = atof(argv[2]);
  unsigned long acc = 0;
  if (!strcmp(argv[1], "busy")) {
    acc = burn(secs);
  } else if (!strcmp(argv[1], "fork")) {
    pid_t child = fork();
    if (child == 0) _exit(burn(secs) == 42);
    waitpid(child, NULL, 0);
  } else if (!strcmp(argv[1], "dlopen") && argc > 3) {
    usleep(300000);
    void* h = dlopen(argv[3], RTLD_NOW);
    if (!h) return 3;
    unsigned long (*fn)(double) = (unsigned long (*)(double))dlsym(h, "plugin_burn");
    if (!fn) return 4;
    acc = fn(secs);
  } else if (!strcmp(argv[1], "threads")) {
    pthread_t t;
    pthread_create(&t, NULL, thread_burn, &secs);
    acc = burn(secs);
    pthread_join(t, NULL);
  } else if (!strcmp(argv[1], "syscalls")) {
    ebt_syscall_function(secs);
  } else {
    return 2;
  }
  return acc == 42 ? 1 : 0;
}
