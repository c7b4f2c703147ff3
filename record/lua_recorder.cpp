#include "record/lua_recorder.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <set>

#include "common/error.h"
#include "format/writer.h"
#include "record/proc_reader.h"

namespace ebt::record {
namespace {

constexpr uint64_t kFirstRecheckNs = 1'000'000'000;
constexpr uint64_t kMaxRecheckNs = 30'000'000'000;
constexpr uint64_t kTraceRereadNs = 100'000'000;
constexpr uint32_t kMaxProtoBytes = 16u << 20;
constexpr uint32_t kMaxChunkname = 4096;
constexpr uint32_t kMaxConstText = 256;
constexpr uint32_t kMaxConsts = 1024;
constexpr uint8_t kGctStr = 4, kGctProto = 7;

std::string hex(const std::vector<uint8_t>& b) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (uint8_t c : b) {
    s += d[c >> 4];
    s += d[c & 15];
  }
  return s;
}

template <typename T>
T load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

static_assert(EBT_LUA_F_CFRAME_NO_FRAME == LuaStack::kCFrameNoFrame);

}  // namespace

uint32_t lua_proto_fingerprint(const uint8_t* h) {
  uint64_t w0 = load<uint64_t>(h), w1 = load<uint64_t>(h + 8);
  w0 ^= w1 * 0x9e3779b97f4a7c15ULL;
  return uint32_t(w0 ^ (w0 >> 32));
}

struct LuaRecorder::Proc {
  uint32_t pid = 0;
  std::set<std::string> comms;  // thread names seen (a new one: look again)
  bool found = false;
  bool written = false;  // its LuaVm record (written at its first event)
  uint64_t next_look_ns = 0, backoff_ns = kFirstRecheckNs;
  LuaVmInfo vm;
  int mem = -1;
  // (address, fingerprint) -> LuaProto id: a proto freed and its address
  // reused by another gets a new entry, and a late stack of the old one (the
  // ring buffer lags) still finds the record read while it lived.
  std::map<std::pair<uint64_t, uint32_t>, uint32_t> protos;
  struct TraceEntry {
    uint64_t tr = 0, startpt = 0, startpc = 0, mcode = 0, read_ns = 0;
    uint32_t id = 0;
  };
  std::unordered_map<uint32_t, TraceEntry> traces;
  uint64_t lua_samples = 0, bad = 0, truncated = 0, lost = 0, nprotos = 0, proto_errors = 0, ntraces = 0;

  ~Proc() {
    if (mem >= 0) close(mem);
  }
  bool read(uint64_t addr, void* dst, size_t n) const {
    return mem >= 0 && addr < (uint64_t{1} << 62) && pread(mem, dst, n, off_t(addr)) == ssize_t(n);
  }
  uint64_t ref(const uint8_t* p) const { return vm.layout.gc64 ? load<uint64_t>(p) : load<uint32_t>(p); }
  bool read_ref(uint64_t addr, uint64_t* v) const {
    uint8_t b[8] = {};
    if (!read(addr, b, vm.layout.gc64 ? 8 : 4)) return false;
    *v = ref(b);
    return true;
  }
  // A GCstr's text (at most `max` bytes); false if not a string.
  bool read_str(uint64_t addr, uint32_t max, std::string* out) const {
    const LuaLayout& l = vm.layout;
    uint8_t h[64];
    if (l.str_size > sizeof h || !read(addr, h, l.str_size)) return false;
    if (h[l.gc_marked + 1] != kGctStr) return false;
    uint32_t len = load<uint32_t>(h + l.str_len);
    out->resize(std::min(len, max));
    return out->empty() || read(addr + l.str_size, out->data(), out->size());
  }
};

LuaRecorder::LuaRecorder() {
  map_fd_ = bpf_map_create(BPF_MAP_TYPE_HASH, "lua_procs", sizeof(uint32_t), sizeof(ebt_lua_config),
                           EBT_LUA_MAX_PROCS, nullptr);
  if (map_fd_ < 0) throw RuntimeFailure(std::string("--lua: cannot create the lua_procs map: ") + strerror(errno));
}

LuaRecorder::~LuaRecorder() {
  if (map_fd_ >= 0) close(map_fd_);
}

std::shared_ptr<LuaRecorder> LuaRecorder::shared() {
  static std::weak_ptr<LuaRecorder> current;
  auto r = current.lock();
  if (!r) {
    r = std::make_shared<LuaRecorder>();
    current = r;
  }
  return r;
}

