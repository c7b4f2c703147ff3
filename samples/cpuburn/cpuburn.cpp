// cpuburn: a workload with known on-CPU behaviour, the ground truth for the
// end-to-end tests and the on-CPU benchmark.
//
// Five parts burn CPU, each in its own frame under main -> run_*:
//   burn_a                          40 %  plain function in the executable
//   burn_b -> hot_inner             20 %  hot_inner is always_inline: only DWARF
//                                         inline info can name it
//   ebt_sample::Matrix::multiply    20 %  C++ method in a namespace (mangled name)
//   plugin_burn                     10 %  in libburn_plugin.so, dlopen()ed only
//                                         after a delay or once --wait-file exists
//   syscall_storm                   10 %  read()s of /dev/zero: kernel frames
//
// Default (adaptive) mode runs for --duration seconds and steers the parts so
// that their measured thread CPU times match those shares exactly, whatever the
// machine: per round it gives each part the CPU time it is short of, using the
// iterations/ns it measured so far. The shares a sampler should see are then
// the ones printed at the end (`part=... share=...`).
// --work N instead runs N rounds of fixed iteration counts (≈10 ms each on the
// reference VM): a fixed amount of work, for overhead benchmarks.
//
// Build: clang++ -O2 -g -fno-omit-frame-pointer -mno-omit-leaf-frame-pointer
// -fno-optimize-sibling-calls (GCC leaves leaf functions frameless).
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>

#include "burn_kernel.h"

extern "C" __attribute__((noinline)) uint64_t burn_a(uint64_t iters, uint64_t seed) {
  uint64_t s = seed;
  EBT_BURN_LOOP(iters, s);
  return s;
}

static inline __attribute__((always_inline)) uint64_t hot_inner(uint64_t iters, uint64_t seed) {
  uint64_t s = seed ^ 0x9e3779b97f4a7c15ULL;
  EBT_BURN_LOOP(iters, s);
  return s;
}

extern "C" __attribute__((noinline)) uint64_t burn_b(uint64_t iters, uint64_t seed) {
  return hot_inner(iters, seed) + 1;
}

namespace ebt_sample {

class Matrix {
 public:
  static constexpr int kN = 24;
  explicit Matrix(uint64_t seed) {
    for (int i = 0; i < kN; ++i)
      for (int j = 0; j < kN; ++j) m_[i][j] = (seed += 0x9e3779b97f4a7c15ULL) >> 40;
  }
  // One unit of work: this <- this * other (mod 2^64), keeping values bounded.
  __attribute__((noinline)) uint64_t multiply(const Matrix& other);

 private:
  uint64_t m_[kN][kN];
};

uint64_t Matrix::multiply(const Matrix& other) {
  uint64_t out[kN][kN];
  for (int i = 0; i < kN; ++i)
    for (int j = 0; j < kN; ++j) {
      uint64_t acc = 0;
      for (int k = 0; k < kN; ++k) acc += m_[i][k] * other.m_[k][j];
      out[i][j] = acc;
    }
  uint64_t check = 0;
  for (int i = 0; i < kN; ++i)
    for (int j = 0; j < kN; ++j) {
      m_[i][j] = (out[i][j] >> 17) | 1;
      check ^= m_[i][j];
    }
  return check;
}

}  // namespace ebt_sample

namespace {

int g_zero_fd = -1;
char g_buf[16384];

}  // namespace

// read(2) issued from this frame: libc's read() wrapper has no frame pointer, so
// a frame-pointer unwind from inside it skips its caller; a raw syscall
// instruction keeps syscall_storm as the innermost user frame under the kernel.
static inline long raw_read(int fd, void* buf, unsigned long n) {
#if defined(__x86_64__)
  long ret;
  asm volatile("syscall"
               : "=a"(ret)
               : "0"(static_cast<long>(SYS_read)), "D"(static_cast<long>(fd)), "S"(buf), "d"(n)
               : "rcx", "r11", "memory");
  return ret;
#else
  return read(fd, buf, n);
#endif
}

extern "C" __attribute__((noinline)) uint64_t syscall_storm(uint64_t iters) {
  uint64_t got = 0;
  for (uint64_t i = 0; i < iters; ++i) {
    long n = raw_read(g_zero_fd, g_buf, sizeof g_buf);
    if (n > 0) got += static_cast<uint64_t>(n);
  }
  return got;
}

