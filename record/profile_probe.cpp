#include "record/profile_probe.h"

#include <unistd.h>

#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>

#include "common/error.h"
#include "format/writer.h"
#include "profile.skel.h"
#include "record/bpf_util.h"
#include "record/dwarf_unwinder.h"
#include "record/leaf_repair.h"

namespace ebt::record {
namespace {

class ProfileProbe : public Probe {
 public:
  explicit ProfileProbe(const RecordOptions& o)
      : freq_(o.frequency_hz), idle_(o.idle), leaf_bytes_(o.leaf_stack_bytes), repair_(unwinder_) {}
  ~ProfileProbe() override {
    detach();
    profile_bpf__destroy(skel_);
  }

  std::string name() const override { return "profile"; }
  std::vector<uint16_t> event_kinds() const override { return {EBT_EV_CPU_SAMPLE}; }

  void load(const SharedMaps& maps, const TargetFilter& filter) override {
    skel_ = profile_bpf__open();
    if (!skel_) throw RuntimeFailure("profile: cannot open the BPF object: " + std::string(strerror(errno)));
    reuse_shared_maps(skel_->obj, maps);
    set_bpf_filter(skel_->rodata->ebt_filter, filter);
    skel_->rodata->include_idle = idle_ ? 1 : 0;
    skel_->rodata->leaf_bytes = leaf_bytes_;
    bpf_call_or_throw("profile", "loading the BPF program", [&] { return profile_bpf__load(skel_); });
  }

  void attach() override { sampling_.attach("profile", skel_->progs.ebt_profile, freq_); }

  void detach() override { sampling_.detach(); }

  void handle(const ebt_event_header& h, std::span<const uint8_t> event, RecordContext& ctx) override {
    if (event.size() < sizeof(ebt_cpu_sample)) return;
    ebt_cpu_sample s;
    std::memcpy(&s, event.data(), sizeof s);
    uint64_t n = uint64_t(s.kernel_frames) + s.user_frames;
    if (n > 2 * (EBT_MAX_STACK_DEPTH + 1) || s.stack_size > EBT_LEAF_MAX_STACK ||
        sizeof s + n * 8 + s.stack_size > event.size())
      return;
    if (!ctx.tid_wanted(h.tid)) return;
    const auto* frames = reinterpret_cast<const uint64_t*>(event.data() + sizeof s);
    char comm[EBT_TASK_COMM_LEN + 1] = {};
    std::memcpy(comm, s.comm, EBT_TASK_COMM_LEN);
    ctx.note_task(h.pid, h.tid, comm, h.time_ns);
    CpuSample out;
    out.time_ns = h.time_ns;
    out.pid = h.pid;
    out.tid = h.tid;
    out.cpu = h.cpu;
    std::span<const uint64_t> user(frames + s.kernel_frames, s.user_frames);
    if (h.flags & EBT_DWARF_F_USER_REGS) {
      std::span<const uint8_t> stack(event.data() + sizeof s + n * 8, s.stack_size);
      user_.clear();
      repair_.repair({h.pid, h.tid, s.mm_start_stack, s.ip, s.sp, s.bp}, stack, user, &user_, EBT_MAX_STACK_DEPTH);
      user = user_;
    }
    out.stack_id = ctx.intern_stack(h.pid, {frames, s.kernel_frames}, user);
    ctx.writer().add(out);
    samples_++;
  }

  uint64_t samples() const override { return samples_; }

  std::string summary() const override { return leaf_bytes_ ? repair_.stats().describe() : std::string(); }
  const LeafRepairStats* leaf_repair_stats() const override { return leaf_bytes_ ? &repair_.stats() : nullptr; }

 private:
  uint32_t freq_;
  bool idle_;
  uint32_t leaf_bytes_;
  DwarfUnwinder unwinder_;
  LeafRepair repair_;
  std::vector<uint64_t> user_;
  profile_bpf* skel_ = nullptr;
  CpuClockAttachment sampling_;
  uint64_t samples_ = 0;
};

}  // namespace

std::unique_ptr<Probe> make_profile_probe(const RecordOptions& options) {
  return std::make_unique<ProfileProbe>(options);
}

}  // namespace ebt::record
