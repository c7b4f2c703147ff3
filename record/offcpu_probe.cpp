#include "record/offcpu_probe.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "common/error.h"
#include "format/writer.h"
#include "offcpu.skel.h"
#include "record/bpf_util.h"
#include "record/dwarf_unwinder.h"
#include "record/leaf_repair.h"
#include "record/lua_recorder.h"
#include "record/proc_reader.h"

namespace ebt::record {
namespace {

// Kernel stacks start inside the tracing machinery (the BPF program,
// bpf_trace_run*, __traceiter_* when several probes share the tracepoint): how
// many frames that is varies, so user space cuts each stack at the first frame
// inside the function that fired the tracepoint, found once in kallsyms.
struct TextRange {
  uint64_t start = 0, end = 0;
  bool contains(uint64_t a) const { return a >= start && a < end; }
};

// Address ranges of the named kernel functions (end = next symbol); empty
// ranges when kallsyms hides addresses.
std::vector<TextRange> kernel_ranges(const std::vector<std::string>& names) {
  std::vector<TextRange> out(names.size());
  std::FILE* f = std::fopen("/proc/kallsyms", "r");
  if (!f) return out;
  std::vector<uint64_t> addrs;
  addrs.reserve(200000);
  char line[512];
  while (std::fgets(line, sizeof line, f)) {
    char* end = nullptr;
    uint64_t a = std::strtoull(line, &end, 16);
    if (a == 0 || !end) continue;
    addrs.push_back(a);
    char type = 0;
    char name[256];
    if (std::sscanf(end, " %c %255s", &type, name) != 2) continue;
    for (size_t i = 0; i < names.size(); i++)
      if (out[i].start == 0 && names[i] == name && (type == 't' || type == 'T')) out[i].start = a;
  }
  std::fclose(f);
  for (auto& r : out) {
    if (r.start == 0) continue;
    uint64_t next = UINT64_MAX;
    for (uint64_t a : addrs)
      if (a > r.start && a < next) next = a;
    r.end = next;
  }
  return out;
}

// Drops the frames before the first one inside `r` (all kept if none is).
size_t frames_to_skip(const uint64_t* frames, size_t n, const TextRange& r) {
  if (r.start == 0) return 0;
  for (size_t i = 0; i < n && i < 16; i++)
    if (r.contains(frames[i])) return i;
  return 0;
}

// --call-graph dwarf: threads whose switch-out stack copy can be held at once
// (a preallocated 20 KiB each: 40 MiB, as much again for waker stacks).
constexpr uint32_t kDwarfThreads = 2048;

// Must match enum offcpu_stat in bpf/offcpu.bpf.c.
enum { kStatEmitted = 0, kStatShort = 1, kStatShortNs = 2, kStatMax = 4 };

TaskState task_state(uint32_t s) {
  switch (s) {
    case EBT_OFFCPU_PREEMPTED: return TaskState::kRunning;
    case EBT_OFFCPU_SLEEPING: return TaskState::kInterruptible;
    case EBT_OFFCPU_UNINTERRUPTIBLE: return TaskState::kUninterruptible;
    default: return TaskState::kOther;
  }
}

class OffCpuProbe : public Probe {
 public:
  explicit OffCpuProbe(const RecordOptions& o)
      : min_ns_(o.off_cpu_min_us * 1000), waker_stacks_(o.off_cpu_waker), max_tasks_(o.off_cpu_tasks),
        dwarf_(o.call_graph_dwarf), ustack_bytes_(o.call_graph_dwarf ? o.dwarf_stack_bytes : o.leaf_stack_bytes),
        repair_(unwinder_), want_lua_(o.lua), pids_(o.pids) {}
  ~OffCpuProbe() override {
    detach();
    offcpu_bpf__destroy(skel_);
  }

  std::string name() const override { return "offcpu"; }
  // --lua: the Lua stack of an interval comes just before it (with on-CPU
  // sampling the dwarf family sends that kind too: one shared LuaRecorder takes
  // both, whichever family the core hands them to).
  void start(RecordContext& ctx, std::span<const uint32_t> attached_pids) override {
    if (lua_)
      for (uint32_t pid : attached_pids) lua_->note_process(pid, monotonic_ns(), ctx);
  }
  std::vector<uint16_t> event_kinds() const override {
    if (want_lua_) return {EBT_EV_OFFCPU, EBT_EV_LUA_STACK};
    return {EBT_EV_OFFCPU};
  }

