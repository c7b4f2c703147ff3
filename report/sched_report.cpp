#include "report/sched_report.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <set>
#include <tuple>

#include "report/trace_json.h"

namespace ebt::report {

namespace {

// bpf/events.h EBT_RQ_SLOTS. The reader refuses rows naming other slots
// (format/kind_table.h kRunqLatencySlots), so every slot's bounds fit 64 bits.
constexpr uint32_t kSlots = 160;

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string o = "\"";
  for (char c : s) o += c == '"' ? std::string("\"\"") : std::string(1, c);
  return o + "\"";
}

// A duration for people: 812ns, 45.2us, 3.41ms, 1.20s.
std::string human(uint64_t ns) {
  char b[32];
  if (ns < 1000) std::snprintf(b, sizeof b, "%" PRIu64 "ns", ns);
  else if (ns < 1000000) std::snprintf(b, sizeof b, "%.1fus", ns / 1e3);
  else if (ns < 1000000000) std::snprintf(b, sizeof b, "%.2fms", ns / 1e6);
  else std::snprintf(b, sizeof b, "%.2fs", ns / 1e9);
  return b;
}

std::string us(uint64_t ns) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f", ns / 1e3);
  return b;
}

std::string hierarchy_name(CgroupHierarchy h) {
  switch (h) {
    case CgroupHierarchy::kV2: return "v2";
    case CgroupHierarchy::kV1Cpu: return "v1 cpu";
    default: return "?";
  }
}

void sort_rows(std::vector<RqRow>& rows) {
  std::sort(rows.begin(), rows.end(), [](const RqRow& a, const RqRow& b) {
    return std::tie(b.hist.total_ns, a.key, a.pid, a.tid) < std::tie(a.hist.total_ns, b.key, b.pid, b.tid);
  });
}

}  // namespace

uint64_t rq_slot_low(uint32_t s) {
  if (s < 4) return s;
  uint32_t l = s / 4 + 1, m = s % 4;
  return uint64_t(4 + m) << (l - 2);
}

uint64_t rq_slot_high(uint32_t s) { return s + 1 >= kSlots ? UINT64_MAX : rq_slot_low(s + 1); }

void RqHist::add(const RunqLatency& r) {
  count += r.count;
  total_ns += r.total_ns;
  if (r.max_ns) {  // a new maximum of its (thread, CPU): the max over these is the max of the capture
    max_exact = true;
    max_ns = std::max(max_ns, r.max_ns);
  }
  for (size_t i = 0; i < r.slots.size() && i < r.slot_counts.size(); i++) slots[r.slots[i]] += r.slot_counts[i];
}

void RqHist::merge(const RqHist& o) {
  bool exact = (max_exact || count == 0) && (o.max_exact || o.count == 0);
  count += o.count;
  total_ns += o.total_ns;
  max_ns = std::max(max_ns, o.max_ns);
  max_exact = exact && count > 0;
  for (const auto& [s, n] : o.slots) slots[s] += n;
}

uint64_t RqHist::max() const {
  if (slots.empty()) return max_ns;
  uint16_t top = slots.rbegin()->first;
  // Exact unless the highest slot holds latencies above every maximum seen.
  if (max_exact && max_ns >= rq_slot_low(top)) return max_ns;
  uint64_t hi = rq_slot_high(top);
  return hi == UINT64_MAX ? rq_slot_low(top) : hi - 1;
}

uint64_t RqHist::percentile(double p) const {
  uint64_t n = 0;
  for (const auto& [s, c] : slots) n += c;
  if (n == 0) return 0;
  // Nearest rank (common/percentile.h), then linear within its slot.
  double rank = p / 100.0 * double(n);
  if (rank < 1) rank = 1;
  uint64_t cum = 0;
  for (const auto& [s, c] : slots) {
    if (double(cum + c) >= rank) {
      uint64_t lo = rq_slot_low(s), hi = rq_slot_high(s);
      if (s < 8 || hi == UINT64_MAX) return lo;
      double f = (rank - double(cum)) / double(c);
      uint64_t v = lo + uint64_t(f * double(hi - lo));
      uint64_t m = max();
      return v > m ? m : v;
    }
    cum += c;
  }
  return max();
}

