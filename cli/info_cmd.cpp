#include "cli/commands.h"
#include "common/error.h"

namespace ebt::cli {

void add_info_command(CLI::App& app, RunFn& run) {
  auto* sub = app.add_subcommand("info", "(not implemented yet)");
  sub->callback([&run] { run = [] () -> int { throw RuntimeFailure("info: not implemented yet"); }; });
}

}  // namespace ebt::cli
