#include "report/cpu_timeline.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <unordered_map>

#include "report/flat_map.h"
#include "report/offcpu_profile.h"
#include "report/offcpu_trace.h"

namespace ebt::report {
namespace {

// No slice's JSON is shorter than this: the cap on slices kept while reading.
constexpr uint64_t kMinSliceBytes = 100;
constexpr size_t kStackFrames = 8;

size_t digits(uint64_t v) {
  size_t n = 1;
  while (v >= 10) {
    v /= 10;
    n++;
  }
  return n;
}

class CpuTimeline;

class SliceSource : public TraceSource {
 public:
  explicit SliceSource(CpuTimeline* t) : t_(t) {}
  std::vector<std::string> fit(uint64_t budget_bytes) override;
  bool next(uint64_t* ts_ns, std::string* json) override;

 private:
  CpuTimeline* t_;
  size_t pos_ = 0;
};

class CpuTimeline : public ReportFamily {
 public:
  const char* name() const override { return "cpu-timeline"; }
  bool enabled(const RunOptions& run) const override { return !run.trace.empty(); }
  void configure(ReportContext& ctx, const RunOptions& run) override {
    ctx_ = &ctx;
    run_ = &run;
    cap_ = run.trace_max_bytes ? std::max<uint64_t>(run.trace_max_bytes / kMinSliceBytes, 1024) : SIZE_MAX;
  }
  uint64_t kinds() const override { return format::kind_bit(format::RecordKind::kCpuSamples); }

  void on(const CpuSample& s) override {
    if (!passes(*ctx_, run_->filter, s.pid, s.tid, s.time_ns)) return;
    if (period_ == 0) {
      start();
      // Room for the slices up to the cap, taken once: growing by doubling
      // copies and faults in twice the memory.
      // (Bounded: --trace-max-size 1P would ask for terabytes.)
      if (cap_ != SIZE_MAX) slices_.reserve(std::min<size_t>(cap_ + 1, size_t(1) << 21));
    }
    samples_++;
    // One lookup per sample: its (thread, stack key) pair, with the slice that
    // pair last went into.
    uint32_t generation = ctx_->symbolizer.generation(s.pid, s.time_ns);
    auto [pair, fresh] = pairs_.try_emplace(PairKey{s.pid, s.tid, s.stack_id, generation, s.lua_stack_id});
    if (fresh) {
      pair->thread = thread_index(s.pid, s.tid);
      pair->key = key_index(s, generation);
    }
    uint32_t th = pair->thread;
    uint32_t key = pair->key;
    Thread& t = threads_[th];
    if (width_ == 0) {
      if (t.open != kNone && slices_[t.open].key == key && s.time_ns >= slices_[t.open].last &&
          s.time_ns - slices_[t.open].last <= gap_) {
        Slice& sl = slices_[t.open];
        sl.count++;
        sl.last = s.time_ns;
        return;
      }
      t.open = slices_.size();
    } else {
      if (s.time_ns < t.bucket_begin || s.time_ns >= t.bucket_end) {  // (no division per sample)
        uint64_t b = bucket(s.time_ns);
        if (b != t.bucket) {
          t.bucket = b;
          t.epoch = ++epochs_;  // the thread's slices of its previous bucket are closed
        }
        t.bucket_begin = b == 0 ? 0 : origin_ + b * width_;
        t.bucket_end = origin_ + (b + 1) * width_;
      }
      if (pair->epoch == t.epoch) {
        Slice& sl = slices_[pair->slice];
        sl.count++;
        sl.first = std::min(sl.first, s.time_ns);
        sl.last = std::max(sl.last, s.time_ns);
        return;
      }
      pair->epoch = t.epoch;
      pair->slice = slices_.size();
    }
    slices_.push_back({s.time_ns, s.time_ns, th, key, 1});
    if (slices_.size() > cap_) coarsen(cap_ / 2);
  }

  size_t add_trace(TraceJson& trace, ReportContext& ctx) override {
    origin_ = ctx.start_ns();
    trace_origin_ = trace.origin();  // this capture's time at the timeline's origin
    formatter_.begin_capture(trace.origin(), trace.id_base(), "");  // formats in this capture's scope
    trace_ = &trace;
    for (const Thread& t : threads_) name_trace_track(trace, ctx, t.pid, t.tid);
    if (!slices_.empty()) trace.add_source(std::make_unique<SliceSource>(this));
    return samples_;
  }

