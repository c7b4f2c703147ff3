// A probe family: one BPF object (bpf/<name>.bpf.c) plus the user-space code that
// turns its events into capture records. The recorder core owns the shared maps
// (one ring buffer, the per-CPU lost counters, the target-pid set), loads every
// enabled family against them, drains the ring buffer and dispatches each event
// to the family that declared its kind.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "bpf/events.h"
#include "format/records.h"

namespace ebt::format { class CaptureWriter; }

namespace ebt::record {

struct LeafRepairStats;  // record/leaf_repair.h

// Maps created once by the core and shared (bpf_map__reuse_fd) by every family.
// Each .bpf.c declares them with the same names and definitions via
// bpf/maps.bpf.h, and calls reuse_shared_maps() before load.
struct SharedMaps {
  int events_fd = -1;   // BPF_MAP_TYPE_RINGBUF "events"
  int lost_fd = -1;     // BPF_MAP_TYPE_PERCPU_ARRAY "lost", EBT_LOST_MAX x __u64
  int targets_fd = -1;  // BPF_MAP_TYPE_HASH "targets": tgid -> __u8, when filtering by pid
  int cgroup_filter_fd = -1;  // BPF_MAP_TYPE_CGROUP_ARRAY "cgroup_filter": [0] the --cgroup directory
};

// Which tasks to record; identical for every family (kernel-side filtering).
struct TargetFilter {
  bool all = true;               // -a (or nothing else given)
  bool by_pid = false;           // only tgids present in the "targets" map
  std::vector<uint32_t> tids;    // --tid (filtered in user space)
  std::string comm;              // --comm (kernel-side exact match, 16 bytes)
  bool by_cgroup = false;        // --cgroup/--container: only tasks under the cgroup in "cgroup_filter"
  uint64_t cgroup_id = 0;        // ... that cgroup's v2 id, for families that test a socket's cgroup (tcp)
};

// Services of the recorder core that families use while handling events.
class RecordContext {
 public:
  virtual ~RecordContext() = default;
  virtual format::CaptureWriter& writer() = 0;
  // Interns a stack (kernel frames then user frames, leaf first), writing it to
  // the capture the first time; returns its id (0 for an empty stack). Also
  // remembers the addresses so symbols are harvested for them at the end.
  virtual uint32_t intern_stack(uint32_t pid, std::span<const uint64_t> kernel,
                                std::span<const uint64_t> user) = 0;
  // A raw user stack kept for offline unwinding (--keep-stack-bytes): the
  // objects its ip and candidate return addresses (stack words pointing into
  // executable mappings) fall in get their CFI embedded, and symbols for those
  // addresses, since the real frames are only known after unwinding.
  virtual void note_stack_snapshot(uint32_t pid, uint64_t ip, std::span<const uint8_t> stack) = 0;
  // Makes sure the process/thread is described in the capture (reads /proc if new).
  // `seen_ns`: when the kernel reported `comm` (the event's time). A thread's
  // name is recorded as holding from then, not from when the recorder got to
  // the event: a sample taken after an exec but before the recorder handled
  // the exec was otherwise named by the thread's name before it.
  virtual void note_task(uint32_t pid, uint32_t tid, const char* comm, uint64_t seen_ns) = 0;
  virtual uint32_t intern_string(const std::string& s) = 0;
  // The user-space part of the target filter (--tid): false means drop the event.
  virtual bool tid_wanted(uint32_t tid) const = 0;
  // An event the family drops in user space (e.g. a sample the unwinder could
  // not keep up with): written as LostEvents at the end of the current file,
  // counted in SessionEnd.lost and the summary line (record/loss.h).
  virtual void count_lost(uint32_t cpu, LossSource reason, uint64_t n = 1) = 0;
  // The current capture file: 1 for the first, +1 for each rotated file or
  // flight-recorder segment. Table records a family writes itself (sockets, Lua
  // protos) are written again in each file that needs them: keep them in a
  // PerFileSet (record/file_scope.h) keyed by this.
  virtual uint64_t file_generation() const = 0;
};

class Probe {
 public:
  virtual ~Probe() = default;
  virtual std::string name() const = 0;
  // Event kinds (enum ebt_event_kind) this family produces.
  virtual std::vector<uint16_t> event_kinds() const = 0;
  // Opens the BPF object, reuses the shared maps, sets rodata, loads. Throws
  // RuntimeFailure with a clear message (which hook is missing, verifier log
  // with -v) when the kernel cannot run it.
  virtual void load(const SharedMaps& maps, const TargetFilter& filter) = 0;
  virtual void attach() = 0;
  // Called once the capture file is open, before the workload runs, with the
  // processes named by -p (empty for -a and `-- CMD`): a family that needs
  // per-process set-up (finding a LuaJIT VM) does it now, so the first events
  // of those processes are already complete.
  virtual void start(RecordContext& /*ctx*/, std::span<const uint32_t> /*attached_pids*/) {}
  // Handles one event of a declared kind. `event` spans the whole event.
  virtual void handle(const ebt_event_header& header, std::span<const uint8_t> event,
                      RecordContext& ctx) = 0;
  // Stops producing events (destroys the links); called when the recording
  // stops, before the final drain of the ring buffer.
  virtual void detach() {}
  // Called once after the ring buffer is drained at the end of the recording.
  virtual void finish(RecordContext& ctx) {}
  // Called after every poll of the ring buffer (at least every 100 ms), for
  // families that read kernel tables instead of events (record/sched_probe.h).
  virtual void tick(RecordContext& ctx) {}
  // A rotated file or flight-recorder segment is about to be closed: write
  // what belongs in it (tick()-driven families).
  virtual void before_file_close(RecordContext& ctx) {}
  // On-CPU samples written so far (SessionEnd.samples and the summary line).
  virtual uint64_t samples() const { return 0; }
  // A short count for the end-of-recording summary, e.g. "42 off-CPU intervals".
  virtual std::string summary() const { return {}; }
  // Frame-pointer leaf repair counts (record/leaf_repair.h), when this family
  // repairs stacks; the recorder sums them into the capture's SessionEnd.
  virtual const LeafRepairStats* leaf_repair_stats() const { return nullptr; }
};

}  // namespace ebt::record
