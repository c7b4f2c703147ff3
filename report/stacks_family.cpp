#include "report/stacks_family.h"

#include <cmath>
#include <ostream>

#include "common/error.h"
#include "report/containers.h"
#include "report/diff.h"
#include "report/flamegraph_svg.h"
#include "report/folded.h"
#include "report/offcpu_profile.h"
#include "report/run.h"
#include "report/text_report.h"

namespace ebt::report {

StackView select_view(bool off_cpu, bool on_off, const std::string& weight, bool wakers, bool has_samples,
                      bool has_off_cpu) {
  if (!weight.empty() && weight != "time" && weight != "count")
    throw BadInput("--weight must be 'time' or 'count', not '" + weight + "'");
  StackView v;
  bool count = weight == "count";
  if (wakers) {
    if (on_off) throw BadInput("--wakers and --on-off are different views; pick one");
    v.source = StackSource::kWakers;
    v.count = count;
    v.unit = count ? "switches" : "ns";
    v.title = "Off-CPU Wakers Flame Graph";
    return v;
  }
  if (on_off) {
    if (count) throw BadInput("--on-off weighs everything by time; --weight count needs --off-cpu");
    v.source = StackSource::kOnOff;
    v.unit = "ns";
    v.title = "On+Off-CPU Flame Graph";
    return v;
  }
  if (off_cpu || (!has_samples && has_off_cpu)) {
    v.source = StackSource::kOffCpu;
    v.count = count;
    v.unit = count ? "switches" : "ns";
    v.title = count ? "Off-CPU Flame Graph (context switches)" : "Off-CPU Time Flame Graph";
    return v;
  }
  if (!weight.empty())
    throw BadInput("--weight applies to off-CPU data (this capture has on-CPU samples: add --off-cpu)");
  v.source = StackSource::kOnCpu;
  v.unit = "samples";
  v.title = "CPU Flame Graph";
  return v;
}

namespace {

class StacksFamily : public ReportFamily {
 public:
  const char* name() const override { return "stacks"; }

  void add_options(OptionSink& o) override {
    o.flag("--folded", &folded_,
           "Print FlameGraph collapsed stacks (comm;root;...;leaf COUNT) instead of the text report");
    o.option("--flamegraph", &flamegraph_, "Write an interactive SVG flame graph to FILE", "FILE");
    o.option("--title", &title_, "Flame graph title", "TEXT");
    o.option("--baseline", &baseline_,
             "Compare with the capture BASE: differential flame graph (width = this capture, colour = change "
             "of share: red more, blue less), tables of gainers and losers, --folded with both weights",
             "BASE.ebt");
  }
  bool requested() const override { return folded_ || !flamegraph_.empty() || !baseline_.empty(); }
  bool enabled(const RunOptions& run) const override {
    return requested() || run.default_output || !run.diff_base.empty();
  }

  void configure(ReportContext& ctx, const RunOptions& run) override {
    ctx_ = &ctx;
    run_ = &run;
    if (!title_.empty() && flamegraph_.empty()) throw BadInput("--title names the --flamegraph FILE: give that too");
    if (!run.diff_base.empty()) {
      if (!baseline_.empty()) throw BadInput("--diff BASE NEW and --baseline BASE say the same thing: give one");
      baseline_ = run.diff_base;
    }
    if (!baseline_.empty() && !run.more_inputs.empty())
      throw BadInput("--baseline compares two captures: give one capture besides it");
    off_cpu_ = run.view.off_cpu;
    on_off_ = run.view.on_off;
    wakers_ = run.view.wakers;
    weight_ = run.view.weight;
    // Option combinations that no data can make valid fail before the read.
    select_view(off_cpu_, on_off_, weight_, wakers_, false, true);
    on_ = StackAggregator(run.filter);
    off_ = StackAggregator(run.filter);
    wake_ = StackAggregator(run.filter);
  }

  uint64_t kinds() const override {
    return format::kind_bit(format::RecordKind::kCpuSamples) |
           format::kind_bit(format::RecordKind::kOffCpuIntervals);
  }

