#include "report/tcp_family.h"

#include <optional>
#include <ostream>

#include "common/error.h"
#include "report/containers.h"
#include "report/l7/l7_load.h"
#include "report/otlp.h"
#include "report/tcp_report.h"

namespace ebt::report {
namespace {

class TcpFamily : public ReportFamily {
 public:
  const char* name() const override { return "tcp"; }
  void add_options(OptionSink& o) override {
    o.flag("--tcp", &tcp_,
           "TCP connections recorded with --tcp: pid, comm, role, local > remote, duration, handshake, bytes "
           "each way, retransmits, resets, who closed first; handshake and lifetime percentiles "
           "(--format text, csv or json)");
    o.option("--by", &by_,
             "With --tcp: also group the connections by peer address, service port, process or the owner's "
             "container",
             "peer|port|pid|container", {"peer", "port", "pid", "container"});
    o.option("--otlp", &otlp_,
             "Write the TCP connections as OpenTelemetry traces (OTLP JSON, for Jaeger / Grafana Tempo) to FILE: "
             "a span per connection with its handshake, L7 requests (--l7 captures) and teardown",
             "FILE");
  }
  bool requested() const override { return tcp_ || !otlp_.empty(); }
  bool groups_by_container() const override { return tcp_; }
  bool enabled(const RunOptions& run) const override { return tcp_ || !otlp_.empty() || !run.trace.empty(); }
  void configure(ReportContext&, const RunOptions& run) override {
    run_ = &run;
    bool tcp_by = by_ == "peer" || by_ == "port" || by_ == "pid" || by_ == "container";
    if (tcp_ && by_ == "host")
      throw BadInput("--by host groups the text report's samples; --tcp groups by peer, port, pid or container");
    if (tcp_ && !by_.empty() && !tcp_by && !run.latency)
      throw BadInput("--by " + by_ + " groups --latency requests; --tcp groups by peer, port, pid or container");
    if (by_ == "port" && !tcp_) throw BadInput("--by port groups TCP connections: it needs --tcp");
  }
  uint64_t kinds() const override {
    using format::RecordKind;
    uint64_t k = format::kind_bit(RecordKind::kTcpEvents);
    // --otlp: L7 requests become child spans of their connection.
    if (!otlp_.empty())
      k |= format::kind_bit(RecordKind::kSessionEnd) | format::kind_bit(RecordKind::kProcess) |
           format::kind_bit(RecordKind::kSocket) | format::kind_bit(RecordKind::kSyscalls) |
           format::kind_bit(RecordKind::kSkbHops);
    return k;
  }
  void on(const TcpEvent& e) override { events_.add(e); }
  void on(const SessionEnd& e) override { l7_.on(e); }
  void on(const ProcessInfo& p) override { l7_.on(p); }
  void on(const SocketInfo& s) override { l7_.on(s); }
  void on(const SyscallEvent& e) override { l7_.on(e); }
  // --otlp: TCP segments' packet hops become events of their connection's span.
  void on(const SkbHop& h) override {
    if (h.l4_protocol == 6 && !h.src_addr.empty()) skb_.push_back(h);
  }

  void finish(ReportContext& ctx) override {
    end_ns_ = ctx.end ? ctx.end->end_ns : 0;
    connections_ = events_.build(ctx, end_ns_);
    // The owner's container; --container keeps the connections of those
    // containers in every output (table, --otlp, --trace), saying how many
    // others it left out and how many of those had no known owner.
    const Filter& filter = run_->filter;
    std::vector<TcpConnection> kept;
    for (auto& c : connections_) {
      const ContainerRef& ref = container_or_unknown(ctx, c.pid);
      c.container = ref.label;
      c.container_id = ref.id;
      c.in_container = ref.container;
      if (container_ref_wanted(filter, ref)) {
        kept.push_back(std::move(c));
      } else {
        left_out_++;
        if (ref.unknown) left_out_unknown_++;
      }
    }
    connections_ = std::move(kept);
    if (std::string why = unmatched_container_query(ctx, filter); !why.empty() && tcp_) warn(why);
    lost_ = ctx.lost;
    if (!otlp_.empty()) {
      l7::L7Input in = l7_.take(ctx.session.start_ns);
      if (!in.events.empty()) analysis_ = l7::analyze_l7(std::move(in));
      for (const SkbHop& h : skb_) {
        OtlpHop o{h.time_ns, h.netns, h.src_addr, h.dst_addr, h.src_port, h.dst_port, ctx.string(h.location_id)};
        std::string dev = ctx.string(h.device_id);
        if (!dev.empty()) o.name += "@" + dev;
        if (h.reason_id) o.name += " " + ctx.string(h.reason_id);
        hops_.push_back(std::move(o));
      }
      skb_.clear();
    }
  }
  size_t add_trace(TraceJson& trace, ReportContext&) override {
    return add_tcp_to_trace(trace, connections_, end_ns_);
  }
  std::vector<Output> outputs(ReportContext& ctx) override {
    std::vector<Output> out;
    if ((tcp_ || !otlp_.empty()) && connections_.empty())
      warn(run_->input + " holds no TCP connections (record with --tcp)");
    if (!otlp_.empty()) {
      const SessionInfo* session = &ctx.session;
      out.push_back({otlp_, [this, session](std::ostream& os) {
                       write_otlp_json(os, connections_, analysis_ ? &*analysis_ : nullptr, hops_, *session,
                                       end_ns_);
                     },
                     "wrote " + otlp_ + " (" + std::to_string(connections_.size()) + " TCP connections as OTLP spans)"});
    }
    if (!tcp_) return out;
    std::string by = by_ == "peer" || by_ == "port" || by_ == "pid" || by_ == "container" ? by_ : "";
    out.push_back({"", [this, by](std::ostream& os) {
               TcpReport r = tcp_report(connections_, by, lost_);
               for (const auto& q : run_->filter.containers)
                 r.container_filter += (r.container_filter.empty() ? "" : ",") + q;
               r.left_out = left_out_;
               r.left_out_unknown = left_out_unknown_;
               if (run_->format == TableFormat::kJson)
                 write_tcp_json(r, os);
               else if (run_->format == TableFormat::kCsv)
                 write_tcp_csv(r, os);
               else
                 write_tcp_text(r, run_->top, os);
             }, ""});
    return out;
  }

 private:
  bool tcp_ = false;
  std::string by_, otlp_;
  l7::L7Collector l7_;
  std::optional<l7::L7Analysis> analysis_;
  std::vector<SkbHop> skb_;
  std::vector<OtlpHop> hops_;
  const RunOptions* run_ = nullptr;
  TcpConnections events_;
  std::vector<TcpConnection> connections_;
  uint64_t end_ns_ = 0, lost_ = 0;
  uint64_t left_out_ = 0, left_out_unknown_ = 0;  // --container
};

}  // namespace

std::unique_ptr<ReportFamily> make_tcp_family() { return std::make_unique<TcpFamily>(); }

}  // namespace ebt::report