  void load(const SharedMaps& maps, const TargetFilter& filter) override {
    // tp_btf first (no trace-event record built per switch, task fields read
    // as plain loads); the classic tracepoint when this kernel refuses it.
    // EBTRACE_OFFCPU_TRACEPOINT=1 forces the fallback (tests cover both paths).
    std::string btf_error = "disabled by EBTRACE_OFFCPU_TRACEPOINT=1";
    const char* force = std::getenv("EBTRACE_OFFCPU_TRACEPOINT");
    if (!(force && std::string(force) == "1")) {
      try {
        open_and_load(maps, filter, /*btf=*/true);
        btf_ = true;
        return;
      } catch (const RuntimeFailure& e) {
        btf_error = e.what();
        offcpu_bpf__destroy(skel_);
        skel_ = nullptr;
      }
    }
    try {
      open_and_load(maps, filter, /*btf=*/false);
      btf_ = false;
      std::fprintf(stderr,
                   "ebtrace: off-cpu: BTF tracepoints (tp_btf) unavailable (%s); using the sched "
                   "tracepoints (slightly more overhead)\n",
                   btf_error.c_str());
    } catch (const RuntimeFailure& e) {
      throw RuntimeFailure(std::string(e.what()) + " (tp_btf attempt: " + btf_error + ")");
    }
  }

  void attach() override {
    bpf_program* progs[2] = {btf_ ? skel_->progs.ebt_offcpu_switch_btf : skel_->progs.ebt_offcpu_switch_tp,
                             btf_ ? skel_->progs.ebt_offcpu_waking_btf : skel_->progs.ebt_offcpu_waking_tp};
    // sched_waking before sched_switch: an interval never misses its waker
    // because the switch-out hook ran first.
    for (bpf_program* p : {progs[1], progs[0]}) links_.attach("off-cpu", p);
  }

  void detach() override { links_.detach(); }

  void handle(const ebt_event_header& h, std::span<const uint8_t> event, RecordContext& ctx) override {
    if (h.kind == EBT_EV_LUA_STACK) {
      if (lua_) lua_->on_stack_event(h, event);  // its interval follows
      return;
    }
    if (event.size() < sizeof(ebt_offcpu_event)) {
      malformed_++;
      return;
    }
    ebt_offcpu_event e;
    std::memcpy(&e, event.data(), sizeof e);
    uint64_t nk = e.kernel_frames, nu = e.user_frames, wk = e.waker_kernel_frames,
             wu = e.waker_user_frames;
    uint64_t n = nk + nu + wk + wu;
    if (nk > EBT_MAX_STACK_DEPTH || nu > EBT_MAX_STACK_DEPTH || wk > EBT_MAX_STACK_DEPTH ||
        wu > EBT_MAX_STACK_DEPTH || e.stack_size > EBT_OFFCPU_MAX_STACK ||
        e.waker_stack_size > EBT_OFFCPU_MAX_STACK ||
        sizeof e + n * 8 + e.stack_size + e.waker_stack_size > event.size() || e.start_ns > h.time_ns) {
      malformed_++;
      return;
    }
    // --lua: a process's VM is looked for at its first events (switch-outs
    // before that have native frames only).
    uint32_t lua_stack = 0;
    vm_frames_.cframes.clear();
    if (lua_) {
      char c[EBT_TASK_COMM_LEN + 1] = {};
      std::memcpy(c, e.comm, EBT_TASK_COMM_LEN);
      lua_->note_process(h.pid, monotonic_ns(), ctx, c);
      // The walker follows the VM's C frames in the stack copy (dwarf only).
      LuaRecorder::StackCopy copy{e.sp, {event.data() + sizeof e + n * 8, e.stack_size}};
      if (ctx.tid_wanted(h.tid))
        lua_stack = lua_->take(h, ctx, /*offcpu=*/true, dwarf_ && e.ip ? &copy : nullptr, &vm_frames_);
    }
    if (!ctx.tid_wanted(h.tid)) return;
    std::vector<uint64_t> frames(n);
    if (n) std::memcpy(frames.data(), event.data() + sizeof e, n * 8);
    const uint64_t* f = frames.data();
    size_t ks = frames_to_skip(f, nk, switch_fn_);
    size_t wks = frames_to_skip(f + nk + nu, wk, waking_fn_);
    char comm[EBT_TASK_COMM_LEN + 1] = {};
    std::memcpy(comm, e.comm, EBT_TASK_COMM_LEN);
    ctx.note_task(h.pid, h.tid, comm, h.time_ns);

    OffCpuInterval out;
    out.start_ns = e.start_ns;
    out.duration_ns = h.time_ns - e.start_ns;
    out.pid = h.pid;
    out.tid = h.tid;
    out.cpu = h.cpu;
    const uint8_t* bytes = event.data() + sizeof e + n * 8;
    out.stack_id = ctx.intern_stack(
        h.pid, {f + ks, nk - ks},
        user_stack({h.pid, h.tid, e.mm_start_stack, e.ip, e.sp, e.bp, &vm_frames_}, {bytes, e.stack_size},
                   {f + nk, nu}, &user_));
    out.state = task_state(e.state);
    out.waker_pid = e.waker_pid;
    out.waker_tid = e.waker_tid;
    out.wakeup_ns = e.wakeup_ns;
    out.lua_stack_id = lua_stack;
    if (wk + wu || e.waker_ip) {
      UnwindInput w{e.waker_pid, e.waker_tid, e.waker_mm_start_stack, e.waker_ip, e.waker_sp, e.waker_bp};
      out.waker_stack_id = ctx.intern_stack(
          e.waker_pid, {f + nk + nu + wks, wk - wks},
          user_stack(w, {bytes + e.stack_size, e.waker_stack_size}, {f + nk + nu + wk, wu}, &waker_user_));
    }
    ctx.writer().add(out);
    intervals_++;
    total_ns_ += out.duration_ns;
  }

