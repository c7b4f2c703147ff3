// Interning and hit tracking: each distinct stack and string gets an id and is
// written to a capture file once (again in each new file that uses it), and
// every address a stack holds is noted as a hit so that the embedder
// (record/embedder.h) writes the symbols and unwind tables naming it.
#pragma once

#include <cstdint>
#include <set>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "record/file_scope.h"
#include "record/process_table.h"

namespace ebt::record {

// What the stacks written to the current file touched and is not embedded yet.
// User addresses are kept on their ObjectFile (hits, unwind_table).
struct Hits {
  std::set<uint64_t> kernel;  // kernel addresses (return addresses minus one but the leaf)
  bool vdso_unwind = false;   // a raw stack went through the vDSO: embed its CFI
};

class Interner {
 public:
  Interner(const CurrentFile& file, ProcessTable& processes, Hits& hits)
      : file_(file), processes_(processes), hits_(hits) {}

  // RecordContext::intern_stack / intern_string / note_stack_snapshot.
  uint32_t stack(uint32_t pid, std::span<const uint64_t> kernel, std::span<const uint64_t> user);
  uint32_t string(const std::string& s);
  void stack_snapshot(uint32_t pid, uint64_t ip, std::span<const uint8_t> stack);

  // A new file begins: entries unused in the previous file and this one are
  // dropped, so the tables stay bounded on recordings that last days. Ids are
  // never reused: a stack met again later gets a new one.
  void on_new_file();
  size_t stacks() const { return stacks_.size(); }

 private:
  struct VecHash {
    size_t operator()(const std::vector<uint64_t>& v) const;
  };
  template <typename Id>
  struct Entry {
    Id id;
    uint64_t used_in;  // last file generation that used it
  };

  void note_hit(const ProcessTable::MapEntry* e, uint64_t addr);

  const CurrentFile& file_;
  ProcessTable& processes_;
  Hits& hits_;
  std::unordered_map<std::vector<uint64_t>, Entry<uint32_t>, VecHash> stacks_;
  uint32_t next_stack_ = 1;
  PerFileSet<uint32_t> stacks_in_file_;
  PerFileSet<uint64_t> pid_stacks_in_file_;  // pid << 32 | stack id: its user addresses noted
  std::unordered_map<std::string, Entry<uint32_t>> strings_;
  uint32_t next_string_ = 1;
  PerFileSet<uint32_t> strings_in_file_;
  std::vector<uint64_t> key_;  // reused
};

}  // namespace ebt::record
