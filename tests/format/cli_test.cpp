// `ebtrace info` / `ebtrace dump` as a user runs them: output, one-line errors,
// exit codes (docs/format.md, "Exit codes").
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdlib>

#include "format/block.h"
#include "tests/format/future_capture.h"

namespace ebt::format {
namespace {

struct CliRun {
  int rc = -1;
  std::string out, err;
};

std::string slurp(const std::string& path) {
  auto b = testing::read_file(path);
  return std::string(b.begin(), b.end());
}

CliRun ebtrace(const std::string& args) {
  const std::string out = testing::temp_path("cli.out"), err = testing::temp_path("cli.err");
  std::string cmd = std::string(EBTRACE_BIN) + " " + args + " >" + out + " 2>" + err;
  int status = std::system(cmd.c_str());
  CliRun r;
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = slurp(out);
  r.err = slurp(err);
  ::unlink(out.c_str());
  ::unlink(err.c_str());
  return r;
}

size_t lines(const std::string& s) { return std::count(s.begin(), s.end(), '\n'); }

std::string make_capture(const std::string& name) {
  const std::string path = testing::temp_path(name);
  WriterOptions o;
  o.max_block_bytes = 1024;
  CaptureWriter w(path, testing::sample_session(), o);
  w.add(SymbolTable{{0xab, 0xcd}, "/usr/lib/libfoo.so", {}, {{0x10, 4, "foo"}, {0x20, 4, "bar"}}, {}});
  w.add(Stack{1, {{0x10, FrameKind::kUser}}});
  for (uint64_t i = 0; i < 500; ++i) w.add(CpuSample{2'000'000'000 + i * 1'000'000, 9, 9, 0, 1});
  w.add(SyscallEvent{2'100'000'000, 2'100'001'000, 9, 9, SyscallKind::kRead, 5, 3, 0, {'G', 'E', 'T'}});
  w.add(LostEvents{2'200'000'000, 0, LossSource::kRingBuffer, 5});
  w.finish({3'000'000'000, 500, 5});
  return path;
}

TEST(Cli, InfoShowsSessionCountsSymbolsAndPayloadWarning) {
  const std::string path = make_capture("info.ebt");
  CliRun r = ebtrace("info " + path);
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.err, "");
  for (const char* want : {"host:           testhost (x86_64), kernel 6.18.0-test",
                           "boot id:        0b5e1d2c-1111-2222-3333-444455556666", "cpus:           2",
                           "command line:   ebtrace record -F 99 -a", "index present", "session end:    clean",
                           "lost events:    5 (ring buffer 5)",
                           "/usr/lib/libfoo.so  build-id abcd  2 symbols", "payload bytes:  YES", "may contain secrets",
                           "damage:         none"})
    EXPECT_NE(r.out.find(want), std::string::npos) << "missing '" << want << "' in:\n" << r.out;
  EXPECT_NE(r.out.find("cpuSamples"), std::string::npos);
  EXPECT_NE(r.out.find("  500 "), std::string::npos) << r.out;
  // perf-style -i gives the same.
  CliRun ri = ebtrace("info -i " + path);
  EXPECT_EQ(ri.rc, 0);
  EXPECT_EQ(ri.out, r.out);
  ::unlink(path.c_str());
}

TEST(Cli, DumpPrintsOneJsonObjectPerRecord) {
  const std::string path = make_capture("dump.ebt");
  CliRun r = ebtrace("dump " + path);
  EXPECT_EQ(r.rc, 0) << r.err;
  // session, symbol table, stack, lost, session end, 500 samples, 1 syscall
  EXPECT_EQ(lines(r.out), 506u) << r.out.substr(0, 2000);
  EXPECT_NE(r.out.find(R"("payload":"GET")"), std::string::npos);
  CliRun k = ebtrace("dump -i " + path + " --kind syscallEvent,stack");
  EXPECT_EQ(k.rc, 0) << k.err;
  EXPECT_EQ(lines(k.out), 2u) << k.out;
  CliRun bad = ebtrace("dump " + path + " --kind nosuchkind");
  EXPECT_EQ(bad.rc, 2);
  EXPECT_NE(bad.err.find("unknown record kind 'nosuchkind'"), std::string::npos) << bad.err;
  ::unlink(path.c_str());
}

TEST(Cli, UnknownKindIsDumpedViaTheEmbeddedSchema) {
  const std::string path = testing::temp_path("cli-future.ebt");
  testing::write_future_capture(path);
  CliRun r = ebtrace("dump " + path);
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find(testing::kGadgetLine), std::string::npos) << r.out;
  CliRun g = ebtrace("dump " + path + " --kind gadget");
  EXPECT_EQ(g.out, std::string(testing::kGadgetLine) + "\n");
  CliRun i = ebtrace("info " + path);
  EXPECT_EQ(i.rc, 0);
  EXPECT_NE(i.out.find("gadget (unknown to this ebtrace)"), std::string::npos) << i.out;
  ::unlink(path.c_str());
}

TEST(Cli, BadFilesGiveOneLineAndExit2) {
  const std::string path = testing::temp_path("cli-bad.ebt");
  auto check = [&](const char* cmd, const std::string& needle) {
    CliRun r = ebtrace(std::string(cmd) + " " + path);
    EXPECT_EQ(r.rc, 2) << cmd << ": " << r.err;
    EXPECT_EQ(lines(r.err), 1u) << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
    EXPECT_EQ(r.out, "");
  };
  for (const char* cmd : {"info", "dump"}) {
    ::unlink(path.c_str());
    check(cmd, "no such file");
    testing::write_file(path, nullptr, 0);
    check(cmd, "empty file");
    const std::string text = "hello, this is a text file\n";
    testing::write_file(path, reinterpret_cast<const uint8_t*>(text.data()), text.size());
    check(cmd, "not an ebtrace capture (bad magic)");
    const std::string good = make_capture("cli-good.ebt");
    auto b = testing::read_file(good);
    b[8] = 3;
    testing::write_file(path, b.data(), b.size());
    check(cmd, "capture format version 3." + std::to_string(format::disk::kMinor) + " is newer than this ebtrace supports (1.x)");
    ::unlink(good.c_str());
  }
  CliRun none = ebtrace("info");
  EXPECT_EQ(none.rc, 2);
  ::unlink(path.c_str());
}

TEST(Cli, DamagedBlockIsNamedRestIsPrintedExit2) {
  const std::string good = make_capture("cli-dmg-good.ebt");
  CaptureReader full(good);
  ASSERT_GE(full.blocks().size(), 3u);
  const BlockInfo victim = full.blocks()[2];
  auto b = testing::read_file(good);
  b[victim.offset + 56 + victim.compressed_bytes / 2] ^= 0x01;
  const std::string path = testing::temp_path("cli-dmg.ebt");
  testing::write_file(path, b.data(), b.size());
  CliRun r = ebtrace("dump " + path);
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(lines(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find("block " + std::to_string(victim.sequence) + " at offset " + std::to_string(victim.offset) +
                       ": payload checksum mismatch"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(lines(r.out), 506u - victim.records);
  CliRun i = ebtrace("info " + path);
  EXPECT_EQ(i.rc, 2);
  EXPECT_NE(i.err.find("payload checksum mismatch"), std::string::npos) << i.err;
  ::unlink(path.c_str());
  ::unlink(good.c_str());
}

TEST(Cli, MissingTrailerWarnsButExits0) {
  const std::string good = make_capture("cli-trunc-good.ebt");
  auto b = testing::read_file(good);
  const std::string path = testing::temp_path("cli-trunc.ebt");
  testing::write_file(path, b.data(), b.size() - 100);  // cut into the index block
  CliRun r = ebtrace("info " + path);
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("no index"), std::string::npos);
  EXPECT_EQ(lines(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find("recorder stopped before finishing"), std::string::npos) << r.err;
  CliRun d = ebtrace("dump " + path);
  EXPECT_EQ(d.rc, 0);
  EXPECT_EQ(lines(d.out), 506u);
  ::unlink(path.c_str());
  ::unlink(good.c_str());
}

TEST(Cli, CaptureCutOnABlockBoundaryStillWarns) {
  const std::string good = make_capture("cli-bound-good.ebt");
  CaptureReader full(good);
  const BlockInfo last = full.blocks().back();
  auto b = testing::read_file(good);
  const std::string path = testing::temp_path("cli-bound.ebt");
  testing::write_file(path, b.data(), last.offset);  // ends exactly before the last data block
  CliRun r = ebtrace("info " + path);
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(lines(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find("capture not finished"), std::string::npos) << r.err;
  ::unlink(path.c_str());
  ::unlink(good.c_str());
}

TEST(Cli, HelpDocumentsExitCodes) {
  for (const char* cmd : {"info --help", "dump --help"}) {
    CliRun r = ebtrace(cmd);
    EXPECT_EQ(r.rc, 0);
    EXPECT_NE(r.out.find("EXIT CODES"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("-i,--input"), std::string::npos) << r.out;
  }
}

}  // namespace
}  // namespace ebt::format
