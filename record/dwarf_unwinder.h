// User-space DWARF unwinding of sampled user stacks (--call-graph dwarf).
//
// The BPF side (bpf/profile_dwarf.bpf.c) sends the user registers ip/sp/bp and
// a copy of the user stack from sp upwards. DwarfUnwinder turns that into the
// list of frame addresses with libdw: one Dwfl per process, its modules
// reported from /proc/PID/maps (files opened through /proc/PID/map_files or
// /proc/PID/root, so containers resolve to their own files), and Dwfl thread
// callbacks that serve the captured registers and stack bytes. CFI comes from
// .eh_frame (and .debug_frame) of the live objects and is parsed once per
// object per address-space layout: the Dwfl stays cached until the process
// execs (its mm->start_stack changes) or a frame falls outside every known
// module (a new mapping: the mappings are reread, at most every 20 ms), and
// processes with identical executable mappings (forked workers) share it.
//
//   DwarfUnwinder u;
//   std::vector<uint64_t> pcs;
//   u.unwind({pid, tid, gen, ip, sp, bp}, stack_bytes, &pcs);  // leaf first
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "unwind/snapshot_walker.h"

namespace ebt::record {

struct UnwindInput {
  uint32_t pid = 0;
  uint32_t tid = 0;
  uint64_t generation = 0;  // changes when the address space is replaced (exec)
  uint64_t ip = 0;
  uint64_t sp = 0;
  uint64_t bp = 0;
  // --lua: the thread's LuaJIT VM activations (LuaRecorder::take), which
  // unwind the VM's and JIT traces' frames exactly; nullptr: none.
  const unwind::VmFrames* lua_vm = nullptr;
};

struct UnwindStats {
  uint64_t samples = 0;        // unwind() calls
  uint64_t frames = 0;         // addresses produced
  uint64_t to_end = 0;         // unwinding reached the outermost frame (no more CFI/RA)
  uint64_t dwfl_builds = 0;    // process module tables (re)built
  uint64_t walks_cached = 0;   // walk_regs() done with the cached rules
  uint64_t walks_libdw = 0;    // walk_regs() that met a complex rule: libdw walked it
  uint64_t rule_lookups = 0;   // rules asked of libdw (cache misses of the rule cache)
};

class DwarfUnwinder {
 public:
  DwarfUnwinder();
  ~DwarfUnwinder();
  DwarfUnwinder(const DwarfUnwinder&) = delete;
  DwarfUnwinder& operator=(const DwarfUnwinder&) = delete;

  // Appends the frames of one sample to `out`, leaf first: the interrupted ip,
  // then return addresses (as fp mode reports them), at most `max_frames`.
  // Returns true when unwinding ended at the outermost frame (the CFI says the
  // return address is undefined, e.g. in _start or clone3), false when it
  // stopped early (stack copy too short, no CFI, unknown code).
  bool unwind(const UnwindInput& in, std::span<const uint8_t> stack, std::vector<uint64_t>* out,
              size_t max_frames = 127);

  // One plain CFI walk with each frame's registers (record/leaf_repair.h);
  // `*leaf_cfi` tells whether CFI covers the leaf ip (without it the walk is a
  // frame-pointer guess). False when the process's objects are unknown.
  //
  // Leaf repair walks every fp sample, so this walk does not go through libdw
  // per sample: each pc's rule is looked up once per address-space layout
  // (unwind::FrameRule, cached) and applied here to the registers and the
  // stack copy. The frames are the ones libdw's walk gives (same CFI, same
  // rules, same stops: the end of the copy, an undefined return address, a
  // return address of 0), except that the walk stops at the first frame
  // without CFI, where libdw would go on guessing with frame pointers (leaf
  // repair never uses frames past one without CFI). A sample that meets a rule
  // outside the simple forms (a PLT stub's CFA expression, a signal frame) is
  // walked by libdw instead. `force_libdw`: always libdw (tests compare both).
  // `stop_sp` (not 0): the cached walk ends at the first frame past the leaf
  // whose sp is stop_sp (leaf repair needs no frame above the one the chain
  // continues from); libdw's walk ignores it.
  bool walk_regs(const UnwindInput& in, std::span<const uint8_t> stack, std::vector<unwind::FrameRegs>* out,
                 size_t max_frames, bool* leaf_cfi, bool force_libdw = false, uint64_t stop_sp = 0);

  // Whether CFI covers `pc` in the process of the last walk_regs() (cached).
  bool has_cfi_last(uint64_t pc);

  // Drops what is cached for a process (it exited).
  void forget(uint32_t pid);

  const UnwindStats& stats() const { return stats_; }

 private:
  struct Proc;
  struct Space;
  Space* proc_for(const UnwindInput& in, bool force_rebuild);

  struct Impl;
  std::unique_ptr<Impl> impl_;
  UnwindStats stats_;
  Space* last_ = nullptr;  // of the last walk_regs()
  const unwind::FrameRule& rule(Space* s, uint64_t pc);
  const unwind::FrameRule* cached_rule(Space* s, uint64_t pc);  // nullptr: not cached yet
  // The cached-rule walk; false when a rule was kComplex (`out` is then unusable).
  // `*reached_end` (if given): the walk ended at a frame whose return address
  // CFI says is undefined (the outermost one).
  bool walk_cached(Space* s, const UnwindInput& in, std::span<const uint8_t> stack,
                   std::vector<unwind::FrameRegs>* out, size_t max_frames, uint64_t stop_sp,
                   bool* reached_end = nullptr);
  std::vector<unwind::FrameRegs> cached_frames_;  // unwind()'s cached walk (no allocation per stack)
};

}  // namespace ebt::record
