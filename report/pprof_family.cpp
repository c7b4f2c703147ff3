#include "report/pprof_family.h"

#include <zlib.h>

#include <algorithm>
#include <limits>
#include <cmath>
#include <cstring>
#include <ostream>
#include <unordered_map>

#include "common/error.h"
#include "report/containers.h"
#include "report/offcpu_profile.h"
#include "report/pprof.pb.h"

#include <google/protobuf/arena.h>
#include "report/stacks_family.h"
#include "report/utf8.h"

namespace ebt::report {

namespace {

namespace pb = perftools::profiles;

// Gzip (RFC 1952) through zlib: pprof files are gzipped on disk.
std::string gzip(const std::string& data) {
  z_stream z{};
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw RuntimeFailure("--pprof: zlib deflateInit2 failed");
  std::string out(deflateBound(&z, data.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&z, Z_FINISH);
  size_t n = z.total_out;
  deflateEnd(&z);
  if (rc != Z_STREAM_END) throw RuntimeFailure("--pprof: zlib deflate failed");
  out.resize(n);
  return out;
}

// The value columns and which one a sample kind fills.
struct Columns {
  int samples = -1, cpu = -1, off = -1, switches = -1, waker = -1, wakeups = -1, wall = -1;
  size_t size = 0;
};

class ProfileBuilder {
 public:
  ProfileBuilder(ReportContext& ctx, const Filter& filter) : ctx_(ctx), filter_(filter) { str(""); }

  // Every string of the profile goes through here: proto3 `string` fields must
  // be valid UTF-8 (readers reject the file otherwise), capture names need not be.
  int64_t str(const std::string& s) {
    auto [it, inserted] = strings_.try_emplace(s, static_cast<int64_t>(profile_.string_table_size()));
    if (inserted) profile_.add_string_table(valid_utf8(s));
    return it->second;
  }

  size_t add_column(const char* type, const char* unit) {
    auto* vt = profile_.add_sample_type();
    vt->set_type(str(type));
    vt->set_unit(str(unit));
    return static_cast<size_t>(profile_.sample_type_size() - 1);
  }

  // One aggregator group: its stack as locations, its values into `column`
  // (and `count_column` with the group's event count).
  void add_group(const StackAggregator::GroupKey& key, const StackAggregator::Group& g, size_t ncolumns,
                 const std::vector<std::pair<int, uint64_t>>& values) {
    StackRef ref{key.pid, g.first_time, key.stack_id, key.aux_id};
    const std::vector<uint32_t>& frames = ctx_.symbolized_stack(ref);
    const std::vector<FrameSite>* sites = ctx_.stack_sites(ref);
    locs_.clear();
    if (key.leaf_marker) locs_.push_back(marker_location(key.leaf_marker));
    size_t i = 0;
    while (i < frames.size()) {
      size_t end = i + 1;
      if (sites) {
        while (end < frames.size() && (*sites)[end].call == (*sites)[i].call) ++end;
      } else {
        // No addresses: an inline run belongs to the next non-inline frame.
        end = i;
        while (end < frames.size() && ctx_.frames[frames[end]].type == FrameType::kInline) ++end;
        end = std::min(end + 1, frames.size());
      }
      uint64_t loc = location(frames, sites, i, end);
      if (loc) locs_.push_back(loc);
      i = end;
    }
    if (key.root_marker) locs_.push_back(marker_location(key.root_marker));

    // Sample key: locations, pid, tid, comm.
    std::string k;
    k.reserve(locs_.size() * 8 + 12);
    for (uint32_t v : {key.pid, key.tid, key.comm}) k.append(reinterpret_cast<const char*>(&v), sizeof v);
    for (uint64_t l : locs_) k.append(reinterpret_cast<const char*>(&l), sizeof l);
    auto [it, inserted] = samples_.try_emplace(std::move(k), 0);
    if (inserted) {
      it->second = profile_.sample_size();
      auto* s = profile_.add_sample();
      for (uint64_t l : locs_) s->add_location_id(l);
      for (size_t c = 0; c < ncolumns; ++c) s->add_value(0);
      auto num = [&](const char* name, int64_t v) {
        auto* l = s->add_label();
        l->set_key(str(name));
        l->set_num(v);
      };
      auto text = [&](const char* name, const std::string& v) {
        auto* l = s->add_label();
        l->set_key(str(name));
        l->set_str(str(v));
      };
      num("pid", key.pid);
      num("tid", key.tid);
      text("comm", ctx_.frames[key.comm].name);
      // The container's name as every report shows it (report/containers.h).
      if (const ContainerRef& c = container_of(ctx_, key.pid); c.container) {
        text("container", c.label);
        if (!c.id.empty()) text("container_id", c.short_id());
      }
    }
    auto* s = profile_.mutable_sample(it->second);
    // pprof values are int64: sums saturate at its maximum rather than wrap
    // (durations near 2^63 only come from hostile captures; a wrapped sum was
    // undefined behaviour and a negative value).
    constexpr uint64_t kMax = uint64_t(std::numeric_limits<int64_t>::max());
    for (const auto& [col, v] : values)
      if (col >= 0) s->set_value(col, int64_t(std::min(kMax, uint64_t(s->value(col)) + std::min(v, kMax))));
  }

  pb::Profile& finish() {
    // "mapping[0] will be the main binary": the executable with the most
    // locations goes first (ids stay index + 1, as Parca requires).
    std::unordered_map<uint64_t, size_t> uses;
    for (const auto& loc : profile_.location()) uses[loc.mapping_id()]++;
    std::unordered_map<std::string, bool> exes;
    for (const auto& [pid, p] : ctx_.processes)
      if (!p.exe.empty()) exes[p.exe] = true;
    int main_index = -1;
    size_t best = 0;
    for (int i = 0; i < profile_.mapping_size(); ++i) {
      const auto& m = profile_.mapping(i);
      if (!exes.count(profile_.string_table(static_cast<int>(m.filename())))) continue;
      if (main_index < 0 || uses[m.id()] > best) main_index = i, best = uses[m.id()];
    }
    if (main_index > 0) {
      uint64_t a = 1, b = static_cast<uint64_t>(main_index) + 1;  // swap ids a and b
      profile_.mutable_mapping()->SwapElements(0, main_index);
      profile_.mutable_mapping(0)->set_id(a);
      profile_.mutable_mapping(main_index)->set_id(b);
      for (auto& loc : *profile_.mutable_location()) {
        if (loc.mapping_id() == a) loc.set_mapping_id(b);
        else if (loc.mapping_id() == b) loc.set_mapping_id(a);
      }
      if (kernel_mapping_ == a) kernel_mapping_ = b;
      else if (kernel_mapping_ == b) kernel_mapping_ = a;
    }
    if (kernel_mapping_) {
      auto* km = profile_.mutable_mapping(static_cast<int>(kernel_mapping_ - 1));
      km->set_memory_start(kernel_lo_);
      km->set_memory_limit(kernel_hi_ + 1);
    }
    return profile_;
  }
  size_t locations() const { return static_cast<size_t>(profile_.location_size()); }
  size_t functions() const { return static_cast<size_t>(profile_.function_size()); }

 private:
  uint64_t function(uint32_t frame_id) {
    auto [it, inserted] = functions_.try_emplace(frame_id, 0);
    if (inserted) {
      const FrameInfo& f = ctx_.frames[frame_id];
      auto* fn = profile_.add_function();
      it->second = static_cast<uint64_t>(profile_.function_size());
      fn->set_id(it->second);
      fn->set_name(str(f.name));
      fn->set_system_name(str(f.name));
      if (!f.file.empty()) fn->set_filename(str(f.file));
    }
    return it->second;
  }

  uint64_t mapping(const FrameSite& site) {
    if (site.kernel) {
      if (!kernel_mapping_) {
        auto* m = profile_.add_mapping();
        kernel_mapping_ = static_cast<uint64_t>(profile_.mapping_size());
        m->set_id(kernel_mapping_);
        m->set_filename(str("[kernel.kallsyms]"));
        m->set_has_functions(true);
      }
      kernel_lo_ = std::min(kernel_lo_, site.address);
      kernel_hi_ = std::max(kernel_hi_, site.address);
      return kernel_mapping_;
    }
    if (!site.mapping) return 0;
    auto [it, inserted] = mappings_.try_emplace(site.mapping, 0);
    if (inserted) {
      const Mapping& src = *site.mapping;
      auto* m = profile_.add_mapping();
      it->second = static_cast<uint64_t>(profile_.mapping_size());
      m->set_id(it->second);
      m->set_memory_start(src.start);
      m->set_memory_limit(src.end);
      m->set_file_offset(src.file_offset);
      m->set_filename(str(src.path));
      if (!src.build_id.empty()) m->set_build_id(str(symbolize::hex_build_id(src.build_id)));
      m->set_has_functions(true);
    }
    return it->second;
  }

  // The location of frames[begin, end) (one captured address, or one frame
  // with its inline run); 0 when the filters leave nothing of it.
  uint64_t location(const std::vector<uint32_t>& frames, const std::vector<FrameSite>* sites, size_t begin,
                    size_t end) {
    std::string k;
    const FrameSite* site = sites ? &(*sites)[begin] : nullptr;
    if (site) {
      k.push_back(site->kernel ? 'K' : 'S');
      k.append(reinterpret_cast<const char*>(&site->mapping), sizeof site->mapping);
      k.append(reinterpret_cast<const char*>(&site->address), sizeof site->address);
    } else {
      k.push_back('U');
    }
    size_t lines = 0;
    for (size_t i = begin; i < end; ++i) {
      FrameType t = ctx_.frames[frames[i]].type;
      if (filter_.no_kernel && t == FrameType::kKernel) continue;
      if (filter_.no_inline && t == FrameType::kInline) continue;
      uint32_t line = sites ? (*sites)[i].line : 0;
      k.append(reinterpret_cast<const char*>(&frames[i]), sizeof frames[i]);
      k.append(reinterpret_cast<const char*>(&line), sizeof line);
      lines++;
    }
    if (lines == 0) return 0;
    auto [it, inserted] = locations_.try_emplace(std::move(k), 0);
    if (!inserted) return it->second;
    uint64_t mapping_id = site ? mapping(*site) : 0;
    auto* loc = profile_.add_location();
    it->second = static_cast<uint64_t>(profile_.location_size());
    loc->set_id(it->second);
    loc->set_mapping_id(mapping_id);
    if (site) loc->set_address(site->address);
    pb::Mapping* m = mapping_id ? profile_.mutable_mapping(static_cast<int>(mapping_id - 1)) : nullptr;
    for (size_t i = begin; i < end; ++i) {
      const FrameInfo& f = ctx_.frames[frames[i]];
      if (filter_.no_kernel && f.type == FrameType::kKernel) continue;
      if (filter_.no_inline && f.type == FrameType::kInline) continue;
      auto* line = loc->add_line();
      line->set_function_id(function(frames[i]));
      uint32_t n = sites ? (*sites)[i].line : 0;
      if (n) line->set_line(n);
      if (m) {
        if (!f.file.empty()) m->set_has_filenames(true);
        if (n) m->set_has_line_numbers(true);
        if (f.type == FrameType::kInline) m->set_has_inline_frames(true);
      }
    }
    return it->second;
  }

  uint64_t marker_location(uint32_t frame_id) {
    std::string k = "M";
    k.append(reinterpret_cast<const char*>(&frame_id), sizeof frame_id);
    auto [it, inserted] = locations_.try_emplace(std::move(k), 0);
    if (inserted) {
      auto* loc = profile_.add_location();
      it->second = static_cast<uint64_t>(profile_.location_size());
      loc->set_id(it->second);
      loc->add_line()->set_function_id(function(frame_id));
    }
    return it->second;
  }

  ReportContext& ctx_;
  const Filter& filter_;
  // On an arena: tens of thousands of locations and lines are allocated (and
  // freed) at once instead of one by one.
  google::protobuf::Arena arena_;
  pb::Profile& profile_ = *google::protobuf::Arena::CreateMessage<pb::Profile>(&arena_);
  std::unordered_map<std::string, int64_t> strings_;
  std::unordered_map<uint32_t, uint64_t> functions_;         // frame id -> function id
  std::unordered_map<const Mapping*, uint64_t> mappings_;    // capture mapping -> mapping id
  std::unordered_map<std::string, uint64_t> locations_;      // key -> location id
  std::unordered_map<std::string, int> samples_;             // key -> sample index
  uint64_t kernel_mapping_ = 0, kernel_lo_ = UINT64_MAX, kernel_hi_ = 0;
  std::vector<uint64_t> locs_;
};

class PprofFamily : public ReportFamily {
 public:
  const char* name() const override { return "pprof"; }

  void add_options(OptionSink& o) override {
    o.option("--pprof", &path_,
             "Write the stacks as a gzipped pprof profile (go tool pprof, Pyroscope, Parca) to FILE", "FILE");
  }
  bool requested() const override { return !path_.empty(); }
  bool enabled(const RunOptions&) const override { return requested(); }

  void configure(ReportContext& ctx, const RunOptions& run) override {
    if (run.group_container)
      throw BadInput("--group container applies to the text report, --folded, --flamegraph and --trace, not to "
                     "--pprof or --speedscope");
    ctx_ = &ctx;
    run_ = &run;
    ctx.keep_sites = true;  // locations with addresses and mappings
    select_view(run.view.off_cpu, run.view.on_off, run.view.weight, run.view.wakers, false, true);
    on_ = StackAggregator(run.filter);
    off_ = StackAggregator(run.filter);
    wake_ = StackAggregator(run.filter);
  }

  uint64_t kinds() const override {
    return format::kind_bit(format::RecordKind::kCpuSamples) |
           format::kind_bit(format::RecordKind::kOffCpuIntervals);
  }

  void on(const CpuSample& s) override {
    Sample x;
    x.time_ns = s.time_ns;
    x.pid = s.pid;
    x.tid = s.tid;
    x.cpu = s.cpu;
    x.stack_id = s.stack_id;
    x.aux_id = s.lua_stack_id;
    on_.add(*ctx_, x);
  }
  void on(const OffCpuInterval& iv) override {
    intervals_++;
    off_.add(*ctx_, offcpu_sample(*ctx_, iv, OffCpuWeight::kTime));
    Sample w;
    if (waker_sample(*ctx_, iv, OffCpuWeight::kTime, &w)) wake_.add(*ctx_, w);
  }

  void finish(ReportContext& ctx) override {
    const RunOptions& run = *run_;
    view_ = select_view(run.view.off_cpu, run.view.on_off, run.view.weight, run.view.wakers, ctx.samples_seen > 0,
                        intervals_ > 0);
    if (ctx.samples_seen == 0 && intervals_ == 0) warn(run.input + " holds no on-CPU samples or off-CPU intervals");
    if (view_.source != StackSource::kOnCpu && intervals_ == 0)
      warn(run.input + " holds no off-CPU intervals (record with --off-cpu)");
    if (view_.source == StackSource::kWakers && wake_.empty() && intervals_ > 0)
      warn(run.input + " holds no waker stacks (record with --off-cpu-waker)");
    if (ctx.samples_seen > 0 && ctx.session.sample_frequency_hz == 0)
      warn(run.input + ": sampling frequency unknown: the pprof profile has no cpu (nanoseconds) column");
  }

  std::vector<Output> outputs(ReportContext& ctx) override {
    std::string note;
    auto gz = std::make_shared<std::string>(build(ctx, &note));
    return {{path_, [gz](std::ostream& os) { os.write(gz->data(), static_cast<std::streamsize>(gz->size())); },
             note}};
  }

  // The gzipped profile; `note` says what it holds.
  std::string build(ReportContext& ctx, std::string* note) {
    const RunOptions& run = *run_;
    ProfileBuilder b(ctx, run.filter);
    Columns c;
    const uint32_t hz = ctx.session.sample_frequency_hz;
    const uint64_t period = hz ? static_cast<uint64_t>(std::llround(1e9 / hz)) : 0;
    if (ctx.samples_seen > 0) {
      c.samples = static_cast<int>(b.add_column("samples", "count"));
      if (period) c.cpu = static_cast<int>(b.add_column("cpu", "nanoseconds"));
    }
    if (!off_.empty()) {
      c.switches = static_cast<int>(b.add_column("switches", "count"));
      c.off = static_cast<int>(b.add_column("off_cpu", "nanoseconds"));
    }
    if (!wake_.empty()) {
      c.wakeups = static_cast<int>(b.add_column("wakeups", "count"));
      c.waker = static_cast<int>(b.add_column("waker", "nanoseconds"));
    }
    if (view_.source == StackSource::kOnOff) c.wall = static_cast<int>(b.add_column("wall", "nanoseconds"));
    size_t ncol = 0;
    for (int col : {c.samples, c.cpu, c.off, c.switches, c.waker, c.wakeups, c.wall})
      if (col >= 0) ncol++;
    if (ncol == 0) c.samples = static_cast<int>(b.add_column("samples", "count")), ncol = 1;

    on_.for_each_group([&](const auto& key, const auto& g) {
      b.add_group(key, g, ncol, {{c.samples, g.count}, {c.cpu, g.count * period}, {c.wall, g.count * period}});
    });
    off_.for_each_group([&](const auto& key, const auto& g) {
      b.add_group(key, g, ncol, {{c.off, g.weight}, {c.switches, g.count}, {c.wall, g.weight}});
    });
    wake_.for_each_group([&](const auto& key, const auto& g) {
      b.add_group(key, g, ncol, {{c.waker, g.weight}, {c.wakeups, g.count}});
    });

    pb::Profile& p = b.finish();
    const char* def = nullptr;
    switch (view_.source) {
      case StackSource::kOnCpu: def = c.cpu >= 0 ? "cpu" : "samples"; break;
      case StackSource::kOffCpu: def = view_.count ? "switches" : "off_cpu"; break;
      case StackSource::kWakers: def = view_.count ? "wakeups" : "waker"; break;
      case StackSource::kOnOff: def = "wall"; break;
    }
    p.set_default_sample_type(b.str(def));
    if (period) {
      auto* pt = p.mutable_period_type();
      pt->set_type(b.str("cpu"));
      pt->set_unit(b.str("nanoseconds"));
      p.set_period(static_cast<int64_t>(period));
    }
    uint64_t start = ctx.start_ns(), end = ctx.end_ns();
    if (uint64_t rt = ctx.to_realtime(start)) p.set_time_nanos(static_cast<int64_t>(rt));
    if (end > start) p.set_duration_nanos(static_cast<int64_t>(end - start));
    p.add_comment(b.str("ebtrace report " + run.input));
    p.add_comment(b.str("host " + ctx.session.hostname + ", kernel " + ctx.session.kernel_release));
    if (!run.filter_text.empty()) p.add_comment(b.str("filters: " + run.filter_text));

    std::string raw;
    if (!p.SerializeToString(&raw)) throw RuntimeFailure("--pprof: cannot serialize the profile");
    *note = "wrote " + path_ + " (pprof: " + std::to_string(p.sample_size()) + " samples, " +
            std::to_string(b.locations()) + " locations, " + std::to_string(b.functions()) +
            " functions; default sample type " + def + ")";
    return gzip(raw);
  }

 private:
  std::string path_;
  const RunOptions* run_ = nullptr;
  ReportContext* ctx_ = nullptr;
  StackAggregator on_, off_, wake_;
  uint64_t intervals_ = 0;
  StackView view_;
};

}  // namespace

std::unique_ptr<ReportFamily> make_pprof_family() { return std::make_unique<PprofFamily>(); }

}  // namespace ebt::report
