// `ebtrace info`: what a capture holds, without symbolizing anything.
#include <map>
#include <memory>
#include <set>

#include "cli/capture_arg.h"
#include "cli/commands.h"
#include "common/error.h"
#include "common/wall_clock.h"
#include "format/reader.h"

namespace ebt::cli {
namespace {

std::string hex(const std::vector<uint8_t>& b) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (uint8_t c : b) {
    s += d[c >> 4];
    s += d[c & 15];
  }
  return s;
}

std::string human_bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) {
    b /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u ? "%.1f %s" : "%.0f %s", b, units[u]);
  return buf;
}

struct InfoVisitor : format::RecordVisitor {
  std::optional<SessionEnd> end;
  std::map<LossSource, uint64_t> lost;
  std::vector<SymbolTable> symtabs;  // symbols dropped, counts kept
  std::vector<std::set<std::pair<uint64_t, std::string>>> symbol_sets;
  std::set<std::pair<uint64_t, std::string>> kernel_symbol_set;
  uint64_t payload_events = 0, payload_bytes = 0;
  std::set<uint32_t> pids;
  uint64_t first = UINT64_MAX, last = 0;
  uint64_t snapshots = 0, unwind_tables = 0;  // --keep-stack-bytes

  void time(uint64_t t) {
    first = std::min(first, t);
    last = std::max(last, t);
  }
  void on(const SessionEnd& e) override { end = e; }
  void on(const ProcessInfo& p) override { pids.insert(p.pid); }
  std::map<std::string, CgroupInfo> cgroups;  // by path (docs/containers.md)
  void on(const CgroupInfo& c) override { cgroups[c.path] = c; }
  void on(const SymbolTable& t) override {
    // The recorder embeds an object's symbols in batches: one line per object.
    size_t i = 0;
    while (i < symtabs.size() && !(symtabs[i].build_id == t.build_id && symtabs[i].path == t.path)) ++i;
    if (i == symtabs.size()) {
      SymbolTable light;
      light.build_id = t.build_id;
      light.path = t.path;
      symtabs.push_back(std::move(light));
      symbol_sets.emplace_back();
    }
    for (const auto& s : t.symbols) symbol_sets[i].emplace(s.address, s.name);
  }
  void on(const KernelSymbols& k) override {
    for (const auto& s : k.symbols) kernel_symbol_set.emplace(s.address, s.name);
  }
  void on(const CpuSample& s) override {
    time(s.time_ns);
    ++samples;
    if (s.lua_stack_id) ++lua_samples;
  }
  void on(const StackSnapshot& s) override {
    time(s.time_ns);
    ++snapshots;
    ++samples;
    if (s.lua_stack_id) ++lua_samples;
  }
  // --lua
  uint64_t samples = 0, lua_samples = 0, lua_protos = 0, lua_proto_errors = 0, lua_traces = 0, lua_stacks = 0;
  std::map<uint32_t, LuaVm> lua_vms;  // by pid, the last record (final counters)
  void on(const LuaProto& p) override {
    ++lua_protos;
    if (!p.read_error.empty()) ++lua_proto_errors;
  }
  void on(const LuaTrace&) override { ++lua_traces; }
  void on(const LuaStack&) override { ++lua_stacks; }
  void on(const LuaVm& vm) override {
    LuaVm light = vm;
    light.ff_names.clear();
    light.bc_names.clear();
    lua_vms[vm.pid] = std::move(light);
  }
  void on(const UnwindTable&) override { ++unwind_tables; }
  void on(const OffCpuInterval& e) override { time(e.start_ns); }
  void on(const SkbHop& e) override { time(e.time_ns); }
  void on(const SyscallEvent& e) override {
    time(e.enter_ns);
    if (!e.payload.empty()) {
      ++payload_events;
      payload_bytes += e.payload.size();
    }
  }
  void on(const LostEvents& e) override {
    time(e.time_ns);
    lost[e.source] += e.count;
  }
};

