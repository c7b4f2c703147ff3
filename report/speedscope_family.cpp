#include "report/speedscope_family.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <ostream>
#include <unordered_map>

#include "common/error.h"
#include "report/offcpu_profile.h"
#include "report/stacks_family.h"

namespace ebt::report {
namespace {

// One event of a thread's timeline, or a run of consecutive events with the
// same stack (merged as they arrive: speedscope merges them anyway).
// 24 bytes: a long capture has millions.
struct Entry {
  uint64_t time_ns;
  uint64_t weight;  // on-CPU: samples (one sampling period each); off-CPU: blocked ns, or switches (--weight count)
  uint32_t group;
  bool on_cpu;
};

class SpeedscopeFamily : public ReportFamily {
 public:
  const char* name() const override { return "speedscope"; }

  void add_options(OptionSink& o) override {
    o.option("--speedscope", &path_,
             "Write the stacks in speedscope's JSON format (one profile per thread, samples in time order) "
             "to FILE",
             "FILE");
    o.flag("--speedscope-lines", &lines_,
           "In --speedscope, one frame per function and source line (default: per function, with its file)");
  }
  // --speedscope-lines alone is "requested" so that configure() refuses it.
  bool requested() const override { return !path_.empty() || lines_; }
  bool enabled(const RunOptions&) const override { return requested(); }

  void configure(ReportContext& ctx, const RunOptions& run) override {
    if (run.group_container)
      throw BadInput("--group container applies to the text report, --folded, --flamegraph and --trace, not to "
                     "--pprof or --speedscope");
    if (lines_ && path_.empty()) throw BadInput("--speedscope-lines applies to --speedscope FILE");
    ctx_ = &ctx;
    run_ = &run;
    if (lines_) ctx.keep_sites = true;  // (never turned off: --pprof may need it)
    select_view(run.view.off_cpu, run.view.on_off, run.view.weight, run.view.wakers, false, true);
  }

  uint64_t kinds() const override {
    return format::kind_bit(format::RecordKind::kCpuSamples) |
           format::kind_bit(format::RecordKind::kOffCpuIntervals);
  }

  // Events are kept per kind until the view is known (it depends on whether
  // the capture has samples at all): on-CPU and off-CPU apart.
  void on(const CpuSample& s) override {
    if (run_->view.off_cpu || run_->view.wakers) return;
    Sample x;
    x.time_ns = s.time_ns;
    x.pid = s.pid;
    x.tid = s.tid;
    x.stack_id = s.stack_id;
    x.aux_id = s.lua_stack_id;
    add(on_, x, true);
  }
  void on(const OffCpuInterval& iv) override {
    intervals_++;
    if (run_->view.wakers) {
      Sample w;
      if (waker_sample(*ctx_, iv, OffCpuWeight::kTime, &w)) add(off_, w, false);
      return;
    }
    Sample x = offcpu_sample(*ctx_, iv, OffCpuWeight::kTime);
    x.time_ns = iv.start_ns;
    add(off_, x, false);
  }

  void finish(ReportContext& ctx) override {
    const RunOptions& run = *run_;
    view_ = select_view(run.view.off_cpu, run.view.on_off, run.view.weight, run.view.wakers, ctx.samples_seen > 0,
                        intervals_ > 0);
    if (ctx.samples_seen == 0 && intervals_ == 0) warn(run.input + " holds no on-CPU samples or off-CPU intervals");
    if (view_.source != StackSource::kOnCpu && intervals_ == 0)
      warn(run.input + " holds no off-CPU intervals (record with --off-cpu)");
    period_ = ctx.session.sample_frequency_hz ? static_cast<uint64_t>(std::llround(1e9 / ctx.session.sample_frequency_hz))
                                              : 0;
    if (view_.source == StackSource::kOnOff && period_ == 0)
      throw BadInput("--speedscope --on-off: the capture has no sampling frequency, so on-CPU time is unknown");
  }

  std::vector<Output> outputs(ReportContext& ctx) override {
    std::string note = "wrote " + path_ + " (speedscope: " + view_.title + ")";
    return {{path_, [this, &ctx](std::ostream& os) { write(ctx, os); }, note}};
  }

 private:
  using Timeline = std::map<std::pair<uint32_t, uint32_t>, std::vector<Entry>>;  // (pid, tid) -> events