void LuaRecorder::use_map(bpf_object* obj) const {
  bpf_map* m = bpf_object__find_map_by_name(obj, "lua_procs");
  if (!m || bpf_map__reuse_fd(m, map_fd_) != 0)
    throw RuntimeFailure(std::string("--lua: cannot share the lua_procs map: ") + strerror(errno));
}

LuaRecorder::Proc& LuaRecorder::proc(uint32_t pid) {
  auto& p = procs_[pid];
  if (!p) {
    p = std::make_unique<Proc>();
    p->pid = pid;
  }
  return *p;
}

void LuaRecorder::prime(const std::vector<uint32_t>& pids) {
  uint64_t now = monotonic_ns();
  for (uint32_t pid : pids) {
    Proc& p = proc(pid);
    if (!p.found) look(p, now);
  }
}

void LuaRecorder::note_process(uint32_t pid, uint64_t now, RecordContext& ctx, const char* comm) {
  Proc& p = proc(pid);
  if (!p.found) {
    if (comm && p.comms.size() < 16 && p.comms.insert(comm).second) {  // a comm not seen yet: an exec?
      p.next_look_ns = 0;
      p.backoff_ns = kFirstRecheckNs;
    }
    if (now < p.next_look_ns) return;
    p.next_look_ns = now + p.backoff_ns;
    p.backoff_ns = std::min(p.backoff_ns * 2, kMaxRecheckNs);
    look(p, now);
  }
  if (p.found && !p.written) {
    p.written = true;
    ctx.writer().add(p.vm.record);
  }
}

void LuaRecorder::look(Proc& p, uint64_t now) {
  uint32_t pid = p.pid;
  auto maps = read_exec_maps(pid);
  if (!maps) return;
  auto vm = find_lua_vm(pid, *maps);
  if (!vm) return;
  p.found = true;
  p.vm = std::move(*vm);
  p.vm.record.time_ns = now;
  if (p.vm.identified) {
    ebt_lua_config c = lua_bpf_config(p.vm);
    if (bpf_map_update_elem(map_fd_, &pid, &c, BPF_ANY) != 0) {
      std::fprintf(stderr, "ebtrace: warning: pid %u: LuaJIT VM found but the BPF map is full (%u processes)\n",
                   pid, EBT_LUA_MAX_PROCS);
      p.vm.identified = false;
      p.vm.why = "too many LuaJIT processes";
    } else {
      p.mem = open(("/proc/" + std::to_string(pid) + "/mem").c_str(), O_RDONLY | O_CLOEXEC);
      vms_++;
    }
  }
  if (!p.vm.identified) {
    static std::set<std::string> said;
    std::string key = p.vm.record.path + " " + hex(p.vm.record.build_id);
    if (said.insert(key).second)
      std::fprintf(stderr,
                   "ebtrace: warning: LuaJIT VM in %s (build-id %s, pid %u) not identified: %s; its samples keep "
                   "native frames only\n",
                   p.vm.record.path.c_str(), hex(p.vm.record.build_id).c_str(), pid, p.vm.why.c_str());
    p.vm.record.source = "unidentified: " + p.vm.why;
  }
}

void LuaRecorder::on_stack_event(const ebt_event_header& h, std::span<const uint8_t> event) {
  auto& pe = pending_[h.tid];
  if (!pe.event.empty()) {
    auto it = procs_.find(h.pid);
    if (it != procs_.end()) it->second->lost++;  // its sample never came
  }
  pe.time_ns = h.time_ns;
  pe.event.assign(event.begin(), event.end());
}