  void on(const CpuSample& s) override {
    samples_++;
    if (wakers_ || off_cpu_) return;  // not in the view: counted only
    Sample x;
    x.time_ns = s.time_ns;
    x.pid = s.pid;
    x.tid = s.tid;
    x.cpu = s.cpu;
    x.stack_id = s.stack_id;
    x.aux_id = s.lua_stack_id;  // Lua frames spliced in when symbolized
    on_.add(*ctx_, x);
  }
  void on(const OffCpuInterval& iv) override {
    intervals_++;
    if (wakers_) {
      Sample x;
      if (waker_sample(*ctx_, iv, OffCpuWeight::kTime, &x)) wake_.add(*ctx_, x);
      return;
    }
    off_.add(*ctx_, offcpu_sample(*ctx_, iv, OffCpuWeight::kTime));
  }

  void finish(ReportContext& ctx) override {
    if (ctx.samples_seen == 0 && intervals_ == 0) warn(run_->input + " holds no on-CPU samples");
    if ((off_cpu_ || on_off_ || wakers_) && intervals_ == 0)
      warn(run_->input + " holds no off-CPU intervals (record with --off-cpu)");
    if (ctx.lua_only && ctx.lua.empty())
      warn(run_->input + " holds no LuaJIT VM (--lua-only shows native stacks unchanged; record with --lua)");
    view_ = select_view(off_cpu_, on_off_, weight_, wakers_, ctx.samples_seen > 0, intervals_ > 0);
    switch (view_.source) {
      case StackSource::kOnCpu: stacks_ = on_.finish(ctx); break;
      case StackSource::kOffCpu: stacks_ = view_.count ? off_.finish_counts(ctx) : off_.finish(ctx); break;
      case StackSource::kWakers: stacks_ = view_.count ? wake_.finish_counts(ctx) : wake_.finish(ctx); break;
      case StackSource::kOnOff: {
        // Each on-CPU sample stands for one sampling period of CPU time.
        uint32_t hz = ctx.session.sample_frequency_hz;
        StackAggregator both = off_;
        if (hz != 0) both.merge(on_, static_cast<uint64_t>(std::llround(1e9 / hz)));
        stacks_ = both.finish(ctx);
        break;
      }
    }
    stacks_.unit = view_.unit;
    if (std::string why = unmatched_container_query(ctx, run_->filter); !why.empty()) warn(why);
    if (run_->group_container) group_by_container(ctx, stacks_);
    if (run_->by_container) container_rows_ = container_rows(ctx, stacks_);
    // --by-host over one capture: its stacks under its host now; with
    // several, when the first further capture is merged (merge_capture).
    host_pending_ = run_->by_host;
    if (run_->by_host && run_->more_inputs.empty()) {
      StackAggregate none;
      merge_stacks(ctx, stacks_, host_frame(ctx, ctx), ctx, none, 0);
      host_pending_ = false;
    }
    if (!baseline_.empty()) read_baseline(ctx);
  }

  // [host: NAME] for --by-host, interned in `ctx` (0 without --by-host).
  uint32_t host_frame(ReportContext& ctx, const ReportContext& of) const {
    if (!run_->by_host) return 0;
    return ctx.frames.intern("[host: " + (of.session.hostname.empty() ? std::string("?") : of.session.hostname) + "]",
                             FrameType::kMarker);
  }

  // report a.ebt b.ebt: a further capture, read once (with the timeline's
  // families) into its own context by a stacks family of the same view,
  // merged by name into this one's stacks.
  bool merges_captures() const override { return true; }
  void merge_capture(ReportFamily& twin, ReportContext& twin_ctx, ReportContext& ctx,
                     const std::string& path) override {
    auto& f = dynamic_cast<StacksFamily&>(twin);
    for (const auto& [pid, p] : twin_ctx.processes) ctx.processes.emplace(pid, p);  // names for the text report
    if (f.stacks_.unit != stacks_.unit)
      throw BadInput(path + " gives " + f.stacks_.unit + " where " + run_->input + " gives " + stacks_.unit +
                     ": merge captures with the same kind of data");
    uint32_t own_host = host_pending_ ? host_frame(ctx, ctx) : 0;
    host_pending_ = false;  // in front of this side's stacks from now on
    merge_stacks(ctx, stacks_, own_host, twin_ctx, f.stacks_, host_frame(ctx, twin_ctx));
    inputs_text_ += " + " + path;
  }

