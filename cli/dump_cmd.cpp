#include "cli/commands.h"
#include "common/error.h"

namespace ebt::cli {

void add_dump_command(CLI::App& app, RunFn& run) {
  auto* sub = app.add_subcommand("dump", "(not implemented yet)");
  sub->callback([&run] { run = [] () -> int { throw RuntimeFailure("dump: not implemented yet"); }; });
}

}  // namespace ebt::cli
