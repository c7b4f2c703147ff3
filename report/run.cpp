#include "report/run.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>

#include "common/error.h"
#include "common/wall_clock.h"
#include "report/containers.h"
#include "report/offcpu_trace.h"
#include "unwind/offline_unwinder.h"

namespace ebt::report {
namespace {

using format::RecordKind;

// Track-group pids of containers in --trace (--group container): above any
// real pid (pid_max is at most 2^22).
constexpr uint32_t kContainerGroupPidBase = 1u << 30;

// Feeds the shared tables first, then every family that declared the kind.
class FanOut : public format::RecordVisitor {
 public:
  FanOut(ContextBuilder& builder, const std::vector<ReportFamily*>& families) : builder_(builder) {
    for (ReportFamily* f : families)
      for (uint16_t k = 0; k < format::kKnownKindCount; k++)
        if (f->kinds() & format::kind_bit(k)) by_kind_[k].push_back(f);
  }
  void on(const SessionEnd& r) override { both(r, RecordKind::kSessionEnd); }
  void on(const ProcessInfo& r) override { both(r, RecordKind::kProcess); }
  void on(const ThreadInfo& r) override { both(r, RecordKind::kThread); }
  void on(const ProcessExit& r) override { both(r, RecordKind::kProcessExit); }
  void on(const Mapping& r) override { both(r, RecordKind::kMapping); }
  void on(const StringEntry& r) override { both(r, RecordKind::kString); }
  void on(const Stack& r) override { both(r, RecordKind::kStack); }
  void on(const LuaProto& r) override { both(r, RecordKind::kLuaProto); }
  void on(const LuaVm& r) override { both(r, RecordKind::kLuaVm); }
  void on(const LuaStack& r) override { both(r, RecordKind::kLuaStack); }
  void on(const LuaTrace& r) override { both(r, RecordKind::kLuaTrace); }
  void on(const CgroupInfo& r) override { both(r, RecordKind::kCgroup); }
  void on(const SymbolTable& r) override { both(r, RecordKind::kSymbolTable); }
  void on(const KernelSymbols& r) override { both(r, RecordKind::kKernelSymbols); }
  void on(const LostEvents& r) override { both(r, RecordKind::kLostEvents); }
  void on(const CpuSample& r) override { both(r, RecordKind::kCpuSamples); }
  void on(const OffCpuInterval& r) override { to_families(r, RecordKind::kOffCpuIntervals); }
  void on(const SkbHop& r) override { to_families(r, RecordKind::kSkbHops); }
  void on(const SocketInfo& r) override { to_families(r, RecordKind::kSocket); }
  void on(const SyscallEvent& r) override { to_families(r, RecordKind::kSyscalls); }
  void on(const UnwindTable& r) override { to_families(r, RecordKind::kUnwindTable); }
  void on(const TcpEvent& r) override { to_families(r, RecordKind::kTcpEvents); }
  void on(const RunqLatency& r) override { to_families(r, RecordKind::kRunqLatency); }
  void on(const Preemption& r) override { to_families(r, RecordKind::kPreemptions); }
  void on(const CgroupSwitch& r) override { to_families(r, RecordKind::kCgroupSwitches); }
  void on(const CgroupCpuSample& r) override { to_families(r, RecordKind::kCgroupCpu); }
  // A raw stack is unwound once by the shared part and reaches the families
  // as the on-CPU sample it stands for.
  void on(const StackSnapshot& r) override {
    records++;
    CpuSample s = builder_.sample_of(r);
    for (ReportFamily* f : by_kind_[size_t(RecordKind::kCpuSamples)]) f->on(s);
  }
  uint64_t records = 0;

 private:
  template <class R>
  void both(const R& r, RecordKind k) {
    records++;
    builder_.on(r);
    for (ReportFamily* f : by_kind_[size_t(k)]) f->on(r);
  }
  template <class R>
  void to_families(const R& r, RecordKind k) {
    records++;
    for (ReportFamily* f : by_kind_[size_t(k)]) f->on(r);
  }
  ContextBuilder& builder_;
  std::vector<ReportFamily*> by_kind_[format::kKnownKindCount];
};

void add_stats(PassStats& p, const format::ReadStats& s) {
  p.passes++;
  p.blocks_read += s.blocks;
  p.raw_bytes += s.raw_bytes;
}

// The option values of one family, by option name, given to its twin.
class OptionValues : public OptionSink {
 public:
  void flag(const std::string& names, bool* value, const std::string&) override {
    if (reading_)
      flags_[names] = *value;
    else
      *value = flags_[names];
  }
  void option(const std::string& names, std::string* value, const std::string&, const std::string&,
              const std::vector<std::string>&) override {
    if (reading_)
      options_[names] = *value;
    else
      *value = options_[names];
  }
  void now_apply() { reading_ = false; }

