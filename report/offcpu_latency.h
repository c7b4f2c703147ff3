// Off-CPU latency tables: how long threads stayed off the CPU, per thread and per
// top blocking frame, as count / total / p50 / p90 / p99 / max.
//
// Pure functions over OffCpuInterval records; naming (thread names, symbolized
// frames) comes in through callbacks so this stays independent of symbolize/.
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

#include "common/percentile.h"
#include "format/records.h"

namespace ebt::report {

struct DurationStats {
  uint64_t count = 0;
  uint64_t total_ns = 0;
  uint64_t p50_ns = 0;
  uint64_t p90_ns = 0;
  uint64_t p99_ns = 0;
  uint64_t max_ns = 0;
};

using ebt::percentile_sorted;  // common/percentile.h

// Sorts `durations` in place and summarizes them.
DurationStats duration_stats(std::vector<uint64_t>& durations);

struct OffCpuLatencyRow {
  std::string key;    // "comm pid/tid" or a frame name
  uint32_t pid = 0;   // per-thread rows only
  uint32_t tid = 0;
  DurationStats stats;
};

struct OffCpuLatency {
  uint64_t intervals = 0;
  uint64_t total_ns = 0;
  std::vector<OffCpuLatencyRow> per_thread;  // by total desc, then key
  std::vector<OffCpuLatencyRow> per_frame;   // "frame (S)": by total desc, then key
  std::vector<OffCpuLatencyRow> per_container;  // --by container: by total desc, then key (else empty)
};

struct OffCpuNaming {
  // "comm" of a thread; empty -> "?".
  std::function<std::string(uint32_t pid, uint32_t tid)> thread_name;
  // The frame that names where an interval blocked (report/offcpu_profile.h
  // offcpu_top_frame()); cached per (pid, stack id) by the caller.
  std::function<std::string(const OffCpuInterval&)> top_frame;
  // --by container: the container label of a process (report/containers.h
  // container_or_unknown); unset: no per-container table.
  std::function<std::string(uint32_t pid)> container;
};

OffCpuLatency offcpu_latency(const std::vector<OffCpuInterval>& intervals,
                             const OffCpuNaming& naming);

enum class LatencyFormat { kText, kCsv, kJson };

// Writes the off-CPU section of `ebtrace report --latency`. `limit` caps the rows
// of each table (0 = all).
void write_offcpu_latency(std::ostream& out, const OffCpuLatency& table, LatencyFormat format,
                          size_t limit = 0);

// Short state letter used in frame names and tables: R (preempted), S, D, ?.
const char* offcpu_state_letter(TaskState s);

}  // namespace ebt::report
