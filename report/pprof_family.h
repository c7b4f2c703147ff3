// `report --pprof FILE`: the capture's stacks as a gzipped pprof profile
// (report/pprof.proto), for go tool pprof, Pyroscope, Parca, speedscope.
//
// One profile holds every kind of stack the capture has, each as value
// columns: on-CPU `samples`/count and `cpu`/nanoseconds, off-CPU `off_cpu`/
// nanoseconds and `switches`/count, waker stacks `waker`/nanoseconds and
// `wakeups`/count (and `wall`/nanoseconds under --on-off). The view options
// (--off-cpu, --wakers, --weight, --on-off) choose default_sample_type. Samples
// are per (thread, stack) with labels pid, tid, comm and, when the capture
// knows it, container; locations carry the captured address, its mapping
// (with build-id) and its inline chain as Lines with source lines.
#pragma once

#include <memory>

#include "report/family.h"

namespace ebt::report {

std::unique_ptr<ReportFamily> make_pprof_family();

}  // namespace ebt::report
