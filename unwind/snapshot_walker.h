// Walks captured user stacks with libdw's CFI unwinder.
//
// A SnapshotWalker is one address-space layout: the modules (object files and
// their load biases) reported to a Dwfl, whose only "thread" is the snapshot
// being walked: its user registers and a copy of the stack from sp upwards.
// Memory reads outside that copy fail, so a walk never touches a live
// process. The recorder feeds it the live objects (record/dwarf_unwinder.h),
// report the objects rebuilt from a capture (unwind/offline_unwinder.h): both
// walk the same way and get the same frames from the same CFI bytes.
//
//   SnapshotWalker w;
//   w.begin_modules();
//   w.add_module("/usr/lib/x86_64-linux-gnu/libc.so.6", path_or_fd, bias);
//   w.end_modules(pid);
//   w.walk(tid, {ip, sp, bp}, stack_bytes, &pcs, 127);  // pcs: leaf first
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

typedef struct Dwfl Dwfl;  // elfutils/libdwfl.h

namespace ebt::unwind {

// The x86_64 registers unwinding starts from.
struct UserRegs {
  uint64_t ip = 0;
  uint64_t sp = 0;
  uint64_t bp = 0;
};

// One frame of a plain CFI walk (SnapshotWalker::walk_regs): its pc (the
// interrupted ip, then return addresses) and the registers unwound for it.
struct FrameRegs {
  uint64_t pc = 0;
  uint64_t sp = 0;  // 0: unknown
  uint64_t bp = 0;
  bool bp_known = false;
};

// LuaJIT's VM activations on the sampled thread (--lua; record/lua_recorder.h
// finds them): the interpreter's code range and the C frame each activation
// pushed (lua_pcall, lua_call, lua_resume, coroutine.resume from Lua: the
// L->cframe chain), innermost first. The VM's one FDE is right only for the
// interpreter's own frame and JIT traces have no CFI at all, while a C frame
// says exactly where its activation's caller is: return address at
// cframe + size - 8, the caller's rbp at cframe + size - 16, its sp at
// cframe + size.
struct VmFrames {
  uint64_t interp_start = 0, interp_end = 0;
  uint32_t cframe_size = 0;
  std::vector<uint64_t> cframes;  // ascending (innermost first)
};

// The unwind rule at one pc in the form nearly all compiled x86_64 code has
// (record/dwarf_unwinder.h walks leaf frames with these, cached per pc, instead
// of a libdw walk per sample): CFA = rsp or rbp + offset, the return address
// saved at CFA + offset (or undefined: the outermost frame), rbp unchanged,
// saved at CFA + offset, or undefined, rsp = CFA. Anything else (a CFA
// expression as in PLT stubs, a signal frame, another CFA register) is
// kComplex: walk those with libdw.
struct FrameRule {
  enum Kind : uint8_t { kNoCfi, kSimple, kComplex };
  enum Bp : uint8_t { kBpSame, kBpSaved, kBpUndefined };
  Kind kind = kNoCfi;
  bool cfa_rbp = false;       // CFA = rbp + cfa_off (else rsp + cfa_off)
  bool ra_undefined = false;  // no caller
  Bp bp = kBpSame;
  int32_t cfa_off = 0;
  int32_t ra_off = 0;  // return address at CFA + ra_off
  int32_t bp_off = 0;  // kBpSaved: rbp at CFA + bp_off
};

struct WalkResult {
  bool to_end = false;           // reached the outermost frame (CFI: return address undefined)
  bool outside_modules = false;  // a frame lies in no reported module (new mapping, JIT code)
  bool resumed = false;          // ...and the walk went on above it (see walk())
};

class SnapshotWalker {
 public:
  SnapshotWalker();
  ~SnapshotWalker();
  SnapshotWalker(const SnapshotWalker&) = delete;
  SnapshotWalker& operator=(const SnapshotWalker&) = delete;

  // Module reporting: begin, add each object, end. `file` is opened by libdw
  // (a path, e.g. /proc/PID/map_files/...), or `fd` >= 0 is used and owned.
  void begin_modules();
  bool add_module(const std::string& name, const std::string& file, int fd, uint64_t bias);
  // Anonymous executable memory (JIT code): frames there are kept; any other
  // address outside the modules that unwinding yields is garbage and dropped.
  void add_code_range(uint64_t start, uint64_t end) { code_ranges_.push_back({start, end}); }
  // Finishes reporting; false when no module could be used (walks then give
  // the ip alone).
  bool end_modules(uint32_t pid);
  bool ready() const { return ready_; }

  // Appends the frames of one snapshot to `out`, leaf first: the interrupted
  // ip, then return addresses, at most `max_frames`. A frame in code no module
  // covers (JIT code: no CFI) is kept, and the walk resumes at the nearest
  // return address above it from which it reaches the outermost frame (a
  // LuaJIT trace runs inside the interpreter's C frame, so that is the VM's
  // caller); if none does, the stack ends at that frame. A "return address"
  // outside modules and code ranges (inexact CFI in hand-written code) is
  // dropped, and the walk resumes the same way.
  // With `vm` (the thread runs LuaJIT), a frame in the interpreter or in code
  // without a module (a trace) is followed by the caller of the innermost VM
  // C frame at or above its sp, never by a guess: one native frame per
  // activation (the interpreter's, a VM helper's, or the trace's code) stays.
  WalkResult walk(uint32_t tid, const UserRegs& regs, std::span<const uint8_t> stack,
                  std::vector<uint64_t>* out, size_t max_frames, const VmFrames* vm = nullptr);

  // One plain CFI walk from `regs`, no resuming past unknown code: each
  // frame's pc, sp and bp (record/leaf_repair.h splices a frame-pointer chain
  // after the frames it yields). Returns false when there is no module table.
  bool walk_regs(uint32_t tid, const UserRegs& regs, std::span<const uint8_t> stack, std::vector<FrameRegs>* out,
                 size_t max_frames);

  // Whether `pc` lies in a reported module whose CFI (.eh_frame or
  // .debug_frame) covers it. (Without CFI libdw would fall back to guessing
  // with frame pointers.)
  bool has_cfi(uint64_t pc) const;

  // The rule libdw's walk would apply at `pc` (the same CFI, .eh_frame first,
  // then .debug_frame), classified; kNoCfi as has_cfi() says. `*start`,
  // `*end`: the pcs [start, end) the same rule holds for (the CFI row's range,
  // from .eh_frame; [pc, pc + 1) for a rule from .debug_frame or none), so
  // that a cache can serve every pc of a row with one lookup of libdw.
  FrameRule frame_rule(uint64_t pc, uint64_t* start = nullptr, uint64_t* end = nullptr) const;
  bool in_module_pc(uint64_t pc) const { return ready_ && in_module(pc); }

  struct Snapshot;  // the thread callbacks' state (address fixed for the Dwfl's life)

 private:
  bool walk_once(uint32_t tid, const UserRegs& regs, uint64_t base, std::span<const uint8_t> stack,
                 std::vector<uint64_t>* out, size_t max_frames, std::vector<uint64_t>* sps);
  WalkResult walk_vm(uint32_t tid, const UserRegs& regs, std::span<const uint8_t> stack,
                     std::vector<uint64_t>* out, size_t max_frames, const VmFrames& vm);
  bool in_module(uint64_t pc) const;
  bool in_code_range(uint64_t pc) const;

  Dwfl* dwfl_ = nullptr;
  std::unique_ptr<Snapshot> snapshot_;
  std::vector<std::pair<uint64_t, uint64_t>> code_ranges_;
  int modules_ = 0;
  bool ready_ = false;
};

}  // namespace ebt::unwind
