// Interactive, self-contained SVG flame graph: click to zoom, search (regex) with
// matched percentage, tooltips with weight and percent, frames coloured by type
// (user, kernel, inline, Lua, JIT, markers) with a hue hashed from the name.
// Output is a pure function of its input: no clock, stable ordering.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

#include "report/aggregate.h"

namespace ebt::report {

struct FlameGraphOptions {
  std::string title = "Flame Graph";
  std::string subtitle;          // e.g. host, time range, sample count
  std::string unit = "samples";  // what weights count; "ns" prints as time
  int width = 1200;
  int frame_height = 16;
  double min_width_px = 0.1;     // narrower frames are left out (their weight stays in the parent)
  // Differential graph (report --baseline): widths stay those of `stacks`;
  // each frame's fill is the change of its share of the total against the
  // same frame path (matched by folded names) in `baseline`: red = a larger
  // share, blue = smaller, near-white = unchanged; tooltips and data-d say
  // the change in points.
  const StackAggregate* baseline = nullptr;
  const ReportContext* baseline_profile = nullptr;
};

// The fill of a differential frame: `delta` points of change, `max_abs` the
// largest change in the graph (full colour).
std::string diff_color(double delta, double max_abs);

// "host testhost · 2026-11-22 10:00:00–10:00:30 UTC (30.0 s) · 1234 samples"
std::string flamegraph_subtitle(const ReportContext& profile, const StackAggregate& stacks);

// rgb() fill for a frame: hue range by type, position in it by a hash of the name.
std::string frame_color(const std::string& name, FrameType type);

void write_flamegraph_svg(const ReportContext& profile, const StackAggregate& stacks,
                          const FlameGraphOptions& options, std::ostream& out);

}  // namespace ebt::report
