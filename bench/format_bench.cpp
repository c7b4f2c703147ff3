// Capture format throughput: write and read N synthetic on-CPU samples with
// realistic stack reuse (a few thousand distinct stacks, Zipf-like popularity,
// several processes/threads, 2 CPUs, ~99 Hz per CPU with jitter).
//
//   format_bench [--samples N] [--stacks S] [--out PATH]
//
// Prints one "key value" line per figure (scripts/bench-format.sh parses them).
// CPU time is the whole process (producer + writer thread), so "per CPU second"
// figures are what one core sustains.
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "format/reader.h"
#include "format/writer.h"

namespace {

double now(clockid_t c) {
  timespec ts{};
  clock_gettime(c, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

struct Timer {
  double wall0 = now(CLOCK_MONOTONIC), cpu0 = now(CLOCK_PROCESS_CPUTIME_ID);
  double wall() const { return now(CLOCK_MONOTONIC) - wall0; }
  double cpu() const { return now(CLOCK_PROCESS_CPUTIME_ID) - cpu0; }
};

struct Rng {
  uint64_t s = 0x9e3779b97f4a7c15ull;
  uint64_t next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
  double unit() { return (next() >> 11) * (1.0 / 9007199254740992.0); }
};

struct Workload {
  std::vector<ebt::Stack> stacks;
  std::vector<std::pair<uint32_t, uint32_t>> owner;  // stack -> (pid, tid)
  std::vector<ebt::CpuSample> samples;
};

Workload make_workload(size_t n, uint32_t nstacks) {
  Workload w;
  Rng rng;
  // 8 processes with 1..6 threads each.
  std::vector<std::pair<uint32_t, uint32_t>> threads;
  for (uint32_t p = 0; p < 8; ++p) {
    uint32_t pid = 1200 + p * 731;
    for (uint32_t t = 0; t < 1 + p % 6; ++t) threads.push_back({pid, pid + t});
  }
  for (uint32_t i = 1; i <= nstacks; ++i) {
    ebt::Stack s;
    s.id = i;
    size_t depth = 8 + rng.next() % 25;
    for (size_t d = 0; d < depth; ++d) {
      bool kernel = d < 3 && (i % 4 == 0);
      s.frames.push_back({kernel ? 0xffffffff81000000ull + (rng.next() & 0xffffff)
                                 : 0x555555554000ull + (rng.next() & 0x3fffff),
                          kernel ? ebt::FrameKind::kKernel : ebt::FrameKind::kUser});
    }
    w.stacks.push_back(std::move(s));
    w.owner.push_back(threads[rng.next() % threads.size()]);
  }
  // Zipf(1.1) popularity over stacks.
  std::vector<double> cdf(nstacks);
  double sum = 0;
  for (uint32_t i = 0; i < nstacks; ++i) cdf[i] = (sum += 1.0 / std::pow(i + 1.0, 1.1));
  for (auto& c : cdf) c /= sum;
  w.samples.resize(n);
  uint64_t t = 1'000'000'000'000ull;  // ~16 min after boot
  for (size_t i = 0; i < n; ++i) {
    // 99 Hz on each of 2 CPUs: ~5.05 ms between samples, +-100 us jitter.
    t += 5'050'505 + static_cast<int64_t>(rng.next() % 200'001) - 100'000;
    uint32_t k = std::lower_bound(cdf.begin(), cdf.end(), rng.unit()) - cdf.begin();
    if (k >= nstacks) k = nstacks - 1;
    auto [pid, tid] = w.owner[k];
    w.samples[i] = {t, pid, tid, static_cast<uint32_t>(i & 1) ^ static_cast<uint32_t>(rng.next() % 16 == 0), k + 1};
  }
  return w;
}

struct Counter : ebt::format::RecordVisitor {
  uint64_t samples = 0, stacks = 0, check = 0;
  void on(const ebt::CpuSample& s) override {
    ++samples;
    check += s.stack_id ^ s.tid;
  }
  void on(const ebt::Stack&) override { ++stacks; }
};

}  // namespace

int main(int argc, char** argv) {
  size_t n = 10'000'000;
  uint32_t nstacks = 3000;
  std::string path = "/tmp/ebtrace-format-bench.ebt";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--samples") n = std::strtoull(argv[i + 1], nullptr, 10);
    else if (a == "--stacks") nstacks = std::strtoul(argv[i + 1], nullptr, 10);
    else if (a == "--out") path = argv[i + 1];
    else {
      std::fprintf(stderr, "usage: format_bench [--samples N] [--stacks S] [--out PATH]\n");
      return 2;
    }
  }
  Workload w = make_workload(n, nstacks);

  ebt::SessionInfo session;
  session.hostname = "bench";
  session.cpu_count = 2;
  session.sample_frequency_hz = 99;
  ebt::format::WriteStats ws;
  Timer tw;
  {
    ebt::format::CaptureWriter writer(path, session);
    // Stacks are interned by the recorder: each is written once, before first use.
    std::vector<bool> written(nstacks + 1);
    for (const auto& s : w.samples) {
      if (!written[s.stack_id]) {
        written[s.stack_id] = true;
        writer.add(w.stacks[s.stack_id - 1]);
      }
      writer.add(s);
    }
    ws = writer.finish({w.samples.back().time_ns, n, 0});
  }
  double write_wall = tw.wall(), write_cpu = tw.cpu();

  struct stat st{};
  stat(path.c_str(), &st);
  double bytes_per_sample = static_cast<double>(st.st_size) / n;

  // Read with a cold-ish start: a fresh reader (the file is in the page cache).
  Timer tr;
  Counter c;
  {
    ebt::format::CaptureReader reader(path);
    reader.read(c);
    if (!reader.damage().empty()) {
      std::fprintf(stderr, "damage while reading the bench capture\n");
      return 1;
    }
  }
  double read_wall = tr.wall(), read_cpu = tr.cpu();
  if (c.samples != n) {
    std::fprintf(stderr, "read %llu samples, wrote %zu\n", static_cast<unsigned long long>(c.samples), n);
    return 1;
  }

  std::printf("samples %zu\n", n);
  std::printf("distinct_stacks %llu\n", static_cast<unsigned long long>(c.stacks));
  std::printf("file_bytes %lld\n", static_cast<long long>(st.st_size));
  std::printf("blocks %llu\n", static_cast<unsigned long long>(ws.blocks));
  std::printf("bytes_per_sample %.2f\n", bytes_per_sample);
  std::printf("compression_ratio %.2f\n", static_cast<double>(ws.bytes_uncompressed) / st.st_size);
  std::printf("write_wall_s %.3f\n", write_wall);
  std::printf("write_cpu_s %.3f\n", write_cpu);
  std::printf("write_samples_per_s_wall %.0f\n", n / write_wall);
  std::printf("write_samples_per_cpu_s %.0f\n", n / write_cpu);
  std::printf("read_wall_s %.3f\n", read_wall);
  std::printf("read_cpu_s %.3f\n", read_cpu);
  std::printf("read_samples_per_s_wall %.0f\n", n / read_wall);
  std::printf("read_samples_per_cpu_s %.0f\n", n / read_cpu);
  std::printf("checksum %llu\n", static_cast<unsigned long long>(c.check));
  unlink(path.c_str());
  return 0;
}
