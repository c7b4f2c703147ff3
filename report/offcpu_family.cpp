#include "report/offcpu_family.h"

#include "report/containers.h"
#include "report/offcpu_latency.h"
#include "report/offcpu_profile.h"
#include "report/offcpu_trace.h"

namespace ebt::report {
namespace {

class OffCpuFamily : public ReportFamily {
 public:
  const char* name() const override { return "offcpu"; }
  bool enabled(const RunOptions& run) const override { return run.latency || !run.trace.empty(); }
  void configure(ReportContext& ctx, const RunOptions& run) override {
    ctx_ = &ctx;
    run_ = &run;
  }
  uint64_t kinds() const override { return format::kind_bit(format::RecordKind::kOffCpuIntervals); }

  // Percentiles need every duration: the filtered intervals are kept (40 B each).
  void on(const OffCpuInterval& iv) override {
    seen_++;
    if (passes(*ctx_, run_->filter, iv.pid, iv.tid, iv.start_ns)) intervals_.push_back(iv);
  }

  size_t add_trace(TraceJson& trace, ReportContext& ctx) override {
    return add_offcpu_to_trace(trace, ctx, intervals_);
  }

  void write_latency(std::ostream& out, ReportContext& ctx) override {
    if (!run_->latency || seen_ == 0) return;
    LatencyFormat fmt = run_->format == TableFormat::kCsv    ? LatencyFormat::kCsv
                        : run_->format == TableFormat::kJson ? LatencyFormat::kJson
                                                             : LatencyFormat::kText;
    OffCpuNaming naming = offcpu_naming(ctx);
    if (run_->by_container)
      naming.container = [&ctx](uint32_t pid) { return container_or_unknown(ctx, pid).label; };
    write_offcpu_latency(out, offcpu_latency(intervals_, naming), fmt, run_->top);
  }

 private:
  ReportContext* ctx_ = nullptr;
  const RunOptions* run_ = nullptr;
  uint64_t seen_ = 0;
  std::vector<OffCpuInterval> intervals_;
};

}  // namespace

std::unique_ptr<ReportFamily> make_offcpu_family() { return std::make_unique<OffCpuFamily>(); }

}  // namespace ebt::report
