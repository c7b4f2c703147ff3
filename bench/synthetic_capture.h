// The synthetic on-CPU workload of the format and report benchmarks: a few
// thousand distinct stacks with Zipf(1.1) popularity, 8 processes / 26
// threads, 2 CPUs, ~99 Hz per CPU with jitter. Generated sample by sample (no
// per-sample memory), so tests can write captures of any size.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "format/records.h"
#include "format/writer.h"

namespace ebt::bench {

class SyntheticWorkload {
 public:
  SyntheticWorkload(size_t samples, uint32_t nstacks) : n_(samples), nstacks_(nstacks) {
    // 8 processes with 1..6 threads each.
    for (uint32_t p = 0; p < 8; ++p) {
      uint32_t pid = 1200 + p * 731;
      for (uint32_t t = 0; t < 1 + p % 6; ++t) threads_.push_back({pid, pid + t});
    }
    for (uint32_t i = 1; i <= nstacks; ++i) {
      Stack s;
      s.id = i;
      size_t depth = 8 + next() % 25;
      for (size_t d = 0; d < depth; ++d) {
        bool kernel = d < 3 && (i % 4 == 0);
        s.frames.push_back({kernel ? 0xffffffff81000000ull + (next() & 0xffffff) : 0x555555554000ull + (next() & 0x3fffff),
                            kernel ? FrameKind::kKernel : FrameKind::kUser});
      }
      stacks_.push_back(std::move(s));
      owner_.push_back(threads_[next() % threads_.size()]);
    }
    // Zipf(1.1) popularity over stacks.
    cdf_.resize(nstacks);
    double sum = 0;
    for (uint32_t i = 0; i < nstacks; ++i) cdf_[i] = (sum += 1.0 / std::pow(i + 1.0, 1.1));
    for (auto& c : cdf_) c /= sum;
  }

  size_t size() const { return n_; }
  const std::vector<Stack>& stacks() const { return stacks_; }
  const std::vector<std::pair<uint32_t, uint32_t>>& threads() const { return threads_; }
  static constexpr uint32_t kHz = 99;

  // The i-th sample (call for i = 0, 1, 2... in order).
  CpuSample sample(size_t i) {
    // 99 Hz on each of 2 CPUs: ~5.05 ms between samples, +-100 us jitter.
    t_ += 5'050'505 + static_cast<int64_t>(next() % 200'001) - 100'000;
    uint32_t k = std::lower_bound(cdf_.begin(), cdf_.end(), unit()) - cdf_.begin();
    if (k >= nstacks_) k = nstacks_ - 1;
    auto [pid, tid] = owner_[k];
    return {t_, pid, tid, static_cast<uint32_t>(i & 1) ^ static_cast<uint32_t>(next() % 16 == 0), k + 1};
  }

  // Writes the whole workload as a capture (stacks before their first use,
  // as the recorder does); returns the last sample's time.
  uint64_t write(const std::string& path) {
    SessionInfo session;
    session.hostname = "bench";
    session.cpu_count = 2;
    session.sample_frequency_hz = kHz;
    session.start_ns = t_;
    format::CaptureWriter writer(path, session);
    for (const auto& [pid, tid] : threads_) {
      if (pid == tid) {
        ProcessInfo p;
        p.pid = pid;
        p.comm = "proc" + std::to_string(pid);
        writer.add(p);
      }
      writer.add(ThreadInfo{pid, tid, "thread" + std::to_string(tid), 0});
    }
    std::vector<bool> written(nstacks_ + 1);
    CpuSample s;
    for (size_t i = 0; i < n_; ++i) {
      s = sample(i);
      if (!written[s.stack_id]) {
        written[s.stack_id] = true;
        writer.add(stacks_[s.stack_id - 1]);
      }
      writer.add(s);
    }
    writer.finish({s.time_ns, n_, 0});
    return s.time_ns;
  }

 private:
  uint64_t next() {
    s_ ^= s_ << 13;
    s_ ^= s_ >> 7;
    s_ ^= s_ << 17;
    return s_;
  }
  double unit() { return (next() >> 11) * (1.0 / 9007199254740992.0); }

  uint64_t s_ = 0x9e3779b97f4a7c15ull;
  size_t n_;
  uint32_t nstacks_;
  uint64_t t_ = 1'000'000'000'000ull;  // ~16 min after boot
  std::vector<std::pair<uint32_t, uint32_t>> threads_;
  std::vector<Stack> stacks_;
  std::vector<std::pair<uint32_t, uint32_t>> owner_;  // stack -> (pid, tid)
  std::vector<double> cdf_;
};

}  // namespace ebt::bench
