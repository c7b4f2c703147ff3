// Process and mapping tracking: what the capture says about the recorded
// processes (ProcessInfo, ThreadInfo, ProcessExit, Mapping), kept up to date
// from the task probe's events (fork, exec, exit, comm, executable mmap) and
// /proc, and written into each capture file the first time that file needs it.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "format/records.h"
#include "record/containers.h"
#include "record/file_scope.h"
#include "record/objects.h"
#include "record/proc_reader.h"
#include "record/targets.h"
#include "record/task_probe.h"

namespace ebt::record {

class ProcessTable : public TaskObserver {
 public:
  struct MapEntry {
    ProcMapping m;
    ObjectFile* obj = nullptr;
  };

  ProcessTable(const CurrentFile& file, ObjectCache& objects, int64_t boot_minus_mono_ns)
      : file_(file), objects_(objects), boot_minus_mono_(boot_minus_mono_ns), cgroups_(file) {}

  // The command started with `-- CMD`: known by name until its exec describes it.
  void expect_command(uint32_t pid, const std::string& comm);
  // Describes the processes alive at the start: the targets (but `skip`, the
  // command, described at its exec), or every process with -a (not this one).
  void scan(const Targets& targets, uint32_t skip);
  // Makes sure the process and thread are described in the current file; a
  // ThreadInfo written for `comm` has the time the kernel reported it, `seen_ns`.
  void note_task(uint32_t pid, uint32_t tid, const char* comm, uint64_t seen_ns);
  // The mapping of `pid` holding a user address; rereads the mappings once when
  // none does (something was mapped that we did not hear about).
  const MapEntry* user_mapping(uint32_t pid, uint64_t addr);
  // The mapping holding `addr` as last read (no reread).
  const MapEntry* find_mapping(uint32_t pid, uint64_t addr);
  // A new capture file begins: forget processes that exited in an earlier file
  // (memory stays bounded on long recordings; a reused pid starts afresh).
  void on_new_file();
  // The objects mapped by the processes known now.
  std::set<const ObjectFile*> objects_in_use() const;
  // Whether processes' executable mappings are read and written (on unless no
  // recorded family produces user addresses: record/probe_registry.h).
  void track_mappings(bool on) { mappings_ = on; }
  // Distinct processes described so far.
  size_t processes() const { return described_.size(); }
  // Distinct cgroups described so far (CgroupInfo records).
  size_t cgroups() const { return cgroups_.cgroups(); }

  // The cost of describing processes so far (the recorder's -v per-file line).
  struct Cost {
    uint64_t ns = 0;          // CPU time in describe()
    uint64_t described = 0;   // ProcessInfo records written
    uint64_t proc_reads = 0;  // of those, read from /proc (the others carried from memory)
    uint64_t maps_reads = 0;  // /proc/PID/maps read
  };
  const Cost& cost() const { return cost_; }

  // TaskObserver
  void on_fork(uint32_t pid, uint32_t ppid, const char* comm, uint64_t t) override;
  void on_ns_pid(uint32_t pid, uint32_t ns_pid) override { procs_[pid].ns_pid = ns_pid; }
  void on_thread(uint32_t pid, uint32_t tid, const char* comm, uint64_t t) override {}
  void on_exec(uint32_t pid, uint32_t tid, const char* comm, uint64_t t) override;
  void on_exit(uint32_t pid, uint32_t tid, int32_t code, uint64_t t) override;
  void on_comm(uint32_t pid, uint32_t tid, const char* comm, uint64_t t) override;
  void on_exec_mmap(uint32_t pid, uint64_t addr, uint64_t len, uint64_t t) override;

 private:
  struct Proc {
    uint64_t described_in = 0;  // file generation holding its ProcessInfo + mappings (0: none)
    uint64_t exited_in = 0;     // file generation it exited in (0: alive)
    uint32_t ppid = 0;
    std::string comm;
    std::optional<ProcessInfo> info;  // as read from /proc, written again in later files
    std::vector<MapEntry> maps;       // sorted by address (/proc/PID/maps order)
    uint64_t last_maps_read_ns = 0;
    bool maps_stale = false;  // an executable mmap since `maps` was read, while not described in the current file
    // User addresses in no mapping after a reread of `maps` (kept until the
    // mappings change; at most kMaxUnmapped).
    std::unordered_set<uint64_t> unmapped;
    // Its cgroup as last read, else inherited from its parent at fork: a
    // process gone before /proc was read (a short one, a loaded recorder)
    // still has one. Exec keeps it.
    std::string cgroup_path;
    uint64_t cgroup_id = 0;
    uint32_t ns_pid = 0;  // its pid in its own pid namespace, from the fork event (0: none / unknown)
  };
  static constexpr size_t kMaxUnmapped = 4096;
  struct Thread {
    uint32_t pid = 0;
    std::string comm;
    uint64_t written_in = 0;  // file generation holding its ThreadInfo
  };

  format::CaptureWriter& writer() { return *file_.writer; }
  bool described(const Proc& p) const { return p.described_in == file_.generation; }
  // `exec_ns`: described at an exec (the time of its event), else 0.
  void describe(uint32_t pid, Proc& p, const char* comm, uint64_t t, uint64_t exec_ns = 0);
  void write_description(uint32_t pid, Proc& p, const ProcessInfo& info, uint64_t t);
  void refresh_maps(uint32_t pid, Proc& p, uint64_t t);
  void write_mapping(uint32_t pid, const MapEntry& e, uint64_t t);
  void write_thread(uint32_t pid, uint32_t tid, const std::string& comm, uint64_t t);
  static const MapEntry* find(const Proc& p, uint64_t addr);

  const CurrentFile& file_;
  ObjectCache& objects_;
  int64_t boot_minus_mono_;
  CgroupTable cgroups_;  // a process's cgroup is written before the process
  std::unordered_map<uint32_t, Proc> procs_;
  std::unordered_map<uint32_t, Thread> threads_;  // by tid
  std::unordered_set<uint32_t> described_;        // pids with a ProcessInfo (the summary's count)
  Cost cost_;
  bool mappings_ = true;
};

}  // namespace ebt::record
