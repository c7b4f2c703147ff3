// Leaf repair for frame-pointer stacks (fp mode, docs/record.md "Leaf repair").
//
// The kernel's frame-pointer walk starts at the user registers: ip, then the
// return address saved above the frame rbp points to, and so on. When the leaf
// function set up no frame (a libc syscall wrapper, memcpy, strlen, the vDSO:
// Debian's libc has no frame pointers), rbp is still its caller's frame
// pointer, so the walk goes from the leaf straight to the caller's caller: the
// function the user wrote, the one that called read(), is missing.
//
// BPF also sends the user registers and the first bytes of the user stack
// (--leaf-stack-bytes). Here the leaf frame(s) are unwound with their CFI
// (record/dwarf_unwinder.h) until the frame whose return address is the one the
// frame-pointer walk read first (the slot at rbp + 8); the CFI frames up to
// there replace the chain's first entry. The chain is only changed when that
// slot is found: otherwise it is kept as recorded, and why is counted.
//
//   LeafRepair repair(unwinder);
//   repair.repair({pid, tid, gen, ip, sp, bp}, stack_bytes, fp_chain, &user);
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "record/dwarf_unwinder.h"

namespace ebt::record {

struct LeafRepairStats {
  uint64_t stacks = 0;        // fp stacks that came with registers and stack bytes
  uint64_t repaired = 0;      // ...whose leaf frames were restored
  uint64_t frames_added = 0;  // frames the repairs inserted
  uint64_t intact = 0;        // the leaf had a frame: the chain was right as recorded
  uint64_t no_cfi = 0;        // the leaf's object has no CFI for it: chain kept as recorded
  uint64_t unknown_object = 0;// the leaf is in no known object (JIT code, gone): kept
  uint64_t short_copy = 0;    // the CFI walk left the stack copy before the chain's first slot: kept
  uint64_t not_frame = 0;     // rbp was no frame pointer (the leaf uses it as a register): the
                              // chain was garbage; the CFI frames alone were kept
  uint64_t max_reach = 0;     // most stack bytes a repair needed (sp .. rbp + 16)
  uint64_t reach_sum = 0;     // over the repairs (their average = reach_sum / repaired)

  void add(const LeafRepairStats& o);
  // "leaf repair: 812/1000 repaired (+1.2 frames), 150 intact, 3 no CFI, ..." (nonzero parts only)
  std::string describe() const;
};

class LeafRepair {
 public:
  explicit LeafRepair(DwarfUnwinder& unwinder) : unwinder_(unwinder) {}

  // `fp`: the frame-pointer chain, leaf first (fp[0] == in.ip). Writes the
  // repaired chain (or `fp` unchanged) to `out`, at most `max_frames`.
  void repair(const UnwindInput& in, std::span<const uint8_t> stack, std::span<const uint64_t> fp,
              std::vector<uint64_t>* out, size_t max_frames = 127);

  const LeafRepairStats& stats() const { return stats_; }

 private:
  DwarfUnwinder& unwinder_;
  LeafRepairStats stats_;
  std::vector<unwind::FrameRegs> frames_;
};

}  // namespace ebt::record
