#include "report/offcpu_latency.h"

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <map>
#include <ostream>
#include <tuple>

#include "report/trace_json.h"

namespace ebt::report {

DurationStats duration_stats(std::vector<uint64_t>& d) {
  std::sort(d.begin(), d.end());
  DurationStats s;
  s.count = d.size();
  for (uint64_t v : d) s.total_ns += v;
  s.p50_ns = percentile_sorted(d, 50);
  s.p90_ns = percentile_sorted(d, 90);
  s.p99_ns = percentile_sorted(d, 99);
  s.max_ns = d.empty() ? 0 : d.back();
  return s;
}

const char* offcpu_state_letter(TaskState s) {
  switch (s) {
    case TaskState::kRunning: return "R";
    case TaskState::kInterruptible: return "S";
    case TaskState::kUninterruptible: return "D";
    default: return "?";
  }
}

namespace {

void sort_rows(std::vector<OffCpuLatencyRow>& rows) {
  std::sort(rows.begin(), rows.end(), [](const OffCpuLatencyRow& a, const OffCpuLatencyRow& b) {
    return std::tie(b.stats.total_ns, a.key, a.pid, a.tid) <
           std::tie(a.stats.total_ns, b.key, b.pid, b.tid);
  });
}

std::string ms(uint64_t ns) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", ns / 1e6);
  return buf;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string o = "\"";
  for (char c : s) {
    if (c == '"') o += '"';
    o += c;
  }
  return o + "\"";
}

}  // namespace

OffCpuLatency offcpu_latency(const std::vector<OffCpuInterval>& intervals,
                             const OffCpuNaming& naming) {
  OffCpuLatency t;
  std::map<std::pair<uint32_t, uint32_t>, std::vector<uint64_t>> by_thread;
  std::map<std::string, std::vector<uint64_t>> by_frame, by_container;
  for (const auto& iv : intervals) {
    t.intervals++;
    t.total_ns += iv.duration_ns;
    by_thread[{iv.pid, iv.tid}].push_back(iv.duration_ns);
    if (naming.container) by_container[naming.container(iv.pid)].push_back(iv.duration_ns);
    std::string f = naming.top_frame ? naming.top_frame(iv) : std::string();
    if (f.empty()) f = "[unknown]";
    // Blocking (S/D) and preemption (R) at the same frame are different stories.
    f += std::string(" (") + offcpu_state_letter(iv.state) + ")";
    by_frame[f].push_back(iv.duration_ns);
  }
  for (auto& [key, d] : by_thread) {
    OffCpuLatencyRow r;
    std::string name = naming.thread_name ? naming.thread_name(key.first, key.second) : "";
    if (name.empty()) name = "?";
    r.key = name + " " + std::to_string(key.first) + "/" + std::to_string(key.second);
    r.pid = key.first;
    r.tid = key.second;
    r.stats = duration_stats(d);
    t.per_thread.push_back(std::move(r));
  }
  for (auto& [key, d] : by_frame) {
    OffCpuLatencyRow r;
    r.key = key;
    r.stats = duration_stats(d);
    t.per_frame.push_back(std::move(r));
  }
  for (auto& [key, d] : by_container) {
    OffCpuLatencyRow r;
    r.key = key;
    r.stats = duration_stats(d);
    t.per_container.push_back(std::move(r));
  }
  sort_rows(t.per_thread);
  sort_rows(t.per_frame);
  sort_rows(t.per_container);
  return t;
}