SchedReport SchedCollector::build(const std::function<std::string(uint32_t, uint32_t, uint64_t)>& name,
                                  const SchedContainers& containers) const {
  SchedReport r;
  auto thread_key = [&](uint32_t pid, uint32_t tid, uint64_t t) {
    std::string n = name ? name(pid, tid, t) : "";
    return (n.empty() ? "?" : n) + " " + std::to_string(pid) + "/" + std::to_string(tid);
  };

  // Cgroups: names by id, the latest path of each pid, throttling deltas.
  std::map<std::pair<uint8_t, std::string>, std::vector<const CgroupCpuSample*>> by_cgroup;
  std::map<uint64_t, std::string> id_path;
  std::map<uint32_t, std::pair<uint64_t, std::string>> pid_cgroup;  // pid -> (time, path)
  for (const auto& s : cgroups_) {
    by_cgroup[{uint8_t(s.hierarchy), s.path}].push_back(&s);
    if (s.cgroup_id) id_path[s.cgroup_id] = s.path;
    if (r.hierarchy.empty()) r.hierarchy = hierarchy_name(s.hierarchy);
    for (uint32_t pid : s.pids) {
      auto& pc = pid_cgroup[pid];
      if (s.time_ns >= pc.first) pc = {s.time_ns, s.path};
    }
  }
  for (auto& [key, samples] : by_cgroup) {
    if (containers.path_wanted && !containers.path_wanted(key.second)) continue;  // --container
    std::sort(samples.begin(), samples.end(),
              [](const CgroupCpuSample* a, const CgroupCpuSample* b) { return a->time_ns < b->time_ns; });
    ThrottleRow t;
    t.path = key.second;
    t.hierarchy = hierarchy_name(CgroupHierarchy(key.first));
    t.samples = samples.size();
    const CgroupCpuSample* first = nullptr;
    const CgroupCpuSample* last = nullptr;
    std::set<uint32_t> pids;
    for (const CgroupCpuSample* s : samples) {
      if (s->cgroup_id) t.cgroup_id = s->cgroup_id;
      pids.insert(s->pids.begin(), s->pids.end());
      if (!s->stat_known) {
        t.reason = s->unknown_reason;
        continue;
      }
      if (!first) first = s;
      last = s;
    }
    t.pids.assign(pids.begin(), pids.end());
    if (first && last) {
      t.known = true;
      // Counters only grow; a cgroup removed and made again restarts them.
      auto delta = [](uint64_t a, uint64_t b) { return b >= a ? b - a : b; };
      t.periods = delta(first->nr_periods, last->nr_periods);
      t.throttled = delta(first->nr_throttled, last->nr_throttled);
      t.throttled_ns = delta(first->throttled_ns, last->throttled_ns);
      t.quota_us = last->quota_us;
      t.period_us = last->period_us;
    }
    r.throttling.push_back(std::move(t));
  }
  std::sort(r.throttling.begin(), r.throttling.end(), [](const ThrottleRow& a, const ThrottleRow& b) {
    return std::tie(b.throttled_ns, b.throttled, a.path) < std::tie(a.throttled_ns, a.throttled, b.path);
  });
  auto cgroup_name = [&](uint64_t id) {
    auto it = id_path.find(id);
    return it != id_path.end() ? it->second : "cgroup id " + std::to_string(id);
  };
  auto cgroup_path = [&](uint64_t id) {
    auto it = id_path.find(id);
    return it != id_path.end() ? it->second : std::string();
  };
  r.by_container = containers.tables && containers.of_pid && containers.of_path;
  // A process's container: from its process record, else from the cgroup the
  // sched samples saw it in (a preemptor that was never recorded itself).
  auto container_of_pid = [&](uint32_t pid) {
    std::string label = containers.of_pid(pid);
    if (label == "[unknown]")
      if (auto pc = pid_cgroup.find(pid); pc != pid_cgroup.end()) label = containers.of_path(pc->second.second);
    return label;
  };

  // Run-queue latency.
  std::map<std::pair<uint32_t, uint32_t>, std::pair<RqHist, uint64_t>> threads;  // -> (hist, last time)
  std::map<uint32_t, RqHist> cpus;
  for (const auto& row : rq_) {
    if (containers.pid_wanted && !containers.pid_wanted(row.pid)) continue;  // --container
    auto& t = threads[{row.pid, row.tid}];
    t.first.add(row);
    t.second = std::max(t.second, row.end_ns);
    cpus[row.cpu].add(row);
  }
  std::map<uint32_t, std::pair<RqHist, uint64_t>> procs;
  std::map<std::string, RqHist> groups, by_container;
  for (const auto& [k, t] : threads) {
    if (r.by_container) by_container[container_of_pid(k.first)].merge(t.first);
    r.per_thread.push_back({thread_key(k.first, k.second, t.second), k.first, k.second, t.first});
    auto& p = procs[k.first];
    p.first.merge(t.first);
    p.second = std::max(p.second, t.second);
    auto pc = pid_cgroup.find(k.first);
    groups[pc == pid_cgroup.end() ? std::string("?") : pc->second.second].merge(t.first);
    r.all.merge(t.first);
  }
  for (const auto& [pid, p] : procs) {
    std::string n = name ? name(pid, pid, p.second) : "";
    r.per_process.push_back({(n.empty() ? "?" : n) + " " + std::to_string(pid), pid, 0, p.first});
  }
  if (!cgroups_.empty())
    for (const auto& [path, h] : groups) r.per_cgroup.push_back({path, 0, 0, h});
  for (const auto& [cpu, h] : cpus) r.per_cpu.push_back({"cpu " + std::to_string(cpu), 0, 0, h});
  for (const auto& [label, h] : by_container) r.per_container.push_back({label, 0, 0, h});
  sort_rows(r.per_container);
  sort_rows(r.per_thread);
  sort_rows(r.per_process);
  sort_rows(r.per_cgroup);

  // Preemptions.
  std::map<std::tuple<uint32_t, uint32_t, uint32_t, uint32_t>, std::pair<uint64_t, const Preemption*>> pairs;
  for (const auto& p : preempt_) {
    if (containers.pid_wanted && !containers.pid_wanted(p.pid)) continue;  // --container: the preempted thread's
    auto& v = pairs[{p.pid, p.tid, p.by_pid, p.by_tid}];
    v.first += p.count;
    if (!v.second || p.end_ns > v.second->end_ns) v.second = &p;
  }
  for (const auto& [k, v] : pairs) {
    const Preemption& p = *v.second;
    PreemptRow row;
    row.victim = thread_key(p.pid, p.tid, p.end_ns);
    if (p.by_tid == 0) {
      row.by = "[idle]";
    } else {
      std::string n = name ? name(p.by_pid, p.by_tid, p.end_ns) : "";
      if (n.empty()) n = p.by_comm.empty() ? "?" : p.by_comm;
      row.by = n + " " + std::to_string(p.by_pid) + "/" + std::to_string(p.by_tid);
    }
    row.pid = p.pid;
    row.tid = p.tid;
    row.by_pid = p.by_pid;
    row.by_tid = p.by_tid;
    row.count = v.first;
    r.preemption_count += v.first;
    r.preemptions.push_back(std::move(row));
  }
  auto by_count = [](const PreemptRow& a, const PreemptRow& b) {
    return std::tie(b.count, a.victim, a.by) < std::tie(a.count, b.victim, b.by);
  };
  std::sort(r.preemptions.begin(), r.preemptions.end(), by_count);
  if (r.by_container) {
    std::map<std::pair<std::string, std::string>, uint64_t> cp;
    for (const auto& [k, v] : pairs) {
      const Preemption& p = *v.second;
      cp[{container_of_pid(p.pid), p.by_tid == 0 ? std::string("[idle]") : container_of_pid(p.by_pid)}] += v.first;
    }
    for (const auto& [k, n] : cp) {
      PreemptRow row;
      row.victim = k.first;
      row.by = k.second;
      row.count = n;
      r.container_preemptions.push_back(std::move(row));
    }
    std::sort(r.container_preemptions.begin(), r.container_preemptions.end(), by_count);
  }

  // Cgroup switches.
  std::map<uint32_t, CpuSwitchRow> per_cpu;
  std::map<std::tuple<uint32_t, uint64_t, uint64_t>, uint64_t> cross;
  std::map<uint32_t, CpuSwitchRow> per_cpu_c;
  std::map<std::tuple<uint32_t, std::string, std::string>, uint64_t> cross_c;
  for (const auto& s : switches_) {
    // --container: switches from or to one of its cgroups.
    if (containers.path_wanted && !containers.path_wanted(cgroup_path(s.prev_cgroup)) &&
        !containers.path_wanted(cgroup_path(s.next_cgroup)))
      continue;
    if (r.by_container) {
      std::string from = containers.of_path(cgroup_path(s.prev_cgroup));
      std::string to = containers.of_path(cgroup_path(s.next_cgroup));
      auto& c = per_cpu_c[s.cpu];
      c.cpu = s.cpu;
      c.switches += s.count;
      if (from != to) {
        c.cross += s.count;
        cross_c[{s.cpu, from, to}] += s.count;
      }
    }
    auto& c = per_cpu[s.cpu];
    c.cpu = s.cpu;
    c.switches += s.count;
    if (s.prev_cgroup != s.next_cgroup) {
      c.cross += s.count;
      cross[{s.cpu, s.prev_cgroup, s.next_cgroup}] += s.count;
    }
  }
  for (const auto& [cpu, c] : per_cpu) r.cpus.push_back(c);
  for (const auto& [k, n] : cross)
    r.cross_pairs.push_back({std::get<0>(k), cgroup_name(std::get<1>(k)), cgroup_name(std::get<2>(k)), n});
  auto pair_order = [](const CgroupPairRow& a, const CgroupPairRow& b) {
    return std::tie(b.count, a.cpu, a.from, a.to) < std::tie(a.count, b.cpu, b.from, b.to);
  };
  std::sort(r.cross_pairs.begin(), r.cross_pairs.end(), pair_order);
  for (const auto& [cpu, c] : per_cpu_c) r.container_cpus.push_back(c);
  for (const auto& [k, n] : cross_c)
    r.cross_container_pairs.push_back({std::get<0>(k), std::get<1>(k), std::get<2>(k), n});
  std::sort(r.cross_container_pairs.begin(), r.cross_container_pairs.end(), pair_order);
  return r;
}

