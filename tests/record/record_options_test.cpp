// No option is silently ignored (issue 14): every `ebtrace record` option
// combination that cannot take effect is refused with exit 2 and one line
// naming it. The refusals happen before anything is loaded: no root needed.
#include <gtest/gtest.h>

#include "tests/cli/cli_harness.h"

namespace ebt::test {
namespace {

struct Refused {
  std::vector<std::string> args;
  std::string names;  // the error line must name this
};

const std::vector<Refused> kRefused = {
    {{"--off-cpu-min", "50"}, "--off-cpu-min"},
    {{"--off-cpu-tasks", "64"}, "--off-cpu-tasks"},
    {{"--off-cpu", "--idle"}, "--idle"},
    {{"--no-cpu", "--syscalls", "--idle"}, "--idle"},
    {{"--no-cpu", "--syscalls", "-F", "99"}, "-F/--freq"},
    {{"--no-cpu", "--syscalls", "--call-graph", "dwarf"}, "--call-graph"},
    {{"--skb", "--call-graph", "fp"}, "--call-graph"},
    {{"--skb", "--leaf-stack-bytes", "256"}, "--leaf-stack-bytes"},
    {{"--call-graph", "dwarf", "--leaf-stack-bytes", "256"}, "--leaf-stack-bytes"},
    {{"--leaf-stack-bytes", "2048"}, "--leaf-stack-bytes"},
    {{"--off-cpu", "--keep-stack-bytes"}, "--keep-stack-bytes"},
    {{"--off-cpu", "-F", "99", "--keep-stack-bytes"}, "--keep-stack-bytes"},
    {{"--off-cpu", "--call-graph", "dwarf,32768"}, "--off-cpu --call-graph dwarf"},
    {{"--no-cpu", "--syscalls", "--keep-stack-bytes"}, "--keep-stack-bytes"},
    {{"--no-embed", "--embed-all-symbols"}, "--embed-all-symbols"},
    {{"--buffer-size", "8M", "-m", "64"}, "--mmap-pages"},
    {{"--trigger-window", "2s"}, "--trigger-window"},
    {{"--trigger-after", "2s"}, "--trigger-after"},
    {{"--keep-stack-bytes", "--call-graph", "fp"}, "--keep-stack-bytes"},
    {{"--lua", "--call-graph", "fp"}, "--lua"},
    {{"--lua", "--no-lua"}, "--no-lua"},
};

TEST(RecordOptions, IneffectiveCombinationsAreRefused) {
  TempDir dir("ebt-recopts");
  for (const auto& c : kRefused) {
    std::vector<std::string> argv = {ebtrace_bin(), "record", "-o", (dir / "x.ebt").string(), "-d", "0.1"};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    RunResult r = run(argv, timeout(30));
    std::string cmd;
    for (const auto& a : c.args) cmd += " " + a;
    EXPECT_EQ(r.exit_code, 2) << "record" << cmd << "\n" << r.describe();
    EXPECT_NE(r.err.find(c.names), std::string::npos) << "record" << cmd << ": " << r.err;
    EXPECT_EQ(lines_of(r.err).size(), 1u) << "record" << cmd << ": one line expected: " << r.err;
    EXPECT_FALSE(fs::exists(dir / "x.ebt")) << "record" << cmd;
  }
}

}  // namespace
}  // namespace ebt::test
