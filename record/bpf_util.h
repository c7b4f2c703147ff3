// Helpers every probe family uses around its libbpf skeleton: reuse the core's
// shared maps, set the common filter, load/attach with errors that say what
// failed (and, with -v, the verifier log).
#pragma once

#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "bpf/events.h"
#include "record/probe.h"

struct bpf_object;
struct bpf_program;
struct bpf_link;

namespace ebt::record {

// Before load: makes the object's `events`, `lost` and `targets` maps (those it
// declares) reuse the core's maps, adjusting max_entries to match them.
void reuse_shared_maps(bpf_object* obj, const SharedMaps& maps);

// The kernel-side part of the target filter (bpf/maps.bpf.h ebt_task_wanted()).
ebt_filter make_bpf_filter(const TargetFilter& filter);

// skel->rodata->ebt_filter is `const volatile`: copy into it before load.
inline void set_bpf_filter(const volatile ebt_filter& dst, const TargetFilter& filter) {
  ebt_filter f = make_bpf_filter(filter);
  std::memcpy(const_cast<ebt_filter*>(&dst), &f, sizeof f);
}

// Runs `fn` (e.g. [&]{ return profile_bpf__load(skel); }); on a negative result
// throws RuntimeFailure "<family>: <what> failed: <strerror>" plus the last libbpf
// message, or a hint to rerun with -v.
void bpf_call_or_throw(const std::string& family, const std::string& what,
                       const std::function<int()>& fn);

// Routes libbpf's output: everything to stderr with verbose, else kept (last
// lines) for error messages. Called once by the Recorder.
void set_libbpf_verbose(bool verbose);
std::string libbpf_last_messages();

// Online CPUs (from /sys/devices/system/cpu/online).
std::vector<int> online_cpus();

// Programs attached by their section (tracepoints, raw tracepoints): owns the links.
class ProgramLinks {
 public:
  ProgramLinks() = default;
  ~ProgramLinks() { detach(); }
  ProgramLinks(const ProgramLinks&) = delete;
  ProgramLinks& operator=(const ProgramLinks&) = delete;

  // Throws RuntimeFailure "<family>: attaching <section> failed: <why>".
  void attach(const std::string& family, bpf_program* program);
  void detach();

 private:
  std::vector<bpf_link*> links_;
};

// A sampling program attached to one cpu-clock perf event per online CPU (the
// hrtimer software event: this VM class has no hardware PMU, and perf falls back
// to the same event). Owns the links, which own their perf event fds.
class CpuClockAttachment {
 public:
  CpuClockAttachment() = default;
  ~CpuClockAttachment() { detach(); }
  CpuClockAttachment(const CpuClockAttachment&) = delete;
  CpuClockAttachment& operator=(const CpuClockAttachment&) = delete;

  // Throws RuntimeFailure naming `family`, the CPU and, for EINVAL, the likely
  // cause (a frequency above perf_event_max_sample_rate).
  void attach(const std::string& family, bpf_program* program, uint32_t frequency_hz);
  void detach();

 private:
  std::vector<bpf_link*> links_;
};

}  // namespace ebt::record