// ---- text --------------------------------------------------------------------

namespace {

void rq_table(std::ostream& out, const char* title, const std::vector<RqRow>& rows, size_t top) {
  size_t n = top ? std::min(top, rows.size()) : rows.size();
  size_t w = std::string(title).size();
  for (size_t i = 0; i < n; i++) w = std::max(w, rows[i].key.size());
  w = std::min<size_t>(w, 60);
  char buf[512];
  std::snprintf(buf, sizeof buf, "%-*s %9s %10s %9s %9s %9s %9s %9s\n", int(w), title, "waits", "total_ms", "avg_us",
                "p50_us", "p90_us", "p99_us", "max_us");
  out << buf;
  for (size_t i = 0; i < n; i++) {
    const RqRow& r = rows[i];
    const RqHist& h = r.hist;
    std::string key = r.key.size() > w ? r.key.substr(0, w - 1) + "~" : r.key;
    std::string max = (h.max_exact ? "" : "<=") + us(h.max());
    std::snprintf(buf, sizeof buf, "%-*s %9" PRIu64 " %10.3f %9s %9s %9s %9s %9s\n", int(w), key.c_str(), h.count,
                  h.total_ns / 1e6, us(h.count ? h.total_ns / h.count : 0).c_str(), us(h.percentile(50)).c_str(),
                  us(h.percentile(90)).c_str(), us(h.percentile(99)).c_str(), max.c_str());
    out << buf;
  }
  if (rows.size() > n) out << "(" << rows.size() - n << " more; --top N)\n";
}

// runqlat's picture: power-of-two buckets (of ns, labelled in readable units).
void histogram(std::ostream& out, const RqHist& h) {
  std::map<uint32_t, uint64_t> pow2;  // floor(log2(low)) -> count
  for (const auto& [s, c] : h.slots) {
    uint64_t lo = rq_slot_low(s);
    uint32_t l = 0;
    while ((lo >> (l + 1)) != 0) l++;
    pow2[lo == 0 ? 0 : l] += c;
  }
  if (pow2.empty()) return;
  uint64_t peak = 0;
  for (const auto& [l, c] : pow2) peak = std::max(peak, c);
  char buf[256];
  std::snprintf(buf, sizeof buf, "%21s : %-10s %s\n", "latency", "count", "distribution");
  out << buf;
  for (uint32_t l = pow2.begin()->first; l <= pow2.rbegin()->first; l++) {
    uint64_t c = pow2.count(l) ? pow2[l] : 0;
    std::string range = human(l == 0 ? 0 : uint64_t(1) << l) + " - " + human((uint64_t(1) << (l + 1)) - 1);
    int stars = peak ? int((c * 40 + peak - 1) / peak) : 0;
    std::snprintf(buf, sizeof buf, "%21s : %-10" PRIu64 " |%-40s|\n", range.c_str(), c, std::string(stars, '*').c_str());
    out << buf;
  }
}

// Switches per CPU and how many crossed between two `plural` (cgroups or
// containers), then the `top` most frequent pairs.
void write_cpu_switches(std::ostream& out, const std::vector<CpuSwitchRow>& cpus,
                        const std::vector<CgroupPairRow>& pairs, size_t top, const std::string& plural,
                        const std::string& singular) {
  const std::string across = "across_" + plural;
  const int w = int(across.size());
  char buf[512];
  std::snprintf(buf, sizeof buf, "%-5s %12s %*s %8s\n", "cpu", "switches", w, across.c_str(), "percent");
  out << buf;
  for (const auto& c : cpus) {
    std::snprintf(buf, sizeof buf, "%-5u %12" PRIu64 " %*" PRIu64 " %7.1f%%\n", c.cpu, c.switches, w, c.cross,
                  c.switches ? 100.0 * double(c.cross) / double(c.switches) : 0.0);
    out << buf;
  }
  size_t n = top ? std::min(top, pairs.size()) : pairs.size();
  if (!n) return;
  std::snprintf(buf, sizeof buf, "%-5s %-34s %-34s %9s\n", "cpu", ("from " + singular).c_str(),
                ("to " + singular).c_str(), "count");
  out << buf;
  for (size_t i = 0; i < n; i++) {
    const auto& p = pairs[i];
    std::snprintf(buf, sizeof buf, "%-5u %-34s %-34s %9" PRIu64 "\n", p.cpu, p.from.c_str(), p.to.c_str(), p.count);
    out << buf;
  }
}

}  // namespace

