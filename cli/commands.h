// Each subcommand lives in its own <name>_cmd.cpp: it registers its options on
// the app and sets `run` to the function main() calls after a successful parse.
// Run functions return an exit code (common/error.h) or throw ebt::BadInput /
// ebt::RuntimeFailure; main prints the message once.
#pragma once

#include <functional>

#include <CLI/CLI.hpp>

namespace ebt::cli {

using RunFn = std::function<int()>;

void add_record_command(CLI::App& app, RunFn& run);
void add_report_command(CLI::App& app, RunFn& run);
void add_info_command(CLI::App& app, RunFn& run);
void add_dump_command(CLI::App& app, RunFn& run);

}  // namespace ebt::cli
