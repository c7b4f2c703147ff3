#include "record/trigger.h"

#include <cmath>
#include <cstdlib>

#include "common/error.h"

namespace ebt::record {
namespace {

// "80%", "80" -> 80; "500ms", "2s", "100us" -> ns.
bool parse_number(const std::string& s, double* v, std::string* unit) {
  char* end = nullptr;
  *v = std::strtod(s.c_str(), &end);
  if (end == s.c_str() || !std::isfinite(*v) || *v < 0) return false;
  *unit = end;
  return true;
}

}  // namespace

TriggerSpec parse_trigger(const std::string& text, const RecordOptions& o) {
  const std::string forms = " (forms: cpu>PERCENT%, offcpu>DURATION e.g. offcpu>500ms)";
  size_t gt = text.find('>');
  if (gt == std::string::npos) throw BadInput("--trigger " + text + ": no '>'" + forms);
  std::string metric = text.substr(0, gt), value = text.substr(gt + 1);
  double v;
  std::string unit;
  TriggerSpec t;
  t.text = text;
  if (metric == "cpu") {
    if (!parse_number(value, &v, &unit) || (unit != "%" && !unit.empty()) || v <= 0)
      throw BadInput("--trigger " + text + ": cpu takes a percentage of one CPU, e.g. cpu>80%");
    if (!o.cpu) throw BadInput("--trigger " + text + ": cpu is measured from on-CPU samples; add -F HZ");
    t.metric = TriggerSpec::Metric::kCpuPercent;
    t.threshold = v;
    return t;
  }
  if (metric == "offcpu") {
    double mult = 0;
    if (parse_number(value, &v, &unit)) {
      if (unit == "s") mult = 1e9;
      else if (unit == "ms") mult = 1e6;
      else if (unit == "us") mult = 1e3;
    }
    if (mult == 0 || v <= 0)
      throw BadInput("--trigger " + text + ": offcpu takes a duration (s, ms, us), e.g. offcpu>500ms");
    if (!o.off_cpu) throw BadInput("--trigger " + text + ": offcpu is measured from off-CPU intervals; add --off-cpu");
    t.metric = TriggerSpec::Metric::kOffCpuNs;
    t.threshold = v * mult;
    return t;
  }
  if (metric.rfind("l7", 0) == 0)
    throw BadInput("--trigger " + text +
                   ": not available: L7 request latency is only known after parsing the payloads, which "
                   "ebtrace does offline (report --latency), not in the recorder" + forms);
  throw BadInput("--trigger " + text + ": unknown metric '" + metric + "'" + forms);
}

TriggerWindow::TriggerWindow(std::vector<TriggerSpec> specs, double window_s, uint32_t frequency_hz)
    : specs_(std::move(specs)),
      last_held_(specs_.size(), 0),
      window_ns_(uint64_t(window_s * 1e9)),
      frequency_hz_(frequency_hz) {}

TriggerWindow::Bucket& TriggerWindow::bucket(uint64_t t) {
  uint64_t start = t / kBucketNs * kBucketNs;
  // Events arrive nearly in time order (per-CPU reordering within a poll).
  for (auto it = buckets_.rbegin(); it != buckets_.rend(); ++it) {
    if (it->start_ns == start) return *it;
    if (it->start_ns < start) break;
  }
  if (buckets_.empty() || buckets_.back().start_ns < start) {
    buckets_.push_back(Bucket{start, 0, 0});
    return buckets_.back();
  }
  static Bucket too_old;  // older than every bucket kept: outside the window anyway
  too_old = Bucket{};
  return too_old;
}

double TriggerWindow::value(const TriggerSpec& spec, uint64_t now) const {
  uint64_t from = now > window_ns_ ? now - window_ns_ : 0;
  uint64_t samples = 0, off_cpu = 0;
  for (const auto& b : buckets_) {
    if (b.start_ns + kBucketNs <= from) continue;
    samples += b.samples;
    off_cpu += b.off_cpu_ns;
  }
  if (spec.metric == TriggerSpec::Metric::kCpuPercent)
    return double(samples) * 100.0 / (double(frequency_hz_) * double(window_ns_) / 1e9);
  return double(off_cpu);
}

const TriggerSpec* TriggerWindow::check(uint64_t now) {
  uint64_t from = now > window_ns_ + kBucketNs ? now - window_ns_ - kBucketNs : 0;
  while (!buckets_.empty() && buckets_.front().start_ns < from) buckets_.pop_front();
  const TriggerSpec* fired = nullptr;
  for (size_t i = 0; i < specs_.size(); i++) {
    if (value(specs_[i], now) <= specs_[i].threshold) continue;
    bool new_episode = last_held_[i] == 0 || now - last_held_[i] > window_ns_;
    if (new_episode && !fired) fired = &specs_[i];
    last_held_[i] = now;
  }
  return fired;
}

}  // namespace ebt::record
