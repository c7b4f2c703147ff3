// Cgroup identity of processes, as the BPF side sees it, on every layout:
//   unified  cgroup2 at /sys/fs/cgroup
//   hybrid   cgroup v1 controllers under /sys/fs/cgroup, cgroup2 (no
//            controllers) at /sys/fs/cgroup/unified (or another mount)
//   legacy   cgroup v1 only
// bpf_get_current_cgroup_id() returns the task's cgroup in the v2 hierarchy
// (its directory's kernfs id, the inode number on 64-bit hosts) on all three;
// on legacy hosts every task is in the never-mounted v2 root, so the id tells
// no cgroups apart and the path comes from the name=systemd hierarchy.
// docs/containers.md.
#pragma once

#include <cstdint>
#include <string>

namespace ebt::record {

struct CgroupLayout {
  enum class Kind { kUnified, kHybrid, kLegacy };
  Kind kind = Kind::kLegacy;
  std::string v2_mount;  // a mount of the cgroup2 root ("": none)
  // "v2", "v2 (hybrid)", "v1 name=systemd": CgroupInfo.hierarchy.
  std::string hierarchy() const;
};

// Detected once (statfs of /sys/fs/cgroup and /sys/fs/cgroup/unified, else a
// cgroup2 mount of the hierarchy's root in /proc/self/mountinfo).
const CgroupLayout& cgroup_layout();
CgroupLayout detect_cgroup_layout();

// The root id of the v2 hierarchy as bpf_get_current_cgroup_id() sees it on a
// host where cgroup2 is not mounted (kernfs numbers its root 1).
inline constexpr uint64_t kCgroupV2RootId = 1;

struct ProcCgroup {
  std::string path;  // v2 path (the "0::" line); legacy: the name=systemd path ("" : unreadable)
  uint64_t id = 0;   // bpf_get_current_cgroup_id() of the task; 0: unknown
  std::string note;  // why the id is unknown or tells nothing ("" : fine)
};

// From /proc/PID/cgroup and the layout.
ProcCgroup read_proc_cgroup(uint32_t pid, const CgroupLayout& layout = cgroup_layout());
// Parses the text of a /proc/PID/cgroup file (tests).
ProcCgroup parse_proc_cgroup(const std::string& text, const CgroupLayout& layout);

// The kernfs id of a directory on a cgroup2 mount (name_to_handle_at, else its
// inode number); 0 if it cannot be read.
uint64_t cgroup_dir_id(const std::string& dir);

// `record --cgroup PATH`: a directory on the cgroup2 mount, or a path relative
// to the v2 root (/system.slice/docker-<id>.scope). BadInput when it is not a
// v2 cgroup (a v1 directory names the v2 path to use instead), or on a host
// without cgroup v2.
struct CgroupTarget {
  std::string dir;   // absolute directory on the cgroup2 mount
  std::string path;  // relative to the v2 root, as /proc/PID/cgroup prints it ("/" for the root)
  uint64_t id = 0;
};
CgroupTarget resolve_cgroup_arg(const std::string& arg, const CgroupLayout& layout = cgroup_layout());

// True when cgroup `path` is `ancestor` or lies below it.
bool cgroup_under(const std::string& path, const std::string& ancestor);

}  // namespace ebt::record