 private:
  friend class SliceSource;
  static constexpr size_t kNone = SIZE_MAX;
  struct Slice {
    uint64_t first, last;  // sample times
    uint32_t thread, key;
    uint32_t count;
  };
  struct Thread {
    uint32_t pid, tid;
    size_t open = kNone;           // fine merging: the slice to extend
    uint64_t bucket = UINT64_MAX;  // bucket merging: the current bucket, [bucket_begin, bucket_end) in time...
    uint64_t bucket_begin = 0, bucket_end = 0;
    uint64_t epoch = 0;  // ...and its number among all threads' buckets (PairSlot::epoch)
  };
  // A (thread, stack key) pair: what a sample's (pid, tid, stack, mapping
  // generation, Lua stack) stands for.
  struct PairKey {
    uint32_t pid, tid, stack_id, generation, aux;
    bool operator==(const PairKey&) const = default;
  };
  struct PairKeyHash {
    uint64_t operator()(const PairKey& k) const {
      return ((uint64_t(k.pid) << 32) | k.tid) ^ (uint64_t(k.stack_id) * 0x9E3779B97F4A7C15ULL) ^
             (uint64_t(k.generation) << 48) ^ (uint64_t(k.aux) << 24);
    }
  };
  struct PairSlot {
    uint32_t thread, key;
    uint64_t epoch;  // bucket merging: `slice` is the pair's slice while this equals its thread's epoch
    size_t slice;
  };
  struct Key {
    uint32_t pid, stack_id, generation, aux;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    size_t operator()(const Key& k) const {
      return (size_t(k.pid) * 0x9E3779B97F4A7C15ULL) ^ (size_t(k.generation) << 40) ^ k.stack_id ^
             (size_t(k.aux) << 20);
    }
  };
  struct KeyInfo {
    uint32_t pid, stack_id, aux;
    uint64_t first_time;
  };
  struct Placed {
    uint64_t start, dur;
    uint32_t thread, label, count;
  };

  void start() {
    uint32_t hz = ctx_->session.sample_frequency_hz;
    if (hz == 0) {
      warn(run_->input + ": sampling frequency unknown (not in the session): on-CPU slices in --trace "
                         "last 1 ms per sample");
      period_ = 1'000'000;
    } else {
      // At least 1 ns: a capture may claim any frequency up to 2^32 Hz, and a
      // zero period would make the bucket width zero (a division by zero).
      period_ = std::max<uint64_t>(1, static_cast<uint64_t>(std::llround(1e9 / hz)));
    }
    gap_ = period_ + period_ / 2;
    origin_ = ctx_->start_ns();
  }

  uint32_t thread_index(uint32_t pid, uint32_t tid) {
    uint64_t k = (uint64_t(pid) << 32) | tid;
    auto [it, fresh] = thread_ids_.try_emplace(k, uint32_t(threads_.size()));
    if (fresh) threads_.push_back({pid, tid});
    return it->second;
  }
  uint32_t key_index(const CpuSample& s, uint32_t generation) {
    Key k{s.pid, s.stack_id, generation, s.lua_stack_id};
    auto [it, fresh] = key_ids_.try_emplace(k, uint32_t(keys_.size()));
    if (fresh) keys_.push_back({s.pid, s.stack_id, s.lua_stack_id, s.time_ns});
    return it->second;
  }
  uint64_t bucket(uint64_t t) const { return t <= origin_ ? 0 : (t - origin_) / width_; }

  // Merges the slices into buckets of twice the width (the first time: 64
  // sampling periods) until at most `target` remain.
  // Returns false when the buckets cannot widen any more: at 2^63 ns one
  // bucket holds any recording (a width that wrapped to zero would divide by
  // zero), and what remains is one slice per stack and thread.
  bool coarsen(size_t target) {
    bool widened = false;
    while (width_ < uint64_t{1} << 63) {
      width_ = width_ ? width_ * 2 : 64 * period_;
      merge_buckets();
      widened = true;
      if (slices_.size() <= target) break;
    }
    if (!widened) return false;
    // slices_ and scratch_ keep their capacity (about the cap each) until
    // fit(): freeing and growing them again at every coarsening costs more
    // than the rest of the pass.
    for (Thread& t : threads_) {  // slice indices moved: every pair's slice is forgotten
      t.open = kNone;
      t.bucket = UINT64_MAX;
      t.bucket_begin = t.bucket_end = 0;
      t.epoch = ++epochs_;
    }
    return true;
  }

