#include "unwind/snapshot_walker.h"

#include <dwarf.h>
#include <elfutils/libdwfl.h>
#include <unistd.h>

#include <cstring>

namespace ebt::unwind {

// x86_64 DWARF register numbers.
constexpr int kRegRbp = 6;
constexpr int kRegRip = 16;

struct SnapshotWalker::Snapshot {
  pid_t tid = 0;
  UserRegs regs;
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
  uint64_t sp = s->regs.sp;
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
};

int collect_frame(Dwfl_Frame* state, void* arg) {
  auto* c = static_cast<FrameCollector*>(arg);
  Dwarf_Addr pc;
  bool activation = false;
  if (!dwfl_frame_pc(state, &pc, &activation) || pc == 0) return DWARF_CB_ABORT;
  c->out->push_back(pc);
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
  ready_ = false;
  if (dwfl_) dwfl_report_begin(dwfl_);
}

bool SnapshotWalker::add_module(const std::string& name, const std::string& file, int fd, uint64_t bias) {
  if (!dwfl_) {
    if (fd >= 0) close(fd);
    return false;
  }
  // libdw owns the fd from here (or opens `file` itself), and closes it.
  if (!dwfl_report_elf(dwfl_, name.c_str(), file.c_str(), fd, bias, true)) return false;
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
                                std::vector<uint64_t>* out, size_t max_frames) {
  WalkResult r;
  size_t start = out->size();
  if (regs.ip == 0 || max_frames == 0) return r;
  if (!ready_) {
    out->push_back(regs.ip);
    return r;
  }
  Snapshot& s = *snapshot_;
  s.tid = pid_t(tid);
  s.regs = regs;
  s.stack = stack;
  s.thread_given = false;
  s.read_failed = false;
  FrameCollector c{out, max_frames};
  int rc = dwfl_getthread_frames(dwfl_, pid_t(tid), collect_frame, &c);
  if (c.added == 0) out->push_back(regs.ip);
  for (size_t i = start; i < out->size() && !r.outside_modules; i++)
    r.outside_modules = !dwfl_addrmodule(dwfl_, (*out)[i] - (i > start ? 1 : 0));
  r.to_end = rc == 0 && !r.outside_modules && !s.read_failed;
  return r;
}

}  // namespace ebt::unwind
