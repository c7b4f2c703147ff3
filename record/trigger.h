// --trigger: conditions measured over a sliding window of what the probes
// deliver for the recorded tasks, which make the flight recorder write a file.
//
//   cpu>80%        on-CPU time of the recorded tasks (process, --comm, cgroup
//                  through -p/-a, or the whole host with -a), in % of one CPU
//                  (top's convention: 250% = two and a half CPUs busy); from the
//                  on-CPU samples, so it needs sampling (-F)
//   offcpu>500ms   time the recorded threads spent blocked (off-CPU intervals of
//                  at least --off-cpu-min that ended in the window); needs --off-cpu
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "record/record_options.h"

namespace ebt::record {

struct TriggerSpec {
  enum class Metric { kCpuPercent, kOffCpuNs };
  Metric metric = Metric::kCpuPercent;
  double threshold = 0;
  std::string text;  // as given: named in the dump's SessionInfo.trigger
};

// BadInput (exit 2) for an expression it cannot evaluate with these options,
// saying which forms exist and what they need.
TriggerSpec parse_trigger(const std::string& text, const RecordOptions& options);

class TriggerWindow {
 public:
  TriggerWindow(std::vector<TriggerSpec> specs, double window_s, uint32_t frequency_hz);
  void on_sample(uint64_t time_ns) { bucket(time_ns).samples++; }
  void on_off_cpu(uint64_t end_ns, uint64_t duration_ns) { bucket(end_ns).off_cpu_ns += duration_ns; }
  // The trigger whose condition holds over [now - window, now] and held at no
  // check during the window before (one firing per episode: it fires again only
  // after its condition was false for a whole window); nullptr if none.
  const TriggerSpec* check(uint64_t now_ns);
  // The value a spec measures now (the stderr line of a firing says it).
  double value(const TriggerSpec& spec, uint64_t now_ns) const;

 private:
  struct Bucket {
    uint64_t start_ns = 0;
    uint64_t samples = 0;
    uint64_t off_cpu_ns = 0;
  };
  static constexpr uint64_t kBucketNs = 100'000'000;
  Bucket& bucket(uint64_t t);

  std::vector<TriggerSpec> specs_;
  std::vector<uint64_t> last_held_;  // last check it held at (0: never)
  uint64_t window_ns_;
  uint32_t frequency_hz_;
  std::deque<Bucket> buckets_;  // by start time
};

}  // namespace ebt::record
