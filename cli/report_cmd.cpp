#include "cli/commands.h"
#include "common/error.h"

namespace ebt::cli {

void add_report_command(CLI::App& app, RunFn& run) {
  auto* sub = app.add_subcommand("report", "(not implemented yet)");
  sub->callback([&run] { run = [] () -> int { throw RuntimeFailure("report: not implemented yet"); }; });
}

}  // namespace ebt::cli
