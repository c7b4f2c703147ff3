// Loss accounting: one rule for every probe family.
//
// An event that cannot be delivered is counted once, where it is dropped, under
// WHY it was dropped, never under which family dropped it:
//   ring buffer  the ring buffer was full (any family: samples, intervals,
//                syscalls, packets, sockets, task and mmap events)
//   stack        a stack could not be copied (the event is kept without it)
//   unwind       the recorder's DWARF unwinder fell behind (sample skipped)
//   off-cpu      the off-CPU task table was full (--off-cpu-tasks)
//   syscall      no task storage for a syscall in flight
//   other        malformed events from the ring, reasons this build cannot name
// BPF programs count in the per-CPU `lost` array (bpf/maps.bpf.h), the recorder
// counts its own here; both become LostEvents records per file (by CPU and
// reason), SessionEnd.lost, and the summary line, named like `ebtrace info`
// names them (loss_source_name()).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "format/records.h"

namespace ebt::format { class CaptureWriter; }

namespace ebt::record {

class LossAccounting {
 public:
  explicit LossAccounting(int lost_map_fd = -1) : lost_fd_(lost_map_fd) {}

  // A loss in user space (the recorder's own reasons).
  void count(uint32_t cpu, LossSource source, uint64_t n = 1) { user_[{cpu, source}] += n; }

  // Reads the BPF counters (once) and writes everything lost since the previous
  // call as LostEvents at `time_ns`; returns how many that was. Called at the end
  // of each capture file, so each file says what it missed.
  uint64_t write(format::CaptureWriter& writer, uint64_t time_ns);

  uint64_t total() const;
  // "0 lost", "12 lost (ring buffer 10, unwind 2)".
  std::string describe() const;

 private:
  int lost_fd_;
  std::map<std::pair<uint32_t, LossSource>, uint64_t> user_;      // not yet written
  std::vector<uint64_t> bpf_seen_;                                // reason * ncpu + cpu: BPF counts already written
  std::map<LossSource, uint64_t> written_;                        // totals by reason
};

}  // namespace ebt::record
