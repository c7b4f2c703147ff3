#include "record/dwarf_unwinder.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>

#include "format/records.h"
#include "record/objects.h"
#include "record/proc_reader.h"
#include "unwind/unwind_table.h"

namespace ebt::record {
namespace {

constexpr uint64_t kRebuildIntervalNs = 20'000'000;  // at most one module reread per 20 ms and process
constexpr size_t kMaxProcs = 512;                      // cached processes (Dwfl each)
constexpr size_t kMaxRules = 1 << 16;                  // cached pc rules per layout (then start over)

}  // namespace

// One address-space layout: its modules (and the CFI libdw parses from them,
// lazily, once). Processes whose executable mappings are identical (forked
// workers of a prefork server, children before exec) share one.
struct DwarfUnwinder::Space {
  unwind::SnapshotWalker walker;
  std::string key;  // the executable mappings the modules came from
  // Unwind rules for leaf repair's walks, by the range of pcs each holds for
  // (a CFI row: nearly every pc of a function body after its prologue shares
  // one), keyed by the range's end: the first entry whose end lies above a pc
  // is the only one that can hold it (the ranges do not overlap). On-CPU
  // samples land on many different pcs of the same few rows, so a cache by
  // exact pc missed for most of them and asked libdw (microseconds each).
  // The same layout maps the same code at the same addresses, so a rule never
  // goes stale while it lives.
  struct RuleRange {
    uint64_t start;
    unwind::FrameRule rule;
  };
  std::map<uint64_t, RuleRange> rules;
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

DwarfUnwinder::DwarfUnwinder() : impl_(std::make_unique<Impl>()) {}
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

// Reports every executable file mapping of `pid` to the walker. Returns
// whether any module could be used.
bool report_modules(unwind::SnapshotWalker& w, uint32_t pid, const std::vector<ProcMapping>& maps) {
  std::map<std::pair<std::string, uint64_t>, bool> seen;  // (dev, inode) of this process
  w.begin_modules();
  for (const auto& m : maps) {
    if (m.path == "[vdso]") {
      if (!vdso_file().empty()) w.add_module(m.path, vdso_file(), -1, m.start);  // ET_DYN with p_vaddr 0
      continue;
    }
    if (m.inode == 0 && (m.path.empty() || m.path[0] != '[')) {
      w.add_code_range(m.start, m.end);  // anonymous executable memory: JIT code
      continue;
    }
    if (m.inode == 0 || m.path.empty() || m.path[0] != '/') continue;
    auto key = std::make_pair(m.dev, m.inode);
    if (seen.count(key)) continue;  // one module per object (several r-x mappings are rare)
    seen[key] = true;
    int fd = open_mapped_file(pid, m);
    if (fd < 0) continue;
    std::vector<uint8_t> build_id;
    std::vector<LoadSegment> segs;
    std::optional<uint64_t> bias;
    if (read_elf_identity(fd, &build_id, &segs)) bias = unwind::load_bias(segs, m.start, m.offset);
    if (!bias) {
      close(fd);
      continue;
    }
    w.add_module(m.path, m.path, fd, *bias);  // libdw owns (and later closes) the fd
  }
  return w.end_modules(pid);
}

}  // namespace

DwarfUnwinder::Space* DwarfUnwinder::proc_for(const UnwindInput& in, bool force_rebuild) {
  Impl& im = *impl_;
  auto it = im.procs.find(in.pid);
  if (it != im.procs.end() && it->second.generation == in.generation && !force_rebuild) {
    it->second.last_use = ++im.clock;
    return it->second.space.get();  // the per-sample path: no clock read
  }
  uint64_t now = monotonic_ns();
  if (it != im.procs.end() && it->second.generation == in.generation) {
    Proc& p = it->second;
    p.last_use = ++im.clock;
    if (now - p.built_ns < kRebuildIntervalNs) return p.space.get();
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
  p.last_use = ++im.clock;
  p.generation = in.generation;
  p.built_ns = now;
  auto maps = read_exec_maps(in.pid);
  // Gone, or exiting (a zombie reads as no mappings): its queued samples keep
  // the modules it had.
  if (!maps || maps->empty()) {
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
  report_modules(space->walker, in.pid, *maps);
  im.spaces[key] = space;
  p.space = std::move(space);
  return p.space.get();
}

bool DwarfUnwinder::unwind(const UnwindInput& in, std::span<const uint8_t> stack, std::vector<uint64_t>* out,
                           size_t max_frames) {
  stats_.samples++;
  size_t start = out->size();
  if (in.ip == 0 || max_frames == 0) return false;
  Space* p = proc_for(in, false);
  // Nearly every stack is compiled code with plain CFI all the way to its
  // outermost frame: the rules cached per CFI row (as leaf repair walks) take
  // it there without libdw, which costs microseconds a frame; libdw's walk
  // gives the same frames (same CFI, same rules: dwarf_unwinder_test). Any
  // other ending (a frame without CFI or with a complex rule, the copy's end,
  // a LuaJIT VM, max_frames) is walked by libdw as before, which also guesses,
  // resumes past JIT code and rereads the mappings.
  if (p->walker.ready() && !(in.lua_vm && !in.lua_vm->cframes.empty())) {
    bool reached_end = false;
    if (walk_cached(p, in, stack, &cached_frames_, max_frames, 0, &reached_end) && reached_end &&
        cached_frames_.size() > 1) {
      for (const auto& f : cached_frames_) out->push_back(f.pc);
      stats_.walks_cached++;
      stats_.to_end++;
      stats_.frames += out->size() - start;
      return true;
    }
    out->resize(start);
  }
  bool rebuilt = false;
  for (int attempt = 0; attempt < 2; attempt++) {
    out->resize(start);
    if (!p->walker.ready() && !rebuilt) {
      Space* before = p;
      p = proc_for(in, true);
      rebuilt = p != before;
    }
    unwind::WalkResult r = p->walker.walk(in.tid, {in.ip, in.sp, in.bp}, stack, out, max_frames, in.lua_vm);
    // A frame in no known module: something was mapped since the modules were
    // read (the libraries of a fresh exec, dlopen): reread them once and retry.
    if (r.outside_modules && p->walker.ready() && !rebuilt) {
      Space* before = p;
      p = proc_for(in, true);
      rebuilt = p != before;
      if (rebuilt) continue;
    }
    if (r.to_end) {
      stats_.to_end++;
      stats_.frames += out->size() - start;
      return true;
    }
    break;
  }
  stats_.frames += out->size() - start;
  return false;
}

const unwind::FrameRule* DwarfUnwinder::cached_rule(Space* s, uint64_t pc) {
  auto it = s->rules.upper_bound(pc);
  if (it != s->rules.end() && it->second.start <= pc) return &it->second.rule;
  return nullptr;
}

const unwind::FrameRule& DwarfUnwinder::rule(Space* s, uint64_t pc) {
  if (const auto* r = cached_rule(s, pc)) return *r;
  if (s->rules.size() >= kMaxRules) s->rules.clear();
  uint64_t start = pc, end = pc + 1;
  unwind::FrameRule r = s->walker.frame_rule(pc, &start, &end);
  stats_.rule_lookups++;
  return s->rules.insert_or_assign(end, Space::RuleRange{start, r}).first->second.rule;
}

bool DwarfUnwinder::walk_cached(Space* s, const UnwindInput& in, std::span<const uint8_t> stack,
                                std::vector<unwind::FrameRegs>* out, size_t max_frames, uint64_t stop_sp,
                                bool* reached_end) {
  out->clear();
  if (reached_end) *reached_end = false;
  using unwind::FrameRule;
  // A word of the copy (which starts at the sampled sp); false outside it.
  auto word = [&](uint64_t addr, uint64_t* v) {
    if (addr < in.sp || addr - in.sp > stack.size() || stack.size() - (addr - in.sp) < 8) return false;
    std::memcpy(v, stack.data() + (addr - in.sp), 8);
    return true;
  };
  unwind::FrameRegs f{in.ip, in.sp, in.bp, true};
  for (size_t i = 0; out->size() < max_frames; i++) {
    out->push_back(f);
    if (out->size() >= max_frames || (stop_sp != 0 && f.sp == stop_sp && i > 0)) break;
    // A return address is looked up one byte back (it may be the next
    // function's first byte after a noreturn call), as libdw does.
    const FrameRule& r = rule(s, i == 0 ? f.pc : f.pc - 1);
    if (r.kind == FrameRule::kComplex) return false;
    if (r.kind == FrameRule::kNoCfi) break;
    if (r.ra_undefined) {
      if (reached_end) *reached_end = true;  // the outermost frame, as CFI says
      break;
    }
    if (r.cfa_rbp && !f.bp_known) break;
    const uint64_t cfa = (r.cfa_rbp ? f.bp : f.sp) + uint64_t(int64_t(r.cfa_off));
    uint64_t ra = 0;
    if (!word(cfa + uint64_t(int64_t(r.ra_off)), &ra) || ra == 0) break;
    unwind::FrameRegs next{ra, cfa, f.bp, f.bp_known};
    if (r.bp == FrameRule::kBpUndefined) {
      next.bp = 0;
      next.bp_known = false;
    } else if (r.bp == FrameRule::kBpSaved) {
      next.bp_known = word(cfa + uint64_t(int64_t(r.bp_off)), &next.bp);
      if (!next.bp_known) next.bp = 0;
    }
    f = next;
  }
  return true;
}

bool DwarfUnwinder::walk_regs(const UnwindInput& in, std::span<const uint8_t> stack,
                              std::vector<unwind::FrameRegs>* out, size_t max_frames, bool* leaf_cfi,
                              bool force_libdw, uint64_t stop_sp) {
  out->clear();
  *leaf_cfi = false;
  if (in.ip == 0) return false;
  Space* p = proc_for(in, false);
  // The leaf in no known module: something was mapped since (exec, dlopen).
  // A leaf whose rule is cached with CFI is in a known module: no search.
  const unwind::FrameRule* known = p->walker.ready() ? cached_rule(p, in.ip) : nullptr;
  if (!p->walker.ready() || ((!known || known->kind == unwind::FrameRule::kNoCfi) && !p->walker.in_module_pc(in.ip)))
    p = proc_for(in, true);
  last_ = p;
  if (!p->walker.ready() || max_frames == 0) return false;
  *leaf_cfi = rule(p, in.ip).kind != unwind::FrameRule::kNoCfi;
  if (!force_libdw) {
    if (walk_cached(p, in, stack, out, max_frames, stop_sp)) {
      stats_.walks_cached++;
      return true;
    }
    out->clear();
  }
  stats_.walks_libdw++;
  return p->walker.walk_regs(in.tid, {in.ip, in.sp, in.bp}, stack, out, max_frames);
}

bool DwarfUnwinder::has_cfi_last(uint64_t pc) {
  return last_ && last_->walker.ready() && rule(last_, pc).kind != unwind::FrameRule::kNoCfi;
}

}  // namespace ebt::record