  // The baseline capture through its own context and a stacks family of the
  // same view: symbolized with its own tables, matched by name later.
  void read_baseline(ReportContext& ctx) {
    base_run_ = *run_;
    base_run_.input = baseline_;
    base_run_.diff_base.clear();  // the baseline has no baseline of its own
    base_run_.trace.clear();
    base_run_.latency = false;
    base_ctx_ = std::make_unique<ReportContext>(run_->symbols);
    base_ctx_->lua_only = ctx.lua_only;
    base_ = std::make_unique<StacksFamily>();
    base_->configure(*base_ctx_, base_run_);
    read_capture(baseline_, *base_ctx_, {base_.get()});
    for (const auto& w : base_ctx_->warnings) warn(baseline_ + ": " + w);
    if (base_ctx_->corrupted) ctx.corrupted = true;
    base_->finish(*base_ctx_);
    if (base_->stacks_.unit != stacks_.unit)
      throw BadInput("--baseline " + baseline_ + " gives " + base_->stacks_.unit + " where " + run_->input +
                     " gives " + stacks_.unit + ": compare captures with the same kind of data");
  }

  std::vector<Output> outputs(ReportContext& ctx) override {
    std::vector<Output> out;
    if (base_) {
      DiffSide now{ctx, stacks_, run_->input}, base{*base_ctx_, base_->stacks_, baseline_};
      if (!flamegraph_.empty()) {
        FlameGraphOptions fo;
        fo.title = title_.empty() ? "Differential " + view_.title : title_;
        fo.subtitle = flamegraph_subtitle(ctx, stacks_) + " · against " + baseline_ + " (" +
                      std::to_string(base_->stacks_.total_weight) + " " + base_->stacks_.unit + ")";
        fo.unit = stacks_.unit;
        fo.baseline = &base_->stacks_;
        fo.baseline_profile = base_ctx_.get();
        out.push_back({flamegraph_, [this, &ctx, fo](std::ostream& os) { write_flamegraph_svg(ctx, stacks_, fo, os); },
                       "wrote " + flamegraph_ + " (differential: " + run_->input + " against " + baseline_ + ")"});
      }
      if (folded_) {
        out.push_back({"", [now, base](std::ostream& os) { write_diff_folded(now, base, os); }, ""});
      } else if (flamegraph_.empty() || run_->default_output) {
        DiffTableOptions to;
        to.top = run_->top;
        to.filters = run_->filter_text;
        out.push_back({"", [now, base, to](std::ostream& os) { write_diff_table(now, base, to, os); }, ""});
      }
      return out;
    }
    if (!flamegraph_.empty()) {
      FlameGraphOptions fo;
      fo.title = title_.empty() ? view_.title : title_;
      fo.subtitle = flamegraph_subtitle(ctx, stacks_);
      fo.unit = stacks_.unit;
      out.push_back({flamegraph_, [this, &ctx, fo](std::ostream& os) { write_flamegraph_svg(ctx, stacks_, fo, os); },
                     "wrote " + flamegraph_ + " (" + std::to_string(stacks_.total_weight) + " " + stacks_.unit +
                         ", " + std::to_string(stacks_.stacks.size()) + " stacks)"});
    }
    if (folded_) {
      out.push_back({"", [this, &ctx](std::ostream& os) { write_folded(ctx, stacks_, os); }, ""});
    } else if (run_->default_output) {
      TextReportOptions to;
      to.top = run_->top;
      to.input = run_->input + inputs_text_;
      to.filters = run_->filter_text;
      to.by_container = run_->by_container;
      to.containers = container_rows_;
      out.push_back({"", [this, &ctx, to](std::ostream& os) { write_text_report(ctx, stacks_, to, os); }, ""});
    }
    return out;
  }

 private:
  bool folded_ = false, off_cpu_ = false, on_off_ = false, wakers_ = false;
  std::string flamegraph_, title_, weight_, baseline_;
  RunOptions base_run_;
  std::unique_ptr<ReportContext> base_ctx_;
  std::unique_ptr<StacksFamily> base_;
  std::string inputs_text_;  // " + b.ebt" per merged capture
  bool host_pending_ = false;  // --by-host: this capture's own stacks still without their [host: NAME]
  const RunOptions* run_ = nullptr;
  ReportContext* ctx_ = nullptr;
  StackAggregator on_, off_, wake_;
  uint64_t samples_ = 0, intervals_ = 0;
  StackView view_;
  StackAggregate stacks_;
  std::vector<ContainerRow> container_rows_;  // --by container
};

}  // namespace

std::unique_ptr<ReportFamily> make_stacks_family() { return std::make_unique<StacksFamily>(); }

}  // namespace ebt::report
