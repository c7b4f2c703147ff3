// File-based sources on a real ELF compiled at test time: the local file when its
// build-id matches (never otherwise), --symfs, debug directories by build-id, and
// DWARF inline chains + file:line.
#include <gtest/gtest.h>

#include <filesystem>

#include "symbolize/dwarf_object.h"
#include "symbolize/symbolizer.h"
#include "tests/symbolize/test_elf.h"

namespace ebt::symbolize {
namespace {

namespace fs = std::filesystem;
using test::TempDir;
using test::TestElf;

constexpr uint64_t kBase = 0x555555554000;

class DwarfSources : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    elf_ = new TestElf(test::build_test_elf(dir_->path, "t"));
  }
  static void TearDownTestSuite() {
    delete elf_;
    delete dir_;
  }
  void SetUp() override {
    ASSERT_FALSE(elf_->build_id.empty()) << "test binary has no build-id";
    ASSERT_TRUE(elf_->symbols.count("_ZN4work8hot_loopEl"));
    ASSERT_TRUE(elf_->symbols.count("outer_with_inline"));
  }

  static Mapping map_as(const std::string& path, std::vector<uint8_t> id) {
    Mapping m;
    m.pid = 42;
    m.start = kBase;
    m.end = kBase + 0x100000;
    m.file_offset = 0;
    m.path = path;
    m.build_id = std::move(id);
    return m;
  }
  static uint64_t addr_of(const std::string& sym, uint64_t delta = 0) {
    return kBase + elf_->offset_of(elf_->symbols.at(sym).address + delta);
  }
  static SymbolizerOptions only_local() {
    SymbolizerOptions o;
    o.debug_dirs.clear();
    return o;
  }
  static std::vector<SymFrame> one(Symbolizer& s, uint64_t addr) {
    std::vector<SymFrame> out;
    s.symbolize_frame(42, 0, {addr, FrameKind::kUser}, false, out);
    return out;
  }

  static TempDir* dir_;
  static TestElf* elf_;
};
TempDir* DwarfSources::dir_ = nullptr;
TestElf* DwarfSources::elf_ = nullptr;

TEST_F(DwarfSources, ReadBuildIdMatchesReadelf) {
  EXPECT_EQ(read_build_id(elf_->path), elf_->build_id);
  EXPECT_TRUE(read_build_id("/nonexistent/file").empty());
}

TEST_F(DwarfSources, LocalFileWithMatchingBuildIdGivesNamesAndLines) {
  Symbolizer s(only_local());
  s.add(map_as(elf_->path, elf_->build_id));
  auto f = one(s, addr_of("_ZN4work8hot_loopEl", 4));
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].name, "work::hot_loop(long)");
  EXPECT_EQ(f[0].module, "t");
  EXPECT_TRUE(f[0].resolved);
  EXPECT_NE(f[0].file.find("t.cpp"), std::string::npos) << f[0].file;
  EXPECT_GT(f[0].line, 0u);
  auto objs = s.objects();
  ASSERT_EQ(objs.size(), 1u);
  EXPECT_EQ(objs[0].names, SymbolSource::kLocalFile);
  EXPECT_TRUE(objs[0].dwarf);
}

TEST_F(DwarfSources, InlineChainFromDwarf) {
  const auto& sym = elf_->symbols.at("outer_with_inline");
  bool found = false;
  for (uint64_t d = 0; d < sym.size && !found; ++d) {
    Symbolizer s(only_local());
    s.add(map_as(elf_->path, elf_->build_id));
    auto f = one(s, addr_of("outer_with_inline", d));
    if (f.size() == 2 && f[0].type == FrameType::kInline) {
      found = true;
      EXPECT_NE(f[0].name.find("squared_sum"), std::string::npos) << f[0].name;
      EXPECT_EQ(f[1].name, "outer_with_inline");
      EXPECT_EQ(f[1].type, FrameType::kUser);
      EXPECT_GT(f[0].line, 0u);
      EXPECT_GT(f[1].line, 0u);
      // Without inline frames only the real function remains.
      SymbolizerOptions o = only_local();
      o.inline_frames = false;
      Symbolizer no_inline(o);
      no_inline.add(map_as(elf_->path, elf_->build_id));
      auto g = one(no_inline, addr_of("outer_with_inline", d));
      ASSERT_EQ(g.size(), 1u);
      EXPECT_EQ(g[0].name, "outer_with_inline");
    }
  }
  EXPECT_TRUE(found) << "no address of outer_with_inline resolved to an inline chain";
}