  // One slice per thread, bucket (of the current width) and stack key: the
  // sum of their counts, from the earliest first sample to the latest last.
  // Linear in the slices (this runs every time the cap is reached, over a
  // million slices): they are grouped by thread with a counting sort, and a
  // thread's slices come in time order, so those of one bucket are next to
  // each other (a thread whose samples went back in time is sorted first);
  // within a bucket, equal keys meet through a slot per key.
  void merge_buckets() {
    std::vector<size_t> begin(threads_.size() + 1, 0);
    for (const Slice& sl : slices_) begin[sl.thread + 1]++;
    for (size_t i = 1; i < begin.size(); i++) begin[i] += begin[i - 1];
    scratch_.resize(slices_.size());
    {
      std::vector<size_t> at(begin.begin(), begin.end() - 1);
      for (const Slice& sl : slices_) scratch_[at[sl.thread]++] = sl;
    }
    slices_.clear();
    slot_.resize(keys_.size());
    slot_run_.assign(keys_.size(), UINT64_MAX);
    uint64_t run = 0;  // one number per (thread, bucket) run
    for (size_t th = 0; th < threads_.size(); th++) {
      Slice* first = scratch_.data() + begin[th];
      Slice* last = scratch_.data() + begin[th + 1];
      for (Slice* p = first; p != last && p + 1 != last; ++p) {
        if (bucket(p[1].first) < bucket(p->first)) {
          std::sort(first, last, [&](const Slice& a, const Slice& b) {
            uint64_t ba = bucket(a.first), bb = bucket(b.first);
            if (ba != bb) return ba < bb;
            if (a.key != b.key) return a.key < b.key;
            return a.first < b.first;
          });
          break;
        }
      }
      uint64_t current = UINT64_MAX;
      for (Slice* p = first; p < last; ++p) {
        uint64_t b = bucket(p->first);
        if (b != current || p == first) {
          current = b;
          run++;
        }
        if (slot_run_[p->key] != run) {
          slot_run_[p->key] = run;
          slot_[p->key] = slices_.size();
          slices_.push_back(*p);
          continue;
        }
        Slice& q = slices_[slot_[p->key]];
        q.count += p->count;
        q.first = std::min(q.first, p->first);
        q.last = std::max(q.last, p->last);
      }
    }
  }

  // Names each stack key: leaf and first frames as JSON, deduplicated.
  void make_labels() {
    key_label_.resize(keys_.size());
    std::unordered_map<std::string, uint32_t> ids;
    for (size_t k = 0; k < keys_.size(); k++) {
      const KeyInfo& ki = keys_[k];
      std::vector<std::string> names;
      if (ki.stack_id != 0)
        for (uint32_t id : ctx_->symbolized_stack(StackRef{ki.pid, ki.first_time, ki.stack_id, ki.aux})) {
          const FrameInfo& f = ctx_->frames[id];
          names.push_back(f.type == FrameType::kKernel ? f.name + " [k]" : f.name);
          if (names.size() >= kStackFrames) break;
        }
      std::string leaf = names.empty() ? "[no stack]" : names.front();
      std::string stack = "[";
      for (size_t i = 0; i < names.size(); i++) stack += (i ? "," : "") + json_quote(names[i]);
      stack += "]";
      auto [it, fresh] = ids.try_emplace(json_quote(leaf) + '\n' + stack, uint32_t(labels_.size()));
      if (fresh) labels_.push_back({json_quote(leaf), stack});
      key_label_[k] = it->second;
    }
  }

  // Lays the slices of each thread end to end (a slice starts at its first
  // sample, or where the previous one ends), merging neighbours with the same
  // label; returns the JSON bytes they take.
  uint64_t place() {
    placed_.clear();
    placed_.reserve(slices_.size());
    std::sort(slices_.begin(), slices_.end(), [](const Slice& a, const Slice& b) {
      if (a.thread != b.thread) return a.thread < b.thread;
      if (a.first != b.first) return a.first < b.first;
      return a.key != b.key ? a.key < b.key : a.last < b.last;  // ties (equal times): still one order
    });
    uint64_t prev_end = 0, prev_last = 0, prev_bucket = 0;
    for (size_t i = 0; i < slices_.size(); i++) {
      const Slice& s = slices_[i];
      uint32_t label = key_label_[s.key];
      bool same_thread = !placed_.empty() && placed_.back().thread == s.thread;
      if (!same_thread) prev_end = 0;
      uint64_t b = width_ ? bucket(s.first) : 0;
      if (same_thread && placed_.back().label == label &&
          (width_ ? b == prev_bucket : s.first >= prev_last && s.first - prev_last <= gap_)) {
        Placed& p = placed_.back();
        p.count += s.count;
        p.dur = uint64_t(p.count) * period_;
        prev_end = p.start + p.dur;
        prev_last = s.last;
        continue;
      }
      uint64_t start = std::max(s.first, prev_end);
      placed_.push_back({start, uint64_t(s.count) * period_, s.thread, label, s.count});
      prev_end = start + placed_.back().dur;
      prev_last = s.last;
      prev_bucket = b;
    }
    std::stable_sort(placed_.begin(), placed_.end(),
                     [](const Placed& a, const Placed& b) { return a.start < b.start; });
    uint64_t bytes = 0;
    const size_t fixed = std::string(R"({"name":,"cat":"on-cpu","ph":"X","ts":,"dur":,"pid":,"tid":,"args":{"samples":,"stack":}})").size() + 2;
    for (const Placed& p : placed_) {
      const Thread& t = threads_[p.thread];
      uint64_t rel = p.start >= trace_origin_ ? p.start - trace_origin_ : trace_origin_ - p.start;
      bytes += fixed + digits(rel / 1000) + 4 + (p.start < trace_origin_) + digits(p.dur / 1000) + 4 +
               digits(t.pid) + digits(t.tid) + digits(p.count) + labels_[p.label].leaf.size() +
               labels_[p.label].stack.size();
    }
    return bytes;
  }

