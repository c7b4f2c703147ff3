// ebtrace: record on one machine, report on any other. See README.md.
#include <cstdio>
#include <exception>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "common/error.h"

int main(int argc, char** argv) {
  CLI::App app{
      "ebtrace - an eBPF record-and-replay tracer.\n"
      "Record on-CPU stacks into one self-describing capture file on a production box,\n"
      "then report flame graphs and tables from it on any machine.",
      "ebtrace"};
#ifdef EBTRACE_STATIC_BUILD
  app.set_version_flag("--version", std::string("ebtrace ") + EBTRACE_VERSION + " (static)");
#else
  app.set_version_flag("--version", std::string("ebtrace ") + EBTRACE_VERSION);
#endif
  app.require_subcommand(1);
  app.footer(
      "EXIT CODES: 0 ok, 1 runtime failure (privileges, BPF, I/O), 2 usage error or bad input.\n"
      "EXAMPLES:\n"
      "  ebtrace record -F 99 -a -d 10 -o capture.ebt   # sample every CPU for 10 s\n"
      "  ebtrace record -p 1234 -o capture.ebt           # one process, until Ctrl-C\n"
      "  ebtrace report -i capture.ebt --flamegraph cpu.svg\n"
      "  ebtrace info capture.ebt");

  ebt::cli::RunFn run;
  ebt::cli::add_record_command(app, run);
  ebt::cli::add_report_command(app, run);
  ebt::cli::add_info_command(app, run);
  ebt::cli::add_dump_command(app, run);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "ebtrace: %s (see ebtrace --help)\n", e.what());
    return ebt::kExitBadInput;
  }

  try {
    return run ? run() : ebt::kExitBadInput;
  } catch (const ebt::BadInput& e) {
    std::fprintf(stderr, "ebtrace: error: %s\n", e.what());
    return ebt::kExitBadInput;
  } catch (const ebt::RuntimeFailure& e) {
    std::fprintf(stderr, "ebtrace: error: %s\n", e.what());
    return ebt::kExitRuntime;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ebtrace: error: %s\n", e.what());
    return ebt::kExitRuntime;
  }
}
