// Containers in reports (docs/containers.md): which container a process ran
// in, from the capture's cgroup records (record/containers.h harvested them),
// or, for captures without them, from the cgroup path alone. The API other
// report families use for --container and --by container:
//
//   const ContainerRef& c = container_of(ctx, pid);     // c.label: "web", "[host]"
//   if (!container_wanted(ctx, run.filter, pid)) return; // --container
//
// Call it after the capture's table records are read (finish()), or while
// reading events: a process's records precede its events.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "report/aggregate.h"
#include "report/context.h"

namespace ebt::report {

struct ContainerRef {
  bool container = false;   // false: a host process (or its cgroup is unknown)
  bool unknown = false;     // the "[unknown]" entry of container_or_unknown()
  std::string label;        // what reports show: the container's name, "[host]"
  std::string runtime;      // docker, containerd, cri-o, podman, systemd-nspawn, container, cgroup
  std::string id;           // container id (full)
  std::string name;
  std::string hostname;
  std::string pod_uid, qos_class;
  std::string cgroup_path;
  uint64_t cgroup_id = 0;
  uint64_t net_ns = 0, pid_ns = 0;
  std::string notes;
  // The id as shown (12 characters for 64-hex ids, like docker ps).
  std::string short_id() const { return id.size() == 64 ? id.substr(0, 12) : id; }
};

// The container of process `pid` (its cgroup when the recorder described it).
const ContainerRef& container_of(ReportContext& ctx, uint32_t pid);
// Event reports (tcp, skb, sched, --latency): the container of process `pid`,
// or the "[unknown]" entry (label "[unknown]", container false) when the
// capture does not describe the process (pid 0: owner not known; no process
// record; no cgroup path). Rows of unknown owners are shown under it with
// their count, never dropped silently.
const ContainerRef& container_or_unknown(ReportContext& ctx, uint32_t pid);
// The "[unknown]" entry itself (compare addresses: &c == &unknown_container(ctx)).
const ContainerRef& unknown_container(ReportContext& ctx);
// The container of a cgroup id (BPF cgroup ids in events); the host entry when unknown.
const ContainerRef& container_of_cgroup(ReportContext& ctx, uint64_t cgroup_id);
// The container of a cgroup path (v2, or a v1 controller's path: runtimes use
// the same one in every hierarchy); the host entry when it is none.
const ContainerRef& container_of_path(ReportContext& ctx, const std::string& cgroup_path);
// The label only: container_of(ctx, pid).label.
inline const std::string& container_label(ReportContext& ctx, uint32_t pid) { return container_of(ctx, pid).label; }

// --container NAME|ID: name, hostname, id prefix (at least 3 characters) or
// cgroup path; "host" (or "[host]") selects the processes outside containers.
bool container_matches(const ContainerRef& c, const std::string& query);
// Whether pid passes the --container part of `filter` (true when it has none).
bool container_wanted(ReportContext& ctx, const Filter& filter, uint32_t pid);
// Whether container `c` passes the --container part of `filter` (true when it
// has none; the "[unknown]" entry passes no query).
bool container_ref_wanted(const Filter& filter, const ContainerRef& c);

// Every distinct container the capture's processes ran in (host entry included
// when some process ran outside one), ordered by label.
std::vector<const ContainerRef*> containers_in(ReportContext& ctx);

// --by container: the stacks' weight per container, heaviest first.
struct ContainerRow {
  const ContainerRef* ref = nullptr;
  uint64_t weight = 0;
  struct Proc {
    uint32_t pid = 0;        // as seen from the host
    uint32_t inner_pid = 0;  // in its own pid namespace (NSpid's last), 0: not in one / unknown
    std::string comm;
    uint64_t weight = 0;
  };
  std::vector<Proc> processes;  // heaviest first
};
std::vector<ContainerRow> container_rows(ReportContext& ctx, const StackAggregate& stacks);

// --group container: puts a "[container: NAME]" root frame (before the comm
// frame) on every stack, keeping StackAggregator's order.
void group_by_container(ReportContext& ctx, StackAggregate& stacks);

// A --container query that matches no container of the capture: one line naming
// the ones it has, for the warning (or "" when it matches something).
std::string unmatched_container_query(ReportContext& ctx, const Filter& filter);

}  // namespace ebt::report
