#include "record/process_table.h"

#include <unistd.h>

#include <algorithm>

#include "format/writer.h"
#include "record/cgroups.h"

namespace ebt::record {

void ProcessTable::expect_command(uint32_t pid, const std::string& comm) { procs_[pid].comm = comm; }

void ProcessTable::scan(const Targets& targets, uint32_t skip) {
  uint64_t t = monotonic_ns();
  std::vector<uint32_t> pids;
  if (targets.filter.by_pid) {
    for (uint32_t pid : targets.pids)
      if (pid != skip) pids.push_back(pid);
  } else {
    pids = list_pids();
  }
  uint32_t self = uint32_t(getpid());
  for (uint32_t pid : pids) {
    if (pid == self) continue;
    Proc& p = procs_[pid];
    if (described(p)) continue;
    auto info = read_process_info(pid, boot_minus_mono_);
    if (!info) continue;  // exited meanwhile
    if (!targets.filter.comm.empty() && info->comm != targets.filter.comm) continue;
    if (!targets.cgroup.empty() && !cgroup_under(info->cgroup_path, targets.cgroup)) continue;
    describe(pid, p, info->comm.c_str(), t);
    for (uint32_t tid : list_tids(pid)) {
      if (!targets.tid_wanted(tid)) continue;
      std::string c = read_thread_comm(pid, tid);
      if (c.empty()) continue;
      write_thread(pid, tid, c, t);
    }
  }
}

void ProcessTable::write_mapping(uint32_t pid, const MapEntry& e, uint64_t t) {
  Mapping rec;
  rec.pid = pid;
  rec.start = e.m.start;
  rec.end = e.m.end;
  rec.file_offset = e.m.offset;
  rec.path = e.m.path.empty() ? "//anon" : e.m.path;
  if (e.obj) rec.build_id = e.obj->build_id;
  rec.time_ns = t;
  writer().add(rec);
}

void ProcessTable::write_thread(uint32_t pid, uint32_t tid, const std::string& comm, uint64_t t) {
  writer().add(ThreadInfo{pid, tid, comm, t});
  threads_[tid] = Thread{pid, comm, file_.generation};
}

void ProcessTable::refresh_maps(uint32_t pid, Proc& p, uint64_t t) {
  if (!mappings_) return;
  p.last_maps_read_ns = monotonic_ns();
  p.maps_stale = false;
  cost_.maps_reads++;
  auto maps = read_exec_maps(pid);
  // Gone, or exiting (an exiting process or a zombie has no address space left
  // and reads as no mappings): keep what we knew. Its last samples may still be
  // in the ring buffer, e.g. when a rotated file is opened as it exits.
  if (!maps || maps->empty()) return;
  bool in_file = described(p);  // else all of them are written by describe()
  std::vector<MapEntry> next;
  next.reserve(maps->size());
  for (auto& m : *maps) {
    const MapEntry* old = nullptr;
    for (const auto& e : p.maps)
      if (e.m == m) old = &e;
    if (old && in_file) {
      next.push_back(*old);
      continue;
    }
    MapEntry e{m, objects_.get(pid, m)};
    if (in_file) write_mapping(pid, e, t);
    next.push_back(std::move(e));
  }
  bool changed = next.size() != p.maps.size() ||
                 !std::equal(next.begin(), next.end(), p.maps.begin(), [](const MapEntry& a, const MapEntry& b) { return a.m == b.m; });
  if (changed) p.unmapped.clear();  // what was in no mapping may be in a new one
  p.maps = std::move(next);
}

void ProcessTable::describe(uint32_t pid, Proc& p, const char* comm, uint64_t t, uint64_t exec_ns) {
  uint64_t start = thread_cpu_ns();
  cost_.described++;
  if (p.info && p.described_in && !p.exited_in && read_process_start(pid, boot_minus_mono_) == p.info->start_ns) {
    // Described in an earlier file and still the same process (an exec starts
    // a new Proc; a reused pid has another start time): carry its description
    // into this file as the task events kept it, as one long file would have
    // it, rather than read /proc again (six reads per process per file; with
    // -a that is every process sampled in every rotated file).
    if (p.maps_stale) refresh_maps(pid, p, t);
    p.info->time_ns = monotonic_ns();
    write_description(pid, p, *p.info, t);
    cost_.ns += thread_cpu_ns() - start;
    return;
  }
  cost_.proc_reads++;
  auto info = read_process_info(pid, boot_minus_mono_);
  if (info && info->cgroup_path.empty() && !p.cgroup_path.empty()) {
    info->cgroup_path = p.cgroup_path;  // exiting as we looked: the cgroup it was forked into
    info->cgroup_id = p.cgroup_id;
  }
  if (info && exec_ns) {
    // The new program's name holds from the exec, not from this read: events
    // between the two (handled later) are named by it (report/context.h comm_of).
    info->time_ns = exec_ns;
  }
  if (info) {
    p.cgroup_path = info->cgroup_path;
    p.cgroup_id = info->cgroup_id;
    p.comm = info->comm;
    p.ppid = info->ppid;
    p.info = info;
    refresh_maps(pid, p, t);
  } else if (p.info) {
    // Gone since an earlier file described it: the same description again.
    info = p.info;
  } else {
    // Gone before we could look: describe it with what the events told us
    // (and the mappings inherited from its parent, if any).
    info = ProcessInfo{};
    info->pid = pid;
    info->ppid = p.ppid;
    info->comm = comm && *comm ? comm : p.comm;
    info->time_ns = t;
    info->cgroup_path = p.cgroup_path;
    info->cgroup_id = p.cgroup_id;
    if (p.ns_pid) info->nspid = {pid, p.ns_pid};  // outermost and innermost (levels between unknown)
  }
  write_description(pid, p, *info, t);
  cost_.ns += thread_cpu_ns() - start;
}

void ProcessTable::write_description(uint32_t pid, Proc& p, const ProcessInfo& info, uint64_t t) {
  cgroups_.note(info);
  writer().add(info);
  p.described_in = file_.generation;
  described_.insert(pid);
  for (const auto& e : p.maps) write_mapping(pid, e, t);
}

void ProcessTable::note_task(uint32_t pid, uint32_t tid, const char* comm, uint64_t seen_ns) {
  Proc& p = procs_[pid];
  if (!described(p)) describe(pid, p, pid == tid ? comm : nullptr, monotonic_ns());
  auto it = threads_.find(tid);
  if (it == threads_.end() || (comm && it->second.comm != comm) || it->second.written_in != file_.generation) {
    std::string name = comm ? comm : (it != threads_.end() ? it->second.comm : "");
    write_thread(pid, tid, name, seen_ns);
  }
}

void ProcessTable::on_new_file() {
  std::erase_if(procs_, [&](const auto& kv) { return kv.second.exited_in && kv.second.exited_in < file_.generation; });
}

std::set<const ObjectFile*> ProcessTable::objects_in_use() const {
  std::set<const ObjectFile*> out;
  for (const auto& [pid, p] : procs_)
    for (const auto& e : p.maps)
      if (e.obj) out.insert(e.obj);
  return out;
}

void ProcessTable::on_fork(uint32_t pid, uint32_t ppid, const char* comm, uint64_t) {
  Proc& child = procs_[pid];
  child = Proc{};  // a reused pid: nothing of the old process carries over
  child.ppid = ppid;
  child.comm = comm;
  // Same address space as the parent until it execs: inherit what we know, so
  // a child that exits before we read its /proc still resolves.
  if (auto it = procs_.find(ppid); it != procs_.end()) {
    child.maps = it->second.maps;
    child.cgroup_path = it->second.cgroup_path;
    child.cgroup_id = it->second.cgroup_id;
  }
}

void ProcessTable::on_exec(uint32_t pid, uint32_t tid, const char* comm, uint64_t t) {
  Proc& p = procs_[pid];
  uint32_t ppid = p.ppid;
  std::string cgroup_path = std::move(p.cgroup_path);
  uint64_t cgroup_id = p.cgroup_id;
  uint32_t ns_pid = p.ns_pid;
  p = Proc{};
  p.ppid = ppid;
  p.cgroup_path = std::move(cgroup_path);
  p.cgroup_id = cgroup_id;
  p.ns_pid = ns_pid;
  p.comm = comm;
  threads_.erase(tid);
  // Read now: a short command may be gone by its first sample's turn.
  describe(pid, p, comm, t, t);
}

void ProcessTable::on_exit(uint32_t pid, uint32_t tid, int32_t code, uint64_t t) {
  threads_.erase(tid);
  auto it = procs_.find(pid);
  if (it == procs_.end()) return;
  if (pid == tid) it->second.exited_in = file_.generation;
  if (!described(it->second)) return;
  writer().add(ProcessExit{pid, tid, code, t});
}

void ProcessTable::on_comm(uint32_t pid, uint32_t tid, const char* comm, uint64_t t) {
  if (pid == tid) {  // the process's name as /proc would give it in the next file's description
    if (auto it = procs_.find(pid); it != procs_.end() && it->second.info) it->second.info->comm = comm;
  }
  if (!threads_.count(tid)) return;  // written with its new name when first seen
  note_task(pid, tid, comm, t);
}

void ProcessTable::on_exec_mmap(uint32_t pid, uint64_t, uint64_t, uint64_t t) {
  auto it = procs_.find(pid);
  if (it == procs_.end()) return;  // read in full when first seen
  if (!described(it->second)) {
    it->second.maps_stale = true;  // read again when a later file describes it
    return;
  }
  refresh_maps(pid, it->second, t);
}

const ProcessTable::MapEntry* ProcessTable::find(const Proc& p, uint64_t addr) {
  auto it = std::upper_bound(p.maps.begin(), p.maps.end(), addr,
                             [](uint64_t a, const MapEntry& e) { return a < e.m.start; });
  if (it == p.maps.begin()) return nullptr;
  --it;
  return addr < it->m.end ? &*it : nullptr;
}

const ProcessTable::MapEntry* ProcessTable::find_mapping(uint32_t pid, uint64_t addr) {
  return find(procs_[pid], addr);
}

const ProcessTable::MapEntry* ProcessTable::user_mapping(uint32_t pid, uint64_t addr) {
  Proc& p = procs_[pid];
  const MapEntry* e = find(p, addr);
  // An address in no mapping even after a reread (a frame-pointer walk through
  // code without frame pointers yields such "return addresses") is not worth
  // another reread until the mappings change: each file of a rotated recording
  // notes the hits of its stacks again, and rereading /proc/PID/maps for each
  // such address was a large part of the recorder's extra CPU per file.
  if (!e && !p.exited_in && !p.unmapped.contains(addr) && monotonic_ns() - p.last_maps_read_ns > 1000000) {
    refresh_maps(pid, p, monotonic_ns());
    e = find(p, addr);
    if (!e && p.unmapped.size() < kMaxUnmapped) p.unmapped.insert(addr);
  }
  return e;
}

}  // namespace ebt::record