void write_sched_text(const SchedReport& r, size_t top, std::ostream& out) {
  out << "Run-queue latency (record --sched): " << r.all.count << " waits of the recorded threads, "
      << human(r.all.total_ns) << " in all; percentiles within a quarter octave\n\n";
  histogram(out, r.all);
  out << '\n';
  rq_table(out, "process (comm pid)", r.per_process, top);
  out << '\n';
  rq_table(out, "thread (comm pid/tid)", r.per_thread, top);
  if (!r.per_cgroup.empty()) {
    out << '\n';
    rq_table(out, ("cgroup (" + r.hierarchy + ")").c_str(), r.per_cgroup, top);
  }
  out << '\n';
  rq_table(out, "cpu", r.per_cpu, 0);
  if (r.by_container) {
    out << "\nRun-queue latency per container (of the process; [unknown]: a process the capture does not describe):\n";
    rq_table(out, "container", r.per_container, top);
    for (const RqRow& c : r.per_container) {
      out << "\ncontainer " << c.key << ": " << c.hist.count << " waits\n";
      histogram(out, c.hist);
    }
  }

  out << "\nPreemptions (involuntary switch-outs of recorded threads): " << r.preemption_count << "\n";
  char buf[512];
  size_t n = top ? std::min(top, r.preemptions.size()) : r.preemptions.size();
  std::snprintf(buf, sizeof buf, "%-40s %-40s %9s\n", "thread (comm pid/tid)", "preempted by", "count");
  out << buf;
  for (size_t i = 0; i < n; i++) {
    const auto& p = r.preemptions[i];
    std::snprintf(buf, sizeof buf, "%-40s %-40s %9" PRIu64 "\n", p.victim.c_str(), p.by.c_str(), p.count);
    out << buf;
  }
  if (r.preemptions.size() > n) out << "(" << r.preemptions.size() - n << " more; --top N)\n";
  if (r.by_container) {
    out << "\nPreemptions by container (the preempted thread's, the preempting task's):\n";
    std::snprintf(buf, sizeof buf, "%-40s %-40s %9s\n", "container", "preempted by container", "count");
    out << buf;
    n = top ? std::min(top, r.container_preemptions.size()) : r.container_preemptions.size();
    for (size_t i = 0; i < n; i++) {
      const auto& p = r.container_preemptions[i];
      std::snprintf(buf, sizeof buf, "%-40s %-40s %9" PRIu64 "\n", p.victim.c_str(), p.by.c_str(), p.count);
      out << buf;
    }
    if (r.container_preemptions.size() > n) out << "(" << r.container_preemptions.size() - n << " more; --top N)\n";
  }

  out << "\nSwitches between cgroups per CPU (" << (r.hierarchy.empty() ? "?" : r.hierarchy)
      << " hierarchy; switches between two tasks, one of them recorded):\n";
  write_cpu_switches(out, r.cpus, r.cross_pairs, top, "cgroups", "cgroup");

  if (r.by_container) {
    out << "\nSwitches between containers per CPU (by the cgroups of the " << (r.hierarchy.empty() ? "?" : r.hierarchy)
        << " hierarchy; [host]: no container, [unknown]: a cgroup not named in the capture):\n";
    write_cpu_switches(out, r.container_cpus, r.cross_container_pairs, top, "containers", "container");
  }

  out << "\nCPU throttling per cgroup (cpu.stat over the recording):\n";
  std::snprintf(buf, sizeof buf, "%-40s %-7s %12s %8s %10s %12s  %s\n", "cgroup", "hier", "quota", "periods",
                "throttled", "throttled_ms", "pids");
  out << buf;
  for (const auto& t : r.throttling) {
    std::string pids;
    for (size_t i = 0; i < t.pids.size() && i < 8; i++) pids += (i ? "," : "") + std::to_string(t.pids[i]);
    if (t.pids.size() > 8) pids += ",...";
    if (!t.known) {
      std::snprintf(buf, sizeof buf, "%-40s %-7s unknown: %s  %s\n", t.path.c_str(), t.hierarchy.c_str(),
                    t.reason.c_str(), pids.c_str());
      out << buf;
      continue;
    }
    std::string quota = t.quota_us < 0 ? "none"
                                       : std::to_string(t.quota_us / 1000) + "ms/" + std::to_string(t.period_us / 1000) + "ms";
    std::snprintf(buf, sizeof buf, "%-40s %-7s %12s %8" PRIu64 " %10" PRIu64 " %12.1f  %s\n", t.path.c_str(),
                  t.hierarchy.c_str(), quota.c_str(), t.periods, t.throttled, t.throttled_ns / 1e6, pids.c_str());
    out << buf;
  }
}

