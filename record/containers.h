// Container identity, harvested while the processes live (docs/containers.md):
// per cgroup, the runtime and container id its path shows
// (common/container_path.h), the Kubernetes pod UID and QoS class, the name the
// runtime gave it, and from one member process its UTS hostname and namespace
// inodes. Written as a CgroupInfo record once per capture file, before the
// first ProcessInfo naming the cgroup.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "format/records.h"
#include "record/file_scope.h"
#include "record/record_options.h"

namespace ebt::record {

// The namespaces of a process (inode numbers of /proc/PID/ns/*; 0: unreadable).
struct Namespaces {
  uint64_t pid = 0, net = 0, uts = 0, mnt = 0;
};
Namespaces namespaces_of(const std::string& proc_dir);  // "/proc/PID" or "/proc/self"

// The UTS nodename of a process: setns() into its UTS namespace in a
// short-lived thread, else /proc/PID/root/etc/hostname. "" and `why` set when
// neither works.
std::string hostname_of(uint32_t pid, std::string* why);

// Everything the recorder can learn about cgroup `path` (id `id`) through
// member process `pid`, now.
CgroupInfo harvest_cgroup(uint32_t pid, const std::string& path, uint64_t id, const std::string& hierarchy);

// Writes each cgroup's CgroupInfo once per capture file; harvests it once per
// recording (the first member process seen).
class CgroupTable {
 public:
  explicit CgroupTable(const CurrentFile& file) : file_(file) {}
  // Before `p` (its cgroup_path and cgroup_id read) is written.
  void note(const ProcessInfo& p);
  size_t cgroups() const { return known_.size(); }

 private:
  struct Entry {
    CgroupInfo info;
    uint64_t written_in = 0;
  };
  const CurrentFile& file_;
  std::unordered_map<std::string, Entry> known_;  // by path
};

// `record --container NAME|ID-PREFIX`: the cgroup (v2 path) of the one running
// container whose name, hostname or id (prefix) matches. BadInput naming the
// candidates when none or several do.
struct ContainerChoice {
  std::string path;
  CgroupInfo info;
};
ContainerChoice resolve_container(const std::string& query);

// The cgroup v2 path --cgroup / --container name in `o` (record_options.h),
// or "" when none is given or it does not resolve (resolve_cgroup_target()
// refuses it later with the reason).
std::string cgroup_filter_path(const RecordOptions& o);

// Running containers, one per cgroup, as resolve_container() sees them.
std::vector<CgroupInfo> running_containers();

}  // namespace ebt::record
