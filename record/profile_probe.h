// On-CPU sampling: bpf/profile.bpf.c attached to a cpu-clock perf event on every
// online CPU at -F HZ; each EBT_EV_CPU_SAMPLE becomes a CpuSample whose stack is
// interned by the core.
#pragma once

#include <memory>

#include "record/probe.h"
#include "record/record_options.h"

namespace ebt::record {

std::unique_ptr<Probe> make_profile_probe(const RecordOptions& options);

}  // namespace ebt::record
