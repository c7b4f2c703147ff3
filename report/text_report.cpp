#include "report/text_report.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>
#include <tuple>
#include <vector>

namespace ebt::report {
namespace {

std::string pct(uint64_t part, uint64_t total) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%6.2f%%", total ? 100.0 * static_cast<double>(part) / static_cast<double>(total) : 0.0);
  return buf;
}

std::string pad(const std::string& s, size_t width, bool right = false) {
  if (s.size() >= width) return s;
  return right ? std::string(width - s.size(), ' ') + s : s + std::string(width - s.size(), ' ');
}

const char* type_marker(FrameType t) {
  switch (t) {
    case FrameType::kKernel: return "[k]";
    case FrameType::kInline: return "[i]";
    case FrameType::kLua: return "[l]";
    case FrameType::kJit: return "[j]";
    case FrameType::kMarker: return "[m]";
    default: return "[.]";
  }
}

struct FnKey {
  std::string comm;
  std::string module;
  std::string name;
  FrameType type;
  auto tie() const { return std::tie(comm, module, name, type); }
  bool operator<(const FnKey& o) const { return tie() < o.tie(); }
};

struct FnRow {
  FnKey key;
  uint64_t self = 0;
  uint64_t total = 0;
};

void function_table(const std::vector<FnRow>& rows, bool children, uint64_t total, size_t top,
                    const std::string& unit, std::ostream& out) {
  size_t n = std::min(top, rows.size());
  size_t comm_w = 7, mod_w = 6;
  for (size_t i = 0; i < n; ++i) {
    comm_w = std::max(comm_w, rows[i].key.comm.size());
    mod_w = std::max(mod_w, rows[i].key.module.size());
  }
  if (children) {
    out << "# Children      Self  " << pad("Command", comm_w) << "  " << pad("Module", mod_w) << "  Symbol\n";
  } else {
    out << "# Overhead  " << pad(unit == "samples" ? "Samples" : "Weight", 10, true) << "  "
        << pad("Command", comm_w) << "  " << pad("Module", mod_w) << "  Symbol\n";
  }
  for (size_t i = 0; i < n; ++i) {
    const FnRow& r = rows[i];
    if (children) {
      out << "  " << pct(r.total, total) << "  " << pct(r.self, total);
    } else {
      out << "  " << pct(r.self, total) << "  " << pad(std::to_string(r.self), 10, true);
    }
    out << "  " << pad(r.key.comm, comm_w) << "  " << pad(r.key.module, mod_w) << "  "
        << type_marker(r.key.type) << ' ' << r.key.name << '\n';
  }
  if (rows.size() > n) out << "  ... " << rows.size() - n << " more (--top N)\n";
}

}  // namespace

