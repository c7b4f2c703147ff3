#include "record/dwarf_unwinder.h"

#include <dwarf.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>

#include "format/records.h"
#include "record/objects.h"
#include "record/proc_reader.h"

namespace ebt::record {
namespace {

// x86_64 DWARF register numbers.
constexpr int kRegRbp = 6;
constexpr int kRegRsp = 7;
constexpr int kRegRip = 16;

constexpr uint64_t kRebuildIntervalNs = 20'000'000;  // at most one module reread per 20 ms and process
constexpr size_t kMaxProcs = 512;                      // cached processes (Dwfl each)

// The sample being unwound: what the thread callbacks serve.
struct Sample {
  pid_t tid = 0;
  uint64_t ip = 0, sp = 0, bp = 0;
  std::span<const uint8_t> stack;
  bool thread_given = false;
  bool read_failed = false;  // a read outside the copy: a stop there is not the real end
};

pid_t next_thread(Dwfl*, void* arg, void** thread_argp) {
  auto* s = static_cast<Sample*>(arg);
  if (s->thread_given) return 0;
  s->thread_given = true;
  *thread_argp = arg;
  return s->tid;
}

bool get_thread(Dwfl*, pid_t tid, void* arg, void** thread_argp) {
  auto* s = static_cast<Sample*>(arg);
  if (tid != s->tid) return false;
  *thread_argp = arg;
  return true;
}

// Only the captured stack is readable: anything else fails, which ends the
// unwinding there (never a read of the live process).
bool memory_read(Dwfl*, Dwarf_Addr addr, Dwarf_Word* result, void* arg) {
  auto* s = static_cast<Sample*>(arg);
  if (addr < s->sp || addr - s->sp > s->stack.size() || s->stack.size() - (addr - s->sp) < sizeof(Dwarf_Word)) {
    s->read_failed = true;
    return false;
  }
  std::memcpy(result, s->stack.data() + (addr - s->sp), sizeof(Dwarf_Word));
  return true;
}

bool set_initial_registers(Dwfl_Thread* thread, void* arg) {
  auto* s = static_cast<Sample*>(arg);
  Dwarf_Word bp_sp[2] = {s->bp, s->sp};
  Dwarf_Word ip = s->ip;
  if (!dwfl_thread_state_registers(thread, kRegRbp, 2, bp_sp)) return false;
  if (!dwfl_thread_state_registers(thread, kRegRip, 1, &ip)) return false;
  dwfl_thread_state_register_pc(thread, ip);
  return true;
}

const Dwfl_Thread_Callbacks kThreadCallbacks = {
    next_thread, get_thread, memory_read, set_initial_registers, nullptr, nullptr,
};

// No separate debug files while recording: CFI comes from the mapped objects
// themselves (.eh_frame, or .debug_frame when they carry it).
int no_debuginfo(Dwfl_Module*, void**, const char*, Dwarf_Addr, const char*, const char*, GElf_Word, char**) {
  return -1;
}

const Dwfl_Callbacks kDwflCallbacks = {
    dwfl_linux_proc_find_elf, no_debuginfo, dwfl_offline_section_address, nullptr,
};

// This machine's vDSO image, identical in every 64-bit process of this kernel:
// copied once into a memfd so libdw can open it like a file.
std::string vdso_file() {
  static std::string path = [] {
    auto base = getauxval(AT_SYSINFO_EHDR);
    if (!base) return std::string();
    auto maps = read_exec_maps(uint32_t(getpid()));
    if (!maps) return std::string();
    for (const auto& m : *maps) {
      if (m.path != "[vdso]" || m.start != base) continue;
      int fd = memfd_create("ebtrace-vdso", MFD_CLOEXEC);
      if (fd < 0) return std::string();
      size_t len = m.end - m.start;
      if (write(fd, reinterpret_cast<const void*>(m.start), len) != ssize_t(len)) {
        close(fd);
        return std::string();
      }
      return "/proc/" + std::to_string(getpid()) + "/fd/" + std::to_string(fd);  // fd kept open
    }
    return std::string();
  }();
  return path;
}

std::string strip_deleted(std::string path) {
  const char* deleted = " (deleted)";
  size_t n = std::strlen(deleted);
  if (path.size() > n && path.compare(path.size() - n, n, deleted) == 0) path.resize(path.size() - n);
  return path;
}

}  // namespace

// One address-space layout: its modules (and the CFI libdw parses from them,
// lazily, once). Processes whose executable mappings are identical (forked
// workers of a prefork server, children before exec) share one.
struct DwarfUnwinder::Space {
  Dwfl* dwfl = nullptr;
  Sample sample;    // the thread callbacks' argument (address stays fixed)
  std::string key;  // the executable mappings the modules came from
  ~Space() {
    if (dwfl) dwfl_end(dwfl);
  }
};

struct DwarfUnwinder::Proc {
  std::shared_ptr<Space> space;
  uint64_t generation = 0;
  uint64_t built_ns = 0;  // last time the mappings were (re)read
  uint64_t last_use = 0;
};

struct DwarfUnwinder::Impl {
  std::unordered_map<uint32_t, Proc> procs;
  std::unordered_map<std::string, std::weak_ptr<Space>> spaces;  // by layout key
  uint64_t clock = 0;
};

DwarfUnwinder::DwarfUnwinder() : impl_(std::make_unique<Impl>()) { elf_version(EV_CURRENT); }
DwarfUnwinder::~DwarfUnwinder() = default;

void DwarfUnwinder::forget(uint32_t pid) { impl_->procs.erase(pid); }

namespace {

std::string layout_key(const std::vector<ProcMapping>& maps) {
  std::string k;
  char buf[96];
  for (const auto& m : maps) {
    std::snprintf(buf, sizeof buf, "%llx-%llx %llx %llu ", (unsigned long long)m.start, (unsigned long long)m.end,
                  (unsigned long long)m.offset, (unsigned long long)m.inode);
    k += buf;
    k += m.dev;
    k += ' ';
    k += m.path;
    k += '\n';
  }
  return k;
}

}  // namespace

namespace {

// Reports every executable file mapping of `pid` to `dwfl`. Returns the number
// of modules reported.
int report_modules(Dwfl* dwfl, uint32_t pid, const std::optional<std::vector<ProcMapping>>& maps) {
  if (!maps) return 0;
  int n = 0;
  std::map<std::pair<std::string, uint64_t>, bool> seen;  // (dev, inode) of this process
  dwfl_report_begin(dwfl);
  for (const auto& m : *maps) {
    std::string open_path;
    uint64_t bias = 0;
    std::string name = m.path;
    if (m.path == "[vdso]") {
      open_path = vdso_file();
      if (open_path.empty()) continue;
      bias = m.start;  // ET_DYN with p_vaddr 0
    } else {
      if (m.inode == 0 || m.path.empty() || m.path[0] != '/') continue;
      auto key = std::make_pair(m.dev, m.inode);
      if (seen.count(key)) continue;  // one module per object (several r-x mappings are rare)
      seen[key] = true;
      char mf[96];
      std::snprintf(mf, sizeof mf, "/proc/%u/map_files/%llx-%llx", pid, (unsigned long long)m.start,
                    (unsigned long long)m.end);
      open_path = mf;
      int fd = open(mf, O_RDONLY | O_CLOEXEC);
      if (fd < 0) {
        open_path = "/proc/" + std::to_string(pid) + "/root" + strip_deleted(m.path);
        fd = open(open_path.c_str(), O_RDONLY | O_CLOEXEC);
      }
      if (fd < 0) continue;
      std::vector<uint8_t> build_id;
      std::vector<LoadSegment> segs;
      bool ok = read_elf_identity(fd, &build_id, &segs);
      close(fd);
      if (!ok) continue;
      // The PT_LOAD this mapping's file offset falls in gives the load bias.
      const LoadSegment* seg = nullptr;
      for (const auto& s : segs)
        if ((s.file_offset & ~uint64_t(4095)) <= m.offset && m.offset < s.file_offset + s.file_size) {
          seg = &s;
          break;
        }
      if (!seg) continue;
      bias = m.start - (seg->vaddr - seg->file_offset + m.offset);
    }
    // libdw opens (and later closes) the file itself.
    if (dwfl_report_elf(dwfl, name.c_str(), open_path.c_str(), -1, bias, true)) n++;
  }
  dwfl_report_end(dwfl, nullptr, nullptr);
  return n;
}

}  // namespace

DwarfUnwinder::Space* DwarfUnwinder::proc_for(const UnwindInput& in, bool force_rebuild) {
  Impl& im = *impl_;
  uint64_t now = monotonic_ns();
  auto it = im.procs.find(in.pid);
  if (it != im.procs.end() && it->second.generation == in.generation) {
    Proc& p = it->second;
    if (!force_rebuild || now - p.built_ns < kRebuildIntervalNs) return p.space.get();
  }
  if (it == im.procs.end() && im.procs.size() >= kMaxProcs) {
    // Too many processes cached: drop the least recently used half.
    std::vector<std::pair<uint64_t, uint32_t>> use;
    for (auto& [pid, p] : im.procs) use.push_back({p.last_use, pid});
    std::sort(use.begin(), use.end());
    for (size_t i = 0; i < use.size() / 2; i++) im.procs.erase(use[i].second);
    for (auto s = im.spaces.begin(); s != im.spaces.end();)
      s = s->second.expired() ? im.spaces.erase(s) : std::next(s);
  }
  Proc& p = im.procs[in.pid];
  p.generation = in.generation;
  p.built_ns = now;
  auto maps = read_exec_maps(in.pid);
  if (!maps) {
    if (!p.space) p.space = std::make_shared<Space>();  // gone: nothing to unwind with
    return p.space.get();
  }
  std::string key = layout_key(*maps);
  if (p.space && p.space->key == key) return p.space.get();  // nothing new mapped (e.g. a frame in JIT code)
  if (auto shared = im.spaces[key].lock()) {
    p.space = shared;
    return p.space.get();
  }
  auto space = std::make_shared<Space>();
  space->key = key;
  stats_.dwfl_builds++;
  space->dwfl = dwfl_begin(&kDwflCallbacks);
  if (space->dwfl && (report_modules(space->dwfl, in.pid, maps) == 0 ||
                      !dwfl_attach_state(space->dwfl, nullptr, pid_t(in.pid), &kThreadCallbacks, &space->sample))) {
    dwfl_end(space->dwfl);
    space->dwfl = nullptr;
  }
  im.spaces[key] = space;
  p.space = std::move(space);
  return p.space.get();
}

namespace {

struct FrameCollector {
  std::vector<uint64_t>* out;
  size_t max;
  size_t added = 0;
};

int collect_frame(Dwfl_Frame* state, void* arg) {
  auto* c = static_cast<FrameCollector*>(arg);
  Dwarf_Addr pc;
  bool activation = false;
  if (!dwfl_frame_pc(state, &pc, &activation)) return DWARF_CB_ABORT;
  if (pc == 0) return DWARF_CB_ABORT;
  c->out->push_back(pc);
  c->added++;
  return c->added >= c->max ? DWARF_CB_ABORT : DWARF_CB_OK;
}

}  // namespace

bool DwarfUnwinder::unwind(const UnwindInput& in, std::span<const uint8_t> stack, std::vector<uint64_t>* out,
                           size_t max_frames) {
  stats_.samples++;
  size_t start = out->size();
  if (in.ip == 0 || max_frames == 0) return false;
  Space* p = proc_for(in, false);
  bool rebuilt = false;
  for (int attempt = 0; attempt < 2; attempt++) {
    impl_->procs[in.pid].last_use = ++impl_->clock;
    out->resize(start);
    if (!p->dwfl && !rebuilt) {
      Space* before = p;
      p = proc_for(in, true);
      rebuilt = p != before;
    }
    if (!p->dwfl) {
      out->push_back(in.ip);
      break;
    }
    p->sample.tid = pid_t(in.tid);
    p->sample.ip = in.ip;
    p->sample.sp = in.sp;
    p->sample.bp = in.bp;
    p->sample.stack = stack;
    p->sample.thread_given = false;
    p->sample.read_failed = false;
    FrameCollector c{out, max_frames};
    int rc = dwfl_getthread_frames(p->dwfl, pid_t(in.tid), collect_frame, &c);
    if (c.added == 0) out->push_back(in.ip);
    // A frame in no known module: something was mapped since the modules were
    // read (the libraries of a fresh exec, dlopen): reread them once and retry.
    bool unknown = false;
    for (size_t i = start; i < out->size() && !unknown; i++)
      unknown = !dwfl_addrmodule(p->dwfl, (*out)[i] - (i > start ? 1 : 0));
    if (unknown && !rebuilt) {
      Space* before = p;
      p = proc_for(in, true);
      rebuilt = p != before;
      if (rebuilt) continue;
    }
    if (rc == 0 && !unknown && !p->sample.read_failed) {
      stats_.to_end++;
      stats_.frames += out->size() - start;
      return true;
    }
    break;
  }
  stats_.frames += out->size() - start;
  return false;
}

}  // namespace ebt::record