namespace {

using PluginFn = uint64_t (*)(uint64_t, uint64_t);

enum Part { kBurnA, kBurnB, kMatrix, kPlugin, kSyscall, kParts };
constexpr const char* kPartName[kParts] = {"burn_a", "burn_b", "ebt_sample::Matrix::multiply",
                                           "plugin_burn", "syscall_storm"};
constexpr double kTarget[kParts] = {0.40, 0.20, 0.20, 0.10, 0.10};
// Iterations per part in one --work round (≈10 ms on the reference VM, keeping
// the shares above); measured with the rates adaptive mode prints.
constexpr uint64_t kFixedIters[kParts] = {1'520'000, 745'000, 300, 376'000, 2'550};

struct Options {
  double duration_s = 5.0;
  long work_rounds = 0;  // > 0: fixed-work mode
  long plugin_delay_ms = 300;
  std::string wait_file;
  std::string plugin_path;
};

[[noreturn]] void usage(const char* msg) {
  if (msg) std::fprintf(stderr, "cpuburn: %s\n", msg);
  std::fprintf(stderr,
               "usage: cpuburn [--duration SEC] [--work ROUNDS] [--plugin PATH]\n"
               "               [--plugin-delay-ms MS] [--wait-file PATH]\n"
               "  --duration SEC      adaptive mode: burn for SEC wall seconds with exact\n"
               "                      CPU shares 40/20/20/10/10 (default 5)\n"
               "  --work ROUNDS       fixed-work mode: ROUNDS rounds of fixed iteration counts\n"
               "  --plugin PATH       libburn_plugin.so (default: next to the executable)\n"
               "  --plugin-delay-ms MS  sleep MS before dlopen()ing the plugin (default 300)\n"
               "  --wait-file PATH    before that, sleep until PATH exists\n"
               "Nothing burns before the plugin is loaded.\n");
  std::exit(msg ? 2 : 0);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) usage(("missing value for " + a).c_str());
      return argv[++i];
    };
    if (a == "--duration") o.duration_s = std::atof(next());
    else if (a == "--work") o.work_rounds = std::atol(next());
    else if (a == "--plugin") o.plugin_path = next();
    else if (a == "--plugin-delay-ms") o.plugin_delay_ms = std::atol(next());
    else if (a == "--wait-file") o.wait_file = next();
    else if (a == "-h" || a == "--help") usage(nullptr);
    else usage(("unknown option " + a).c_str());
  }
  if (o.plugin_path.empty()) {
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) usage("cannot read /proc/self/exe; pass --plugin");
    self[n] = 0;
    std::string dir(self);
    dir.erase(dir.rfind('/'));
    o.plugin_path = dir + "/libburn_plugin.so";
  }
  return o;
}

