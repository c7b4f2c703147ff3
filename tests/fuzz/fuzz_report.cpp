// Fuzz target 2: the whole `ebtrace report` pipeline on a capture, driven the
// way the CLI drives it (report/run.h): every report family, options chosen by
// the input (so each run covers one combination and stays fast), one read
// pass, then the trace, the latency tables and every family's documents,
// written to memory. Files of this machine are never consulted (no local
// files, no debug directories, no debuginfod).
#include <cstdio>
#include <cstdlib>
#include <map>
#include <sstream>

#include <google/protobuf/stubs/logging.h>

#include "common/error.h"
#include "format/block.h"
#include "report/family.h"
#include "report/offcpu_trace.h"
#include "report/run.h"
#include "tests/fuzz/harness.h"

namespace ebt::fuzz {
namespace {

// Sets each family option from the next bits of `variant`: a flag on or off,
// an option with choices to one of them, a free option (a file name or a
// title) to a fixed text.
class VariantOptions : public report::OptionSink {
 public:
  explicit VariantOptions(uint32_t variant) : bits_(variant) {}
  void flag(const std::string&, bool* value, const std::string&) override { *value = next(4) == 0; }
  void option(const std::string&, std::string* value, const std::string&, const std::string&,
              const std::vector<std::string>& choices) override {
    uint32_t pick = next(uint32_t(choices.size()) + 2);
    if (pick == 0) return;  // left unset
    *value = pick - 1 < choices.size() ? choices[pick - 1] : "out";
  }

 private:
  uint32_t next(uint32_t n) {
    uint32_t v = bits_ % n;
    bits_ = bits_ / n ^ (bits_ << 7);
    return v;
  }
  uint32_t bits_;
};

void run(const std::string& path, uint32_t variant) {
  symbolize::SymbolizerOptions sym;
  sym.local_files = false;
  sym.debug_dirs.clear();
  sym.debuginfod = false;
  sym.inline_frames = variant % 4 != 0;

  report::RunOptions run;
  run.input = path;
  run.filter.no_kernel = (variant >> 2) % 5 == 0;
  run.filter.no_inline = !sym.inline_frames;
  if ((variant >> 5) % 6 == 0) report::parse_time_range("0.5,", run.filter);
  if ((variant >> 5) % 6 == 1) run.filter.pids = {uint32_t((variant >> 8) % 4 + 1)};
  run.format = static_cast<report::TableFormat>((variant >> 10) % 3);
  run.latency = (variant >> 12) % 3 == 0;
  if ((variant >> 14) % 3 == 0) {
    run.trace = "trace.json";
    run.trace_max_bytes = (variant >> 16) % 2 ? 0 : 64 * 1024;
  }

  // Which events become stacks (shared by the stack-shaped families).
  run.view.off_cpu = (variant >> 18) % 4 == 0;
  run.view.on_off = (variant >> 20) % 5 == 0;
  run.view.wakers = (variant >> 23) % 5 == 0;
  if ((variant >> 26) % 3 == 0) run.view.weight = (variant >> 28) % 2 ? "count" : "time";

  std::vector<std::unique_ptr<report::ReportFamily>> owned;
  VariantOptions options(variant >> 17 | variant << 15);
  bool requested = false;
  for (const auto& entry : report::report_families()) {
    owned.push_back(entry.create());
    owned.back()->add_options(options);
    requested = requested || owned.back()->requested();
  }
  run.default_output = !requested;

  report::ReportContext ctx(sym);
  std::vector<report::ReportFamily*> families;
  for (const auto& f : owned)
    if (f->enabled(run)) families.push_back(f.get());
  try {
    for (auto* f : families) f->configure(ctx, run);
  } catch (const BadInput&) {
    return;  // an option combination the CLI refuses
  }
  report::read_capture(path, ctx, families);
  for (auto* f : families) f->finish(ctx);
  std::ostringstream out;
  if (!run.trace.empty()) {
    // write_trace writes a file: the timeline is built the same way in memory.
    report::TraceJson trace = report::start_trace(ctx);
    for (auto* f : families) f->add_trace(trace, ctx);
    trace.write(out, run.trace_max_bytes);
  }
  if (run.latency) out << report::latency_tables(run, ctx, families);
  for (auto* f : families)
    for (const auto& o : f->outputs(ctx)) o.write(out);
}

}  // namespace
}  // namespace ebt::fuzz

// protobuf only logs what is wrong with a message it writes (e.g. a string
// that is not UTF-8 in pprof's string_table, which readers then refuse): here
// any such complaint is a finding.
static void abort_on_protobuf_error(google::protobuf::LogLevel level, const char* file, int line, const std::string& msg) {
  std::fprintf(stderr, "protobuf %s:%d: %s\n", file, line, msg.c_str());
  if (level >= google::protobuf::LOGLEVEL_ERROR) std::abort();
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static ebt::fuzz::InputFile file;
  static auto* previous = google::protobuf::SetLogHandler(abort_on_protobuf_error);
  (void)previous;
  const std::string& path = file.set(data, size);
  try {
    ebt::fuzz::run(path, ebt::format::disk::crc32(data, size));
  } catch (const ebt::BadInput&) {
  }
  return 0;
}
