// `ebtrace dump`: every record as one JSON object per line (docs/format.md).
#include <memory>
#include <sstream>

#include "cli/capture_arg.h"
#include "cli/commands.h"
#include "common/error.h"
#include "format/reader.h"

namespace ebt::cli {
namespace {

struct DumpArgs {
  CaptureArg file;
  std::vector<std::string> kinds;
  uint64_t start_ns = 0;
  uint64_t end_ns = UINT64_MAX;
};

uint64_t kind_mask(const format::CaptureReader& r, const std::vector<std::string>& wanted) {
  if (wanted.empty()) return format::kAllKinds;
  auto names = r.embedded_kind_names();
  if (names.empty())
    for (uint16_t k = 0; k < format::kKnownKindCount; ++k) names.push_back(format::kind_name(k));
  uint64_t mask = 0;
  for (const auto& item : wanted) {
    std::stringstream ss(item);
    std::string k;
    while (std::getline(ss, k, ',')) {
      if (k.empty()) continue;
      // Expanded batch lines carry the name of one event (cpuSample); accept those too.
      for (uint16_t i = 0; i < format::kKnownKindCount; ++i)
        if (k == format::event_name(i)) k = format::kind_name(i);
      bool found = false;
      for (size_t i = 0; i < names.size(); ++i)
        if (names[i] == k) {
          mask |= format::kind_bit(static_cast<uint16_t>(i));
          found = true;
        }
      if (!found) {
        std::string valid;
        for (const auto& n : names)
          if (!n.empty()) valid += (valid.empty() ? "" : ", ") + n;
        throw BadInput("dump: unknown record kind '" + k + "' (kinds in this capture's schema: " + valid + ")");
      }
    }
  }
  return mask;
}

int run_dump(const DumpArgs& a) {
  const std::string path = a.file.path("dump");
  format::CaptureReader r(path);
  format::ReadOptions o;
  o.kinds = kind_mask(r, a.kinds);
  o.time_begin_ns = a.start_ns;
  o.time_end_ns = a.end_ns;
  if (r.embedded_kind_names().empty())
    std::fprintf(stderr, "ebtrace: warning: %s: embedded schema unreadable; decoding with this ebtrace's schema\n",
                 path.c_str());
  r.dump_json(stdout, o);
  if (std::ferror(stdout)) throw RuntimeFailure("dump: cannot write to standard output");
  return report_damage(r, path);
}

}  // namespace

void add_dump_command(CLI::App& app, RunFn& run) {
  auto* sub = app.add_subcommand(
      "dump", "Print every record as one JSON object per line, decoded through the capture's own schema");
  auto args = std::make_shared<DumpArgs>();
  args->file.add_to(sub);
  sub->add_option("--kind", args->kinds,
                  "Only these record kinds (schema names, comma separated: cpuSample, process, stack, ...)")
      ->type_name("KIND[,KIND...]");
  sub->add_option("--start-ns", args->start_ns, "Only events at or after this CLOCK_MONOTONIC time (ns)");
  sub->add_option("--end-ns", args->end_ns, "Only events before this CLOCK_MONOTONIC time (ns)");
  sub->footer(std::string(
                  "Each line is {\"_kind\":NAME, ...fields} with the schema's field names. Batches are expanded to one\n"
                  "line per event (cpuSample, offCpuInterval, skbHop, syscallEvent). Table records (processes,\n"
                  "stacks, ...) are always printed. Data fields (payload bytes, build ids) are JSON strings with\n"
                  "one character per byte (U+0000..U+00FF). Record kinds this ebtrace does not know are printed\n"
                  "through the schema embedded in the capture.\n") +
              kReadExitCodes + "\nEXAMPLES:\n  ebtrace dump capture.ebt | head\n  ebtrace dump -i capture.ebt --kind cpuSample,stack");
  sub->callback([&run, args] { run = [args] { return run_dump(*args); }; });
}

}  // namespace ebt::cli
