// Test program for leaf repair (tests/record/leaf_repair_test.cpp), built
// WITH frame pointers: every named function below calls a libc function that
// sets up no frame (Debian's libc has no frame pointers), so a frame-pointer
// walk alone skips it.
//
//   leafy ROUNDS
//
// Off-CPU, ROUNDS rounds each, one thread per blocking function:
//   reader:  block_in_read        read() on a pipe, written by wake_reader ~3 ms later
//   sleeper: block_in_nanosleep   nanosleep(1 ms)
//   condw:   block_in_cond_wait   pthread_cond_wait, signalled by wake_cond ~3 ms later
//   poller:  block_in_epoll_wait  epoll_wait(5 ms timeout) on an idle eventfd
//   waker:   pauses 2 ms, wake_reader (write), pauses 1 ms, wake_cond (pthread_cond_signal)
// On-CPU, until the others are done:
//   copier:  copy_big (memcpy of 8 MiB) and scan_big (strlen of 8 MiB), alternately
// At the end one JSON line: pid, each thread's tid and the time each function
// spent in its blocking call (CLOCK_MONOTONIC, ns) or its libc leaf.
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))
#define BIG (8u << 20)

static int rounds;
static int pipe_fd[2];
static int epfd;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int cond_flag;
static atomic_int blockers_left = 4;

struct thread_out {
  uint32_t tid;
  uint64_t ns;   // time in the blocking call / leaf
  uint64_t ns2;  // copier: scan_big
};
static struct thread_out t_reader, t_sleeper, t_condw, t_poller, t_waker, t_copier;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void name_thread(const char* n, struct thread_out* o) {
  prctl(PR_SET_NAME, n);
  o->tid = (uint32_t)syscall(SYS_gettid);
}

static void pause_ms(int ms) {
  struct timespec ts = {0, ms * 1000000L};
  nanosleep(&ts, NULL);
}

NOINLINE uint64_t block_in_read(void) {
  char c;
  uint64_t t0 = now_ns();
  if (read(pipe_fd[0], &c, 1) != 1) abort();
  return now_ns() - t0;
}

NOINLINE uint64_t block_in_nanosleep(void) {
  struct timespec ts = {0, 1000000L};
  uint64_t t0 = now_ns();
  nanosleep(&ts, NULL);
  return now_ns() - t0;
}

NOINLINE uint64_t block_in_cond_wait(void) {
  uint64_t ns = 0;
  pthread_mutex_lock(&mu);
  while (cond_flag == 0) {
    uint64_t t0 = now_ns();
    pthread_cond_wait(&cv, &mu);
    ns += now_ns() - t0;
  }
  cond_flag--;  // a count: a signal sent before the wait is not lost
  pthread_mutex_unlock(&mu);
  return ns;
}

NOINLINE uint64_t block_in_epoll_wait(void) {
  struct epoll_event ev;
  uint64_t t0 = now_ns();
  epoll_wait(epfd, &ev, 1, 5);
  return now_ns() - t0;
}

NOINLINE void wake_reader(void) {
  if (write(pipe_fd[1], "x", 1) != 1) abort();
}

NOINLINE void wake_cond(void) {
  pthread_mutex_lock(&mu);
  cond_flag++;
  pthread_cond_signal(&cv);
  pthread_mutex_unlock(&mu);
}

static char* src_buf;
static char* dst_buf;

NOINLINE void copy_big(void) { memcpy(dst_buf, src_buf, BIG); }

NOINLINE size_t scan_big(void) { return strlen(src_buf); }

static void* reader_main(void* arg) {
  (void)arg;
  name_thread("reader", &t_reader);
  for (int i = 0; i < rounds; i++) t_reader.ns += block_in_read();
  blockers_left--;
  return NULL;
}

static void* sleeper_main(void* arg) {
  (void)arg;
  name_thread("sleeper", &t_sleeper);
  for (int i = 0; i < rounds; i++) t_sleeper.ns += block_in_nanosleep();
  blockers_left--;
  return NULL;
}

static void* condw_main(void* arg) {
  (void)arg;
  name_thread("condw", &t_condw);
  for (int i = 0; i < rounds; i++) t_condw.ns += block_in_cond_wait();
  blockers_left--;
  return NULL;
}

static void* poller_main(void* arg) {
  (void)arg;
  name_thread("poller", &t_poller);
  for (int i = 0; i < rounds; i++) t_poller.ns += block_in_epoll_wait();
  blockers_left--;
  return NULL;
}

static void* waker_main(void* arg) {
  (void)arg;
  name_thread("waker", &t_waker);
  for (int i = 0; i < rounds; i++) {
    pause_ms(2);
    wake_reader();
    pause_ms(1);
    wake_cond();
  }
  return NULL;
}

static void* copier_main(void* arg) {
  (void)arg;
  name_thread("copier", &t_copier);
  while (blockers_left > 0) {
    uint64_t t0 = now_ns();
    copy_big();
    uint64_t t1 = now_ns();
    if (scan_big() != BIG - 1) abort();
    t_copier.ns += t1 - t0;
    t_copier.ns2 += now_ns() - t1;
  }
  return NULL;
}

int main(int argc, char** argv) {
  rounds = argc > 1 ? atoi(argv[1]) : 300;
  if (rounds <= 0 || pipe(pipe_fd) != 0) return 2;
  epfd = epoll_create1(0);
  int efd = eventfd(0, 0);
  struct epoll_event ev = {.events = EPOLLIN};
  if (epfd < 0 || efd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, efd, &ev) != 0) return 2;
  src_buf = malloc(BIG);
  dst_buf = malloc(BIG);
  if (!src_buf || !dst_buf) return 2;
  memset(src_buf, 'a', BIG - 1);
  src_buf[BIG - 1] = 0;

  pthread_t th[6];
  void* (*fns[6])(void*) = {reader_main, sleeper_main, condw_main, poller_main, waker_main, copier_main};
  for (int i = 0; i < 6; i++)
    if (pthread_create(&th[i], NULL, fns[i], NULL) != 0) return 2;
  for (int i = 0; i < 6; i++) pthread_join(th[i], NULL);
  printf("{\"pid\":%d,\"reader_tid\":%u,\"sleeper_tid\":%u,\"condw_tid\":%u,\"poller_tid\":%u,"
         "\"waker_tid\":%u,\"copier_tid\":%u,\"read_ns\":%llu,\"nanosleep_ns\":%llu,\"cond_ns\":%llu,"
         "\"epoll_ns\":%llu,\"memcpy_ns\":%llu,\"strlen_ns\":%llu}\n",
         getpid(), t_reader.tid, t_sleeper.tid, t_condw.tid, t_poller.tid, t_waker.tid, t_copier.tid,
         (unsigned long long)t_reader.ns, (unsigned long long)t_sleeper.ns, (unsigned long long)t_condw.ns,
         (unsigned long long)t_poller.ns, (unsigned long long)t_copier.ns, (unsigned long long)t_copier.ns2);
  return 0;
}
