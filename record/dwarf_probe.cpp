#include "record/dwarf_probe.h"

#include <unistd.h>

#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>
#include <map>

#include "common/error.h"
#include "format/writer.h"
#include "profile_dwarf.skel.h"
#include "record/bpf_util.h"
#include "record/dwarf_unwinder.h"
#include "record/lua_recorder.h"
#include "record/proc_reader.h"

namespace ebt::record {
namespace {

// A sample whose turn comes later than this after it was taken is skipped
// (counted as lost to the unwinder): unwinding never lets the ring buffer fill.
constexpr uint64_t kMaxLagNs = 500'000'000;

class DwarfProfileProbe : public Probe {
 public:
  explicit DwarfProfileProbe(const RecordOptions& o)
      : freq_(o.frequency_hz), idle_(o.idle), stack_bytes_(o.dwarf_stack_bytes), keep_(o.keep_stack_bytes),
        want_lua_(o.lua), pids_(o.pids) {}
  ~DwarfProfileProbe() override {
    detach();
    profile_dwarf_bpf__destroy(skel_);
  }

  std::string name() const override { return "profile-dwarf"; }
  void start(RecordContext& ctx, std::span<const uint32_t> attached_pids) override {
    if (lua_)
      for (uint32_t pid : attached_pids) lua_->note_process(pid, monotonic_ns(), ctx);
  }
  std::vector<uint16_t> event_kinds() const override { return {EBT_EV_CPU_SAMPLE_DWARF, EBT_EV_LUA_STACK}; }

  void load(const SharedMaps& maps, const TargetFilter& filter) override {
    skel_ = profile_dwarf_bpf__open();
    if (!skel_) throw RuntimeFailure("profile-dwarf: cannot open the BPF object: " + std::string(strerror(errno)));
    reuse_shared_maps(skel_->obj, maps);
    set_bpf_filter(skel_->rodata->ebt_filter, filter);
    skel_->rodata->include_idle = idle_ ? 1 : 0;
    skel_->rodata->stack_bytes = stack_bytes_;
    skel_->rodata->lua_enabled = want_lua_ ? 1 : 0;
    if (want_lua_) {
      lua_ = LuaRecorder::shared();
      lua_->use_map(skel_->obj);
      lua_->prime(pids_);  // -p processes: identified before the first sample
    }
    int ncpu = libbpf_num_possible_cpus();
    if (ncpu <= 0) throw RuntimeFailure("profile-dwarf: cannot count the possible CPUs");
    bpf_map__set_max_entries(skel_->maps.dwarf_scratch, uint32_t(ncpu));
    bpf_call_or_throw("profile-dwarf", "loading the BPF program", [&] { return profile_dwarf_bpf__load(skel_); });
  }

  void attach() override { sampling_.attach("profile-dwarf", skel_->progs.ebt_profile_dwarf, freq_); }

  void detach() override { sampling_.detach(); }

