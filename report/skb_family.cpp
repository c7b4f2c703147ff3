#include "report/skb_family.h"

#include <ostream>

#include "common/error.h"
#include "report/skb_report.h"

namespace ebt::report {
namespace {

class SkbFamily : public ReportFamily {
 public:
  const char* name() const override { return "skb"; }
  void add_options(OptionSink& o) override {
    o.flag("--skb", &skb_,
           "Packets recorded with --skb: drops by reason and kernel function, the paths packets took "
           "through the stack, latency between hops (--format json for one JSON object)");
  }
  bool requested() const override { return skb_; }
  bool enabled(const RunOptions& run) const override { return skb_ || !run.trace.empty(); }
  void configure(ReportContext&, const RunOptions& run) override {
    if (skb_ && run.format == TableFormat::kCsv) throw BadInput("--skb has no csv format (text or json)");
    if (skb_ && !run.filter.containers.empty())
      throw BadInput("--container does not filter --tcp, --otlp or --skb (their events are not tied to a task's "
                     "cgroup); it filters the stack reports, --trace and --latency");
    run_ = &run;
  }
  uint64_t kinds() const override { return format::kind_bit(format::RecordKind::kSkbHops); }
  // Hops are cut into packets at their end, in time order: all are kept.
  void on(const SkbHop& h) override { hops_.push_back(h); }

  size_t add_trace(TraceJson& trace, ReportContext& ctx) override { return add_skb_to_trace(trace, ctx, hops_); }
  std::vector<Output> outputs(ReportContext& ctx) override {
    if (!skb_) return {};
    if (hops_.empty()) warn(run_->input + " holds no packet hops (record with --skb)");
    return {{"", [this, &ctx](std::ostream& os) {
               SkbReport r = skb_report(ctx, hops_);
               if (run_->format == TableFormat::kJson)
                 write_skb_json(r, os);
               else
                 write_skb_text(r, run_->top, os);
             }, ""}};
  }

 private:
  bool skb_ = false;
  const RunOptions* run_ = nullptr;
  std::vector<SkbHop> hops_;
};

}  // namespace

std::unique_ptr<ReportFamily> make_skb_family() { return std::make_unique<SkbFamily>(); }

}  // namespace ebt::report