  std::vector<std::string> fit(uint64_t budget) {
    std::vector<std::string> notes;
    make_labels();
    bool coarsened_before = width_ != 0;
    uint64_t bytes = place();
    while (budget && bytes > budget && slices_.size() > threads_.size()) {
      if (!coarsen(slices_.size() - 1)) break;  // one slice per stack and thread is as coarse as it gets
      bytes = place();
    }
    if (width_) {
      char buf[400];
      std::snprintf(buf, sizeof buf,
                    "%llu on-CPU samples would take more than --trace-max-size (%.1f MiB left for them): each "
                    "thread's samples are merged per %.3f s bucket, one slice per stack (%zu slices%s); "
                    "for full detail narrow it with --time START,END, --pid or --tid, or raise --trace-max-size",
                    static_cast<unsigned long long>(samples_), budget / 1048576.0, width_ / 1e9, placed_.size(),
                    coarsened_before ? ", merged while reading" : "");
      notes.push_back(buf);
    }
    slices_.clear();
    slices_.shrink_to_fit();
    scratch_.clear();
    scratch_.shrink_to_fit();
    return notes;
  }

  bool next(size_t& pos, uint64_t* ts_ns, std::string* json, const TraceJson& fmt) {
    if (pos >= placed_.size()) return false;
    const Placed& p = placed_[pos++];
    *ts_ns = p.start;
    if (thread_ids_json_.empty()) {
      // Each thread's "pid":P,"tid":T once (the document's track groups: --group container).
      thread_ids_json_.resize(threads_.size());
      for (size_t i = 0; i < threads_.size(); i++)
        trace_->append_ids(thread_ids_json_[i], fmt.id(threads_[i].pid), fmt.id(threads_[i].tid));
    }
    json->clear();
    *json += "{\"name\":";
    *json += labels_[p.label].leaf;
    *json += ",\"cat\":\"on-cpu\",\"ph\":\"X\",\"ts\":";
    fmt.append_ts(*json, p.start);
    *json += ",\"dur\":";
    fmt.append_ts(*json, trace_origin_ + p.dur);
    *json += ',';
    *json += thread_ids_json_[p.thread];
    *json += ",\"args\":{\"samples\":";
    append_decimal(*json, p.count);
    *json += ",\"stack\":";
    *json += labels_[p.label].stack;
    *json += "}}";
    return true;
  }

  ReportContext* ctx_ = nullptr;
  const RunOptions* run_ = nullptr;
  size_t cap_ = SIZE_MAX;
  uint64_t period_ = 0, gap_ = 0, origin_ = 0, trace_origin_ = 0;
  uint64_t width_ = 0;  // 0: merge consecutive samples only; else bucket width (ns)
  uint64_t samples_ = 0;
  std::vector<Thread> threads_;
  FlatMap<PairKey, PairSlot, PairKeyHash> pairs_;
  uint64_t epochs_ = 0;
  std::unordered_map<uint64_t, uint32_t> thread_ids_;
  std::vector<KeyInfo> keys_;
  std::unordered_map<Key, uint32_t, KeyHash> key_ids_;
  std::vector<Slice> slices_;
  std::vector<Slice> scratch_;                          // merge_buckets: slices grouped by thread
  std::vector<size_t> slot_;                            // merge_buckets: key -> its slice in the run
  std::vector<uint64_t> slot_run_;                      // ... valid when equal to the run's number
  struct Label {
    std::string leaf, stack;  // JSON
  };
  std::vector<Label> labels_;
  std::vector<uint32_t> key_label_;
  std::vector<Placed> placed_;
  std::vector<std::string> thread_ids_json_;  // per thread, made by the first next()
  TraceJson formatter_{0};
  const TraceJson* trace_ = nullptr;  // the document being written (add_trace)
};

std::vector<std::string> SliceSource::fit(uint64_t budget_bytes) { return t_->fit(budget_bytes); }

bool SliceSource::next(uint64_t* ts_ns, std::string* json) { return t_->next(pos_, ts_ns, json, t_->formatter_); }

}  // namespace

std::unique_ptr<ReportFamily> make_cpu_timeline_family() { return std::make_unique<CpuTimeline>(); }

}  // namespace ebt::report
