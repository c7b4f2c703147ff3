// Unwinds the raw user stacks of a --keep-stack-bytes capture, offline: the
// capture's Mappings say where each object was loaded in each process, its
// UnwindTables carry the objects' CFI, and SnapshotWalker walks each snapshot
// exactly as the recorder would have (same libdw walk, same CFI bytes).
//
//   OfflineUnwinder u;
//   u.add(mapping);  ... u.add(table);  ...   (all before the first unwind)
//   u.unwind(snapshot, &pcs);                 // leaf first
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "format/records.h"
#include "unwind/snapshot_walker.h"

namespace ebt::unwind {

class OfflineUnwinder {
 public:
  OfflineUnwinder();
  ~OfflineUnwinder();
  OfflineUnwinder(const OfflineUnwinder&) = delete;
  OfflineUnwinder& operator=(const OfflineUnwinder&) = delete;

  void add(const Mapping& mapping);  // in capture order
  void add(UnwindTable table);

  // Appends the frames of `s` to `out`, leaf first (the ip, then return
  // addresses), at most `max_frames`.
  WalkResult unwind(const StackSnapshot& s, std::vector<uint64_t>* out, size_t max_frames = 127);

  size_t tables() const { return tables_.size(); }
  // Objects a walk stopped in because the capture has no usable table for
  // them ("path: reason"), sorted.
  std::vector<std::string> problems() const;

 private:
  struct Table;
  struct Layout {
    SnapshotWalker walker;
    struct Gap {
      uint64_t start, end;
      std::string problem;
    };
    std::vector<Gap> gaps;  // mapped objects without a usable table
  };
  Layout& layout_for(uint32_t pid, uint64_t time_ns);
  bool overlapping(uint32_t pid);  // do the pid's mappings overlap (exec)? cached
  std::string layout_key(const std::vector<const Mapping*>& chosen) const;

  std::unordered_map<uint32_t, std::vector<Mapping>> maps_;      // by pid, capture order
  std::unordered_map<uint32_t, bool> overlapping_;               // pid -> its mappings overlap (exec)
  std::map<std::string, std::unique_ptr<Table>> tables_;         // by object key
  std::unordered_map<std::string, std::unique_ptr<Layout>> layouts_;  // by layout key
  struct Epochs {
    std::vector<uint64_t> times;               // distinct mapping times, sorted
    std::unordered_map<size_t, Layout*> layouts;  // mappings recorded by then -> their layout
  };
  std::unordered_map<uint32_t, Epochs> epochs_;  // by pid
  size_t open_tables_ = 0;  // descriptors held by layouts_ (one per reported object)
  std::set<std::string> problems_;
};

}  // namespace ebt::unwind