  void add(Timeline& t, const Sample& s, bool on_cpu) {
    if (!passes(*ctx_, run_->filter, s.pid, s.tid, s.time_ns)) return;
    StackAggregator::GroupKey key{s.pid, s.tid, s.stack_id, ctx_->symbolizer.generation(s.pid, s.time_ns),
                                  s.leaf_marker, s.root_marker, 0, s.aux_id};
    auto [it, inserted] = group_ids_.try_emplace(key, static_cast<uint32_t>(groups_.size()));
    if (inserted) groups_.push_back({key, s.time_ns});
    auto& v = t[{s.pid, s.tid}];
    // What the view weighs (--weight count is known before the pass: select_view).
    uint64_t w = on_cpu || run_->view.weight == "count" ? 1 : s.weight;
    if (!v.empty() && v.back().group == it->second && v.back().time_ns <= s.time_ns) {
      v.back().weight += w;
      return;
    }
    v.push_back({s.time_ns, w, it->second, on_cpu});
  }

  void write(ReportContext& ctx, std::ostream& os);

  struct GroupInfo {
    StackAggregator::GroupKey key;
    uint64_t first_time;
  };
  std::string path_;
  bool lines_ = false;
  const RunOptions* run_ = nullptr;
  ReportContext* ctx_ = nullptr;
  Timeline on_, off_;
  std::unordered_map<StackAggregator::GroupKey, uint32_t, StackAggregator::GroupKeyHash> group_ids_;
  std::vector<GroupInfo> groups_;
  uint64_t intervals_ = 0, period_ = 0;
  StackView view_;
};

void SpeedscopeFamily::write(ReportContext& ctx, std::ostream& os) {
  const Filter& filter = run_->filter;
  // Frames: per function (frame id), or per function and line.
  std::unordered_map<uint64_t, uint32_t> frame_index;
  std::vector<std::pair<uint32_t, uint32_t>> frames;  // (frame id, line)
  auto frame = [&](uint32_t id, uint32_t line) {
    uint64_t k = (static_cast<uint64_t>(lines_ ? line : 0) << 32) | id;
    auto [it, inserted] = frame_index.try_emplace(k, static_cast<uint32_t>(frames.size()));
    if (inserted) frames.emplace_back(id, lines_ ? line : 0);
    return it->second;
  };
  // Each group's stack, root first, as frame indices.
  std::vector<std::vector<uint32_t>> stacks(groups_.size());
  for (size_t g = 0; g < groups_.size(); ++g) {
    const auto& key = groups_[g].key;
    StackRef ref{key.pid, groups_[g].first_time, key.stack_id, key.aux_id};
    const std::vector<uint32_t>& ids = ctx.symbolized_stack(ref);
    const std::vector<FrameSite>* sites = lines_ ? ctx.stack_sites(ref) : nullptr;
    auto& out = stacks[g];
    if (key.root_marker) out.push_back(frame(key.root_marker, 0));
    for (size_t i = ids.size(); i-- > 0;) {
      FrameType t = ctx.frames[ids[i]].type;
      if (filter.no_kernel && t == FrameType::kKernel) continue;
      if (filter.no_inline && t == FrameType::kInline) continue;
      out.push_back(frame(ids[i], sites ? (*sites)[i].line : 0));
    }
    if (key.leaf_marker) out.push_back(frame(key.leaf_marker, 0));
  }

  // Each group's stack as the format writes it: "[i,j,...]".
  std::vector<std::string> stack_text(stacks.size());
  for (size_t g = 0; g < stacks.size(); ++g) {
    std::string& t = stack_text[g];
    t += '[';
    for (size_t j = 0; j < stacks[g].size(); ++j) {
      if (j) t += ',';
      append_decimal(t, stacks[g][j]);
    }
    t += ']';
  }

  // Per thread: the view's events in time order, consecutive equal stacks merged.
  const bool counts = view_.count;  // then every Entry's weight is already a count
  const bool ns = counts ? false : (view_.source != StackSource::kOnCpu || period_ != 0);
  struct Thread {
    uint32_t pid, tid;
    std::vector<Entry> events;
    uint64_t total = 0;
  };
  std::vector<Thread> threads;
  auto value = [&](const Entry& e) -> uint64_t {
    if (e.on_cpu && !counts) return period_ ? e.weight * period_ : e.weight;
    return e.weight;
  };
  // The events are moved, not copied (millions of them in a long capture).
  auto take = [&](Timeline& t) {
    for (auto& [id, events] : t) {
      const auto& key = id;  // clang before 16 cannot capture a structured binding
      auto pos = std::find_if(threads.begin(), threads.end(),
                              [&](const Thread& th) { return th.pid == key.first && th.tid == key.second; });
      if (pos == threads.end()) {
        threads.push_back({id.first, id.second, std::move(events), 0});
        continue;
      }
      pos->events.insert(pos->events.end(), events.begin(), events.end());
      std::vector<Entry>().swap(events);
    }
  };
  if (view_.source == StackSource::kOnCpu || view_.source == StackSource::kOnOff) take(on_);
  if (view_.source != StackSource::kOnCpu) take(off_);
  for (auto& th : threads) {
    auto earlier = [](const Entry& a, const Entry& b) { return a.time_ns < b.time_ns; };
    // Usually in order already (a thread's events arrive in time order): no sort, no buffer.
    if (!std::is_sorted(th.events.begin(), th.events.end(), earlier))
      std::stable_sort(th.events.begin(), th.events.end(), earlier);
    size_t out = 0;  // merged in place
    for (size_t i = 0; i < th.events.size(); i++) {
      Entry x = th.events[i];
      x.weight = value(x);
      if (x.weight == 0) continue;
      if (out > 0 && th.events[out - 1].group == x.group) th.events[out - 1].weight += x.weight;
      else th.events[out++] = x;
    }
    th.events.resize(out);
    th.events.shrink_to_fit();
    for (const Entry& e : th.events) th.total += e.weight;
  }
  threads.erase(std::remove_if(threads.begin(), threads.end(), [](const Thread& t) { return t.total == 0; }),
                threads.end());
  std::stable_sort(threads.begin(), threads.end(), [](const Thread& a, const Thread& b) {
    if (a.total != b.total) return a.total > b.total;
    return std::make_pair(a.pid, a.tid) < std::make_pair(b.pid, b.tid);
  });

  os << "{\"$schema\":\"https://www.speedscope.app/file-format-schema.json\",\"exporter\":"
     << json_quote(std::string("ebtrace@") + EBTRACE_VERSION) << ",\"name\":"
     << json_quote(run_->input + ": " + view_.title) << ",\"activeProfileIndex\":0,\"shared\":{\"frames\":[";
  for (size_t i = 0; i < frames.size(); ++i) {
    const FrameInfo& f = ctx.frames[frames[i].first];
    os << (i ? ",\n" : "\n") << "{\"name\":" << json_quote(f.name);
    if (!f.file.empty()) os << ",\"file\":" << json_quote(f.file);
    if (frames[i].second) os << ",\"line\":" << frames[i].second;
    os << '}';
  }
  os << "]},\"profiles\":[";
  for (size_t t = 0; t < threads.size(); ++t) {
    const Thread& th = threads[t];
    // Named as the thread was at its last event: a thread renamed on its way
    // (an exec after the fork, `-- CMD`'s child among them; a worker naming
    // itself) is known by what it became, not by its first few samples' name.
    uint64_t last = th.events.empty() ? 0 : th.events.back().time_ns;
    os << (t ? ",\n" : "\n") << "{\"type\":\"sampled\",\"name\":"
       << json_quote(ctx.comm_of(th.pid, th.tid, last) + " (pid " + std::to_string(th.pid) + ", tid " +
                     std::to_string(th.tid) + ")")
       << ",\"unit\":\"" << (ns ? "nanoseconds" : "none") << "\",\"startValue\":0,\"endValue\":" << th.total
       << ",\"samples\":[";
    // Every sample's stack written out (the format has no stack table): each
    // distinct stack's text made once, the samples through one buffer.
    std::string buf;
    auto flush = [&] {
      os.write(buf.data(), static_cast<std::streamsize>(buf.size()));
      buf.clear();
    };
    for (size_t i = 0; i < th.events.size(); ++i) {
      if (i) buf += ',';
      buf += stack_text[th.events[i].group];
      if (buf.size() >= (1 << 20)) flush();
    }
    buf += "],\"weights\":[";
    for (size_t i = 0; i < th.events.size(); ++i) {
      if (i) buf += ',';
      append_decimal(buf, th.events[i].weight);
      if (buf.size() >= (1 << 20)) flush();
    }
    buf += "]}";
    flush();
  }
  os << "]}\n";
  // The format has no stack table: every run of equal stacks of every thread
  // is written out, so a long capture makes a file that the speedscope app, a
  // web page, may fail to load (browsers cap a string at about 512 MB).
  constexpr std::streamoff kLarge = 256ll << 20;
  if (std::streamoff size = os.tellp(); size > kLarge) {
    char mib[32];
    std::snprintf(mib, sizeof mib, "%.0f MiB", static_cast<double>(size) / 1048576.0);
    warn(path_ + ": " + mib + " of speedscope JSON (every run of equal stacks of every thread, in time order): the "
         "speedscope app may not load a file this large; narrow it with --time START,END, --pid or --tid, or "
         "export --pprof (its size follows distinct stacks; speedscope opens it too, without the time order)");
  }
}

}  // namespace

std::unique_ptr<ReportFamily> make_speedscope_family() { return std::make_unique<SpeedscopeFamily>(); }

}  // namespace ebt::report
