#include "report/l7_family.h"

#include <optional>

#include "common/error.h"
#include "report/containers.h"

#include "report/l7/l7_load.h"
#include "report/l7/l7_trace.h"

namespace ebt::report {
namespace {

class L7Family : public ReportFamily {
 public:
  const char* name() const override { return "l7"; }
  void add_options(OptionSink& o) override {
    o.option("--by", &by_, "Regroup the request latency table by connection, process, peer or container",
             "conn|pid|peer|container", {"conn", "pid", "peer", "container"});
    o.flag("--show-payload", &show_payload_,
           "Text reports may print payload bytes (first bytes of unrecognised connections)");
  }
  bool enabled(const RunOptions& run) const override { return run.latency || !run.trace.empty(); }
  void configure(ReportContext& ctx, const RunOptions& run) override {
    ctx_ = &ctx;
    // --by is shared with the tcp family (report/tcp_family.cpp): port is its own.
    if (run.latency && by_ == "port")
      throw BadInput("--by port groups --tcp connections; --latency groups by conn, pid, peer or container");
    run_ = &run;
  }
  uint64_t kinds() const override {
    using format::RecordKind;
    return format::kind_bit(RecordKind::kSessionEnd) | format::kind_bit(RecordKind::kProcess) |
           format::kind_bit(RecordKind::kSocket) | format::kind_bit(RecordKind::kSyscalls);
  }
  void on(const SessionEnd& e) override { collector_.on(e); }
  void on(const ProcessInfo& p) override { collector_.on(p); }
  void on(const SocketInfo& s) override { collector_.on(s); }
  void on(const SyscallEvent& e) override {
    if (!container_wanted(*ctx_, run_->filter, e.pid)) return;  // --container
    collector_.on(e);
  }

  void finish(ReportContext& ctx) override {
    l7::L7Input in = collector_.take(ctx.session.start_ns);
    if (!in.events.empty()) analysis_ = l7::analyze_l7(std::move(in));
  }
  size_t add_trace(TraceJson& trace, ReportContext&) override {
    return analysis_ ? l7::add_l7_trace(*analysis_, trace) : 0;
  }
  void write_latency(std::ostream& out, ReportContext& ctx) override {
    if (!run_->latency || !analysis_) return;
    l7::LatencyOptions lo;
    lo.by = by_ == "conn"        ? l7::GroupBy::kConn
            : by_ == "pid"       ? l7::GroupBy::kPid
            : by_ == "peer"      ? l7::GroupBy::kPeer
            : by_ == "container" ? l7::GroupBy::kContainer
                                 : l7::GroupBy::kNone;
    lo.container = [&ctx](uint32_t pid) { return container_or_unknown(ctx, pid).label; };
    lo.format = run_->format == TableFormat::kCsv    ? l7::TableFormat::kCsv
                : run_->format == TableFormat::kJson ? l7::TableFormat::kJson
                                                     : l7::TableFormat::kText;
    lo.show_payload = show_payload_;
    l7::write_l7_latency(*analysis_, lo, out);
  }

 private:
  std::string by_;
  bool show_payload_ = false;
  const RunOptions* run_ = nullptr;
  ReportContext* ctx_ = nullptr;
  l7::L7Collector collector_;
  std::optional<l7::L7Analysis> analysis_;
};

}  // namespace

std::unique_ptr<ReportFamily> make_l7_family() { return std::make_unique<L7Family>(); }

}  // namespace ebt::report
