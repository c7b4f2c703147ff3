#include "report/containers.h"

#include <algorithm>
#include <map>
#include <set>

#include "common/container_path.h"

namespace ebt::report {

// Built lazily from the context's tables: one ContainerRef per container
// (several cgroups of one container, e.g. docker-<id>.scope and its /init
// child, share it), one per host cgroup.
struct ContainerIndex {
  std::map<std::string, std::unique_ptr<ContainerRef>> by_key;  // "runtime:id", or "host:" + path
  std::map<std::string, ContainerRef*> by_path;
  std::unordered_map<uint64_t, ContainerRef*> by_cgroup_id;
  size_t cgroups_indexed = 0;  // ctx.cgroups.size() when by_cgroup_id was built
  struct PidEntry {
    std::string path;  // the cgroup path it was computed for (a reused pid may move)
    ContainerRef* ref;
  };
  std::unordered_map<uint32_t, PidEntry> by_pid;
  // Event reports: owners the capture does not describe (container_or_unknown).
  ContainerRef* unknown() {
    auto& u = by_key["unknown"];
    if (!u) {
      u = std::make_unique<ContainerRef>();
      u->label = "[unknown]";
      u->unknown = true;
    }
    return u.get();
  }
  // Processes outside containers, or whose cgroup is unknown: one entry.
  ContainerRef* host() {
    auto& h = by_key["host"];
    if (!h) {
      h = std::make_unique<ContainerRef>();
      h->label = "[host]";
    }
    return h.get();
  }
};

namespace {

ContainerIndex& index_of(ReportContext& ctx) {
  if (!ctx.container_index) ctx.container_index = std::make_shared<ContainerIndex>();
  return *ctx.container_index;
}

ContainerRef* ref_for_path(ReportContext& ctx, ContainerIndex& ix, const std::string& path, uint64_t cgroup_id) {
  if (auto it = ix.by_path.find(path); it != ix.by_path.end()) return it->second;
  ContainerRef r;
  r.cgroup_path = path;
  r.cgroup_id = cgroup_id;
  if (auto g = ctx.cgroups.find(path); g != ctx.cgroups.end()) {
    const CgroupInfo& c = g->second;
    r.container = !c.runtime.empty();
    r.runtime = c.runtime;
    r.id = c.container_id;
    r.name = c.name;
    r.hostname = c.hostname;
    r.pod_uid = c.pod_uid;
    r.qos_class = c.qos_class;
    r.net_ns = c.net_ns;
    r.pid_ns = c.pid_ns;
    r.notes = c.notes;
    if (c.id) r.cgroup_id = c.id;
  } else {
    // A capture without cgroup records: what the path alone says.
    ContainerPath p = parse_container_path(path);
    r.container = !p.runtime.empty();
    r.runtime = p.runtime;
    r.id = p.id;
    r.pod_uid = p.pod_uid;
    r.qos_class = p.qos;
    r.name = !p.machine_name.empty() ? p.machine_name : r.short_id();
    if (r.container) r.notes = "no cgroup record in the capture: identity from the cgroup path only";
  }
  if (!r.container) return ix.by_path[path] = ix.host();
  r.label = !r.name.empty() ? r.name : r.short_id();
  std::string key = r.runtime + ":" + r.id;
  auto [it, inserted] = ix.by_key.try_emplace(key);
  if (inserted) it->second = std::make_unique<ContainerRef>(std::move(r));
  ix.by_path[path] = it->second.get();
  return it->second.get();
}

}  // namespace

const ContainerRef& container_of(ReportContext& ctx, uint32_t pid) {
  ContainerIndex& ix = index_of(ctx);
  auto p = ctx.processes.find(pid);
  if (p == ctx.processes.end() || p->second.cgroup_path.empty()) return *ix.host();
  const std::string& path = p->second.cgroup_path;
  auto it = ix.by_pid.find(pid);
  if (it != ix.by_pid.end() && it->second.path == path) return *it->second.ref;
  ContainerRef* r = ref_for_path(ctx, ix, path, p->second.cgroup_id);
  ix.by_pid[pid] = {path, r};
  return *r;
}

const ContainerRef& container_or_unknown(ReportContext& ctx, uint32_t pid) {
  auto p = pid ? ctx.processes.find(pid) : ctx.processes.end();
  if (p == ctx.processes.end() || p->second.cgroup_path.empty()) return *index_of(ctx).unknown();
  return container_of(ctx, pid);
}

const ContainerRef& unknown_container(ReportContext& ctx) { return *index_of(ctx).unknown(); }

const ContainerRef& container_of_path(ReportContext& ctx, const std::string& cgroup_path) {
  ContainerIndex& ix = index_of(ctx);
  if (cgroup_path.empty()) return *ix.host();
  return *ref_for_path(ctx, ix, cgroup_path, 0);
}

const ContainerRef& container_of_cgroup(ReportContext& ctx, uint64_t cgroup_id) {
  ContainerIndex& ix = index_of(ctx);
  if (ix.cgroups_indexed != ctx.cgroups.size()) {
    ix.by_cgroup_id.clear();
    for (const auto& [path, g] : ctx.cgroups)
      // On cgroup v1-only hosts every task has the v2 root's id: it names no cgroup.
      if (g.id && g.hierarchy.rfind("v2", 0) == 0) ix.by_cgroup_id[g.id] = ref_for_path(ctx, ix, path, g.id);
    ix.cgroups_indexed = ctx.cgroups.size();
  }
  auto it = ix.by_cgroup_id.find(cgroup_id);
  return it == ix.by_cgroup_id.end() ? *ix.host() : *it->second;
}

bool container_matches(const ContainerRef& c, const std::string& q) {
  if (c.unknown) return false;  // not known to be in any container, nor on the host
  if (q == "host" || q == "[host]") return !c.container;
  if (!c.container || q.empty()) return false;
  return c.name == q || c.hostname == q || c.id == q || c.cgroup_path == q ||
         (q.size() >= 3 && c.id.compare(0, q.size(), q) == 0);
}

bool container_wanted(ReportContext& ctx, const Filter& filter, uint32_t pid) {
  if (filter.containers.empty()) return true;
  return container_ref_wanted(filter, container_of(ctx, pid));
}

bool container_ref_wanted(const Filter& filter, const ContainerRef& c) {
  if (filter.containers.empty()) return true;
  for (const auto& q : filter.containers)
    if (container_matches(c, q)) return true;
  return false;
}

std::vector<const ContainerRef*> containers_in(ReportContext& ctx) {
  std::set<const ContainerRef*> seen;
  for (const auto& [pid, p] : ctx.processes) seen.insert(&container_of(ctx, pid));
  std::vector<const ContainerRef*> out(seen.begin(), seen.end());
  std::sort(out.begin(), out.end(), [](const ContainerRef* a, const ContainerRef* b) {
    if (a->label != b->label) return a->label < b->label;
    return a->id < b->id;
  });
  return out;
}

std::string unmatched_container_query(ReportContext& ctx, const Filter& filter) {
  if (filter.containers.empty()) return {};
  auto all = containers_in(ctx);
  for (const auto& q : filter.containers)
    for (const ContainerRef* c : all)
      if (container_matches(*c, q)) return {};
  std::string list;
  for (const ContainerRef* c : all)
    if (c->container) list += (list.empty() ? "" : ", ") + c->label + " (" + c->runtime + " " + c->short_id() + ")";
  std::string qs;
  for (const auto& q : filter.containers) qs += (qs.empty() ? "" : ",") + q;
  return "--container " + qs + " matches no container of this capture" +
         (list.empty() ? std::string(" (it has none)") : " (it has: " + list + ")");
}

std::vector<ContainerRow> container_rows(ReportContext& ctx, const StackAggregate& stacks) {
  std::map<const ContainerRef*, ContainerRow> rows;
  std::map<std::pair<const ContainerRef*, uint32_t>, uint64_t> by_pid;
  for (const auto& st : stacks.stacks) {
    const ContainerRef* c = &container_of(ctx, st.pid);
    rows[c].ref = c;
    rows[c].weight += st.weight;
    by_pid[{c, st.pid}] += st.weight;
  }
  for (const auto& [key, w] : by_pid) {
    ContainerRow::Proc p;
    p.pid = key.second;
    p.weight = w;
    if (auto it = ctx.processes.find(p.pid); it != ctx.processes.end()) {
      p.comm = it->second.comm;
      if (it->second.nspid.size() > 1) p.inner_pid = it->second.nspid.back();
    }
    rows[key.first].processes.push_back(p);
  }
  std::vector<ContainerRow> out;
  for (auto& [c, r] : rows) {
    std::stable_sort(r.processes.begin(), r.processes.end(),
                     [](const ContainerRow::Proc& a, const ContainerRow::Proc& b) { return a.weight > b.weight; });
    out.push_back(std::move(r));
  }
  std::stable_sort(out.begin(), out.end(), [](const ContainerRow& a, const ContainerRow& b) {
    if (a.weight != b.weight) return a.weight > b.weight;
    return a.ref->label < b.ref->label;
  });
  return out;
}

void group_by_container(ReportContext& ctx, StackAggregate& stacks) {
  for (auto& st : stacks.stacks) {
    const ContainerRef& c = container_of(ctx, st.pid);
    uint32_t frame = ctx.frames.intern("[container: " + c.label + "]", FrameType::kMarker);
    st.frames.insert(st.frames.begin(), frame);
  }
  sort_stacks(ctx, stacks.stacks);
}

}  // namespace ebt::report
