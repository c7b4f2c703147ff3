// On-CPU sampling with --call-graph dwarf: bpf/profile_dwarf.bpf.c attached to
// a cpu-clock perf event on every online CPU at -F HZ. Each
// EBT_EV_CPU_SAMPLE_DWARF (user registers + a copy of the user stack) is
// unwound here with libdw (record/dwarf_unwinder.h) and becomes a CpuSample
// whose stack (addresses only) is interned by the core, exactly like fp mode.
// Samples older than a lag budget when their turn comes are not unwound but
// counted as lost (LossSource::kUnwind): the ring buffer keeps draining.
#pragma once

#include <memory>

#include "record/probe.h"
#include "record/record_options.h"

namespace ebt::record {

std::unique_ptr<Probe> make_dwarf_profile_probe(const RecordOptions& options);

}  // namespace ebt::record
