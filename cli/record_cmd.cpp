#include "cli/commands.h"
#include "common/error.h"

namespace ebt::cli {

void add_record_command(CLI::App& app, RunFn& run) {
  auto* sub = app.add_subcommand("record", "(not implemented yet)");
  sub->callback([&run] { run = [] () -> int { throw RuntimeFailure("record: not implemented yet"); }; });
}

}  // namespace ebt::cli
