// --sched: the cgroups of the cpu controller (v1 or v2, as this host mounts
// them), their ids and names, and their CPU-bandwidth throttling counters
// (cpu.stat). Pure /proc and cgroupfs reading; record/sched_probe.cpp samples
// them. docs/sched.md.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>

#include "format/records.h"

namespace ebt::record {

// Where the cpu controller lives on this host.
struct CpuCgroupLayout {
  CgroupHierarchy hierarchy = CgroupHierarchy::kUnknown;
  std::string mount;           // the hierarchy's mount point ("" if none)
  bool cpu_controller = false; // throttling counters exist there
  std::string why_not;         // why there is no cpu controller (or no hierarchy at all)
};

// From /proc/self/mountinfo: the v1 cpu controller's mount when there is one
// (hybrid and v1 hosts), else the cgroup2 mount (pure v2 hosts, and hybrid
// hosts without a v1 cpu hierarchy: ids only, no throttling).
CpuCgroupLayout detect_cpu_cgroup_layout(const std::string& mountinfo = "/proc/self/mountinfo");

// Parses /proc/PID/cgroup text: the path of the hierarchy's line ("" if none).
std::string cgroup_path_in(const std::string& proc_pid_cgroup, CgroupHierarchy h);

// cpu.stat (and the quota) of `path` under the layout's mount, into `out`
// (stat_known, the counters, quota_us/period_us, unknown_reason).
void read_cpu_bandwidth(const CpuCgroupLayout& layout, const std::string& path, CgroupCpuSample& out);

// Parses cpu.stat text: v2 (throttled_usec) or v1 (throttled_time, ns).
// False when it has no throttling counters.
bool parse_cpu_stat(const std::string& text, uint64_t& nr_periods, uint64_t& nr_throttled, uint64_t& throttled_ns);

// cgroup id (the directory's inode) -> path, by walking the hierarchy.
class CgroupNames {
 public:
  explicit CgroupNames(const CpuCgroupLayout& layout) : layout_(layout) {}
  // The path of `id` ("" if not found); rewalks the tree at most once per
  // call when the id is unknown and `rescan` is set.
  std::string path_of(uint64_t id, bool rescan);
  // The id of `path` (stat of its directory); 0 if it does not exist.
  uint64_t id_of(const std::string& path) const;

 private:
  void walk();
  const CpuCgroupLayout& layout_;
  std::unordered_map<uint64_t, std::string> paths_;
};

}  // namespace ebt::record