// ---- csv / json ----------------------------------------------------------------

void write_sched_csv(const SchedReport& r, std::ostream& out) {
  out << "table,key,pid,tid,waits,total_ns,p50_ns,p90_ns,p99_ns,max_ns,max_exact\n";
  auto rq = [&](const char* table, const std::vector<RqRow>& rows) {
    for (const auto& x : rows)
      out << table << ',' << csv_field(x.key) << ',' << x.pid << ',' << x.tid << ',' << x.hist.count << ','
          << x.hist.total_ns << ',' << x.hist.percentile(50) << ',' << x.hist.percentile(90) << ','
          << x.hist.percentile(99) << ',' << x.hist.max() << ',' << (x.hist.max_exact ? 1 : 0) << '\n';
  };
  rq("runq_process", r.per_process);
  rq("runq_thread", r.per_thread);
  rq("runq_cgroup", r.per_cgroup);
  rq("runq_cpu", r.per_cpu);
  if (r.by_container) rq("runq_container", r.per_container);
  out << "\ntable,thread,pid,tid,preempted_by,by_pid,by_tid,count\n";
  for (const auto& p : r.preemptions)
    out << "preemption," << csv_field(p.victim) << ',' << p.pid << ',' << p.tid << ',' << csv_field(p.by) << ','
        << p.by_pid << ',' << p.by_tid << ',' << p.count << '\n';
  if (r.by_container) {
    out << "\ntable,container,preempted_by_container,count\n";
    for (const auto& p : r.container_preemptions)
      out << "container_preemption," << csv_field(p.victim) << ',' << csv_field(p.by) << ',' << p.count << '\n';
  }
  out << "\ntable,cpu,switches,across_cgroups\n";
  for (const auto& c : r.cpus) out << "cpu_switches," << c.cpu << ',' << c.switches << ',' << c.cross << '\n';
  out << "\ntable,cpu,from_cgroup,to_cgroup,count\n";
  for (const auto& p : r.cross_pairs)
    out << "cross_cgroup," << p.cpu << ',' << csv_field(p.from) << ',' << csv_field(p.to) << ',' << p.count << '\n';
  if (r.by_container) {
    out << "\ntable,cpu,switches,across_containers\n";
    for (const auto& c : r.container_cpus)
      out << "cpu_container_switches," << c.cpu << ',' << c.switches << ',' << c.cross << '\n';
    out << "\ntable,cpu,from_container,to_container,count\n";
    for (const auto& p : r.cross_container_pairs)
      out << "cross_container," << p.cpu << ',' << csv_field(p.from) << ',' << csv_field(p.to) << ',' << p.count
          << '\n';
  }
  out << "\ntable,cgroup,hierarchy,known,periods,throttled,throttled_ns,quota_us,period_us,reason\n";
  for (const auto& t : r.throttling)
    out << "throttling," << csv_field(t.path) << ',' << t.hierarchy << ',' << (t.known ? 1 : 0) << ',' << t.periods
        << ',' << t.throttled << ',' << t.throttled_ns << ',' << t.quota_us << ',' << t.period_us << ','
        << csv_field(t.reason) << '\n';
}