  void handle(const ebt_event_header& h, std::span<const uint8_t> event, RecordContext& ctx) override {
    if (h.kind == EBT_EV_LUA_STACK) {
      if (lua_) lua_->on_stack_event(h, event);  // its sample follows
      return;
    }
    if (event.size() < sizeof(ebt_cpu_sample_dwarf)) return;
    ebt_cpu_sample_dwarf s;
    std::memcpy(&s, event.data(), sizeof s);
    if (s.kernel_frames > EBT_MAX_STACK_DEPTH + 1 || s.stack_size > EBT_DWARF_MAX_STACK ||
        sizeof s + uint64_t(s.kernel_frames) * 8 + s.stack_size > event.size())
      return;
    uint64_t now = monotonic_ns();
    bool has_user = h.flags & EBT_DWARF_F_USER_REGS;
    std::span<const uint8_t> stack(event.data() + sizeof s + s.kernel_frames * 8ull, has_user ? s.stack_size : 0);
    // --lua: the walk starts once the process's VM is known (first samples: native only).
    uint32_t lua_stack = 0;
    vm_frames_.cframes.clear();
    if (lua_) {
      char c[EBT_TASK_COMM_LEN + 1] = {};
      std::memcpy(c, s.comm, EBT_TASK_COMM_LEN);
      lua_->note_process(h.pid, now, ctx, c);
      LuaRecorder::StackCopy copy{s.sp, stack};
      if (ctx.tid_wanted(h.tid)) lua_stack = lua_->take(h, ctx, false, has_user ? &copy : nullptr, &vm_frames_);
    }
    if (!ctx.tid_wanted(h.tid)) return;
    if (!keep_ && now > h.time_ns && now - h.time_ns > kMaxLagNs) {
      lost_++;  // the unwinder is behind: skip, never let the ring fill
      ctx.count_lost(h.cpu, LossSource::kUnwind);
      return;
    }
    char comm[EBT_TASK_COMM_LEN + 1] = {};
    std::memcpy(comm, s.comm, EBT_TASK_COMM_LEN);
    ctx.note_task(h.pid, h.tid, comm, h.time_ns);

    kernel_.resize(s.kernel_frames);
    if (s.kernel_frames) std::memcpy(kernel_.data(), event.data() + sizeof s, s.kernel_frames * 8ull);
    samples_++;
    if (keep_) return keep_snapshot(h, s, has_user, stack, lua_stack, ctx);

    user_.clear();
    if (has_user)
      unwinder_.unwind({h.pid, h.tid, s.mm_start_stack, s.ip, s.sp, s.bp, &vm_frames_}, stack, &user_,
                       EBT_MAX_STACK_DEPTH);
    CpuSample out;
    out.time_ns = h.time_ns;
    out.pid = h.pid;
    out.tid = h.tid;
    out.cpu = h.cpu;
    out.stack_id = ctx.intern_stack(h.pid, kernel_, user_);
    out.lua_stack_id = lua_stack;
    ctx.writer().add(out);
  }

  // --keep-stack-bytes: no unwinding here; the raw stack goes to the capture.
  void keep_snapshot(const ebt_event_header& h, const ebt_cpu_sample_dwarf& s, bool has_user,
                     std::span<const uint8_t> stack, uint32_t lua_stack, RecordContext& ctx) {
    StackSnapshot& out = snapshot_;  // reused: its stack buffer stays allocated
    out.time_ns = h.time_ns;
    out.pid = h.pid;
    out.tid = h.tid;
    out.cpu = h.cpu;
    out.kernel_stack_id = ctx.intern_stack(h.pid, kernel_, {});
    out.ip = has_user ? s.ip : 0;
    out.sp = has_user ? s.sp : 0;
    out.bp = has_user ? s.bp : 0;
    out.stack.assign(stack.begin(), stack.end());
    out.lua_stack_id = lua_stack;
    if (has_user) ctx.note_stack_snapshot(h.pid, s.ip, stack);
    ctx.writer().add(out);
  }

  void finish(RecordContext& ctx) override {
    if (lua_) lua_->finish(ctx);
  }

  uint64_t samples() const override { return samples_; }

  std::string summary() const override {
    std::string lua = lua_ ? lua_->summary_once() : "";
    if (!lua.empty()) lua = "; " + lua;
    if (keep_) return "dwarf: raw user stacks kept for offline unwinding" + lua;
    uint64_t lost = lost_;
    const UnwindStats& st = unwinder_.stats();
    std::string s = "dwarf: " + std::to_string(st.to_end) + "/" + std::to_string(st.samples) +
                    " user stacks unwound to the end";
    if (lost) s += ", " + std::to_string(lost) + " not unwound in time (lost)";
    return s + lua;
  }

 private:
  uint32_t freq_;
  bool idle_;
  uint32_t stack_bytes_;
  bool keep_;
  bool want_lua_;
  std::vector<uint32_t> pids_;  // -p
  std::shared_ptr<LuaRecorder> lua_;
  profile_dwarf_bpf* skel_ = nullptr;
  CpuClockAttachment sampling_;
  uint64_t samples_ = 0;
  uint64_t lost_ = 0;  // samples skipped (unwinder behind), also counted as lost in the context
  DwarfUnwinder unwinder_;
  std::vector<uint64_t> kernel_, user_;
  unwind::VmFrames vm_frames_;  // --lua: the sample's VM C frames (empty: none)
  StackSnapshot snapshot_;
};

}  // namespace

std::unique_ptr<Probe> make_dwarf_profile_probe(const RecordOptions& options) {
  return std::make_unique<DwarfProfileProbe>(options);
}

}  // namespace ebt::record
