// What the current capture file already holds.
//
// Every capture file is self-contained: a table record (process, thread,
// mapping, stack, string, socket, symbols, Lua proto) is written again in each
// file whose events refer to it. With one file per recording that is once; with
// --switch-output and the flight recorder each file (or in-memory segment) is a
// new generation, and whatever a family keeps in a PerFileSet starts empty again.
//
//   if (written_.first_in_file(proto_address, ctx.file_generation())) ctx.writer().add(proto);
#pragma once

#include <cstdint>
#include <functional>
#include <unordered_set>

namespace ebt::format { class CaptureWriter; }

namespace ebt::record {

// The capture file records go to now. The output (record/capture_files.h)
// replaces the writer and bumps the generation at each new file.
struct CurrentFile {
  format::CaptureWriter* writer = nullptr;
  uint64_t generation = 0;  // 1 for the first file, +1 for each one after it
};

template <typename Key, typename Hash = std::hash<Key>>
class PerFileSet {
 public:
  // True, and remembered, the first time `key` is asked for in file `generation`.
  bool first_in_file(const Key& key, uint64_t generation) {
    if (generation != generation_) {
      keys_ = {};  // releases the memory: a long recording's sets stay per file
      generation_ = generation;
    }
    return keys_.insert(key).second;
  }
  // The record must be written again (e.g. a thread renamed, a pid reused).
  void forget(const Key& key) { keys_.erase(key); }
  size_t size() const { return keys_.size(); }

 private:
  uint64_t generation_ = 0;
  std::unordered_set<Key, Hash> keys_;
};

}  // namespace ebt::record
