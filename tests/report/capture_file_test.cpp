// The whole report path on real capture files written with CaptureWriter:
// load -> symbolize -> folded / text / SVG, through the library and the CLI.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "format/reader.h"
#include "format/writer.h"
#include "report/aggregate.h"
#include "report/flamegraph_svg.h"
#include "report/folded.h"
#include "report/text_report.h"
#include "tests/report/profile_fixture.h"
#include "tests/report/test_capture.h"

namespace ebt::report {
namespace {

namespace fs = std::filesystem;

struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/ebt-reporttest-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path); }
};

std::string write_synthetic(const fs::path& dir, const test::SyntheticCapture& c, bool finish = true,
                            size_t block_bytes = 1 << 20) {
  std::string path = (dir / "capture.ebt").string();
  format::WriterOptions opts;
  opts.max_block_bytes = block_bytes;
  format::CaptureWriter w(path, c.session, opts);
  auto emit = [&](const auto& r) {
    if constexpr (std::is_same_v<std::decay_t<decltype(r)>, SessionEnd>) {
      if (finish) w.finish(r);
    } else {
      w.add(r);
    }
  };
  c.replay(emit);
  if (!finish) w.flush();
  return path;
}

struct Result {
  int code = -1;
  std::string out;
  std::string err;
};

Result run_cli(const std::string& args, const fs::path& cwd) {
  fs::path err = cwd / "stderr.txt";
  std::string cmd = "cd " + cwd.string() + " && " + EBTRACE_BIN + std::string(" ") + args + " 2>" + err.string();
  Result r;
  FILE* p = popen(cmd.c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream e(err);
  r.err.assign(std::istreambuf_iterator<char>(e), {});
  return r;
}

symbolize::SymbolizerOptions offline() {
  symbolize::SymbolizerOptions o;
  o.local_files = false;
  o.debug_dirs.clear();
  return o;
}

const char* kFolded =
    "burner;main;work::hot() 60\n"
    "other;main;helper;do_syscall_64_[k];ksys_write_[k] 10\n"
    "worker;main;cold 30\n";

TEST(CaptureFile, LoadAndFold) {
  TempDir dir;
  auto c = test::make_synthetic_capture();
  std::string path = write_synthetic(dir.path, c);
  auto p = load_profile(path, offline());
  EXPECT_TRUE(p->warnings.empty());
  EXPECT_EQ(p->samples.size(), 100u);
  EXPECT_EQ(p->session.hostname, "testhost");
  ASSERT_TRUE(p->end.has_value());
  std::ostringstream out;
  write_folded(*p, aggregate(*p, p->samples, {}), out);
  EXPECT_EQ(out.str(), kFolded);
}

TEST(CaptureFile, CliFoldedTextAndFlamegraph) {
  TempDir dir;
  write_synthetic(dir.path, test::make_synthetic_capture());
  // Default input is ./capture.ebt; -i and the positional form agree.
  Result folded = run_cli("report --folded", dir.path);
  EXPECT_EQ(folded.code, 0) << folded.err;
  EXPECT_EQ(folded.out, kFolded);
  EXPECT_EQ(run_cli("report -i capture.ebt --folded", dir.path).out, kFolded);
  EXPECT_EQ(run_cli("report capture.ebt --folded --pid 200 --no-kernel", dir.path).out,
            "other;main;helper 10\n");
  EXPECT_EQ(run_cli("report capture.ebt --folded --comm worker --time 1,", dir.path).out,
            "worker;main;cold 30\n");
  Result o = run_cli("report capture.ebt --folded -o out.folded", dir.path);
  EXPECT_EQ(o.code, 0);
  std::ifstream f(dir.path / "out.folded");
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(f), {}), kFolded);

  Result text = run_cli("report capture.ebt", dir.path);
  EXPECT_EQ(text.code, 0) << text.err;
  EXPECT_NE(text.out.find("# host: testhost  kernel: 6.18.0-test"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("# samples: 100 (99 Hz)  lost: 7"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("   60.00%          60  burner   burner             [.] work::hot()\n"),
            std::string::npos)
      << text.out;
  // main is under every stack of burner: 60 % total, 0 % self.
  EXPECT_NE(text.out.find("   60.00%    0.00%  burner   burner             [.] main\n"), std::string::npos)
      << text.out;
  EXPECT_NE(text.out.find("   90.00%          90       100  burner\n"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("[k] ksys_write"), std::string::npos) << text.out;

  Result svg = run_cli("report capture.ebt --flamegraph cpu.svg", dir.path);
  EXPECT_EQ(svg.code, 0) << svg.err;
  EXPECT_TRUE(fs::exists(dir.path / "cpu.svg"));
  EXPECT_NE(svg.err.find("wrote cpu.svg (100 samples"), std::string::npos) << svg.err;
}

TEST(CaptureFile, BadInputExitsTwo) {
  TempDir dir;
  Result missing = run_cli("report nothere.ebt", dir.path);
  EXPECT_EQ(missing.code, 2);
  EXPECT_NE(missing.err.find("nothere.ebt"), std::string::npos) << missing.err;
  std::ofstream(dir.path / "junk.ebt") << "this is not a capture file at all, not even close";
  Result junk = run_cli("report junk.ebt", dir.path);
  EXPECT_EQ(junk.code, 2) << junk.err;
  EXPECT_EQ(std::count(junk.err.begin(), junk.err.end(), '\n'), 1) << junk.err;
  write_synthetic(dir.path, test::make_synthetic_capture());
  EXPECT_EQ(run_cli("report capture.ebt --time x,1", dir.path).code, 2);
  EXPECT_EQ(run_cli("report capture.ebt --pid abc", dir.path).code, 2);
}

TEST(CaptureFile, DamagedCaptureWarnsAndReportsTheRest) {
  TempDir dir;
  auto c = test::make_synthetic_capture();
  std::string path = write_synthetic(dir.path, c);
  // Cut the file in the middle of its last bytes (trailer/index/last block gone).
  auto size = fs::file_size(path);
  fs::resize_file(path, size - size / 4);
  Result r = run_cli("report capture.ebt --folded", dir.path);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("warning"), std::string::npos) << r.err;
}

TEST(CaptureFile, CorruptBlockWarnsReportsTheRestAndExitsTwo) {
  TempDir dir;
  std::string path = write_synthetic(dir.path, test::make_synthetic_capture(), true, 200);
  // A byte in the middle of the payload of a data block in the middle.
  uint64_t at = 0;
  {
    format::CaptureReader r(path);
    ASSERT_GE(r.blocks().size(), 3u);
    const auto& b = r.blocks()[r.blocks().size() / 2];
    at = b.offset + 56 + b.compressed_bytes / 2;
  }
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(at));
    char c = 0;
    f.read(&c, 1);
    f.seekp(static_cast<std::streamoff>(at));
    c = static_cast<char>(c ^ 0x5a);
    f.write(&c, 1);
  }
  Result r = run_cli("report capture.ebt --folded", dir.path);
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("warning"), std::string::npos) << r.err;
  EXPECT_FALSE(r.out.empty());  // what was readable is still reported
}