TEST_F(DwarfSources, BuildIdMismatchRefusesTheLocalFile) {
  Symbolizer s(only_local());
  s.add(map_as(elf_->path, {0xde, 0xad, 0xbe, 0xef}));
  uint64_t a = addr_of("_ZN4work8hot_loopEl", 4);
  auto f = one(s, a);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_FALSE(f[0].resolved);
  EXPECT_EQ(f[0].name, "[t+0x" + [&] {
    char b[32];
    snprintf(b, sizeof b, "%lx", static_cast<unsigned long>(a - kBase));
    return std::string(b);
  }() + "]");
  auto objs = s.objects();
  ASSERT_EQ(objs.size(), 1u);
  ASSERT_EQ(objs[0].rejected.size(), 1u);
  EXPECT_NE(objs[0].rejected[0].find("differs"), std::string::npos) << objs[0].rejected[0];
  // No build-id in the capture: the local file cannot be verified, so it is not used.
  Symbolizer s2(only_local());
  s2.add(map_as(elf_->path, {}));
  EXPECT_FALSE(one(s2, a)[0].resolved);
}

TEST_F(DwarfSources, MismatchedFileDoesNotOverrideEmbeddedTable) {
  SymbolTable t;
  t.build_id = {1, 2, 3, 4};
  t.path = elf_->path;
  t.segments = elf_->segments;
  t.symbols = {{elf_->symbols.at("_ZN4work8hot_loopEl").address, 8, "embedded_name"}};
  Symbolizer s(only_local());
  s.add(t);
  s.add(map_as(elf_->path, {1, 2, 3, 4}));
  EXPECT_EQ(one(s, addr_of("_ZN4work8hot_loopEl", 4))[0].name, "embedded_name");
  EXPECT_EQ(s.objects()[0].names, SymbolSource::kEmbedded);
}

TEST_F(DwarfSources, DwarfFileBeatsEmbeddedTable) {
  SymbolTable t;
  t.build_id = elf_->build_id;
  t.path = elf_->path;
  t.segments = elf_->segments;
  t.symbols = {{elf_->symbols.at("_ZN4work8hot_loopEl").address, 8, "embedded_name"}};
  Symbolizer s(only_local());
  s.add(t);
  s.add(map_as(elf_->path, elf_->build_id));
  auto f = one(s, addr_of("_ZN4work8hot_loopEl", 4));
  EXPECT_EQ(f[0].name, "work::hot_loop(long)");
  EXPECT_GT(f[0].line, 0u);
}

