// `ebtrace record --check`: can this kernel, with these privileges, run the probe
// families a recording needs? Every family's BPF object is really loaded (CO-RE
// relocations, kfuncs, the verifier) against the same shared maps a recording
// uses, and nothing is attached, so the answer is the kernel's, not a version
// table's. scripts/ebtrace-remote.sh runs it on each host before recording.
#pragma once

#include <string>
#include <vector>

#include "record/record_options.h"

namespace ebt::record {

struct CheckLine {
  bool ok = false;
  bool needed = true;     // false: a family these options do not enable (informative)
  std::string what;       // "BTF", "syscalls (--l7, --syscalls, --payload-bytes)"
  std::string detail;     // where it was found, or why it is missing
};

// One line per capability, environment first (privileges, BTF, tracefs, ring
// buffer, perf events), then every probe family, those `options` enable first.
std::vector<CheckLine> check_kernel(const RecordOptions& options);

// "ok       BTF: /sys/kernel/btf/vmlinux" / "MISSING  syscalls ...: why".
std::string format_check_line(const CheckLine& line);

}  // namespace ebt::record
