// blocker: a workload with known off-CPU behaviour, for `ebtrace record --off-cpu`.
//
// Thread "sleeper" loops ROUNDS times:
//   blocker_a_sleep()      nanosleep(SLEEP_A_US)              ~70 % of its blocked time
//   blocker_b_pipe_wait()  read() on a pipe until woken      ~30 %
// Thread "waker" loops: waits for the sleeper's "go", sleeps WAIT_B_US, then
//   blocker_c_wake()       write() to the pipe: wakes the sleeper inside B.
//
// The blocking syscalls are issued by the named functions themselves (inline
// `syscall` on x86-64): Debian's libc is built without frame pointers, and
// frame-pointer unwinding through a libc wrapper loses the wrapper's caller,
// which is exactly the frame the test looks for. They are extern "C" so their
// symbol names are exactly blocker_a_sleep / blocker_b_pipe_wait / blocker_c_wake.
//
// Prints one JSON line with what it measured (CLOCK_MONOTONIC around each
// blocking call), e.g.
//   {"pid":1,"sleeper_tid":2,"waker_tid":3,"rounds":100,"a_count":100,"a_ns":...,
//    "b_count":100,"b_ns":...,"c_count":100,"start_ns":...,"end_ns":...}
//
// usage: blocker [ROUNDS=100] [SLEEP_A_US=7000] [WAIT_B_US=3000]
#include <pthread.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

int g_to_sleeper[2];  // waker -> sleeper: the wake-up byte (read in B)
int g_to_waker[2];    // sleeper -> waker: "go, start timing B"
long g_rounds = 100;
long g_sleep_a_us = 7000;
long g_wait_b_us = 3000;
pid_t g_waker_tid = 0;
long g_c_count = 0;

uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

long raw_syscall3(long nr, long a, long b, long c) {
#if defined(__x86_64__)
  long ret;
  asm volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
  return ret;
#else
  return syscall(nr, a, b, c);
#endif
}

extern "C" __attribute__((noinline)) void blocker_a_sleep(long us) {
  timespec ts{us / 1000000, (us % 1000000) * 1000};
  timespec rem;
  while (raw_syscall3(SYS_nanosleep, long(&ts), long(&rem), 0) == -EINTR) ts = rem;
}

extern "C" __attribute__((noinline)) void blocker_b_pipe_wait() {
  char c;
  long r;
  do r = raw_syscall3(SYS_read, g_to_sleeper[0], long(&c), 1);
  while (r == -EINTR);
  if (r != 1) {
    std::fprintf(stderr, "blocker: read: %ld\n", r);
    std::exit(1);
  }
}

extern "C" __attribute__((noinline)) void blocker_c_wake() {
  char c = 'w';
  long r;
  do r = raw_syscall3(SYS_write, g_to_sleeper[1], long(&c), 1);
  while (r == -EINTR);
  if (r != 1) {
    std::fprintf(stderr, "blocker: write: %ld\n", r);
    std::exit(1);
  }
}

__attribute__((noinline)) void* waker_main(void*) {
  pthread_setname_np(pthread_self(), "waker");
  g_waker_tid = pid_t(syscall(SYS_gettid));
  for (;;) {
    char c;
    ssize_t r = read(g_to_waker[0], &c, 1);
    if (r == 0) break;  // sleeper done
    if (r < 0) {
      if (errno == EINTR) continue;
      std::perror("blocker: read go");
      std::exit(1);
    }
    timespec ts{g_wait_b_us / 1000000, (g_wait_b_us % 1000000) * 1000};
    while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) == EINTR) {
    }
    blocker_c_wake();
    g_c_count++;
  }
  return nullptr;
}

struct Result {
  long a_count = 0, b_count = 0;
  uint64_t a_ns = 0, b_ns = 0;
};

__attribute__((noinline)) void sleeper_loop(Result& r) {
  for (long i = 0; i < g_rounds; i++) {
    uint64_t t0 = now_ns();
    blocker_a_sleep(g_sleep_a_us);
    uint64_t t1 = now_ns();
    r.a_ns += t1 - t0;
    r.a_count++;
    char go = 'g';
    if (write(g_to_waker[1], &go, 1) != 1) {
      std::perror("blocker: write go");
      std::exit(1);
    }
    uint64_t t2 = now_ns();
    blocker_b_pipe_wait();
    uint64_t t3 = now_ns();
    r.b_ns += t3 - t2;
    r.b_count++;
  }
}

Result g_result;
pid_t g_sleeper_tid = 0;

__attribute__((noinline)) void* sleeper_main(void*) {
  pthread_setname_np(pthread_self(), "sleeper");
  g_sleeper_tid = pid_t(syscall(SYS_gettid));
  sleeper_loop(g_result);
  close(g_to_waker[1]);
  return nullptr;
}

long arg(int argc, char** argv, int i, long def) {
  if (argc <= i) return def;
  char* end = nullptr;
  long v = std::strtol(argv[i], &end, 10);
  if (*end != 0 || v <= 0) {
    std::fprintf(stderr, "blocker: bad argument %s\nusage: blocker [ROUNDS] [SLEEP_A_US] [WAIT_B_US]\n",
                 argv[i]);
    std::exit(2);
  }
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  g_rounds = arg(argc, argv, 1, 100);
  g_sleep_a_us = arg(argc, argv, 2, 7000);
  g_wait_b_us = arg(argc, argv, 3, 3000);
  if (pipe(g_to_sleeper) != 0 || pipe(g_to_waker) != 0) {
    std::perror("blocker: pipe");
    return 1;
  }
  uint64_t start = now_ns();
  pthread_t sleeper, waker;
  pthread_create(&waker, nullptr, waker_main, nullptr);
  pthread_create(&sleeper, nullptr, sleeper_main, nullptr);
  pthread_join(sleeper, nullptr);
  pthread_join(waker, nullptr);
  uint64_t end = now_ns();
  std::printf(
      "{\"pid\":%d,\"sleeper_tid\":%d,\"waker_tid\":%d,\"rounds\":%ld,\"a_count\":%ld,"
      "\"a_ns\":%" PRIu64 ",\"b_count\":%ld,\"b_ns\":%" PRIu64 ",\"c_count\":%ld,"
      "\"start_ns\":%" PRIu64 ",\"end_ns\":%" PRIu64 "}\n",
      int(getpid()), int(g_sleeper_tid), int(g_waker_tid), g_rounds, g_result.a_count,
      g_result.a_ns, g_result.b_count, g_result.b_ns, g_c_count, start, end);
  return 0;
}