TEST_F(DwarfSources, SymfsPathAndBuildIdLayouts) {
  TempDir symfs;
  // DIR/<path as recorded>
  fs::create_directories(symfs.path / "opt/gone");
  fs::copy_file(elf_->path, symfs.path / "opt/gone/t");
  {
    SymbolizerOptions o = only_local();
    o.symfs = {symfs.path.string()};
    Symbolizer s(o);
    s.add(map_as("/opt/gone/t", elf_->build_id));
    auto f = one(s, addr_of("_ZN4work8hot_loopEl", 4));
    EXPECT_EQ(f[0].name, "work::hot_loop(long)");
    EXPECT_EQ(s.objects()[0].names, SymbolSource::kSymfs);
  }
  // DIR/.build-id/xx/rest.debug holding only the debug info (objcopy --only-keep-debug).
  TempDir debug;
  std::string id = hex_build_id(elf_->build_id);
  fs::create_directories(debug.path / ".build-id" / id.substr(0, 2));
  fs::path dbg = debug.path / ".build-id" / id.substr(0, 2) / (id.substr(2) + ".debug");
  ASSERT_EQ(system(("objcopy --only-keep-debug " + elf_->path + " " + dbg.string()).c_str()), 0);
  for (bool as_symfs : {true, false}) {
    SymbolizerOptions o = only_local();
    if (as_symfs) o.symfs = {debug.path.string()};
    else o.debug_dirs = {debug.path.string()};
    Symbolizer s(o);
    s.add(map_as("/nonexistent/dir/t", elf_->build_id));
    auto f = one(s, addr_of("_ZN4work8hot_loopEl", 4));
    EXPECT_EQ(f[0].name, "work::hot_loop(long)");
    EXPECT_GT(f[0].line, 0u);
    auto objs = s.objects();
    EXPECT_EQ(objs[0].names, as_symfs ? SymbolSource::kSymfs : SymbolSource::kDebugDir);
    EXPECT_EQ(objs[0].file, dbg.string());
  }
  // A symfs file with another build-id is refused.
  {
    TempDir other;
    TestElf e2 = test::build_test_elf(other.path, "t", "-DEXTRA=1 -O1");
    ASSERT_NE(e2.build_id, elf_->build_id);
    TempDir symfs2;
    fs::create_directories(symfs2.path / "opt/gone");
    fs::copy_file(e2.path, symfs2.path / "opt/gone/t");
    SymbolizerOptions o = only_local();
    o.symfs = {symfs2.path.string()};
    Symbolizer s(o);
    s.add(map_as("/opt/gone/t", elf_->build_id));
    EXPECT_FALSE(one(s, addr_of("_ZN4work8hot_loopEl", 4))[0].resolved);
  }
}

TEST_F(DwarfSources, SeparateDebugFileUsesTheLoadBias) {
  // Debug files zero their PT_LOAD offsets: the address must come from the
  // object's first mapping (file offset 0), as the kernel maps it.
  TempDir debug;
  std::string id = hex_build_id(elf_->build_id);
  fs::create_directories(debug.path / ".build-id" / id.substr(0, 2));
  fs::path dbg = debug.path / ".build-id" / id.substr(0, 2) / (id.substr(2) + ".debug");
  ASSERT_EQ(system(("objcopy --only-keep-debug " + elf_->path + " " + dbg.string()).c_str()), 0);
  const uint64_t bias = 0x7f1234560000;
  const uint64_t hot = elf_->symbols.at("_ZN4work8hot_loopEl").address;
  const LoadSegment* text = nullptr;
  for (const auto& seg : elf_->segments) {
    if (hot >= seg.vaddr && hot < seg.vaddr + seg.file_size) text = &seg;
  }
  ASSERT_NE(text, nullptr);
  Mapping first = map_as("/gone/t", elf_->build_id);
  first.start = bias;
  first.end = bias + 0x1000;
  Mapping exec = map_as("/gone/t", elf_->build_id);
  exec.start = bias + (text->vaddr & ~0xfffULL);
  exec.end = exec.start + 0x10000;
  exec.file_offset = text->file_offset & ~0xfffULL;
  SymbolizerOptions o = only_local();
  o.debug_dirs = {debug.path.string()};
  Symbolizer s(o);
  s.add(first);
  s.add(exec);
  std::vector<SymFrame> out;
  s.symbolize_frame(42, 0, {bias + hot + 4, FrameKind::kUser}, false, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].name, "work::hot_loop(long)");
  EXPECT_EQ(s.objects()[0].names, SymbolSource::kDebugDir);
}

}  // namespace
}  // namespace ebt::symbolize