uint64_t now_ns(clockid_t clk) {
  timespec ts;
  clock_gettime(clk, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ULL + static_cast<uint64_t>(ts.tv_nsec);
}

void sleep_ms(long ms) {
  timespec ts{ms / 1000, (ms % 1000) * 1'000'000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

struct Burner {
  PluginFn plugin = nullptr;
  ebt_sample::Matrix a{1}, b{2};
  uint64_t sink = 0;
  std::array<uint64_t, kParts> iters_total{};
  std::array<uint64_t, kParts> cpu_ns{};

  void run(int part, uint64_t iters) {
    switch (part) {
      case kBurnA: sink += burn_a(iters, sink); break;
      case kBurnB: sink += burn_b(iters, sink); break;
      case kMatrix:
        for (uint64_t i = 0; i < iters; ++i) sink += a.multiply(b);
        break;
      case kPlugin: sink += plugin(iters, sink); break;
      case kSyscall: sink += syscall_storm(iters); break;
    }
  }

  // Runs one part, charging its thread CPU time to it.
  uint64_t timed(int part, uint64_t iters) {
    uint64_t t0 = now_ns(CLOCK_THREAD_CPUTIME_ID);
    run(part, iters);
    uint64_t dt = now_ns(CLOCK_THREAD_CPUTIME_ID) - t0;
    cpu_ns[part] += dt;
    iters_total[part] += iters;
    return dt;
  }
};

__attribute__((noinline)) void run_adaptive(Burner& b, double duration_s) {
  constexpr double kRoundNs = 10e6;
  // Starting guesses (iterations per ns); corrected after the first round.
  double rate[kParts] = {0.14, 0.14, 0.0000045, 0.14, 0.000035};
  uint64_t wall0 = now_ns(CLOCK_MONOTONIC);
  uint64_t deadline = wall0 + static_cast<uint64_t>(duration_s * 1e9);
  long rounds = 0;
  while (now_ns(CLOCK_MONOTONIC) < deadline) {
    double total = 0;
    for (int p = 0; p < kParts; ++p) total += static_cast<double>(b.cpu_ns[p]);
    for (int p = 0; p < kParts; ++p) {
      double want_ns = kTarget[p] * (total + kRoundNs) - static_cast<double>(b.cpu_ns[p]);
      if (want_ns <= 0) continue;
      uint64_t iters = static_cast<uint64_t>(want_ns * rate[p]);
      if (iters == 0) iters = 1;
      uint64_t dt = b.timed(p, iters);
      if (dt > 0) rate[p] = 0.5 * rate[p] + 0.5 * static_cast<double>(iters) / static_cast<double>(dt);
    }
    ++rounds;
  }
  std::printf("cpuburn: mode=adaptive rounds=%ld\n", rounds);
  for (int p = 0; p < kParts; ++p)
    std::printf("cpuburn: rate part=%s iters_per_10ms=%.0f\n", kPartName[p], rate[p] * kRoundNs);
}

__attribute__((noinline)) void run_fixed(Burner& b, long rounds) {
  for (long r = 0; r < rounds; ++r)
    for (int p = 0; p < kParts; ++p) b.timed(p, kFixedIters[p]);
  std::printf("cpuburn: mode=fixed rounds=%ld\n", rounds);
}

}  // namespace

int main(int argc, char** argv) {
  Options opt = parse(argc, argv);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  std::printf("cpuburn: pid=%d\n", static_cast<int>(getpid()));

  g_zero_fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
  if (g_zero_fd < 0) {
    std::fprintf(stderr, "cpuburn: open /dev/zero: %s\n", std::strerror(errno));
    return 1;
  }
  if (!opt.wait_file.empty()) {
    while (access(opt.wait_file.c_str(), F_OK) != 0) sleep_ms(5);
  }
  if (opt.plugin_delay_ms > 0) sleep_ms(opt.plugin_delay_ms);

  void* h = dlopen(opt.plugin_path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    std::fprintf(stderr, "cpuburn: dlopen: %s\n", dlerror());
    return 1;
  }
  Burner b;
  b.plugin = reinterpret_cast<PluginFn>(dlsym(h, "plugin_burn"));
  if (!b.plugin) {
    std::fprintf(stderr, "cpuburn: dlsym plugin_burn: %s\n", dlerror());
    return 1;
  }
  std::printf("cpuburn: plugin loaded %s\n", opt.plugin_path.c_str());

  uint64_t wall0 = now_ns(CLOCK_MONOTONIC);
  if (opt.work_rounds > 0)
    run_fixed(b, opt.work_rounds);
  else
    run_adaptive(b, opt.duration_s);
  double wall_s = static_cast<double>(now_ns(CLOCK_MONOTONIC) - wall0) / 1e9;

  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double cpu_s = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                 static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  double total = 0;
  for (int p = 0; p < kParts; ++p) total += static_cast<double>(b.cpu_ns[p]);
  for (int p = 0; p < kParts; ++p)
    std::printf("cpuburn: part=%s target=%.2f share=%.4f cpu_s=%.3f iters=%llu\n", kPartName[p],
                kTarget[p], total > 0 ? static_cast<double>(b.cpu_ns[p]) / total : 0.0,
                static_cast<double>(b.cpu_ns[p]) / 1e9,
                static_cast<unsigned long long>(b.iters_total[p]));
  std::printf("cpuburn: elapsed_s=%.3f cpu_s=%.3f checksum=%llu\n", wall_s, cpu_s,
              static_cast<unsigned long long>(b.sink));
  return 0;
}
