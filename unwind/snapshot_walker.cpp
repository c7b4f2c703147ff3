#include "unwind/snapshot_walker.h"

#include <dwarf.h>
#include <elfutils/libdwfl.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <cstring>

namespace ebt::unwind {

// x86_64 DWARF register numbers.
constexpr int kRegRbp = 6;
constexpr int kRegRsp = 7;
constexpr int kRegRip = 16;

// Resuming past code without CFI (JIT): how far above its sp to look for a
// return address, and how many candidates to try.
constexpr uint64_t kResumeScanBytes = 4096;
constexpr int kResumeTries = 16;

struct SnapshotWalker::Snapshot {
  pid_t tid = 0;
  UserRegs regs;                   // where the walk starts
  uint64_t base = 0;               // address of stack[0] (the sampled sp)
  std::span<const uint8_t> stack;
  bool thread_given = false;
  bool read_failed = false;  // a read outside the copy: a stop there is not the real end
};

namespace {

using Snapshot = SnapshotWalker::Snapshot;

pid_t next_thread(Dwfl*, void* arg, void** thread_argp) {
  auto* s = static_cast<Snapshot*>(arg);
  if (s->thread_given) return 0;
  s->thread_given = true;
  *thread_argp = arg;
  return s->tid;
}

bool get_thread(Dwfl*, pid_t tid, void* arg, void** thread_argp) {
  auto* s = static_cast<Snapshot*>(arg);
  if (tid != s->tid) return false;
  *thread_argp = arg;
  return true;
}

// Only the captured stack is readable: anything else fails, which ends the
// walk there.
bool memory_read(Dwfl*, Dwarf_Addr addr, Dwarf_Word* result, void* arg) {
  auto* s = static_cast<Snapshot*>(arg);
  uint64_t sp = s->base;
  if (addr < sp || addr - sp > s->stack.size() || s->stack.size() - (addr - sp) < sizeof(Dwarf_Word)) {
    s->read_failed = true;
    return false;
  }
  std::memcpy(result, s->stack.data() + (addr - sp), sizeof(Dwarf_Word));
  return true;
}

bool set_initial_registers(Dwfl_Thread* thread, void* arg) {
  auto* s = static_cast<Snapshot*>(arg);
  Dwarf_Word bp_sp[2] = {s->regs.bp, s->regs.sp};  // DWARF 6 (rbp), 7 (rsp)
  Dwarf_Word ip = s->regs.ip;
  if (!dwfl_thread_state_registers(thread, kRegRbp, 2, bp_sp)) return false;
  if (!dwfl_thread_state_registers(thread, kRegRip, 1, &ip)) return false;
  dwfl_thread_state_register_pc(thread, ip);
  return true;
}

const Dwfl_Thread_Callbacks kThreadCallbacks = {
    next_thread, get_thread, memory_read, set_initial_registers, nullptr, nullptr,
};

// No separate debug files: CFI comes from the reported objects themselves
// (.eh_frame, or .debug_frame when they carry it).
int no_debuginfo(Dwfl_Module*, void**, const char*, Dwarf_Addr, const char*, const char*, GElf_Word, char**) {
  return -1;
}

const Dwfl_Callbacks kDwflCallbacks = {
    dwfl_linux_proc_find_elf, no_debuginfo, dwfl_offline_section_address, nullptr,
};

struct FrameCollector {
  std::vector<uint64_t>* out;
  size_t max;
  size_t added = 0;
  std::vector<uint64_t> sps;  // each frame's sp (0: unknown)
};

int collect_frame(Dwfl_Frame* state, void* arg) {
  auto* c = static_cast<FrameCollector*>(arg);
  Dwarf_Addr pc;
  bool activation = false;
  if (!dwfl_frame_pc(state, &pc, &activation) || pc == 0) return DWARF_CB_ABORT;
  Dwarf_Word sp = 0;
  if (dwfl_frame_reg(state, kRegRsp, &sp) != 0) sp = 0;
  c->out->push_back(pc);
  c->sps.push_back(sp);
  c->added++;
  return c->added >= c->max ? DWARF_CB_ABORT : DWARF_CB_OK;
}

}  // namespace

SnapshotWalker::SnapshotWalker() : snapshot_(std::make_unique<Snapshot>()) { elf_version(EV_CURRENT); }

SnapshotWalker::~SnapshotWalker() {
  if (dwfl_) dwfl_end(dwfl_);
}

void SnapshotWalker::begin_modules() {
  if (dwfl_) dwfl_end(dwfl_);
  dwfl_ = dwfl_begin(&kDwflCallbacks);
  modules_ = 0;
  code_ranges_.clear();
  ready_ = false;
  if (dwfl_) dwfl_report_begin(dwfl_);
}

bool SnapshotWalker::add_module(const std::string& name, const std::string& file, int fd, uint64_t bias) {
  if (!dwfl_) {
    if (fd >= 0) close(fd);
    return false;
  }
  // libdw owns a reported fd (or opens `file` itself) and closes it; one it
  // refused is still ours.
  if (!dwfl_report_elf(dwfl_, name.c_str(), file.c_str(), fd, bias, true)) {
    if (fd >= 0) close(fd);
    return false;
  }
  modules_++;
  return true;
}

bool SnapshotWalker::end_modules(uint32_t pid) {
  if (!dwfl_) return false;
  dwfl_report_end(dwfl_, nullptr, nullptr);
  ready_ = modules_ > 0 && dwfl_attach_state(dwfl_, nullptr, pid_t(pid), &kThreadCallbacks, snapshot_.get());
  return ready_;
}

WalkResult SnapshotWalker::walk(uint32_t tid, const UserRegs& regs, std::span<const uint8_t> stack,
                                std::vector<uint64_t>* out, size_t max_frames, const VmFrames* vm) {
  WalkResult r;
  if (regs.ip == 0 || max_frames == 0) return r;
  if (!ready_) {
    out->push_back(regs.ip);
    return r;
  }
  if (vm && !vm->cframes.empty() && vm->cframe_size >= 16) return walk_vm(tid, regs, stack, out, max_frames, *vm);
  size_t start = out->size();
  std::vector<uint64_t> sps;
  bool clean = walk_once(tid, regs, regs.sp, stack, out, max_frames, &sps);
  // The first frame in no module: code without CFI, e.g. a LuaJIT trace.
  size_t gap = out->size();
  for (size_t i = start; i < out->size(); i++)
    if (!in_module((*out)[i] - (i > start ? 1 : 0))) {
      gap = i;
      break;
    }
  if (gap == out->size()) {
    r.to_end = clean;
    // Only the leaf came out: code whose CFI is wrong at this pc. LuaJIT's VM
    // covers its whole range with one FDE (CFA = the VM frame), also its leaf
    // helpers called with `call` (vm_mod, vm_floor, ...), where the return
    // address is on top of the stack instead. Try that; it counts only if the
    // walk from there reaches the outermost frame through known code.
    if (out->size() - start == 1 && max_frames > 1 && stack.size() >= 8) {
      uint64_t ra;
      std::memcpy(&ra, stack.data(), 8);
      std::vector<uint64_t> rest, rest_sps;
      if (ra >= 2 && in_module(ra - 1) &&
          walk_once(tid, UserRegs{ra, regs.sp + 8, regs.bp}, regs.sp, stack, &rest, max_frames - 1, &rest_sps) &&
          rest.size() > 1) {
        bool all_known = true;
        for (size_t i = 0; i < rest.size() && all_known; i++) all_known = in_module(rest[i] - (i > 0 ? 1 : 0));
        if (all_known) {
          out->insert(out->end(), rest.begin(), rest.end());
          r.resumed = true;
          r.to_end = true;
        }
      }
    }
    return r;
  }
  r.outside_modules = true;
  uint64_t sp = sps[gap - start];
  out->resize(gap == start || in_code_range((*out)[gap]) ? gap + 1 : gap);
  // Resume above it: LuaJIT runs traces inside the interpreter's C frame, so
  // the nearest return address into known code above the trace's sp leads
  // back to the VM's caller (research/luajit.md §4). A candidate counts only
  // if the walk from there reaches the outermost frame.
  if (sp == 0 || sp < regs.sp || out->size() - start >= max_frames) return r;
  // Offsets into the copy, never addresses: `sp` comes from CFI the capture
  // supplied and may lie anywhere, so address arithmetic could wrap past 2^64.
  const uint64_t first = sp - regs.sp;
  if (first >= stack.size()) return r;
  int tries = 0;
  for (uint64_t off = first + ((8 - (sp & 7)) & 7); off <= stack.size() && stack.size() - off >= 8 &&
                                                    off - first < kResumeScanBytes;
       off += 8) {
    const uint64_t slot = regs.sp + off;
    uint64_t ra;
    std::memcpy(&ra, stack.data() + off, 8);
    if (ra < 2 || !in_module(ra - 1)) continue;
    if (++tries > kResumeTries) break;
    // Callee-saved rbp sits right below the return address after a standard
    // prologue (and in LuaJIT's VM frame).
    uint64_t bp = regs.bp;
    if (off >= 8) std::memcpy(&bp, stack.data() + off - 8, 8);
    std::vector<uint64_t> rest, rest_sps;
    UserRegs resumed{ra, slot + 8, bp};
    if (!walk_once(tid, resumed, regs.sp, stack, &rest, max_frames - (out->size() - start), &rest_sps)) continue;
    bool all_known = true;
    for (size_t i = 0; i < rest.size() && all_known; i++) all_known = in_module(rest[i] - 1);
    if (!all_known) continue;
    out->insert(out->end(), rest.begin(), rest.end());
    r.resumed = true;
    r.to_end = true;
    return r;
  }
  return r;
}

WalkResult SnapshotWalker::walk_vm(uint32_t tid, const UserRegs& regs, std::span<const uint8_t> stack,
                                   std::vector<uint64_t>* out, size_t max_frames, const VmFrames& vm) {
  WalkResult r;
  const size_t start = out->size();
  auto word = [&](uint64_t addr, uint64_t* v) {  // offsets into the copy, never raw addresses
    if (addr < regs.sp || addr - regs.sp > stack.size() || stack.size() - (addr - regs.sp) < 8) return false;
    std::memcpy(v, stack.data() + (addr - regs.sp), 8);
    return true;
  };
  auto in_vm = [&](uint64_t pc) { return pc >= vm.interp_start && pc < vm.interp_end; };
  UserRegs cur = regs;
  bool resumed = false;      // cur.ip is a return address (the caller of a VM C frame)
  uint64_t used_cframe = 0;  // the last C frame resumed from: the next must lie above it
  while (out->size() - start < max_frames) {
    std::vector<uint64_t> pcs, sps;
    bool clean = walk_once(tid, cur, regs.sp, stack, &pcs, max_frames - (out->size() - start), &sps);
    // The first frame in the VM's code or in no module (a trace's code, or a
    // wrong return address from inexact CFI).
    size_t cut = pcs.size();
    for (size_t i = 0; i < pcs.size(); i++) {
      uint64_t pc = pcs[i] - (i > 0 || resumed ? 1 : 0);
      if (in_vm(pc) || !in_module(pc)) {
        cut = i;
        break;
      }
    }
    if (cut == pcs.size()) {
      out->insert(out->end(), pcs.begin(), pcs.end());
      r.to_end = clean;
      return r;
    }
    uint64_t pc = pcs[cut] - (cut > 0 || resumed ? 1 : 0);
    bool known = in_module(pc) || in_code_range(pc);
    if (!in_module(pc)) r.outside_modules = true;
    out->insert(out->end(), pcs.begin(), pcs.begin() + long(cut) + (known ? 1 : 0));
    // The activation this frame belongs to: the innermost C frame at or
    // above its sp (the interpreter runs at its C frame's sp, a trace and
    // the VM's helpers below it).
    uint64_t sp = sps[cut] ? sps[cut] : cur.sp;
    uint64_t cf = 0;
    for (uint64_t c : vm.cframes)
      if (c >= sp && c > used_cframe) {
        cf = c;
        break;
      }
    uint64_t ra = 0, bp = 0;
    if (!cf || !word(cf + vm.cframe_size - 8, &ra) || !word(cf + vm.cframe_size - 16, &bp) || ra < 2) {
      // No C frame for it: the interpreter's CFI is right for its own frame;
      // code without CFI ends the stack here.
      if (known && in_module(pc)) {
        for (size_t i = cut + 1; i < pcs.size() && in_module(pcs[i] - 1); i++) out->push_back(pcs[i]);
        r.to_end = clean && out->back() == pcs.back();
      }
      return r;
    }
    if (out->size() - start >= max_frames) return r;
    used_cframe = cf;
    cur = UserRegs{ra, cf + vm.cframe_size, bp};
    resumed = true;
    r.resumed = true;
  }
  return r;
}

bool SnapshotWalker::in_module(uint64_t pc) const { return dwfl_addrmodule(dwfl_, pc) != nullptr; }

bool SnapshotWalker::in_code_range(uint64_t pc) const {
  for (auto [start, end] : code_ranges_)
    if (pc >= start && pc < end) return true;
  return false;
}

// One libdw walk from `regs`; true when it ended at the outermost frame
// without reading outside the copy.
bool SnapshotWalker::walk_once(uint32_t tid, const UserRegs& regs, uint64_t base, std::span<const uint8_t> stack,
                               std::vector<uint64_t>* out, size_t max_frames, std::vector<uint64_t>* sps) {
  Snapshot& s = *snapshot_;
  s.tid = pid_t(tid);
  s.regs = regs;
  s.base = base;
  s.stack = stack;
  s.thread_given = false;
  s.read_failed = false;
  FrameCollector c{out, max_frames, 0, {}};
  int rc = dwfl_getthread_frames(dwfl_, pid_t(tid), collect_frame, &c);
  if (c.added == 0) {
    out->push_back(regs.ip);
    c.sps.push_back(regs.sp);
  }
  *sps = std::move(c.sps);
  return rc == 0 && !s.read_failed;
}

namespace {

struct RegsCollector {
  std::vector<FrameRegs>* out;
  size_t max;
};

int collect_frame_regs(Dwfl_Frame* state, void* arg) {
  auto* c = static_cast<RegsCollector*>(arg);
  Dwarf_Addr pc;
  bool activation = false;
  if (!dwfl_frame_pc(state, &pc, &activation) || pc == 0) return DWARF_CB_ABORT;
  FrameRegs f;
  f.pc = pc;
  Dwarf_Word v = 0;
  if (dwfl_frame_reg(state, kRegRsp, &v) == 0) f.sp = v;
  if (dwfl_frame_reg(state, kRegRbp, &v) == 0) {
    f.bp = v;
    f.bp_known = true;
  }
  c->out->push_back(f);
  return c->out->size() >= c->max ? DWARF_CB_ABORT : DWARF_CB_OK;
}

}  // namespace

bool SnapshotWalker::walk_regs(uint32_t tid, const UserRegs& regs, std::span<const uint8_t> stack,
                               std::vector<FrameRegs>* out, size_t max_frames) {
  out->clear();
  if (!ready_ || regs.ip == 0 || max_frames == 0) return false;
  Snapshot& s = *snapshot_;
  s.tid = pid_t(tid);
  s.regs = regs;
  s.base = regs.sp;
  s.stack = stack;
  s.thread_given = false;
  s.read_failed = false;
  RegsCollector c{out, max_frames};
  dwfl_getthread_frames(dwfl_, pid_t(tid), collect_frame_regs, &c);
  if (out->empty()) out->push_back(FrameRegs{regs.ip, regs.sp, regs.bp, true});
  return true;
}

bool SnapshotWalker::has_cfi(uint64_t pc) const {
  if (!ready_) return false;
  Dwfl_Module* m = dwfl_addrmodule(dwfl_, pc);
  if (!m) return false;
  for (int pass = 0; pass < 2; pass++) {
    Dwarf_Addr bias = 0;
    Dwarf_CFI* cfi = pass == 0 ? dwfl_module_eh_cfi(m, &bias) : dwfl_module_dwarf_cfi(m, &bias);
    Dwarf_Frame* frame = nullptr;
    if (cfi && dwarf_cfi_addrframe(cfi, pc - bias, &frame) == 0) {
      free(frame);
      return true;
    }
  }
  return false;
}

namespace {

// Where a register rule of dwarf_frame_register() puts the register: at CFA +
// *off (a location, not a value). False for any other form.
bool cfa_slot(const Dwarf_Op* ops, size_t nops, int32_t* off) {
  if (nops == 0 || ops[0].atom != DW_OP_call_frame_cfa) return false;
  int64_t o = 0;
  if (nops == 2 && ops[1].atom == DW_OP_plus_uconst) o = int64_t(ops[1].number);  // a negative offset, wrapped
  else if (nops != 1) return false;                                             // incl. DW_OP_stack_value: a value
  if (o < INT32_MIN || o > INT32_MAX) return false;
  *off = int32_t(o);
  return true;
}

bool classify(Dwarf_Frame* frame, FrameRule* r) {
  Dwarf_Addr start = 0, end = 0;
  bool signal = false;
  if (dwarf_frame_info(frame, &start, &end, &signal) != kRegRip || signal) return false;
  Dwarf_Op* ops = nullptr;
  size_t nops = 0;
  if (dwarf_frame_cfa(frame, &ops, &nops) != 0 || nops != 1 || ops[0].atom != DW_OP_bregx) return false;
  if (ops[0].number != kRegRsp && ops[0].number != kRegRbp) return false;
  int64_t cfa_off = int64_t(ops[0].number2);
  if (cfa_off < INT32_MIN || cfa_off > INT32_MAX) return false;
  r->cfa_rbp = ops[0].number == kRegRbp;
  r->cfa_off = int32_t(cfa_off);
  Dwarf_Op mem[3];
  // rsp = CFA: the x86_64 ABI's default rule (val_offset(0)).
  if (dwarf_frame_register(frame, kRegRsp, mem, &ops, &nops) != 0 || nops != 2 ||
      ops[0].atom != DW_OP_call_frame_cfa || ops[1].atom != DW_OP_stack_value)
    return false;
  if (dwarf_frame_register(frame, kRegRip, mem, &ops, &nops) != 0) return false;
  if (nops == 0) {
    if (ops != mem) return false;  // "same value" return address: not a call frame
    r->ra_undefined = true;
  } else if (!cfa_slot(ops, nops, &r->ra_off)) {
    return false;
  }
  if (dwarf_frame_register(frame, kRegRbp, mem, &ops, &nops) != 0) return false;
  if (nops == 0) r->bp = ops == nullptr ? FrameRule::kBpSame : FrameRule::kBpUndefined;
  else if (cfa_slot(ops, nops, &r->bp_off)) r->bp = FrameRule::kBpSaved;
  else return false;
  return true;
}

}  // namespace

FrameRule SnapshotWalker::frame_rule(uint64_t pc, uint64_t* start, uint64_t* end) const {
  FrameRule r;
  if (start) *start = pc;
  if (end) *end = pc + 1;
  if (!ready_) return r;
  Dwfl_Module* m = dwfl_addrmodule(dwfl_, pc);
  if (!m) return r;
  for (int pass = 0; pass < 2; pass++) {
    Dwarf_Addr bias = 0;
    Dwarf_CFI* cfi = pass == 0 ? dwfl_module_eh_cfi(m, &bias) : dwfl_module_dwarf_cfi(m, &bias);
    Dwarf_Frame* frame = nullptr;
    if (cfi && dwarf_cfi_addrframe(cfi, pc - bias, &frame) == 0) {
      r.kind = classify(frame, &r) ? FrameRule::kSimple : FrameRule::kComplex;
      // The row's range, for .eh_frame only: a .debug_frame row could overlap
      // code that .eh_frame covers (libdw's walk would take .eh_frame's rule there).
      Dwarf_Addr row_start = 0, row_end = 0;
      bool signal = false;
      if (pass == 0 && start && end && dwarf_frame_info(frame, &row_start, &row_end, &signal) >= 0 &&
          row_start + bias <= pc && pc < row_end + bias) {
        *start = row_start + bias;
        *end = row_end + bias;
      }
      free(frame);
      return r;
    }
  }
  return r;
}

}  // namespace ebt::unwind
