#include "report/sched_family.h"

#include <ostream>

#include "common/error.h"
#include "report/containers.h"
#include "report/sched_report.h"

namespace ebt::report {
namespace {

class SchedFamily : public ReportFamily {
 public:
  const char* name() const override { return "sched"; }
  void add_options(OptionSink& o) override {
    o.flag("--sched",
           &sched_,
           "Scheduler latency recorded with --sched: run-queue latency histogram and p50/p90/p99/max per process, "
           "thread, cgroup and CPU; preemptions and who preempted; switches across cgroups per CPU; CPU throttling "
           "per cgroup (--format text, csv or json); --by container: per container too");
  }
  bool requested() const override { return sched_; }
  bool groups_by_container() const override { return sched_; }
  bool enabled(const RunOptions&) const override { return sched_; }
  void configure(ReportContext&, const RunOptions& run) override {
    run_ = &run;
    // The rows are per-second aggregates of whole threads: a time window or a
    // name filter could only cut them approximately.
    if (run.filter.time_begin_s || run.filter.time_end_s)
      throw BadInput("--time cannot select --sched tables (they aggregate the whole recording); use --pid/--tid");
    if (!run.filter.comms.empty())
      throw BadInput("--comm cannot select --sched tables; use --pid/--tid");
  }
  uint64_t kinds() const override {
    using format::RecordKind;
    return format::kind_bit(RecordKind::kRunqLatency) | format::kind_bit(RecordKind::kPreemptions) |
           format::kind_bit(RecordKind::kCgroupSwitches) | format::kind_bit(RecordKind::kCgroupCpu);
  }
  void on(const RunqLatency& r) override {
    if (wanted(r.pid, r.tid)) data_.add(r);
  }
  void on(const Preemption& p) override {
    if (wanted(p.pid, p.tid)) data_.add(p);
  }
  void on(const CgroupSwitch& s) override { data_.add(s); }
  void on(const CgroupCpuSample& s) override { data_.add(s); }

  void finish(ReportContext& ctx) override {
    // Rows aggregate whole threads: named by their latest name (the recorder
    // names a thread when it first writes its rows, just after their end time).
    SchedContainers c;
    c.tables = run_->by_container;
    c.of_pid = [&ctx](uint32_t pid) { return container_or_unknown(ctx, pid).label; };
    // Cgroup paths of the sched hierarchy (v1 cpu on hybrid hosts): runtimes use
    // the same path in every hierarchy, so the v2 path's container names it.
    c.of_path = [&ctx](const std::string& path) {
      return path.empty() ? unknown_container(ctx).label : container_of_path(ctx, path).label;
    };
    if (!run_->filter.containers.empty()) {
      // --container: threads by their process's container, once every process record is read.
      c.pid_wanted = [&ctx, this](uint32_t pid) {
        return container_ref_wanted(run_->filter, container_or_unknown(ctx, pid));
      };
      c.path_wanted = [&ctx, this](const std::string& path) {
        return !path.empty() && container_ref_wanted(run_->filter, container_of_path(ctx, path));
      };
    }
    if (std::string why = unmatched_container_query(ctx, run_->filter); !why.empty()) warn(why);
    report_ = data_.build([&ctx](uint32_t pid, uint32_t tid, uint64_t) { return ctx.comm_of(pid, tid, UINT64_MAX); },
                          c);
  }
  std::vector<Output> outputs(ReportContext&) override {
    if (data_.empty()) warn(run_->input + " holds no scheduler latency (record with --sched)");
    return {{"", [this](std::ostream& os) {
               if (run_->format == TableFormat::kJson)
                 write_sched_json(report_, os);
               else if (run_->format == TableFormat::kCsv)
                 write_sched_csv(report_, os);
               else
                 write_sched_text(report_, run_->top, os);
             },
             ""}};
  }

 private:
  // report --pid / --tid (the rows are aggregates: --comm and --time apply to whole rows).
  bool wanted(uint32_t pid, uint32_t tid) const {
    const Filter& f = run_->filter;
    if (!f.pids.empty() && !f.pids.count(pid)) return false;
    if (!f.tids.empty() && !f.tids.count(tid)) return false;
    return true;
  }

  bool sched_ = false;
  const RunOptions* run_ = nullptr;
  SchedCollector data_;
  SchedReport report_;
};

}  // namespace

std::unique_ptr<ReportFamily> make_sched_family() { return std::make_unique<SchedFamily>(); }

}  // namespace ebt::report