void write_text_report(const ReportContext& profile, const StackAggregate& stacks,
                       const TextReportOptions& options, std::ostream& out) {
  const SessionInfo& s = profile.session;
  const uint64_t total = stacks.total_weight;
  const uint64_t start = profile.start_ns(), end = profile.end_ns();
  char dur[32];
  std::snprintf(dur, sizeof dur, "%.3f s", static_cast<double>(end - start) / 1e9);

  out << "# ebtrace report" << (options.input.empty() ? "" : ": " + options.input) << '\n'
      << "# host: " << (s.hostname.empty() ? "?" : s.hostname)
      << "  kernel: " << (s.kernel_release.empty() ? "?" : s.kernel_release);
  if (!s.machine.empty()) out << "  machine: " << s.machine;
  if (s.cpu_count) out << "  cpus: " << s.cpu_count;
  out << '\n'
      << "# time: " << wall_clock_utc(profile.to_realtime(start)) << " + " << dur
      << (profile.end ? "" : " (no clean end: recorder stopped abruptly)") << '\n'
      << "# " << stacks.unit << ": " << total;
  if (stacks.unit != "samples") out << " in " << stacks.total_count << " events";
  if (s.sample_frequency_hz) out << " (" << s.sample_frequency_hz << " Hz)";
  out << "  lost: " << profile.lost << '\n';
  if (!options.filters.empty()) out << "# filters: " << options.filters << '\n';
  if (total == 0) {
    out << "#\n# no samples";
    if (!options.filters.empty()) out << " match the filters";
    out << '\n';
    return;
  }

  if (options.by_container) {
    // Per container: who, how much, which processes (host pid / pid inside).
    size_t name_w = 9, rt_w = 7, host_w = 8;
    for (const auto& r : options.containers) {
      name_w = std::max(name_w, r.ref->label.size());
      rt_w = std::max(rt_w, r.ref->runtime.size());
      host_w = std::max(host_w, r.ref->hostname.size());
    }
    out << "#\n# Containers\n# Overhead  " << pad(stacks.unit == "samples" ? "Samples" : "Weight", 10, true) << "  "
        << pad("Container", name_w) << "  " << pad("Runtime", rt_w) << "  " << pad("ID", 12) << "  "
        << pad("Hostname", host_w) << "  Processes (pid, pid inside)\n";
    size_t shown_c = 0;
    for (const auto& r : options.containers) {
      if (shown_c++ == options.top) {
        out << "  ... " << options.containers.size() - options.top << " more (--top N)\n";
        break;
      }
      const ContainerRef& c = *r.ref;
      out << "  " << pct(r.weight, total) << "  " << pad(std::to_string(r.weight), 10, true) << "  "
          << pad(c.label, name_w) << "  " << pad(c.runtime.empty() ? "-" : c.runtime, rt_w) << "  "
          << pad(c.short_id().empty() ? "-" : c.short_id(), 12) << "  " << pad(c.hostname.empty() ? "-" : c.hostname, host_w)
          << " ";
      size_t n = 0;
      for (const auto& p : r.processes) {
        if (n++ == 8) {
          out << " +" << r.processes.size() - 8 << " more";
          break;
        }
        out << ' ' << (p.comm.empty() ? "?" : p.comm) << ' ' << p.pid;
        if (p.inner_pid && p.inner_pid != p.pid) out << '/' << p.inner_pid;
      }
      if (!c.pod_uid.empty()) out << "  pod " << c.pod_uid << " (" << c.qos_class << ")";
      out << '\n';
    }
  }

  // Per process.
  std::map<uint32_t, uint64_t> by_pid;
  for (const auto& st : stacks.stacks) by_pid[st.pid] += st.weight;
  std::vector<std::pair<uint32_t, uint64_t>> procs(by_pid.begin(), by_pid.end());
  std::stable_sort(procs.begin(), procs.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  out << "#\n# Processes\n# Overhead  " << pad(stacks.unit == "samples" ? "Samples" : "Weight", 10, true)
      << "       PID  Command\n";
  size_t shown = 0;
  for (const auto& [pid, w] : procs) {
    if (shown++ == options.top) {
      out << "  ... " << procs.size() - options.top << " more (--top N)\n";
      break;
    }
    auto p = profile.processes.find(pid);
    std::string comm = p != profile.processes.end() && !p->second.comm.empty() ? p->second.comm
                                                                              : "[pid " + std::to_string(pid) + "]";
    // A process in its own pid namespace (a container): the pid it sees too.
    if (p != profile.processes.end() && p->second.nspid.size() > 1 && p->second.nspid.back() != pid)
      comm += "  (pid " + std::to_string(p->second.nspid.back()) + " in its pid namespace)";
    out << "  " << pct(w, total) << "  " << pad(std::to_string(w), 10, true) << "  "
        << pad(std::to_string(pid), 8, true) << "  " << comm << '\n';
  }

  // Functions: self = leaf frame, total = every distinct frame on the stack.
  std::map<FnKey, FnRow> fns;
  std::set<FnKey> seen;
  for (const auto& st : stacks.stacks) {
    // The comm frame: the first, or after a [host: NAME] frame (--by-host).
    size_t first = 0;
    while (first + 1 < st.frames.size() && profile.frames[st.frames[first]].type != FrameType::kProcess) first++;
    if (st.frames.size() < first + 2) continue;  // only the comm frame left (e.g. --no-kernel)
    const std::string& comm = profile.frames[st.frames[first]].name;
    auto key_of = [&](uint32_t id) {
      const FrameInfo& f = profile.frames[id];
      return FnKey{comm, f.module, f.name, f.type};
    };
    FnKey leaf = key_of(st.frames.back());
    auto& row = fns[leaf];
    row.key = leaf;
    row.self += st.weight;
    seen.clear();
    for (size_t i = first + 1; i < st.frames.size(); ++i) {
      FnKey k = key_of(st.frames[i]);
      if (!seen.insert(k).second) continue;  // recursion counts once
      auto& r = fns[k];
      r.key = k;
      r.total += st.weight;
    }
  }
  std::vector<FnRow> rows;
  for (auto& [k, r] : fns) rows.push_back(r);
  auto order = [](bool by_total) {
    return [by_total](const FnRow& a, const FnRow& b) {
      uint64_t x = by_total ? a.total : a.self, y = by_total ? b.total : b.self;
      if (x != y) return x > y;
      return a.key < b.key;
    };
  };
  std::sort(rows.begin(), rows.end(), order(false));
  std::vector<FnRow> self_rows;
  for (const auto& r : rows) {
    if (r.self > 0) self_rows.push_back(r);
  }
  out << "#\n# Top functions by self overhead (perf report --no-children)\n";
  function_table(self_rows, false, total, options.top, stacks.unit, out);
  std::sort(rows.begin(), rows.end(), order(true));
  out << "#\n# Top functions by total overhead, including callees (children)\n";
  function_table(rows, true, total, options.top, stacks.unit, out);
}

}  // namespace ebt::report