uint32_t LuaRecorder::proto_id(Proc& p, uint64_t addr, uint32_t fp, RecordContext& ctx) {
  auto it = p.protos.find({addr, fp});
  if (it != p.protos.end()) return it->second;
  const LuaLayout& l = p.vm.layout;
  LuaProto r;
  r.pid = p.pid;
  r.address = addr;
  r.id = next_proto_++;
  r.time_ns = monotonic_ns();
  r.fingerprint = fp;
  r.bc_offset = l.pt_size;
  r.gcref_bytes = l.gc64 ? 8 : 4;
  std::vector<uint8_t> h(l.pt_size);
  if (!p.read(addr, h.data(), h.size())) {
    r.read_error = "proto unreadable (process gone or memory unmapped)";
  } else if (h[l.gc_marked + 1] != kGctProto) {
    r.read_error = "not a proto any more (freed before it could be read)";
  } else {
    uint32_t sizept = load<uint32_t>(&h[l.pt_sizept]);
    if (sizept < l.pt_size || sizept > kMaxProtoBytes) {
      r.read_error = "implausible proto size " + std::to_string(sizept);
    } else {
      r.blob.resize(sizept);
      if (!p.read(addr, r.blob.data(), sizept)) {
        r.blob.clear();
        r.read_error = "proto body unreadable";
      }
    }
  }
  if (r.read_error.empty() && fp && lua_proto_fingerprint(r.blob.data() + l.pt_chunkname) != fp) {
    // Another proto lives there now: naming the frame after it would lie.
    r.read_error = "proto at this address changed before it could be read";
    r.blob.clear();
  }
  if (r.read_error.empty()) {
    const uint8_t* b = r.blob.data();
    uint64_t end = addr + r.blob.size();
    auto rel = [&](uint64_t ptr) -> uint32_t { return ptr > addr && ptr < end ? uint32_t(ptr - addr) : 0; };
    r.fingerprint = lua_proto_fingerprint(b + l.pt_chunkname);
    r.size_bc = load<uint32_t>(b + l.pt_sizebc);
    r.num_params = b[l.pt_numparams];
    r.flags = b[l.pt_flags];
    r.first_line = load<uint32_t>(b + l.pt_firstline);
    r.last_line = r.first_line + load<uint32_t>(b + l.pt_numline);
    r.lineinfo_offset = rel(p.ref(b + l.pt_lineinfo));
    r.uvinfo_offset = rel(p.ref(b + l.pt_uvinfo));
    r.varinfo_offset = rel(p.ref(b + l.pt_varinfo));
    uint64_t k = p.ref(b + l.pt_k);
    r.k_offset = rel(k) ? rel(k) : (k == end ? uint32_t(r.blob.size()) : 0);
    r.size_kgc = load<uint32_t>(b + l.pt_sizekgc);
    if (uint64_t(r.size_bc) * 4 + l.pt_size > r.blob.size()) r.read_error = "bytecode size past the proto";
    p.read_str(p.ref(b + l.pt_chunkname), kMaxChunkname, &r.chunk);
    // String constants: GCRefs just below k (kgc index ~i at k - (i+1) refs).
    uint32_t rb = r.gcref_bytes;
    for (uint32_t i = 0; r.k_offset && i < r.size_kgc && i < kMaxConsts; i++) {
      int64_t at = int64_t(r.k_offset) - int64_t(i + 1) * rb;
      if (at < int64_t(l.pt_size)) break;
      uint64_t obj = p.ref(b + at);
      std::string s;
      if (obj && p.read_str(obj, kMaxConstText, &s)) r.kgc_strings.push_back({i, std::move(s)});
    }
  }
  if (!r.read_error.empty()) p.proto_errors++;
  p.nprotos++;
  protos_++;
  p.protos[{addr, fp}] = r.id;
  ctx.writer().add(r);
  return r.id;
}

uint32_t LuaRecorder::trace_id(Proc& p, uint64_t g, uint32_t traceno, uint64_t now, RecordContext& ctx) {
  const LuaLayout& l = p.vm.layout;
  auto& e = p.traces[traceno];
  if (e.id && now - e.read_ns < kTraceRereadNs) return e.id;
  uint64_t arr = 0, tr = 0;
  if (!l.g_jtrace || !p.read_ref(g + l.g_jtrace, &arr) || !arr ||
      !p.read_ref(arr + uint64_t(traceno) * (l.gc64 ? 8 : 4), &tr) || !tr)
    return e.id;
  std::vector<uint8_t> h(l.tr_root + 2u);
  if (!p.read(tr, h.data(), h.size())) return e.id;
  uint64_t startpt = p.ref(&h[l.tr_startpt]), startpc = p.ref(&h[l.tr_startpc]);
  uint64_t mcode = load<uint64_t>(&h[l.tr_mcode]);
  e.read_ns = now;
  if (e.id && e.tr == tr && e.startpt == startpt && e.startpc == startpc && e.mcode == mcode) return e.id;
  LuaTrace t;
  t.id = next_trace_++;
  t.pid = p.pid;
  t.time_ns = now;
  t.trace_no = traceno;
  t.start_pc = startpc;
  t.mcode = mcode;
  t.mcode_size = load<uint32_t>(&h[l.tr_szmcode]);
  t.root = load<uint16_t>(&h[l.tr_root]);
  uint8_t fph[16];
  if (startpt && p.read(startpt + l.pt_chunkname, fph, sizeof fph))
    t.start_proto_id = proto_id(p, startpt, lua_proto_fingerprint(fph), ctx);
  e = {tr, startpt, startpc, mcode, now, t.id};
  p.ntraces++;
  traces_++;
  ctx.writer().add(t);
  return t.id;
}

