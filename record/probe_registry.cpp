#include "record/probe_registry.h"

#include "record/offcpu_probe.h"
#include "record/profile_probe.h"
#include "record/syscall_probe.h"

namespace ebt::record {

const std::vector<ProbeFamily>& probe_families() {
  static const std::vector<ProbeFamily> families = {
      {"profile", [](const RecordOptions& o) { return o.cpu; }, make_profile_probe},
      {"offcpu", [](const RecordOptions& o) { return o.off_cpu; }, make_offcpu_probe},
      {"syscalls", [](const RecordOptions& o) { return o.syscalls; }, make_syscall_probe},
      // One line per family, e.g.:
      // {"offcpu", [](const RecordOptions& o) { return o.off_cpu; }, make_offcpu_probe},
  };
  return families;
}

}  // namespace ebt::record