void write_offcpu_latency(std::ostream& out, const OffCpuLatency& t, LatencyFormat format,
                          size_t limit) {
  auto rows_of = [&](const std::vector<OffCpuLatencyRow>& rows) {
    size_t n = limit == 0 ? rows.size() : std::min(limit, rows.size());
    return std::vector<OffCpuLatencyRow>(rows.begin(), rows.begin() + n);
  };
  auto thread_rows = rows_of(t.per_thread);
  auto frame_rows = rows_of(t.per_frame);
  auto container_rows = rows_of(t.per_container);

  if (format == LatencyFormat::kCsv) {
    out << "table,key,pid,tid,count,total_ms,p50_ms,p90_ms,p99_ms,max_ms\n";
    auto line = [&](const char* table, const OffCpuLatencyRow& r) {
      out << table << ',' << csv_field(r.key) << ',' << r.pid << ',' << r.tid << ','
          << r.stats.count << ',' << ms(r.stats.total_ns) << ',' << ms(r.stats.p50_ns) << ','
          << ms(r.stats.p90_ns) << ',' << ms(r.stats.p99_ns) << ',' << ms(r.stats.max_ns)
          << '\n';
    };
    for (const auto& r : container_rows) line("offcpu_container", r);
    for (const auto& r : thread_rows) line("offcpu_thread", r);
    for (const auto& r : frame_rows) line("offcpu_frame", r);
    return;
  }
  if (format == LatencyFormat::kJson) {
    auto row = [&](const OffCpuLatencyRow& r, bool with_ids) {
      out << "{\"key\":" << json_quote(r.key);
      if (with_ids) out << ",\"pid\":" << r.pid << ",\"tid\":" << r.tid;
      out << ",\"count\":" << r.stats.count << ",\"total_ns\":" << r.stats.total_ns
          << ",\"p50_ns\":" << r.stats.p50_ns << ",\"p90_ns\":" << r.stats.p90_ns
          << ",\"p99_ns\":" << r.stats.p99_ns << ",\"max_ns\":" << r.stats.max_ns << "}";
    };
    out << "{\"offcpu\":{\"intervals\":" << t.intervals << ",\"total_ns\":" << t.total_ns
        << ",\"per_thread\":[";
    for (size_t i = 0; i < thread_rows.size(); i++) {
      if (i) out << ',';
      row(thread_rows[i], true);
    }
    out << "],\"per_frame\":[";
    for (size_t i = 0; i < frame_rows.size(); i++) {
      if (i) out << ',';
      row(frame_rows[i], false);
    }
    out << "]";
    if (!t.per_container.empty()) {
      out << ",\"per_container\":[";
      for (size_t i = 0; i < container_rows.size(); i++) {
        if (i) out << ',';
        row(container_rows[i], false);
      }
      out << "]";
    }
    out << "}}\n";
    return;
  }

  auto table = [&](const char* title, const std::vector<OffCpuLatencyRow>& rows) {
    size_t w = std::string_view(title).size();
    for (const auto& r : rows) w = std::max(w, r.key.size());
    w = std::min<size_t>(w, 60);
    char buf[512];
    std::snprintf(buf, sizeof buf, "%-*s %8s %12s %10s %10s %10s %10s\n", static_cast<int>(w),
                  title, "count", "total_ms", "p50_ms", "p90_ms", "p99_ms", "max_ms");
    out << buf;
    for (const auto& r : rows) {
      std::string key = r.key.size() > w ? r.key.substr(0, w - 1) + "~" : r.key;
      std::snprintf(buf, sizeof buf, "%-*s %8" PRIu64 " %12s %10s %10s %10s %10s\n",
                    static_cast<int>(w), key.c_str(), r.stats.count, ms(r.stats.total_ns).c_str(),
                    ms(r.stats.p50_ns).c_str(), ms(r.stats.p90_ns).c_str(),
                    ms(r.stats.p99_ns).c_str(), ms(r.stats.max_ns).c_str());
      out << buf;
    }
  };
  out << "Off-CPU time: " << t.intervals << " intervals, " << ms(t.total_ns) << " ms total\n\n";
  if (!t.per_container.empty()) {
    table("container", container_rows);
    out << '\n';
  }
  table("thread (comm pid/tid)", thread_rows);
  out << '\n';
  table("top blocking frame", frame_rows);
}

}  // namespace ebt::report
