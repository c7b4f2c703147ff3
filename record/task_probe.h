// Process/thread tracking (bpf/task.bpf.c): always loaded by the core. Turns
// EBT_EV_TASK / EBT_EV_MMAP events into calls on a TaskObserver (the recorder's
// process table), which decides what to read from /proc and write.
#pragma once

#include <cstdint>
#include <memory>

#include "record/probe.h"

namespace ebt::record {

class TaskObserver {
 public:
  virtual ~TaskObserver() = default;
  virtual void on_fork(uint32_t pid, uint32_t ppid, const char* comm, uint64_t time_ns) = 0;
  // After on_fork: the new process's pid in its own pid namespace (only when it has one).
  virtual void on_ns_pid(uint32_t pid, uint32_t ns_pid) {}
  virtual void on_thread(uint32_t pid, uint32_t tid, const char* comm, uint64_t time_ns) = 0;
  virtual void on_exec(uint32_t pid, uint32_t tid, const char* comm, uint64_t time_ns) = 0;
  // tid == pid: the whole process exited.
  virtual void on_exit(uint32_t pid, uint32_t tid, int32_t exit_code, uint64_t time_ns) = 0;
  virtual void on_comm(uint32_t pid, uint32_t tid, const char* comm, uint64_t time_ns) = 0;
  virtual void on_exec_mmap(uint32_t pid, uint64_t addr, uint64_t len, uint64_t time_ns) = 0;
};

// `mmap_events`: also trace executable file mmaps (EBT_EV_MMAP), needed only
// when some recorded family produces user addresses.
std::unique_ptr<Probe> make_task_probe(TaskObserver& observer, bool mmap_events = true);

}  // namespace ebt::record
