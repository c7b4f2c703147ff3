#include "record/containers.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "common/container_path.h"
#include "common/error.h"
#include "format/writer.h"
#include "record/cgroups.h"
#include "record/proc_reader.h"
#include "record/targets.h"

namespace ebt::record {
namespace {

uint64_t ino_of(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 ? uint64_t(st.st_ino) : 0;
}

std::string first_line(const std::string& path) {
  std::ifstream in(path);
  std::string s;
  std::getline(in, s);
  while (!s.empty() && (s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string slurp(const std::string& path, size_t max = 1 << 20) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  std::string s(max, '\0');
  in.read(s.data(), std::streamsize(max));
  s.resize(size_t(in.gcount()));
  return s;
}

// The string value of "key" in a JSON document (first occurrence, simple
// escapes); "" if absent. Enough for the runtimes' own config files.
std::string json_string(const std::string& doc, const std::string& key) {
  std::string k = "\"" + key + "\"";
  size_t pos = doc.find(k);
  if (pos == std::string::npos) return {};
  pos += k.size();
  while (pos < doc.size() && (doc[pos] == ' ' || doc[pos] == ':' || doc[pos] == '\t')) ++pos;
  if (pos >= doc.size() || doc[pos] != '"') return {};
  std::string out;
  for (++pos; pos < doc.size() && doc[pos] != '"'; ++pos) {
    if (doc[pos] == '\\' && pos + 1 < doc.size()) ++pos;
    out += doc[pos];
  }
  return out;
}

// The name the runtime gave the container, from its own files; "" if not found.
std::string runtime_name(const ContainerPath& c, std::string* where) {
  if (c.runtime == "docker") {
    std::string p = "/var/lib/docker/containers/" + c.id + "/config.v2.json";
    std::string n = json_string(slurp(p), "Name");
    if (!n.empty() && n[0] == '/') n.erase(0, 1);
    if (!n.empty()) return n;
    *where = p;
  } else if (c.runtime == "systemd-nspawn") {
    return c.machine_name;
  } else if (c.runtime == "containerd" || c.runtime == "cri-o" || c.runtime == "podman") {
    // The OCI bundle's config.json carries the CRI's annotations.
    std::vector<std::string> candidates = {
        "/run/containers/storage/overlay-containers/" + c.id + "/userdata/config.json",
        "/var/lib/containers/storage/overlay-containers/" + c.id + "/userdata/config.json"};
    for (const char* ns : {"k8s.io", "moby", "default"})
      candidates.push_back(std::string("/run/containerd/io.containerd.runtime.v2.task/") + ns + "/" + c.id +
                           "/config.json");
    for (const auto& p : candidates) {
      std::string doc = slurp(p);
      if (doc.empty()) continue;
      for (const char* key : {"io.kubernetes.cri.container-name", "io.kubernetes.container.name"}) {
        std::string n = json_string(doc, key);
        if (!n.empty()) return n;
      }
    }
    *where = "the runtime's config.json (" + candidates.front() + ", /run/containerd/...)";
  }
  return {};
}

}  // namespace

namespace {

// The host's namespaces: those of pid 1 (the recorder itself may run in a
// private mount namespace), else the recorder's.
Namespaces host_namespaces() {
  Namespaces n = namespaces_of("/proc/1");
  return n.pid && n.uts && n.mnt ? n : namespaces_of("/proc/self");
}

// The member of the cgroup to learn its namespaces from: one in namespaces of
// its own when there is one (a runtime's helper, e.g. `unshare` or `runc init`
// waiting for its child, shares the host's), else `pid`.
uint32_t representative_member(uint32_t pid, const std::string& path, const Namespaces& mine) {
  // 2: its own pid namespace (the container's processes), 1: another namespace
  // of its own (e.g. `unshare`, which moved itself but not its pid namespace).
  auto rank = [&](uint32_t p) {
    Namespaces n = namespaces_of("/proc/" + std::to_string(p));
    if (n.pid && n.pid != mine.pid) return 2;
    return (n.uts && n.uts != mine.uts) || (n.mnt && n.mnt != mine.mnt) ? 1 : 0;
  };
  int best = rank(pid);
  if (best == 2) return pid;
  const CgroupLayout& layout = cgroup_layout();
  // (Not the root: host processes are there, and any of them may have a namespace of its own.)
  if (layout.kind == CgroupLayout::Kind::kLegacy || path.empty() || path[0] != '/' || path == "/") return pid;
  std::ifstream in(layout.v2_mount + path + "/cgroup.procs");
  uint32_t p, chosen = pid;
  for (int n = 0; n < 64 && in >> p; ++n) {
    int r = rank(p);
    if (r > best) {
      best = r;
      chosen = p;
      if (r == 2) break;
    }
  }
  return chosen;
}

}  // namespace

Namespaces namespaces_of(const std::string& proc_dir) {
  Namespaces n;
  n.pid = ino_of(proc_dir + "/ns/pid");
  n.net = ino_of(proc_dir + "/ns/net");
  n.uts = ino_of(proc_dir + "/ns/uts");
  n.mnt = ino_of(proc_dir + "/ns/mnt");
  return n;
}

std::string hostname_of(uint32_t pid, std::string* why) {
  std::string name, err;
  std::string ns = "/proc/" + std::to_string(pid) + "/ns/uts";
  // setns() moves only the calling thread: a throw-away one.
  std::thread t([&] {
    int fd = open(ns.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      err = "open " + ns + ": " + strerror(errno);
      return;
    }
    if (setns(fd, CLONE_NEWUTS) != 0) {
      err = "setns " + ns + ": " + strerror(errno);
      close(fd);
      return;
    }
    close(fd);
    utsname u{};
    if (uname(&u) == 0) name = u.nodename;
  });
  t.join();
  if (!name.empty()) return name;
  std::string file = first_line("/proc/" + std::to_string(pid) + "/root/etc/hostname");
  if (!file.empty()) return file;
  if (why) *why = err.empty() ? "hostname unreadable" : err;
  return {};
}

CgroupInfo harvest_cgroup(uint32_t pid, const std::string& path, uint64_t id, const std::string& hierarchy) {
  CgroupInfo c;
  c.id = id;
  c.path = path;
  c.hierarchy = hierarchy;
  c.time_ns = monotonic_ns();
  std::vector<std::string> notes;
  ContainerPath cp = parse_container_path(path);
  c.runtime = cp.runtime;
  Namespaces mine = host_namespaces();
  pid = representative_member(pid, path, mine);
  c.container_id = cp.id;
  c.pod_uid = cp.pod_uid;
  c.qos_class = cp.qos;
  Namespaces its = namespaces_of("/proc/" + std::to_string(pid));
  c.pid_ns = its.pid;
  c.net_ns = its.net;
  c.uts_ns = its.uts;
  c.mnt_ns = its.mnt;
  bool own_ns = (its.pid && its.pid != mine.pid) || (its.uts && its.uts != mine.uts) || (its.mnt && its.mnt != mine.mnt);
  if (c.runtime.empty() && own_ns && path != "/" && !path.empty()) {
    // No runtime's layout, but its own namespaces: a container all the same.
    c.runtime = "cgroup";
    c.container_id = cgroup_leaf(path);
  }
  if (its.uts && its.uts != mine.uts) {
    std::string why;
    c.hostname = hostname_of(pid, &why);
    if (c.hostname.empty()) notes.push_back("hostname: " + why);
  } else if (!its.uts && !c.runtime.empty()) {
    notes.push_back("namespaces of pid " + std::to_string(pid) + " unreadable (gone?)");
  }
  if (!c.runtime.empty()) {
    std::string where;
    c.name = runtime_name(cp, &where);
    if (c.name.empty() && !where.empty()) notes.push_back("no runtime name in " + where);
    if (c.name.empty()) c.name = !c.hostname.empty() ? c.hostname : cgroup_leaf(path);
  }
  for (const auto& n : notes) c.notes += (c.notes.empty() ? "" : "; ") + n;
  return c;
}

void CgroupTable::note(const ProcessInfo& p) {
  if (p.cgroup_path.empty()) return;
  auto it = known_.find(p.cgroup_path);
  if (it == known_.end()) {
    Entry e;
    e.info = harvest_cgroup(p.pid, p.cgroup_path, p.cgroup_id, cgroup_layout().hierarchy());
    // What the id cannot tell (record/cgroups.h).
    std::string why;
    if (cgroup_layout().kind == CgroupLayout::Kind::kLegacy)
      why = "cgroup v1 only: every task is in the unmounted cgroup v2 root (BPF cgroup id " +
            std::to_string(kCgroupV2RootId) + "), the id tells no cgroups apart";
    else if (p.cgroup_id == 0)
      why = "cgroup id unknown (outside the recorder's cgroup namespace, or removed before it was read)";
    if (!why.empty()) e.info.notes = why + (e.info.notes.empty() ? "" : "; " + e.info.notes);
    it = known_.emplace(p.cgroup_path, std::move(e)).first;
  }
  if (it->second.written_in == file_.generation) return;
  file_.writer->add(it->second.info);
  it->second.written_in = file_.generation;
}

std::vector<CgroupInfo> running_containers() {
  std::map<std::string, CgroupInfo> by_path;
  Namespaces mine = host_namespaces();
  const CgroupLayout& layout = cgroup_layout();
  for (uint32_t pid : list_pids()) {
    ProcCgroup cg = read_proc_cgroup(pid, layout);
    if (cg.path.empty() || cg.path == "/" || by_path.count(cg.path)) continue;
    Namespaces its = namespaces_of("/proc/" + std::to_string(pid));
    bool own_ns = (its.pid && its.pid != mine.pid) || (its.uts && its.uts != mine.uts) || (its.mnt && its.mnt != mine.mnt);
    if (parse_container_path(cg.path).runtime.empty() && !own_ns) continue;
    CgroupInfo c = harvest_cgroup(pid, cg.path, cg.id, layout.hierarchy());
    if (!c.runtime.empty()) by_path.emplace(cg.path, std::move(c));
  }
  std::vector<CgroupInfo> out;
  for (auto& [p, c] : by_path) out.push_back(std::move(c));
  return out;
}

ContainerChoice resolve_container(const std::string& query) {
  if (query.empty()) throw BadInput("--container: empty name");
  std::vector<CgroupInfo> all = running_containers();
  // Best kind of match first: exact name or id, then hostname or cgroup, then an id prefix.
  std::vector<std::vector<const CgroupInfo*>> tiers(3);
  for (const auto& c : all) {
    if (c.name == query || c.container_id == query) tiers[0].push_back(&c);
    else if (c.hostname == query || c.path == query || cgroup_leaf(c.path) == query) tiers[1].push_back(&c);
    else if (c.container_id.compare(0, query.size(), query) == 0) tiers[2].push_back(&c);
  }
  auto describe = [](const CgroupInfo& c) {
    std::string id = c.container_id.size() > 12 ? c.container_id.substr(0, 12) : c.container_id;
    return c.name + " (" + c.runtime + " " + id + ", " + c.path + ")";
  };
  for (const auto& tier : tiers) {
    if (tier.empty()) continue;
    if (tier.size() > 1) {
      std::string list;
      for (const auto* c : tier) list += (list.empty() ? "" : ", ") + describe(*c);
      throw BadInput("--container " + query + " is ambiguous: " + list);
    }
    return ContainerChoice{tier[0]->path, *tier[0]};
  }
  std::string list;
  for (const auto& c : all) list += (list.empty() ? "" : ", ") + describe(c);
  throw BadInput("--container " + query + ": no running container has this name, hostname or id" +
                 (list.empty() ? std::string(" (none is running)") : " (running: " + list + ")"));
}

std::string cgroup_filter_path(const RecordOptions& o) {
  try {
    if (!o.container.empty() && o.cgroup.empty()) return resolve_cgroup_arg(resolve_container(o.container).path).path;
    if (!o.cgroup.empty()) return resolve_cgroup_arg(o.cgroup).path;
  } catch (const BadInput&) {
  }
  return {};
}

void resolve_cgroup_target(const RecordOptions& o, Targets& t) {
  if (o.cgroup.empty() && o.container.empty()) return;
  if (!o.cgroup.empty() && !o.container.empty()) throw BadInput("--cgroup and --container both choose a cgroup: give one");
  const std::string opt = o.cgroup.empty() ? "--container" : "--cgroup";
  if (!o.pids.empty() || !o.tids.empty())
    throw BadInput(opt + " records the tasks of a cgroup: it excludes -p/--tid");
  // The filter is the task the BPF program runs in; packet hops are mostly in
  // softirq, on behalf of no task, and an sk_buff has no cgroup of its own
  // until it reaches a socket (docs/containers.md). --tcp tests the socket's
  // cgroup instead (bpf/tcp.bpf.c).
  if (o.skb_hops) throw BadInput(opt + " cannot filter --skb packet hops (they run in softirq context, not in the sender's cgroup)");
  if (o.sched)
    throw BadInput(opt + " cannot filter --sched yet (its filter tests the current task, and a wake-up or a switch "
                         "runs in another task's context); record --sched -p PIDS of the container instead");
  if (cgroup_layout().kind == CgroupLayout::Kind::kLegacy) resolve_cgroup_arg("/");  // refuses: no cgroup v2
  std::string arg = o.cgroup;
  if (!o.container.empty()) {
    ContainerChoice c = resolve_container(o.container);
    std::string id = c.info.container_id.size() > 12 ? c.info.container_id.substr(0, 12) : c.info.container_id;
    std::fprintf(stderr, "ebtrace: --container %s: %s (%s %s), cgroup %s\n", o.container.c_str(), c.info.name.c_str(),
                 c.info.runtime.c_str(), id.c_str(), c.path.c_str());
    arg = c.path;
  }
  CgroupTarget ct = resolve_cgroup_arg(arg);
  t.cgroup = ct.path;
  t.cgroup_dir = ct.dir;
  t.filter.by_cgroup = true;
  t.filter.cgroup_id = ct.id;
}

}  // namespace ebt::record