// The schema block (block 0) is not needed to report, but its damage is damage.
TEST(CaptureFile, CorruptSchemaBlockWarnsAndExitsTwo) {
  TempDir dir;
  std::string path = write_synthetic(dir.path, test::make_synthetic_capture());
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(32 + 56 + 100);  // file header, block 0's header, into its payload
    char c = 0;
    f.read(&c, 1);
    f.seekp(32 + 56 + 100);
    c = static_cast<char>(c ^ 0x5a);
    f.write(&c, 1);
  }
  Result r = run_cli("report capture.ebt --folded", dir.path);
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("warning"), std::string::npos) << r.err;
  EXPECT_FALSE(r.out.empty());
}

// A --keep-stack-bytes capture whose recorder died before writing the unwind
// tables: every raw stack still counts as a sample (its kernel frames and the
// sampled user address), and the report says why the user stacks are short.
TEST(CaptureFile, RawStacksWithoutUnwindTablesKeepTheirSamples) {
  TempDir dir;
  std::string path = (dir.path / "keep.ebt").string();
  {
    SessionInfo s;
    s.hostname = "testhost";
    s.start_ns = 1'000'000'000;
    format::CaptureWriter w(path, s);
    w.add(ProcessInfo{77, 1, "app", "/usr/bin/app", {}, 0, "", {}, 0, 1'000'000'000});
    w.add(Mapping{77, 0x400000, 0x401000, 0, "/usr/bin/app", {1, 2, 3}, 1'000'000'000});
    w.add(Stack{1, {{0xffffffff81000000, FrameKind::kKernel}}});
    for (int i = 0; i < 10; i++)
      w.add(StackSnapshot{1'000'000'000u + uint64_t(i) * 1000, 77, 77, 0, 1, 0x400100, 0x7ffc0000, 0,
                          std::vector<uint8_t>(64, 0)});
    w.flush();  // no finish(): killed before the tables
  }
  auto p = load_profile(path, offline());
  ASSERT_EQ(p->samples.size(), 10u);
  EXPECT_EQ(p->raw_stacks, 10u);
  EXPECT_EQ(p->raw_stacks_to_end, 0u);
  const auto& frames = p->stacks.at(p->samples[0].stack_id);
  ASSERT_EQ(frames.size(), 2u);  // the kernel frame, then the sampled user address
  EXPECT_EQ(frames[1].address, 0x400100u);
  bool said = false;
  for (const auto& w : p->warnings) said = said || w.find("no unwind tables") != std::string::npos;
  EXPECT_TRUE(said);
}

}  // namespace
}  // namespace ebt::report
