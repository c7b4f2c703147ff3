// Scheduler latency (--sched): bpf/sched.bpf.c aggregates run-queue latency
// histograms, preemptions and per-CPU cgroup switches in the kernel; this
// family reads them about every second and writes what changed (RunqLatency,
// Preemption, CgroupSwitch), with the cpu.stat throttling counters of the
// recorded cgroups (CgroupCpuSample, record/sched_cgroups.h). docs/sched.md.
#pragma once

#include <memory>

#include "record/probe.h"
#include "record/record_options.h"

namespace ebt::record {

std::unique_ptr<Probe> make_sched_probe(const RecordOptions& options);

}  // namespace ebt::record
