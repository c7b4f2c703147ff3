// Fuzz target 2: the whole `ebtrace report` pipeline on a capture: load
// (symbolizing from the embedded tables, unwinding raw stacks offline with the
// embedded unwind tables), then one report variant chosen by the input (so
// each run stays fast), written to memory. Files of this machine are never
// consulted (no local files, no debug directories, no debuginfod).
#include <sstream>

#include "common/error.h"
#include "format/block.h"
#include "report/aggregate.h"
#include "report/flamegraph_svg.h"
#include "report/folded.h"
#include "report/l7/l7_load.h"
#include "report/l7/l7_trace.h"
#include "report/l7/latency.h"
#include "report/load.h"
#include "report/offcpu_latency.h"
#include "report/offcpu_profile.h"
#include "report/offcpu_trace.h"
#include "report/skb_report.h"
#include "report/text_report.h"
#include "tests/fuzz/harness.h"

namespace ebt::fuzz {
namespace {

void run(const std::string& path, uint32_t variant) {
  symbolize::SymbolizerOptions sym;
  sym.local_files = false;
  sym.debug_dirs.clear();
  sym.debuginfod = false;
  sym.inline_frames = (variant >> 8) % 4 != 0;
  auto profile = report::load_profile(path, sym);
  report::Filter filter;
  filter.no_kernel = (variant >> 10) % 5 == 0;
  filter.no_inline = !sym.inline_frames;
  if ((variant >> 12) % 6 == 0) report::parse_time_range("0.5,", filter);
  if ((variant >> 12) % 6 == 1) filter.pids = {uint32_t((variant >> 16) % 4 + 1)};
  std::ostringstream out;
  const uint32_t family = variant % 10;
  if (family <= 5) {
    bool off_cpu = family == 3, on_off = family == 4, wakers = family == 5;
    std::string weight = (variant >> 20) % 2 && (off_cpu || wakers) ? "count" : "";
    report::StackSelection sel;
    try {
      sel = report::select_stacks(*profile, off_cpu, on_off, weight, wakers);
    } catch (const BadInput&) {
      return;  // an option combination this capture refuses
    }
    report::StackAggregate stacks = report::aggregate(*profile, sel.samples, filter);
    stacks.unit = sel.unit;
    if (family == 0 || family == 3) {
      report::TextReportOptions to;
      to.input = path;
      report::write_text_report(*profile, stacks, to, out);
    } else if (family == 1) {
      report::write_folded(*profile, stacks, out);
    } else {
      report::FlameGraphOptions fo;
      fo.subtitle = report::flamegraph_subtitle(*profile, stacks);
      fo.unit = stacks.unit;
      report::write_flamegraph_svg(*profile, stacks, fo, out);
    }
  } else if (family == 6 || family == 7) {  // --trace, --latency (with L7)
    std::optional<report::l7::L7Analysis> l7;
    report::l7::L7Input in = report::l7::load_l7_input(path);
    if (!in.events.empty()) l7 = report::l7::analyze_l7(std::move(in));
    if (family == 6) {
      report::TraceJson trace = report::start_trace(*profile);
      report::add_offcpu_to_trace(trace, *profile, filter);
      report::add_cpu_samples_to_trace(trace, *profile, filter);
      if (l7) report::l7::add_l7_trace(*l7, trace);
      report::add_skb_to_trace(trace, *profile);
      trace.write(out);
    } else {
      auto fmt = static_cast<report::LatencyFormat>((variant >> 20) % 3);
      if (!profile->off_cpu.empty())
        report::write_offcpu_latency(
            out, report::offcpu_latency(report::filter_intervals(*profile, filter), report::offcpu_naming(*profile)),
            fmt, 30);
      if (l7) {
        report::l7::LatencyOptions lo;
        lo.by = static_cast<report::l7::GroupBy>((variant >> 22) % 4);
        lo.format = static_cast<report::l7::TableFormat>((variant >> 20) % 3);
        lo.show_payload = true;
        report::l7::write_l7_latency(*l7, lo, out);
      }
    }
  } else {  // --skb
    report::SkbReport sr = report::skb_report(*profile);
    if (family == 8) report::write_skb_text(sr, 30, out);
    else report::write_skb_json(sr, out);
  }
}

}  // namespace
}  // namespace ebt::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static ebt::fuzz::InputFile file;
  const std::string& path = file.set(data, size);
  try {
    ebt::fuzz::run(path, ebt::format::disk::crc32(data, size));
  } catch (const ebt::BadInput&) {
  }
  return 0;
}