void write_sched_json(const SchedReport& r, std::ostream& out) {
  auto hist = [&](const RqHist& h) {
    out << "\"waits\":" << h.count << ",\"total_ns\":" << h.total_ns << ",\"p50_ns\":" << h.percentile(50)
        << ",\"p90_ns\":" << h.percentile(90) << ",\"p99_ns\":" << h.percentile(99) << ",\"max_ns\":" << h.max()
        << ",\"max_exact\":" << (h.max_exact ? "true" : "false") << ",\"slots\":[";
    bool first = true;
    for (const auto& [s, c] : h.slots) {
      out << (first ? "" : ",") << "{\"low_ns\":" << rq_slot_low(s) << ",\"high_ns\":" << rq_slot_high(s)
          << ",\"count\":" << c << "}";
      first = false;
    }
    out << "]";
  };
  auto rows = [&](const char* name, const std::vector<RqRow>& v) {
    out << ",\"" << name << "\":[";
    for (size_t i = 0; i < v.size(); i++) {
      out << (i ? "," : "") << "{\"key\":" << json_quote(v[i].key) << ",\"pid\":" << v[i].pid
          << ",\"tid\":" << v[i].tid << ",";
      hist(v[i].hist);
      out << "}";
    }
    out << "]";
  };
  out << "{\"sched\":{\"hierarchy\":" << json_quote(r.hierarchy) << ",\"all\":{";
  hist(r.all);
  out << "}";
  rows("per_process", r.per_process);
  rows("per_thread", r.per_thread);
  rows("per_cgroup", r.per_cgroup);
  rows("per_cpu", r.per_cpu);
  out << ",\"preemptions\":[";
  for (size_t i = 0; i < r.preemptions.size(); i++) {
    const auto& p = r.preemptions[i];
    out << (i ? "," : "") << "{\"thread\":" << json_quote(p.victim) << ",\"pid\":" << p.pid << ",\"tid\":" << p.tid
        << ",\"by\":" << json_quote(p.by) << ",\"by_pid\":" << p.by_pid << ",\"by_tid\":" << p.by_tid
        << ",\"count\":" << p.count << "}";
  }
  out << "],\"cpus\":[";
  for (size_t i = 0; i < r.cpus.size(); i++)
    out << (i ? "," : "") << "{\"cpu\":" << r.cpus[i].cpu << ",\"switches\":" << r.cpus[i].switches
        << ",\"across_cgroups\":" << r.cpus[i].cross << "}";
  out << "],\"cross_cgroup\":[";
  for (size_t i = 0; i < r.cross_pairs.size(); i++) {
    const auto& p = r.cross_pairs[i];
    out << (i ? "," : "") << "{\"cpu\":" << p.cpu << ",\"from\":" << json_quote(p.from) << ",\"to\":" << json_quote(p.to)
        << ",\"count\":" << p.count << "}";
  }
  out << "]";
  if (r.by_container) {
    rows("per_container", r.per_container);
    out << ",\"container_preemptions\":[";
    for (size_t i = 0; i < r.container_preemptions.size(); i++) {
      const auto& p = r.container_preemptions[i];
      out << (i ? "," : "") << "{\"container\":" << json_quote(p.victim) << ",\"by\":" << json_quote(p.by)
          << ",\"count\":" << p.count << "}";
    }
    out << "],\"container_cpus\":[";
    for (size_t i = 0; i < r.container_cpus.size(); i++)
      out << (i ? "," : "") << "{\"cpu\":" << r.container_cpus[i].cpu << ",\"switches\":" << r.container_cpus[i].switches
          << ",\"across_containers\":" << r.container_cpus[i].cross << "}";
    out << "],\"cross_container\":[";
    for (size_t i = 0; i < r.cross_container_pairs.size(); i++) {
      const auto& p = r.cross_container_pairs[i];
      out << (i ? "," : "") << "{\"cpu\":" << p.cpu << ",\"from\":" << json_quote(p.from)
          << ",\"to\":" << json_quote(p.to) << ",\"count\":" << p.count << "}";
    }
    out << "]";
  }
  out << ",\"throttling\":[";
  for (size_t i = 0; i < r.throttling.size(); i++) {
    const auto& t = r.throttling[i];
    out << (i ? "," : "") << "{\"cgroup\":" << json_quote(t.path) << ",\"hierarchy\":" << json_quote(t.hierarchy)
        << ",\"cgroup_id\":" << t.cgroup_id << ",\"known\":" << (t.known ? "true" : "false");
    if (t.known)
      out << ",\"periods\":" << t.periods << ",\"throttled\":" << t.throttled << ",\"throttled_ns\":" << t.throttled_ns
          << ",\"quota_us\":" << t.quota_us << ",\"period_us\":" << t.period_us;
    else
      out << ",\"reason\":" << json_quote(t.reason);
    out << ",\"samples\":" << t.samples << ",\"pids\":[";
    for (size_t j = 0; j < t.pids.size(); j++) out << (j ? "," : "") << t.pids[j];
    out << "]}";
  }
  out << "]}}\n";
}

}  // namespace ebt::report
