#include "record/probe_registry.h"

#include "record/dwarf_probe.h"
#include "record/offcpu_probe.h"
#include "record/profile_probe.h"
#include "record/sched_probe.h"
#include "record/skb_probe.h"
#include "record/syscall_probe.h"
#include "record/tcp_probe.h"

namespace ebt::record {

const std::vector<ProbeFamily>& probe_families() {
  static const std::vector<ProbeFamily> families = {
      {"profile", [](const RecordOptions& o) { return o.cpu && !o.call_graph_dwarf; }, make_profile_probe, true},
      {"profile-dwarf", [](const RecordOptions& o) { return o.cpu && o.call_graph_dwarf; }, make_dwarf_profile_probe, true},
      {"offcpu", [](const RecordOptions& o) { return o.off_cpu; }, make_offcpu_probe, true},
      {"syscalls", [](const RecordOptions& o) { return o.syscalls; }, make_syscall_probe, false},
      {"skb", [](const RecordOptions& o) { return o.skb_hops; }, make_skb_probe, false},
      {"tcp", [](const RecordOptions& o) { return o.tcp; }, make_tcp_probe, false},
      {"sched", [](const RecordOptions& o) { return o.sched; }, make_sched_probe, false},
      // One line per family, e.g.:
      // {"offcpu", [](const RecordOptions& o) { return o.off_cpu; }, make_offcpu_probe, true},
  };
  return families;
}

}  // namespace ebt::record
