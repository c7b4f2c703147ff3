#include "report/skb_family.h"

#include <ostream>

#include "common/error.h"
#include "report/containers.h"
#include "report/skb_report.h"

namespace ebt::report {
namespace {

class SkbFamily : public ReportFamily {
 public:
  const char* name() const override { return "skb"; }
  void add_options(OptionSink& o) override {
    o.flag("--skb", &skb_,
           "Packets recorded with --skb: drops by reason and kernel function, the paths packets took "
           "through the stack, latency between hops (--format json for one JSON object); --by container: "
           "packets per container of the sockets they left or reached");
  }
  bool requested() const override { return skb_; }
  bool groups_by_container() const override { return skb_; }
  bool enabled(const RunOptions& run) const override { return skb_ || !run.trace.empty(); }
  void configure(ReportContext&, const RunOptions& run) override {
    if (skb_ && run.format == TableFormat::kCsv) throw BadInput("--skb has no csv format (text or json)");
    run_ = &run;
    // --container / --by container: packets by the owners of their sockets.
    with_owners_ = !run.filter.containers.empty() || (skb_ && run.by_container);
  }
  uint64_t kinds() const override {
    using format::RecordKind;
    uint64_t k = format::kind_bit(RecordKind::kSkbHops);
    if (with_owners_) k |= format::kind_bit(RecordKind::kTcpEvents) | format::kind_bit(RecordKind::kSocket);
    return k;
  }
  // Hops are cut into packets at their end, in time order: all are kept.
  void on(const SkbHop& h) override { hops_.push_back(h); }
  void on(const TcpEvent& e) override { owners_.add(e); }
  void on(const SocketInfo& s) override { owners_.add(s); }

  void finish(ReportContext& ctx) override {
    if (!with_owners_) return;
    if (std::string why = unmatched_container_query(ctx, run_->filter); !why.empty() && skb_) warn(why);
    containers_.owners = &owners_;
    containers_.tables = run_->by_container;
    containers_.label = [&ctx](uint32_t pid) { return container_or_unknown(ctx, pid).label; };
    if (!run_->filter.containers.empty())
      containers_.wanted = [&ctx, this](uint32_t pid) {
        return container_ref_wanted(run_->filter, container_or_unknown(ctx, pid));
      };
  }
  size_t add_trace(TraceJson& trace, ReportContext& ctx) override {
    return add_skb_to_trace(trace, ctx, hops_, containers_);
  }
  std::vector<Output> outputs(ReportContext& ctx) override {
    if (!skb_) return {};
    if (hops_.empty()) warn(run_->input + " holds no packet hops (record with --skb)");
    return {{"", [this, &ctx](std::ostream& os) {
               SkbReport r = skb_report(ctx, hops_, containers_);
               for (const auto& q : run_->filter.containers)
                 r.container_filter += (r.container_filter.empty() ? "" : ",") + q;
               if (run_->format == TableFormat::kJson)
                 write_skb_json(r, os);
               else
                 write_skb_text(r, run_->top, os);
             }, ""}};
  }

 private:
  bool skb_ = false;
  bool with_owners_ = false;
  const RunOptions* run_ = nullptr;
  std::vector<SkbHop> hops_;
  SkbSocketOwners owners_;
  SkbContainers containers_;
};

}  // namespace

std::unique_ptr<ReportFamily> make_skb_family() { return std::make_unique<SkbFamily>(); }

}  // namespace ebt::report
