// Scheduler latency tables (record --sched, report --sched; docs/sched.md):
// run-queue latency histograms and percentiles per process, thread and cgroup
// (runqlat-style), preemptions and who preempted, switches across cgroups per
// CPU, CPU throttling per cgroup. Pure functions over the capture's records;
// names come in through a callback.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "format/records.h"

namespace ebt::report {

// Bounds of a run-queue latency slot (bpf/events.h EBT_RQ_SLOTS), ns: [low, high).
uint64_t rq_slot_low(uint32_t slot);
uint64_t rq_slot_high(uint32_t slot);

// A run-queue latency histogram: exact count, sum and (normally) max; the
// percentiles are interpolated within a slot (a quarter octave: within 19 %).
struct RqHist {
  uint64_t count = 0, total_ns = 0, max_ns = 0;
  // false when no row of the capture saw the maximum (a rotated file whose
  // maximum came earlier): max_ns is then the top of the highest slot.
  bool max_exact = false;
  std::map<uint16_t, uint64_t> slots;
  void add(const RunqLatency& r);
  void merge(const RqHist& o);
  uint64_t percentile(double p) const;  // ns; 0 when empty
  uint64_t max() const;                 // max_ns, or the highest slot's top when not exact
};

struct RqRow {
  std::string key;     // "comm pid/tid", "comm pid", "cgroup PATH", "cpu N"
  uint32_t pid = 0, tid = 0;
  RqHist hist;
};

struct PreemptRow {
  std::string victim, by;  // "comm pid/tid"; by: "[idle]" for the idle task
  uint32_t pid = 0, tid = 0, by_pid = 0, by_tid = 0;
  uint64_t count = 0;
};

struct CgroupPairRow {
  uint32_t cpu = 0;
  std::string from, to;  // cgroup paths ("cgroup id N" when not named)
  uint64_t count = 0;
};

struct CpuSwitchRow {
  uint32_t cpu = 0;
  uint64_t switches = 0, cross = 0;  // between two tasks (one recorded); across cgroups
};

struct ThrottleRow {
  std::string path;
  std::string hierarchy;  // "v2", "v1 cpu", "?"
  uint64_t cgroup_id = 0;
  bool known = false;
  std::string reason;     // when !known
  uint64_t samples = 0;
  uint64_t periods = 0, throttled = 0, throttled_ns = 0;  // over the capture (last - first sample)
  int64_t quota_us = -1;
  uint64_t period_us = 0;
  std::vector<uint32_t> pids;
};

// --by container / --container (report/containers.h gives the labels; this
// file stays free of it).
struct SchedContainers {
  // The container label of a process; "[unknown]" when the capture does not describe it.
  std::function<std::string(uint32_t pid)> of_pid;
  // The container label of a cgroup of the sched hierarchy (its path; "" when the id is not named).
  std::function<std::string(const std::string& path)> of_path;
  // --container: whether a process / a cgroup (path, "" unknown) belongs to a
  // wanted container; unset: every one.
  std::function<bool(uint32_t pid)> pid_wanted;
  std::function<bool(const std::string& path)> path_wanted;
  bool tables = false;  // --by container: the per-container tables
};

struct SchedReport {
  RqHist all;  // every recorded thread: the runqlat histogram
  std::vector<RqRow> per_process, per_thread, per_cgroup, per_cpu;  // by total wait, descending
  std::vector<PreemptRow> preemptions;                  // by count, descending
  uint64_t preemption_count = 0;
  std::vector<CpuSwitchRow> cpus;                       // by cpu
  std::vector<CgroupPairRow> cross_pairs;               // across cgroups, by count
  std::vector<ThrottleRow> throttling;                  // by throttled time, descending
  std::string hierarchy;                                // of the cgroups: "v2", "v1 cpu", ""
  // --by container: run-queue latency per container (key: its label), preemptions
  // by the victim's and the preemptor's container (victim/by: labels), switches
  // per CPU between tasks of different containers and their pairs.
  bool by_container = false;
  std::vector<RqRow> per_container;
  std::vector<PreemptRow> container_preemptions;
  std::vector<CpuSwitchRow> container_cpus;
  std::vector<CgroupPairRow> cross_container_pairs;
};

// Collects the --sched records of a capture (any order).
class SchedCollector {
 public:
  void add(const RunqLatency& r) { rq_.push_back(r); }
  void add(const Preemption& p) { preempt_.push_back(p); }
  void add(const CgroupSwitch& s) { switches_.push_back(s); }
  void add(const CgroupCpuSample& s) { cgroups_.push_back(s); }
  bool empty() const { return rq_.empty() && preempt_.empty() && switches_.empty() && cgroups_.empty(); }
  // `name(pid, tid, time)`: a thread's comm at a time ("" if unknown).
  SchedReport build(const std::function<std::string(uint32_t, uint32_t, uint64_t)>& name,
                    const SchedContainers& containers = {}) const;

 private:
  std::vector<RunqLatency> rq_;
  std::vector<Preemption> preempt_;
  std::vector<CgroupSwitch> switches_;
  std::vector<CgroupCpuSample> cgroups_;
};

void write_sched_text(const SchedReport& r, size_t top, std::ostream& out);
void write_sched_csv(const SchedReport& r, std::ostream& out);
void write_sched_json(const SchedReport& r, std::ostream& out);

}  // namespace ebt::report