  void finish(RecordContext& ctx) override {
    if (lua_) lua_->finish(ctx);
    if (!skel_) return;
    int ncpu = libbpf_num_possible_cpus();
    if (ncpu <= 0) return;
    std::vector<uint64_t> v(ncpu);
    for (uint32_t k = 0; k < kStatMax; k++) {
      if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.offcpu_stats), &k, v.data()) != 0) continue;
      uint64_t sum = 0;
      for (uint64_t x : v) sum += x;
      stats_[k] = sum;
    }
  }

  // The user part of a stack: the frame-pointer chain as recorded, repaired
  // (fp with leaf repair), or unwound from the stack copy (--call-graph dwarf).
  std::span<const uint64_t> user_stack(const UnwindInput& in, std::span<const uint8_t> bytes,
                                       std::span<const uint64_t> fp, std::vector<uint64_t>* out) {
    out->clear();
    if (in.ip == 0 || in.pid == 0) return fp;
    if (dwarf_) {
      unwinder_.unwind(in, bytes, out, EBT_MAX_STACK_DEPTH);
      return *out;
    }
    if (bytes.empty()) return fp;
    repair_.repair(in, bytes, fp, out, EBT_MAX_STACK_DEPTH);
    return *out;
  }

  const LeafRepairStats* leaf_repair_stats() const override {
    return !dwarf_ && ustack_bytes_ ? &repair_.stats() : nullptr;
  }

  std::string summary() const override {
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  "%llu off-CPU intervals (%.1f ms), %llu shorter than --off-cpu-min not kept (%.1f ms)",
                  static_cast<unsigned long long>(intervals_), total_ns_ / 1e6,
                  static_cast<unsigned long long>(stats_[kStatShort]), stats_[kStatShortNs] / 1e6);
    std::string s = buf;
    if (malformed_) s += ", " + std::to_string(malformed_) + " malformed";
    if (dwarf_) {
      const UnwindStats& st = unwinder_.stats();
      s += "; dwarf: " + std::to_string(st.to_end) + "/" + std::to_string(st.samples) +
           " user stacks unwound to the end";
    } else if (ustack_bytes_) {
      s += "; " + repair_.stats().describe();
    }
    if (lua_) {
      std::string lua = lua_->summary_once();  // unless the dwarf family said it
      if (!lua.empty()) s += "; " + lua;
    }
    return s;
  }

 private:
  void open_and_load(const SharedMaps& maps, const TargetFilter& filter, bool btf) {
    if (switch_fn_.start == 0 && waking_fn_.start == 0) {
      auto r = kernel_ranges({"__schedule", "try_to_wake_up"});
      switch_fn_ = r[0];
      waking_fn_ = r[1];
    }
    skel_ = offcpu_bpf__open();
    if (!skel_) throw RuntimeFailure("off-cpu: cannot open the BPF object: " + std::string(strerror(errno)));
    reuse_shared_maps(skel_->obj, maps);
    set_bpf_filter(skel_->rodata->ebt_filter, filter);
    skel_->rodata->min_ns = min_ns_;
    skel_->rodata->waker_stacks = waker_stacks_ ? 1 : 0;
    skel_->rodata->kstack_skip = 0;  // trimmed in user space, see kernel_ranges()
    skel_->rodata->ustack_bytes = ustack_bytes_;
    skel_->rodata->dwarf = dwarf_ ? 1 : 0;
    int ncpu = libbpf_num_possible_cpus();
    if (ncpu <= 0) throw RuntimeFailure("off-cpu: cannot count the possible CPUs");
    bpf_map__set_max_entries(skel_->maps.offcpu_scratch, uint32_t(ncpu));
    // Preallocated (bpf/offcpu.bpf.c): 20 KiB per thread, so fewer threads than the task table.
    const uint32_t dwarf_threads = std::min(max_tasks_, kDwarfThreads);
    bpf_map__set_max_entries(skel_->maps.offcpu_dwarf, dwarf_ ? dwarf_threads : 1);
    bpf_map__set_max_entries(skel_->maps.offcpu_waker_dwarf, dwarf_ && waker_stacks_ ? dwarf_threads : 1);
    bpf_program__set_autoload(skel_->progs.ebt_offcpu_switch_btf, btf);
    bpf_program__set_autoload(skel_->progs.ebt_offcpu_waking_btf, btf);
    bpf_program__set_autoload(skel_->progs.ebt_offcpu_switch_tp, !btf);
    bpf_program__set_autoload(skel_->progs.ebt_offcpu_waking_tp, !btf);
    bpf_map__set_max_entries(skel_->maps.offcpu_tasks, max_tasks_);
    bpf_map__set_max_entries(skel_->maps.offcpu_wakers, waker_stacks_ ? max_tasks_ : 1);
    bpf_map__set_max_entries(skel_->maps.offcpu_lua, want_lua_ ? max_tasks_ : 1);
    skel_->rodata->lua_enabled = want_lua_ ? 1 : 0;
    if (want_lua_) {
      if (!lua_) {
        lua_ = LuaRecorder::shared();
        lua_->expect_offcpu();
      }
      lua_->use_map(skel_->obj);
      lua_->prime(pids_);  // -p processes: identified before the first switch
    }
    bpf_call_or_throw("off-cpu", std::string("loading the BPF programs (") +
                                     (btf ? "tp_btf/sched_switch" : "tracepoint/sched/sched_switch") + ")",
                      [&] { return offcpu_bpf__load(skel_); });
  }

  TextRange switch_fn_, waking_fn_;  // where sched_switch / sched_waking fire
  uint64_t min_ns_;
  bool waker_stacks_;
  uint32_t max_tasks_;
  bool dwarf_;
  uint32_t ustack_bytes_;
  DwarfUnwinder unwinder_;
  unwind::VmFrames vm_frames_;  // --lua: the interval's VM C frames (empty: none)
  LeafRepair repair_;
  std::vector<uint64_t> user_, waker_user_;
  bool want_lua_;
  std::shared_ptr<LuaRecorder> lua_;
  std::vector<uint32_t> pids_;  // -p
  bool btf_ = true;
  offcpu_bpf* skel_ = nullptr;
  ProgramLinks links_;
  uint64_t intervals_ = 0;
  uint64_t total_ns_ = 0;
  uint64_t malformed_ = 0;
  uint64_t stats_[kStatMax] = {};
};

}  // namespace

std::unique_ptr<Probe> make_offcpu_probe(const RecordOptions& options) {
  return std::make_unique<OffCpuProbe>(options);
}

}  // namespace ebt::record