 private:
  bool reading_ = true;
  std::map<std::string, bool> flags_;
  std::map<std::string, std::string> options_;
};

}  // namespace

std::string describe_pass(const PassStats& stats, const std::string& path, const std::vector<ReportFamily*>& families) {
  std::string names;
  for (auto* f : families) names += std::string(names.empty() ? "" : ", ") + f->name();
  char buf[200];
  std::snprintf(buf, sizeof buf, " (%llu blocks), %llu blocks decoded, %llu records, %.1f MB; families: ",
                static_cast<unsigned long long>(stats.blocks_total), static_cast<unsigned long long>(stats.blocks_read),
                static_cast<unsigned long long>(stats.records), stats.raw_bytes / 1e6);
  return "read: " + std::to_string(stats.passes) + (stats.passes == 1 ? " pass" : " passes") + " over " + path + buf +
         names;
}

std::unique_ptr<FurtherCapture> read_further_capture(const RunOptions& run, ReportContext& ctx,
                                                     const std::vector<ReportFamily*>& families,
                                                     const std::vector<ReportFamilyEntry>& registry,
                                                     const std::string& path) {
  auto x = std::make_unique<FurtherCapture>();
  x->path = path;
  x->run = run;
  x->run.input = path;
  x->run.more_inputs.clear();
  x->run.by_host = false;  // the first capture's stacks family adds every host's frame
  x->run.diff_base.clear();
  x->ctx = std::make_unique<ReportContext>(run.symbols);
  x->ctx->lua_only = ctx.lua_only;
  std::vector<ReportFamily*> originals;  // parallel to x->families
  for (ReportFamily* f : families) {
    const ReportFamilyEntry* entry = nullptr;
    for (const auto& e : registry)
      if (std::string(e.name) == f->name()) entry = &e;
    if (!entry) throw std::logic_error(std::string("report family ") + f->name() + " is not in the registry");
    OptionValues values;
    f->add_options(values);
    values.now_apply();
    auto twin = entry->create();
    twin->add_options(values);
    if (!twin->enabled(x->run)) continue;
    x->families.push_back(twin.get());
    originals.push_back(f);
    x->owned.push_back(std::move(twin));
  }
  for (auto* f : x->families) f->configure(*x->ctx, x->run);
  x->stats = read_capture(path, *x->ctx, x->families);
  for (const auto& w : x->ctx->warnings) warn(w);
  if (x->ctx->corrupted) ctx.corrupted = true;
  for (auto* f : x->families) f->finish(*x->ctx);
  for (size_t i = 0; i < x->families.size(); i++) originals[i]->merge_capture(*x->families[i], *x->ctx, ctx, path);
  return x;
}

void merge_stacks(ReportContext& dst_ctx, StackAggregate& dst, uint32_t dst_host, const ReportContext& src_ctx,
                  const StackAggregate& src, uint32_t src_host) {
  std::map<std::pair<uint32_t, std::vector<uint32_t>>, AggregatedStack> paths;
  auto add = [&](AggregatedStack st, uint32_t host) {
    if (host) st.frames.insert(st.frames.begin(), host);
    auto& p = paths[{st.pid, st.frames}];
    if (p.frames.empty()) {
      p.pid = st.pid;
      p.frames = st.frames;
    }
    p.weight += st.weight;
    p.count += st.count;
  };
  for (const auto& st : dst.stacks) add(st, dst_host);
  std::vector<uint32_t> ids(src_ctx.frames.size(), 0);
  for (const auto& st : src.stacks) {
    AggregatedStack t = st;
    for (uint32_t& id : t.frames) {
      if (!ids[id]) {
        const FrameInfo& f = src_ctx.frames[id];
        ids[id] = dst_ctx.frames.intern(symbolize::SymFrame{f.name, f.module, f.file, 0, f.type, f.resolved});
      }
      id = ids[id];
    }
    add(std::move(t), src_host);
  }
  dst.total_weight += src.total_weight;
  dst.total_count += src.total_count;
  dst.stacks.clear();
  for (auto& [k, st] : paths) dst.stacks.push_back(std::move(st));
  sort_stacks(dst_ctx, dst.stacks);
}

void warn(const std::string& text) { std::fprintf(stderr, "ebtrace: warning: %s\n", text.c_str()); }

PassStats read_capture(const std::string& path, ReportContext& ctx, const std::vector<ReportFamily*>& families) {
  format::CaptureReader reader(path);
  ctx.session = reader.session();
  PassStats stats;
  stats.blocks_total = reader.blocks().size();
  ContextBuilder builder(ctx);

  uint64_t wanted = context_kinds();
  for (ReportFamily* f : families) wanted |= f->kinds();
  if (wanted & format::kind_bit(RecordKind::kCpuSamples)) wanted |= format::kind_bit(RecordKind::kStackSnapshots);

  // Raw stacks (--keep-stack-bytes) are unwound while they are read, with the
  // mappings and unwind tables the recorder wrote at the end of the file: only
  // for such captures, a first pass reads those two kinds (blocks without them
  // are skipped).
  std::unique_ptr<unwind::OfflineUnwinder> unwinder;
  bool snapshots = false;
  for (const auto& b : reader.blocks())
    if (b.kind_mask & format::kind_bit(RecordKind::kStackSnapshots)) snapshots = true;
  if (snapshots && (wanted & format::kind_bit(RecordKind::kStackSnapshots))) {
    unwinder = std::make_unique<unwind::OfflineUnwinder>();
    struct TableCollector : format::RecordVisitor {
      unwind::OfflineUnwinder* u;
      void on(const Mapping& m) override { u->add(m); }
      void on(const UnwindTable& t) override { u->add(t); }
    } collector;
    collector.u = unwinder.get();
    format::ReadStats rs;
    format::ReadOptions only;
    only.kinds = format::kind_bit(RecordKind::kMapping) | format::kind_bit(RecordKind::kUnwindTable);
    only.stats = &rs;
    reader.read(collector, only);
    add_stats(stats, rs);
    builder.set_unwinder(unwinder.get());
  }

  FanOut fan(builder, families);
  format::ReadStats rs;
  format::ReadOptions opts;
  opts.kinds = wanted;
  opts.stats = &rs;
  reader.read(fan, opts);
  add_stats(stats, rs);
  stats.records = fan.records;

  reader.embedded_kind_names();  // checks the schema block too: its damage is damage
  if (unwinder) {
    if (unwinder->tables() == 0)
      ctx.warnings.push_back(path + ": raw user stacks but no unwind tables (recording not finished?): "
                             "user stacks show their sampled address only");
    for (const auto& p : unwinder->problems()) ctx.warnings.push_back(path + ": " + p);
  }
  for (const auto& w : reader.warnings()) ctx.warnings.push_back(path + ": " + w);
  ctx.corrupted = reader.corrupted();
  return stats;
}

std::string write_trace(const RunOptions& run, ReportContext& ctx, const std::vector<ReportFamily*>& families) {
  return write_trace(run, {TraceCapture{&ctx, families, run.input}});
}

std::string write_trace(const RunOptions& run, const std::vector<TraceCapture>& captures) {
  TraceJson trace = start_trace(*captures.front().ctx);
  if (run.group_container && captures.size() == 1) {
    // One track group per container: its processes' threads under one "process".
    std::map<const ContainerRef*, uint32_t> group_pids;
    for (const auto& [pid, p] : captures.front().ctx->processes) {
      const ContainerRef& c = container_of(*captures.front().ctx, pid);
      if (!c.container) continue;
      auto [it, fresh] = group_pids.try_emplace(&c, 0);
      if (fresh) {
        it->second = kContainerGroupPidBase + uint32_t(group_pids.size());
        std::string name = "container " + c.label + " (" + c.runtime + (c.short_id().empty() ? "" : " " + c.short_id()) + ")";
        trace.set_process_name(it->second, name);
      }
      trace.group_process(pid, it->second);
    }
  }
  // Each capture's monotonic time that falls on the timeline's origin: its
  // start, moved back by how much later (wall clock) it began than the first.
  std::vector<uint64_t> origin;
  std::vector<uint64_t> wall;
  for (const TraceCapture& c : captures) {
    const SessionInfo& s = c.ctx->session;
    origin.push_back(c.ctx->start_ns());
    if (captures.size() == 1) break;
    if (s.clock_realtime_ns == 0)
      throw BadInput(c.path + " has no wall-clock reference (an older recorder): it cannot share a --trace "
                              "timeline with other captures");
    wall.push_back(wall_clock_ns(c.ctx->start_ns(), s.clock_monotonic_ns, s.clock_realtime_ns));
  }
  if (captures.size() > 1) {
    if (captures.size() > 400) throw BadInput("--trace over more than 400 captures: merge fewer at a time");
    uint64_t first = *std::min_element(wall.begin(), wall.end());
    for (size_t k = 0; k < captures.size(); k++) origin[k] -= std::min(origin[k], wall[k] - first);
    trace.set_other("wall_clock_start", format_wall_clock(first, 9, WallClockStyle::kIso));
    trace.set_other("wall_clock_start_ns", std::to_string(first));
    trace.set_other("clock", "wall clock of each capture (its monotonic <-> realtime pair); ts is microseconds "
                             "since wall_clock_start");
    std::string list;
    for (size_t k = 0; k < captures.size(); k++)
      list += (k ? "; " : "") + captures[k].path + " (pids + " + std::to_string(k * uint64_t(kTraceIdBase)) + ")";
    trace.set_other("captures", list);
    trace.set_other("monotonic_origin_ns", std::to_string(origin[0]));  // of the first capture's clock
  }
  size_t n = 0;
  for (size_t k = 0; k < captures.size(); k++) {
    const TraceCapture& c = captures[k];
    std::string prefix;
    if (captures.size() > 1) {
      std::string host = c.ctx->session.hostname.empty() ? "?" : c.ctx->session.hostname;
      prefix = host + " " + c.path.substr(c.path.find_last_of('/') + 1) + ": ";
    }
    trace.begin_capture(origin[k], static_cast<uint32_t>(k) * kTraceIdBase, prefix);
    for (ReportFamily* f : c.families) n += f->add_trace(trace, *c.ctx);
  }
  // Streams the document into a temporary file renamed at the end, so a
  // failed run never leaves half a timeline.
  std::string tmp = run.trace + ".tmp";
  TraceWriteResult r;
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw RuntimeFailure("cannot write " + run.trace + ": " + std::strerror(errno));
    r = trace.write(out, run.trace_max_bytes);
    out.flush();
    if (!out) {
      std::remove(tmp.c_str());
      throw RuntimeFailure("cannot write " + run.trace + ": " + std::strerror(errno));
    }
  }
  if (std::rename(tmp.c_str(), run.trace.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw RuntimeFailure("cannot write " + run.trace + ": " + std::strerror(errno));
  }
  for (const auto& w : r.notes) warn(run.trace + ": " + w);
  return "wrote " + run.trace + " (" + std::to_string(n) + " records, " + std::to_string(r.events) +
         " trace events)";
}

std::string latency_tables(const RunOptions& run, ReportContext& ctx, const std::vector<ReportFamily*>& families) {
  std::string all;
  for (ReportFamily* f : families) {
    std::ostringstream section;
    f->write_latency(section, ctx);
    if (section.str().empty()) continue;
    if (!all.empty() && run.format == TableFormat::kText) all += "\n";
    all += section.str();
  }
  return all;
}

uint64_t parse_byte_size(const std::string& text, const char* what) {
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(text.c_str(), &end);
  if (text.empty() || end == text.c_str() || errno != 0 || !std::isfinite(v) || v <= 0)
    throw BadInput(std::string("invalid ") + what + ": '" + text + "' (e.g. 100M, 1G)");
  std::string unit = end;
  double mult = unit.empty() || unit == "B" ? 1
                : unit == "K" || unit == "KB" || unit == "k" ? 1024.0
                : unit == "M" || unit == "MB" ? 1024.0 * 1024
                : unit == "G" || unit == "GB" ? 1024.0 * 1024 * 1024
                                              : -1;
  if (mult < 0) throw BadInput(std::string("invalid ") + what + ": '" + text + "' (e.g. 100M, 1G)");
  double bytes = v * mult;
  if (bytes < 1024 || bytes > 1e15)
    throw BadInput(std::string(what) + " '" + text + "' is out of range (1K .. 1P)");
  return static_cast<uint64_t>(bytes);
}

}  // namespace ebt::report
