// Tests: a ReportContext plus the events it was fed, kept in vectors (what the
// report families aggregate as they stream), so unit tests can hand the
// report functions exact inputs.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "report/aggregate.h"
#include "report/context.h"
#include "report/family.h"
#include "report/run.h"

namespace ebt::report {

struct Profile : ReportContext {
  using ReportContext::ReportContext;
  std::vector<Sample> samples;             // on-CPU samples, file order
  std::vector<OffCpuInterval> off_cpu;
  std::vector<SkbHop> skb_hops;
};

// Feeds the tables and keeps the events.
class ProfileBuilder : public ContextBuilder {
 public:
  explicit ProfileBuilder(Profile& p) : ContextBuilder(p), p_(p) {}
  using ContextBuilder::on;
  void on(const CpuSample& s) override {
    ContextBuilder::on(s);
    p_.samples.push_back({s.time_ns, s.pid, s.tid, s.cpu, s.stack_id, 1, 0, 0, 0});
  }
  void on(const StackSnapshot& s) override { on(sample_of(s)); }
  void on(const OffCpuInterval& o) override { p_.off_cpu.push_back(o); }
  void on(const SkbHop& h) override { p_.skb_hops.push_back(h); }

 private:
  Profile& p_;
};

// A family that keeps every event: read_capture() into a Profile.
class CollectFamily : public ReportFamily {
 public:
  explicit CollectFamily(Profile& p) : p_(p) {}
  const char* name() const override { return "collect"; }
  bool enabled(const RunOptions&) const override { return true; }
  uint64_t kinds() const override { return format::kAllKinds; }
  void on(const CpuSample& s) override { p_.samples.push_back({s.time_ns, s.pid, s.tid, s.cpu, s.stack_id, 1, 0, 0, 0}); }
  void on(const OffCpuInterval& o) override { p_.off_cpu.push_back(o); }
  void on(const SkbHop& h) override { p_.skb_hops.push_back(h); }

 private:
  Profile& p_;
};

inline std::unique_ptr<Profile> load_profile(const std::string& path, const symbolize::SymbolizerOptions& options) {
  auto p = std::make_unique<Profile>(options);
  CollectFamily all(*p);
  read_capture(path, *p, {&all});
  return p;
}

}  // namespace ebt::report