// The VM's C frames in the stack copy, innermost first: L->cframe, then each
// one's SAVE_CFRAME; a coroutine's outermost one (vm_resume: no previous) whose
// return address goes back into the interpreter was entered by
// coroutine.resume from Lua, and its resumer's C frame lies right above it.
// False when the innermost one is not in the copy.
bool LuaRecorder::vm_frames(const Proc& p, uint64_t cframe, const StackCopy& copy, unwind::VmFrames* vm) {
  const LuaLayout& l = p.vm.layout;
  vm->interp_start = p.vm.record.interp_start;
  vm->interp_end = p.vm.record.interp_end;
  vm->cframe_size = l.cf_size;
  auto word = [&](uint64_t addr, uint64_t* v) {
    if (addr < copy.sp || addr - copy.sp > copy.bytes.size() || copy.bytes.size() - (addr - copy.sp) < 8) return false;
    std::memcpy(v, copy.bytes.data() + (addr - copy.sp), 8);
    return true;
  };
  uint64_t cf = cframe & ~uint64_t{3};
  for (int guard = 0; cf && guard < 64; guard++) {
    uint64_t prev = 0, ra = 0;
    if (!vm->cframes.empty() && cf <= vm->cframes.back()) break;  // the chain goes outwards, else it is stale
    if (!word(cf + l.cf_size - 8, &ra) || !word(cf + l.cf_prev, &prev)) break;
    vm->cframes.push_back(cf);
    prev &= ~uint64_t{3};
    if (!prev && ra > vm->interp_start && ra <= vm->interp_end) prev = cf + l.cf_size;
    cf = prev;
  }
  return !vm->cframes.empty();
}

