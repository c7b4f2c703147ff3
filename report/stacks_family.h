// The stack family: on-CPU samples and off-CPU intervals as weighted stacks,
// aggregated as they arrive, written as the text report (the default output),
// FlameGraph folded stacks (--folded) and an SVG flame graph (--flamegraph).
// Further stack outputs (pprof, speedscope, differential graphs) belong here:
// they are other writers of the same StackAggregate.
#pragma once

#include <memory>
#include <string>

#include "report/family.h"

namespace ebt::report {

// Which events become stacks.
enum class StackSource {
  kOnCpu,   // on-CPU samples (default when the capture has them)
  kOffCpu,  // off-CPU intervals (--off-cpu, or a capture without samples)
  kOnOff,   // both, weighted by time (--on-off)
  kWakers,  // waker stacks (--wakers)
};

struct StackView {
  StackSource source = StackSource::kOnCpu;
  bool count = false;  // --weight count: switches instead of blocked time
  std::string unit;    // StackAggregate::unit: "samples", "ns" or "switches"
  std::string title;   // default flame graph title
};

// The view the options ask for, given whether the capture has samples and
// off-CPU intervals. Throws BadInput for an unknown weight, --weight count with
// --on-off, --wakers with --on-off, or --weight on on-CPU data.
StackView select_view(bool off_cpu, bool on_off, const std::string& weight, bool wakers, bool has_samples,
                      bool has_off_cpu);

std::unique_ptr<ReportFamily> make_stacks_family();

}  // namespace ebt::report