int run_info(const std::string& path) {
  format::CaptureReader r(path);
  InfoVisitor v;
  format::ReadStats stats;
  format::ReadOptions opts;
  opts.stats = &stats;
  r.read(v, opts);
  auto names = r.embedded_kind_names();
  auto kind_label = [&](uint16_t k) {
    std::string n = k < names.size() ? names[k] : "";
    if (n.empty()) n = format::kind_name(k);
    if (n.empty()) n = "#" + std::to_string(k);
    if (k >= format::kKnownKindCount) n += " (unknown to this ebtrace)";
    return n;
  };

  const SessionInfo& s = r.session();
  std::printf("capture:        %s\n", path.c_str());
  std::printf("format:         %u.%u, %s, %s\n", r.major_version(), r.minor_version(),
              human_bytes(static_cast<double>(r.file_bytes())).c_str(),
              r.has_index() ? "index present" : "no index (capture not finished; blocks found by scanning)");
  std::printf("host:           %s (%s), kernel %s\n", s.hostname.c_str(), s.machine.c_str(),
              s.kernel_release.c_str());
  std::printf("boot id:        %s\n", s.boot_id.c_str());
  std::printf("cpus:           %u\n", s.cpu_count);
  if (s.clock_realtime_ns) {
    uint64_t start_rt = wall_clock_ns(s.start_ns, s.clock_monotonic_ns, s.clock_realtime_ns);
    std::printf("started:        %s (monotonic %.6f s)\n",
                format_wall_clock(start_rt, 6, WallClockStyle::kIso).c_str(), s.start_ns / 1e9);
  }
  std::string cmd;
  for (const auto& a : s.command_line) cmd += (cmd.empty() ? "" : " ") + a;
  std::printf("command line:   %s\n", cmd.c_str());
  std::printf("options:        %s\n", s.options.c_str());
  if (!s.trigger.empty()) std::printf("trigger:        %s\n", s.trigger.c_str());
  std::printf("ebtrace:        %s\n", s.ebtrace_version.c_str());
  if (s.sample_frequency_hz) std::printf("sampling:       %u Hz\n", s.sample_frequency_hz);
  if (v.first <= v.last) {
    std::printf("time range:     %.6f .. %.6f s monotonic, %.3f s of events\n", v.first / 1e9, v.last / 1e9,
                (v.last - v.first) / 1e9);
  } else {
    std::printf("time range:     no events\n");
  }
  if (v.end) {
    std::printf("session end:    clean at %.6f s (duration %.3f s), %llu samples, %llu lost\n", v.end->end_ns / 1e9,
                v.end->end_ns > s.start_ns ? (v.end->end_ns - s.start_ns) / 1e9 : 0.0,
                static_cast<unsigned long long>(v.end->samples), static_cast<unsigned long long>(v.end->lost));
    if (v.end->leaf_repair.stacks)
      std::printf("leaf repair:    %s\n", describe(v.end->leaf_repair).c_str());
  } else {
    std::printf("session end:    missing (recorder did not stop cleanly)\n");
  }

  std::printf("records:\n  %-28s %12s %12s %12s\n", "kind", "records", "raw bytes", "on disk");
  for (const auto& [k, ks] : stats.kinds) {
    if (k == 0) continue;  // the session, shown above
    std::printf("  %-28s %12llu %12llu %12llu\n", kind_label(k).c_str(), static_cast<unsigned long long>(ks.records),
                static_cast<unsigned long long>(ks.raw_bytes), static_cast<unsigned long long>(ks.stored_bytes));
  }
  std::printf("compression:    %s raw -> %s in %llu blocks (ratio %.2f), file %s\n",
              human_bytes(static_cast<double>(stats.raw_bytes)).c_str(),
              human_bytes(static_cast<double>(stats.stored_bytes)).c_str(),
              static_cast<unsigned long long>(stats.blocks),
              stats.stored_bytes ? static_cast<double>(stats.raw_bytes) / stats.stored_bytes : 0.0,
              human_bytes(static_cast<double>(r.file_bytes())).c_str());
  uint64_t lost_total = 0;
  std::string by;
  for (const auto& [src, n] : v.lost) {
    lost_total += n;
    by += (by.empty() ? "" : ", ") + std::string(loss_source_name(src)) + " " + std::to_string(n);
  }
  std::printf("lost events:    %llu%s%s%s\n", static_cast<unsigned long long>(lost_total), by.empty() ? "" : " (",
              by.c_str(), by.empty() ? "" : ")");
  std::printf("processes:      %zu\n", v.pids.size());
  if (!v.cgroups.empty()) {
    std::set<std::string> hierarchies;
    size_t containers = 0;
    for (const auto& [path, c] : v.cgroups) {
      hierarchies.insert(c.hierarchy);
      if (!c.runtime.empty()) ++containers;
    }
    std::string h;
    for (const auto& x : hierarchies) h += (h.empty() ? "" : ", ") + x;
    std::printf("cgroups:        %zu (%s), %zu container%s\n", v.cgroups.size(), h.c_str(), containers,
                containers == 1 ? "" : "s");
    std::map<std::string, size_t> host_notes;  // what is unknown about host cgroups, once per reason
    for (const auto& [path, c] : v.cgroups)
      if (c.runtime.empty() && !c.notes.empty()) host_notes[c.notes]++;
    for (const auto& [note, n] : host_notes)
      std::printf("  %zu host cgroup%s: unknown: %s\n", n, n == 1 ? "" : "s", note.c_str());
    for (const auto& [path, c] : v.cgroups) {
      if (c.runtime.empty()) continue;
      std::string id = c.container_id.size() == 64 ? c.container_id.substr(0, 12) : c.container_id;
      if (!c.runtime.empty()) {
        std::printf("  %s  %s %s  hostname %s  cgroup %s (id %llu)  netns %llu  pidns %llu", c.name.c_str(),
                    c.runtime.c_str(), id.c_str(), c.hostname.empty() ? "-" : c.hostname.c_str(), path.c_str(),
                    static_cast<unsigned long long>(c.id), static_cast<unsigned long long>(c.net_ns),
                    static_cast<unsigned long long>(c.pid_ns));
        if (!c.pod_uid.empty()) std::printf("  pod %s (%s)", c.pod_uid.c_str(), c.qos_class.c_str());
      }
      if (!c.notes.empty()) std::printf("  unknown: %s", c.notes.c_str());
      std::printf("\n");
    }
  }
  std::printf("symbol objects: %zu embedded, %zu kernel symbols\n", v.symtabs.size(), v.kernel_symbol_set.size());
  for (size_t i = 0; i < v.symtabs.size(); ++i)
    std::printf("  %s  build-id %s  %zu symbols\n", v.symtabs[i].path.c_str(),
                v.symtabs[i].build_id.empty() ? "(none)" : hex(v.symtabs[i].build_id).c_str(), v.symbol_sets[i].size());
  if (v.snapshots)
    std::printf("raw stacks:     %llu user stack copies (--keep-stack-bytes), %llu unwind tables: report unwinds "
                "them; stack memory may contain secrets\n",
                static_cast<unsigned long long>(v.snapshots), static_cast<unsigned long long>(v.unwind_tables));
  if (!v.lua_vms.empty()) {
    uint64_t bad = 0, truncated = 0, lost = 0, idle = 0, no_state = 0;
    for (const auto& [pid, vm] : v.lua_vms) {
      bad += vm.bad_walks, truncated += vm.truncated_walks, lost += vm.lost_stacks, idle += vm.idle_samples;
      no_state += vm.no_state;
    }
    std::printf("lua:            %llu of %llu samples with a Lua stack (%llu distinct), %llu protos (%llu unreadable), "
                "%llu traces\n",
                static_cast<unsigned long long>(v.lua_samples), static_cast<unsigned long long>(v.samples),
                static_cast<unsigned long long>(v.lua_stacks), static_cast<unsigned long long>(v.lua_protos),
                static_cast<unsigned long long>(v.lua_proto_errors), static_cast<unsigned long long>(v.lua_traces));
    std::printf("lua walks:      %llu inconsistent (cut), %llu truncated, %llu Lua stacks lost, %llu samples with the VM "
                "idle (no Lua running), %llu without VM state\n",
                static_cast<unsigned long long>(bad), static_cast<unsigned long long>(truncated),
                static_cast<unsigned long long>(lost), static_cast<unsigned long long>(idle),
                static_cast<unsigned long long>(no_state));
    for (const auto& [pid, vm] : v.lua_vms)
      std::printf("  pid %u  %s  build-id %s  %s%s\n", pid, vm.path.c_str(),
                  vm.build_id.empty() ? "(none)" : hex(vm.build_id).c_str(),
                  vm.source.rfind("unidentified", 0) == 0 ? "" : (vm.version + (vm.gc64 ? ", GC64, " : ", non-GC64, ")).c_str(),
                  vm.source.c_str());
  }
  if (v.payload_events)
    std::printf("payload bytes:  YES: %llu syscall events carry %s of payload; this capture may contain secrets\n",
                static_cast<unsigned long long>(v.payload_events),
                human_bytes(static_cast<double>(v.payload_bytes)).c_str());
  else
    std::printf("payload bytes:  none\n");

  if (r.damage().empty())
    std::printf("damage:         none\n");
  else
    std::printf("damage:         %zu problem(s), see warnings\n", r.damage().size());
  std::fflush(stdout);
  return report_damage(r, path);
}

}  // namespace

void add_info_command(CLI::App& app, RunFn& run) {
  auto* sub = app.add_subcommand(
      "info", "Show what a capture holds: session, time range, record counts and sizes, symbols, damage");
  auto arg = std::make_shared<CaptureArg>();
  arg->add_to(sub);
  sub->footer(std::string(kReadExitCodes) + "\nEXAMPLE:\n  ebtrace info capture.ebt");
  sub->callback([&run, arg] { run = [arg] { return run_info(arg->path("info")); }; });
}

}  // namespace ebt::cli