uint32_t LuaRecorder::take(const ebt_event_header& h, RecordContext& ctx, bool offcpu, const StackCopy* copy,
                           unwind::VmFrames* vm) {
  if (vm) vm->cframes.clear();
  auto it = pending_.find(h.tid);
  if (it == pending_.end() || it->second.event.empty()) return 0;
  Pending pe = std::move(it->second);
  it->second.event.clear();
  auto pit = procs_.find(h.pid);
  if (pit == procs_.end() || !pit->second->vm.identified) return 0;
  Proc& p = *pit->second;
  if (pe.time_ns != h.time_ns) {
    p.lost++;
    return 0;
  }
  ebt_lua_stack s;
  if (pe.event.size() < sizeof s) return 0;
  std::memcpy(&s, pe.event.data(), sizeof s);
  if (s.nframes > EBT_LUA_MAX_FRAMES || sizeof s + s.nframes * sizeof(ebt_lua_frame) > pe.event.size()) return 0;
  LuaStack st;
  st.vmstate = s.vmstate;
  st.flags = s.flags & ~uint32_t{EBT_LUA_F_CFRAME_NO_FRAME};
  if (copy && vm && vm_frames(p, s.cframe, *copy, vm) && s.vmstate <= -4 && s.vmstate >= -7) {
    // The JIT's trace exit and trace compiler run in lj_vm_cpcall's C frame
    // without a Lua frame; its SAVE_NRES is negative ("cframe w/o frame").
    // (lua_cpcall's is too, but runs a C function, never JIT work.)
    int32_t nres = 0;
    uint64_t at = vm->cframes.front() + p.vm.layout.cf_nres;
    if (p.vm.layout.cf_nres && at - copy->sp + 4 <= copy->bytes.size()) {
      std::memcpy(&nres, copy->bytes.data() + (at - copy->sp), 4);
      if (nres < 0) st.flags |= EBT_LUA_F_CFRAME_NO_FRAME;
    }
  }
  st.frames.reserve(s.nframes);
  for (uint32_t i = 0; i < s.nframes; i++) {
    ebt_lua_frame f;
    std::memcpy(&f, pe.event.data() + sizeof s + i * sizeof f, sizeof f);
    LuaFrame o;
    o.address = f.obj;
    o.link_type = f.link_type;
    o.resumed = f.flags & EBT_LUA_FRAME_F_RESUMED;
    switch (f.kind) {
      case EBT_LUA_FRAME_LUA:
        o.kind = LuaFrameKind::kLua;
        o.pc = f.pc;
        o.proto_id = proto_id(p, f.obj, f.fp, ctx);
        break;
      case EBT_LUA_FRAME_C: o.kind = LuaFrameKind::kC; break;
      default: o.kind = LuaFrameKind::kFast; break;
    }
    st.frames.push_back(o);
  }
  if ((st.flags & EBT_LUA_F_CFRAME_NO_FRAME) && s.vmstate <= -5 && vm->cframes.size() >= 2 && !st.frames.empty() &&
      st.frames[0].kind == LuaFrameKind::kLua) {
    // The trace compiler runs from the interpreter's hot-loop and instruction
    // hooks, which saved the current PC in the activation's C frame (the
    // compiler's own holds none).
    uint64_t at = vm->cframes[1] + p.vm.layout.cf_pc, pc = 0;
    size_t n = p.vm.layout.gc64 ? 8 : 4;
    if (at >= copy->sp && at - copy->sp + n <= copy->bytes.size()) {
      std::memcpy(&pc, copy->bytes.data() + (at - copy->sp), n);
      st.frames[0].pc = pc;
    }
  }
  if (s.vmstate >= 0) st.trace_id = trace_id(p, s.g, uint32_t(s.vmstate), monotonic_ns(), ctx);
  if (s.flags & EBT_LUA_F_BAD) p.bad++;
  if (s.flags & EBT_LUA_F_TRUNCATED) p.truncated++;
  if (offcpu) {
    offcpu_stacks_++;
  } else {
    p.lua_samples++;
    lua_samples_++;
  }

  std::string k;
  k.reserve(16 + st.frames.size() * 24);
  auto put = [&](const void* v, size_t n) { k.append(static_cast<const char*>(v), n); };
  put(&st.vmstate, 4);
  put(&st.trace_id, 4);
  put(&st.flags, 4);
  for (const auto& f : st.frames) {
    uint64_t a = f.kind == LuaFrameKind::kLua ? f.proto_id : f.address;
    uint8_t kb[3] = {uint8_t(f.kind), f.link_type, uint8_t(f.resumed)};
    put(kb, 3);
    put(&a, 8);
    put(&f.pc, 8);
  }
  auto [sit, fresh] = stacks_.try_emplace(std::move(k), next_stack_);
  if (fresh) {
    st.id = next_stack_++;
    ctx.writer().add(st);
  }
  return sit->second;
}

void LuaRecorder::forget(uint32_t pid) {
  auto it = procs_.find(pid);
  if (it == procs_.end()) return;
  bpf_map_delete_elem(map_fd_, &pid);
}

void LuaRecorder::finish(RecordContext& ctx) {
  if (finished_) return;
  finished_ = true;
  for (auto& [pid, p] : procs_) {
    if (!p->found || !p->written || !p->vm.identified) continue;
    LuaVm r = p->vm.record;
    r.final = true;
    r.ff_names.clear();  // the first record has them
    r.bc_names.clear();
    r.time_ns = monotonic_ns();
    ebt_lua_config c{};
    uint32_t key = pid;
    if (bpf_map_lookup_elem(map_fd_, &key, &c) == 0) {
      r.samples = c.samples;
      r.no_state = c.no_g;
      r.idle_samples = c.idle;
    }
    r.lua_samples = p->lua_samples;
    r.bad_walks = p->bad;
    r.truncated_walks = p->truncated;
    r.lost_stacks = p->lost;
    r.protos = p->nprotos;
    r.proto_read_errors = p->proto_errors;
    r.traces = p->ntraces;
    ctx.writer().add(r);
  }
}

std::string LuaRecorder::summary_once() {
  if (summarized_) return {};
  summarized_ = true;
  return summary();
}

std::string LuaRecorder::summary() const {
  if (!vms_) return "lua: no LuaJIT VM identified";
  uint64_t bad = 0;
  for (const auto& [pid, p] : procs_) bad += p->bad;
  std::string off = offcpu_ ? ", " + std::to_string(offcpu_stacks_) + " off-CPU intervals" : "";
  return "lua: " + std::to_string(lua_samples_) + " samples" + off + " with Lua stacks in " + std::to_string(vms_) +
         " VM(s), " + std::to_string(protos_) + " protos, " + std::to_string(traces_) + " traces, " +
         std::to_string(bad) + " inconsistent walks";
}

}  // namespace ebt::record
