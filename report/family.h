// A report family: the report-side mirror of the recorder's probe family
// (record/probe.h). Each family declares its options, the record kinds it
// consumes and the outputs it gives; `report` reads the capture ONCE and fans
// every record out to the families that asked for its kind (report/run.h).
// The shared tables and the symbolizer are lent to all (report/context.h);
// each family owns its state and aggregates as records arrive, so memory
// follows distinct stacks / threads / time buckets, not events.
//
// Adding a report family: a class implementing ReportFamily (own .h/.cpp in
// report/), one line in report/families.cpp. Nothing else.
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "format/reader.h"
#include "report/aggregate.h"
#include "report/context.h"
#include "report/trace_json.h"

namespace ebt::report {

// Where a family declares its own command-line options (the CLI maps this to
// CLI11; report/ stays free of it). Names follow perf/bpftrace conventions.
class OptionSink {
 public:
  virtual ~OptionSink() = default;
  virtual void flag(const std::string& names, bool* value, const std::string& help) = 0;
  virtual void option(const std::string& names, std::string* value, const std::string& help,
                      const std::string& type_name, const std::vector<std::string>& choices = {}) = 0;
};

enum class TableFormat { kText, kCsv, kJson };

// Which events become stacks: --off-cpu, --on-off, --wakers, --weight. Shared
// by every stack-shaped output (text report, folded, flame graph, pprof,
// speedscope), so it is one set of options (stacks_family.h: select_view).
struct StackViewFlags {
  bool off_cpu = false;
  bool on_off = false;
  bool wakers = false;
  std::string weight;  // "", "time" or "count"
};

// Options shared by all families: filters and the output channels the core
// owns (the text output, --trace, --latency). Set by the CLI before the pass.
struct RunOptions {
  std::string input;          // capture path (the first one: report a.ebt b.ebt)
  std::vector<std::string> more_inputs;  // further captures merged into the stack outputs
  bool by_host = false;       // --by-host: stacks under a [host: NAME] root frame
  bool by_container = false;  // --by container: rows per container (text report; report/containers.h)
  bool group_container = false;  // --group container: stacks under a [container: NAME] root frame
  std::string diff_base;      // report --diff BASE NEW: BASE (then `input` is NEW), like --baseline BASE
  std::string output;         // -o FILE for the text channel ("" or "-": stdout)
  Filter filter;
  std::string filter_text;    // the active filters as the user typed them
  size_t top = 30;            // rows per table
  TableFormat format = TableFormat::kText;
  std::string trace;          // --trace FILE ("" = no timeline)
  uint64_t trace_max_bytes = 0;
  bool latency = false;       // --latency
  StackViewFlags view;
  symbolize::SymbolizerOptions symbols;  // for captures a family reads itself (--baseline)
  bool verbose = false;
  bool default_output = false;  // no family's own output asked for: the default family gives its text
};

// One document a family writes: to a file, or to the text channel.
struct Output {
  std::string path;  // "" = the text channel (-o FILE, else stdout)
  std::function<void(std::ostream&)> write;
  std::string note;  // one line for stderr after writing (e.g. "wrote cpu.svg (…)"), "" for none
};

class ReportFamily : public format::RecordVisitor {
 public:
  virtual const char* name() const = 0;
  // Declares the family's own options (before the command line is parsed).
  virtual void add_options(OptionSink&) {}
  // True when the user asked for one of this family's own outputs (e.g.
  // --skb, --folded); when no family is, the default family gives its text.
  virtual bool requested() const { return false; }
  // True when one of its requested outputs has rows per container with
  // --by container (the text report's and --latency's are the core's).
  virtual bool groups_by_container() const { return false; }
  // Takes part in this run (its own outputs, or a shared channel it feeds).
  virtual bool enabled(const RunOptions& run) const = 0;
  // Before the pass: checks option combinations (BadInput for one that cannot
  // take effect) and may add stack transformations to `ctx`. `ctx` and `run`
  // stay valid for the whole run: keep them for on() (comm names, mapping
  // generations, filters) and the outputs.
  virtual void configure(ReportContext& ctx, const RunOptions& run) {}
  // Record kinds it consumes (format::kind_bit mask). The family's
  // RecordVisitor::on() overloads receive exactly those. Raw stacks
  // (--keep-stack-bytes) arrive as CpuSample, already unwound.
  virtual uint64_t kinds() const = 0;
  // After the pass: warnings about missing data, symbolization, final tables.
  virtual void finish(ReportContext& ctx) {}
  // Its tracks on the --trace timeline; returns the records they show.
  virtual size_t add_trace(TraceJson& trace, ReportContext& ctx) { return 0; }
  // Its section of the --latency tables (nothing written: no section).
  virtual void write_latency(std::ostream& out, ReportContext& ctx) {}
  // Its own documents, in the order they are written.
  virtual std::vector<Output> outputs(ReportContext& ctx) { return {}; }
  // Several captures (report a.ebt b.ebt): `twin`, a family of this same type
  // given the same options, has read and finished the further capture `path`
  // (symbolized in its own `twin_ctx`), in the one pass over that capture that
  // also feeds the --trace timeline (report/run.h read_further_capture). A
  // family whose outputs merge captures takes the twin's data here, after its
  // own finish() and before outputs() (the stacks family merges its stacks by
  // frame name); the others need nothing (the timeline lays captures side by
  // side through each twin's add_trace).
  virtual void merge_capture(ReportFamily& twin, ReportContext& twin_ctx, ReportContext& ctx,
                             const std::string& path) {}
  // Whether its own outputs take several captures (merge_capture); when not,
  // asking for them with several captures is refused (exit 2).
  virtual bool merges_captures() const { return false; }

 protected:
  ReportFamily() = default;
};

struct ReportFamilyEntry {
  const char* name;
  std::unique_ptr<ReportFamily> (*create)();
  bool is_default;  // gives the text output when no family's output is asked for
};

// Every family, in output order (report/families.cpp).
const std::vector<ReportFamilyEntry>& report_families();

// One line on stderr: "ebtrace: warning: TEXT".
void warn(const std::string& text);

}  // namespace ebt::report
