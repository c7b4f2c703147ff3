// Workloads with known scheduling for tests/sched (no dependencies).
//
//   sched_workload pair CPU_PAIR CPU_LONE MS
//     threads "pair_a" and "pair_b" pinned to CPU_PAIR busy-loop until each
//     used MS ms of CPU: they take turns, each waiting on the run queue while
//     the other runs (a time slice). Thread "lone", pinned to CPU_LONE, uses MS
//     ms of CPU in 500 us bursts with 500 us sleeps: its waits are wake-ups
//     with nothing of its own process to wait for. The pair runs at nice -20
//     (the rest of a busy machine barely delays them: they wait for each
//     other), "lone" as SCHED_FIFO: its wake-ups preempt whatever else runs on
//     its CPU, so its waits stay the scheduler's own latency on a loaded
//     machine (a lone pure busy loop would only ever wait for what else runs
//     there, which a shared CI machine decides).
//     Prints {"pid":P,"pair_a":T,"pair_b":T,"lone":T} before they start.
//
//   sched_workload spin CPU SECONDS
//     one thread pinned to CPU busy-loops for SECONDS of wall-clock time.
//
//   sched_workload pingpong CPU ROUNDS
//     threads "ping" and "pong" pinned to CPU (nice -20) pass a byte back and
//     forth over two pipes ROUNDS times: about two switches between them per
//     round. The main thread first moves to another CPU and stays there; ping
//     and pong are both on CPU before the first byte is sent (a barrier), and
//     after the last round each moves off CPU for good before it measures
//     itself. Prints {"switch_outs":N} at the end: how many times the three
//     threads left a CPU (getrusage RUSAGE_THREAD: voluntary + involuntary,
//     the same count the kernel bumps at each sched_switch of the thread),
//     each measured when it can no longer run on CPU. So N bounds every
//     switch on CPU away from one of them, even though each thread's last
//     switches (its exit) come after its measurement: those happen elsewhere.
#include <pthread.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

namespace {

uint64_t ns_of(clockid_t c) {
  timespec ts{};
  clock_gettime(c, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

void pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0) {
    std::perror("sched_setaffinity");
    std::exit(2);
  }
}

volatile uint64_t sink;

void spin_cpu(uint64_t ns) {  // until this thread used `ns` more of CPU time
  uint64_t end = ns_of(CLOCK_THREAD_CPUTIME_ID) + ns;
  while (ns_of(CLOCK_THREAD_CPUTIME_ID) < end)
    for (int i = 0; i < 1000; i++) sink = sink + i;
}

struct Thread {
  const char* name;
  int cpu;
  bool bursts;
  std::atomic<int> tid{0};
};

// Everyone starts together; waiting blocks (a sched_yield() loop would itself
// be hundreds of switches between the pair).
pthread_barrier_t start;
uint64_t g_ms = 0;

void run(Thread* t) {
  prctl(PR_SET_NAME, t->name);
  t->tid = int(syscall(SYS_gettid));
  pin(t->cpu);
  setpriority(PRIO_PROCESS, 0, -20);  // this thread (Linux: per-thread nice)
  if (t->bursts) {
    // Real-time: its wake-ups preempt whatever else a busy machine runs on
    // its CPU, so its waits are the scheduler's own latency.
    sched_param sp{};
    sp.sched_priority = 10;
    if (pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp) != 0) {
      std::fprintf(stderr, "sched_workload: SCHED_FIFO refused (needs root)\n");
      std::exit(2);
    }
  }
  pthread_barrier_wait(&start);
  if (!t->bursts) {
    spin_cpu(g_ms * 1000000ull);
    return;
  }
  for (uint64_t used = 0; used < g_ms * 1000000ull; used += 500000) {
    spin_cpu(500000);
    timespec d{0, 500000};
    nanosleep(&d, nullptr);
  }
}

long switch_outs_of_this_thread() {
  rusage ru{};
  getrusage(RUSAGE_THREAD, &ru);
  return ru.ru_nvcsw + ru.ru_nivcsw;
}

int pingpong(int cpu, long rounds) {
  // Off CPU before ping and pong exist: the main thread never switches there
  // while they do (a switch between it and one of them would count as one
  // within their cgroup, and its exit comes after its measurement).
  const int elsewhere = cpu == 0 ? 1 : 0;
  pin(elsewhere);
  int ab[2], ba[2];
  if (pipe(ab) != 0 || pipe(ba) != 0) {
    std::perror("pipe");
    return 2;
  }
  pthread_barrier_t both_on_cpu;
  pthread_barrier_init(&both_on_cpu, nullptr, 2);
  std::atomic<long> outs{0};
  auto body = [&](const char* name, int in, int out, bool serve) {
    prctl(PR_SET_NAME, name);
    pin(cpu);
    setpriority(PRIO_PROCESS, 0, -20);
    // Both on CPU before the first byte: every hand-off from then on is a
    // switch on CPU away from the thread that passed the byte.
    pthread_barrier_wait(&both_on_cpu);
    char c = 0;
    for (long i = 0; i < rounds; i++) {
      if (serve && write(out, &c, 1) != 1) std::exit(2);
      if (read(in, &c, 1) != 1) std::exit(2);
      if (!serve && write(out, &c, 1) != 1) std::exit(2);
    }
    // Leave CPU for good (sched_setaffinity returns once this thread runs
    // elsewhere), then measure: no switch-out on CPU can follow the count.
    pin(elsewhere);
    outs += switch_outs_of_this_thread();
  };
  std::thread a(body, "ping", ba[0], ab[1], true), b(body, "pong", ab[0], ba[1], false);
  a.join();
  b.join();
  std::printf("{\"switch_outs\":%ld}\n", outs.load() + switch_outs_of_this_thread());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "pair" && argc == 5) {
    g_ms = std::strtoull(argv[4], nullptr, 10);
    Thread a{"pair_a", std::atoi(argv[2]), false}, b{"pair_b", std::atoi(argv[2]), false},
        lone{"lone", std::atoi(argv[3]), true};
    pthread_barrier_init(&start, nullptr, 4);
    std::thread ta(run, &a), tb(run, &b), tl(run, &lone);
    pthread_barrier_wait(&start);
    std::printf("{\"pid\":%d,\"pair_a\":%d,\"pair_b\":%d,\"lone\":%d}\n", int(getpid()), a.tid.load(), b.tid.load(),
                lone.tid.load());
    std::fflush(stdout);
    ta.join();
    tb.join();
    tl.join();
    return 0;
  }
  if (mode == "spin" && argc == 4) {
    pin(std::atoi(argv[2]));
    uint64_t end = ns_of(CLOCK_MONOTONIC) + uint64_t(std::atof(argv[3]) * 1e9);
    while (ns_of(CLOCK_MONOTONIC) < end)
      for (int i = 0; i < 1000; i++) sink = sink + i;
    return 0;
  }
  if (mode == "pingpong" && argc == 4) return pingpong(std::atoi(argv[2]), std::atol(argv[3]));
  std::fprintf(stderr, "usage: sched_workload pair CPU_PAIR CPU_LONE MS | spin CPU SECONDS | pingpong CPU ROUNDS\n");
  return 2;
}
