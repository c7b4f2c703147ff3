// Off-CPU intervals: bpf/offcpu.bpf.c on sched_switch + sched_waking. Each
// EBT_EV_OFFCPU becomes an OffCpuInterval whose blocked stack (and, with
// --off-cpu-waker, the waker's stack) is interned by the core.
#pragma once

#include <memory>

#include "record/probe.h"
#include "record/record_options.h"

namespace ebt::record {

std::unique_ptr<Probe> make_offcpu_probe(const RecordOptions& options);

}  // namespace ebt::record
