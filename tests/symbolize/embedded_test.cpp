// Symbolization from what the capture embeds: symbol tables, source locations,
// kernel symbols; mapping choice over time; placeholders for what is unknown.
#include <gtest/gtest.h>

#include "symbolize/demangle.h"
#include "symbolize/embedded_table.h"
#include "symbolize/symbolizer.h"

namespace ebt::symbolize {
namespace {

const std::vector<uint8_t> kIdA = {0xaa, 0x01, 0x02, 0x03, 0x04};
const std::vector<uint8_t> kIdB = {0xbb, 0x01, 0x02, 0x03, 0x04};

SymbolizerOptions offline() {
  SymbolizerOptions o;
  o.local_files = false;
  o.debug_dirs.clear();
  return o;
}

Mapping mapping(uint32_t pid, uint64_t start, uint64_t end, uint64_t off, std::string path,
                std::vector<uint8_t> id, uint64_t time = 0) {
  Mapping m;
  m.pid = pid;
  m.start = start;
  m.end = end;
  m.file_offset = off;
  m.path = std::move(path);
  m.build_id = std::move(id);
  m.time_ns = time;
  return m;
}

// PIE: vaddrs start at 0, text segment at file offset 0x1000 == vaddr 0x1000.
SymbolTable pie_table() {
  SymbolTable t;
  t.build_id = kIdA;
  t.path = "/opt/app/bin/prog";
  t.segments = {{0x0, 0x0, 0x800}, {0x1000, 0x1000, 0x2000}};
  t.symbols = {{0x1100, 0x50, "_ZN2ns4burnEv"}, {0x1200, 0x100, "main"}, {0x1300, 0x20, "leaf_c"}};
  return t;
}

std::vector<SymFrame> one(Symbolizer& s, uint32_t pid, uint64_t addr, uint64_t time = 0,
                          FrameKind kind = FrameKind::kUser, bool ret = false) {
  std::vector<SymFrame> out;
  s.symbolize_frame(pid, time, {addr, kind}, ret, out);
  return out;
}

TEST(Demangle, CppNamesAndPlainNames) {
  EXPECT_EQ(demangle("_ZN2ns4burnEv"), "ns::burn()");
  EXPECT_EQ(demangle("_ZN5outer5inner3fooEiPKc"), "outer::inner::foo(int, char const*)");
  EXPECT_EQ(demangle("main"), "main");
  EXPECT_EQ(demangle("_Znotmangled"), "_Znotmangled");
  EXPECT_EQ(demangle("_ZNSt6vectorIiSaIiEE9push_backERKi@@GLIBCXX_3.4"),
            "std::vector<int, std::allocator<int> >::push_back(int const&)@@GLIBCXX_3.4");
}

TEST(FindSymbol, SizedSymbolsNeverCoverPastTheirEnd) {
  std::vector<Symbol> syms = {{0x100, 0x10, "a"}, {0x200, 0x0, "b"}, {0x300, 0x100, "big"},
                              {0x320, 0x8, "nested"}};
  EXPECT_EQ(find_symbol(syms, 0x100), 0);
  EXPECT_EQ(find_symbol(syms, 0x10f), 0);
  EXPECT_EQ(find_symbol(syms, 0x110), -1);  // past a's end, before b
  EXPECT_EQ(find_symbol(syms, 0x250), 1);   // zero-sized b, bounded by the next symbol
  EXPECT_EQ(find_symbol(syms, 0x324), 3);   // innermost sized symbol
  EXPECT_EQ(find_symbol(syms, 0x330), 2);   // past nested, still inside big
  EXPECT_EQ(find_symbol(syms, 0x400), -1);
  EXPECT_EQ(find_symbol(syms, 0x50), -1);
}

TEST(Segments, OffsetToVaddr) {
  std::vector<LoadSegment> segs = {{0x400000, 0x0, 0x1000}, {0x401000, 0x1000, 0x3000}};
  EXPECT_EQ(offset_to_vaddr(segs, 0x1234), 0x401234u);
  EXPECT_EQ(offset_to_vaddr(segs, 0x10), 0x400010u);
  EXPECT_FALSE(offset_to_vaddr(segs, 0x4000).has_value());
}

TEST(Symbolizer, PieFromEmbeddedTable) {
  Symbolizer s(offline());
  s.add(pie_table());
  s.add(mapping(10, 0x555555555000, 0x555555557000, 0x1000, "/opt/app/bin/prog", kIdA));
  auto f = one(s, 10, 0x555555555120);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].name, "ns::burn()");
  EXPECT_EQ(f[0].module, "prog");
  EXPECT_EQ(f[0].type, FrameType::kUser);
  EXPECT_TRUE(f[0].resolved);
  EXPECT_EQ(one(s, 10, 0x555555555200)[0].name, "main");
  // Between burn's end (0x1150) and main: no name is better than a wrong one.
  f = one(s, 10, 0x555555555160);
  EXPECT_EQ(f[0].name, "[prog+0x1160]");
  EXPECT_FALSE(f[0].resolved);
  // No mapping for the address at all.
  EXPECT_EQ(one(s, 10, 0x1234)[0].name, "[unknown]");
  EXPECT_EQ(one(s, 99, 0x555555555120)[0].name, "[unknown]");
}

TEST(Symbolizer, NonPieSegments) {
  SymbolTable t;
  t.build_id = kIdB;
  t.path = "/usr/bin/legacy";
  t.segments = {{0x400000, 0x0, 0x1000}, {0x401000, 0x1000, 0x2000}};
  t.symbols = {{0x401100, 0x40, "legacy_hot"}};
  Symbolizer s(offline());
  s.add(t);
  s.add(mapping(5, 0x401000, 0x403000, 0x1000, "/usr/bin/legacy", kIdB));
  EXPECT_EQ(one(s, 5, 0x401110)[0].name, "legacy_hot");
  EXPECT_EQ(one(s, 5, 0x401140)[0].name, "[legacy+0x1140]");
}

TEST(Symbolizer, ReturnAddressesLookUpTheCallInstruction) {
  Symbolizer s(offline());
  s.add(pie_table());
  s.add(mapping(10, 0x555555555000, 0x555555557000, 0x1000, "/opt/app/bin/prog", kIdA));
  // A call as the last instruction of ns::burn returns to burn's end (0x1150).
  std::vector<SymFrame> out;
  s.symbolize_stack(10, 0, {{0x555555555300, FrameKind::kUser}, {0x555555555150, FrameKind::kUser}}, out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].name, "leaf_c");
  EXPECT_EQ(out[1].name, "ns::burn()");
  // The same address as a leaf (an interrupted PC) is past burn.
  EXPECT_EQ(one(s, 10, 0x555555555150)[0].name, "[prog+0x1150]");
}

TEST(Symbolizer, KernelSymbolsBoundedByTheNext) {
  Symbolizer s(offline());
  KernelSymbols k;
  k.symbols = {{0xffffffff81000000, "start_kernel", ""},
               {0xffffffff81001000, "do_syscall_64", ""},
               {0xffffffff81002000, "ext4_file_read_iter", "ext4"},
               {0xffffffff81003000, "bound", ""}};
  s.add(k);
  auto f = one(s, 1, 0xffffffff81001234, 0, FrameKind::kKernel);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].name, "do_syscall_64");
  EXPECT_EQ(f[0].type, FrameType::kKernel);
  EXPECT_EQ(f[0].module, "[kernel.kallsyms]");
  EXPECT_EQ(one(s, 1, 0xffffffff81002010, 0, FrameKind::kKernel)[0].module, "[ext4]");
  // The last symbol only bounds the previous one; below the first: unknown.
  EXPECT_EQ(one(s, 1, 0xffffffff81003010, 0, FrameKind::kKernel)[0].name, "[unknown]");
  EXPECT_EQ(one(s, 1, 0xffffffff80000000, 0, FrameKind::kKernel)[0].name, "[unknown]");
  EXPECT_EQ(one(s, 1, 0xffffffff80000000, 0, FrameKind::kKernel)[0].type, FrameType::kKernel);
}

TEST(Symbolizer, InlineFramesFromEmbeddedSourceLocations) {
  SymbolTable t = pie_table();
  SourceLocation loc;
  loc.address = 0x1220;
  loc.frames = {{"_ZN2ns6squareEl", "util.h", 12}, {"main", "main.cpp", 40}};
  t.locations.push_back(loc);
  for (bool with_inline : {true, false}) {
    SymbolizerOptions o = offline();
    o.inline_frames = with_inline;
    Symbolizer s(o);
    s.add(t);
    s.add(mapping(10, 0x555555555000, 0x555555557000, 0x1000, "/opt/app/bin/prog", kIdA));
    auto f = one(s, 10, 0x555555555220);
    if (with_inline) {
      ASSERT_EQ(f.size(), 2u);
      EXPECT_EQ(f[0].name, "ns::square(long)");
      EXPECT_EQ(f[0].type, FrameType::kInline);
      EXPECT_EQ(f[0].file, "util.h");
      EXPECT_EQ(f[0].line, 12u);
      EXPECT_EQ(f[1].name, "main");
      EXPECT_EQ(f[1].type, FrameType::kUser);
      EXPECT_EQ(f[1].line, 40u);
    } else {
      ASSERT_EQ(f.size(), 1u);
      EXPECT_EQ(f[0].name, "main");
    }
  }
}

TEST(Symbolizer, PicksTheMappingValidAtTheSampleTime) {
  SymbolTable a = pie_table();
  SymbolTable b;
  b.build_id = kIdB;
  b.path = "/usr/bin/after-exec";
  b.segments = {{0x1000, 0x1000, 0x2000}};
  b.symbols = {{0x1100, 0x80, "after_exec_fn"}};
  Symbolizer s(offline());
  s.add(a);
  s.add(b);
  s.add(mapping(7, 0x555555555000, 0x555555557000, 0x1000, "/opt/app/bin/prog", kIdA, 100));
  s.add(mapping(7, 0x555555555000, 0x555555557000, 0x1000, "/usr/bin/after-exec", kIdB, 500));
  EXPECT_EQ(one(s, 7, 0x555555555120, 200)[0].name, "ns::burn()");
  EXPECT_EQ(one(s, 7, 0x555555555120, 600)[0].name, "after_exec_fn");
  // Before any mapping was recorded: the latest one containing the address.
  EXPECT_EQ(one(s, 7, 0x555555555120, 50)[0].name, "after_exec_fn");
  EXPECT_EQ(s.generation(7, 200), 0u);
  EXPECT_EQ(s.generation(7, 600), 1u);
  EXPECT_EQ(s.generation(8, 600), 0u);
}

TEST(Symbolizer, ObjectWithoutTableGetsModuleOffset) {
  Symbolizer s(offline());
  s.add(mapping(3, 0x7f0000000000, 0x7f0000010000, 0x2000, "/usr/lib/libgone.so.1", kIdB));
  s.add(mapping(3, 0x7f1000000000, 0x7f1000001000, 0, "[vdso]", {}));
  EXPECT_EQ(one(s, 3, 0x7f0000000010)[0].name, "[libgone.so.1+0x2010]");
  EXPECT_EQ(one(s, 3, 0x7f1000000010)[0].name, "[vdso+0x10]");
  auto objs = s.objects();
  ASSERT_EQ(objs.size(), 2u);
  EXPECT_EQ(objs[0].names, SymbolSource::kNone);
}

TEST(Symbolizer, LuaFramesFromProtos) {
  Symbolizer s(offline());
  LuaProto p;
  p.pid = 4;
  p.address = 0x1000;
  p.chunk = "@/srv/app.lua";
  p.first_line = 12;
  s.add(p);
  auto f = one(s, 4, 0x1000, 0, FrameKind::kLua);
  EXPECT_EQ(f[0].name, "/srv/app.lua:12");
  EXPECT_EQ(f[0].type, FrameType::kLua);
  EXPECT_FALSE(one(s, 4, 0x2000, 0, FrameKind::kLua)[0].resolved);
}

TEST(Symbolizer, TruncatedEmbeddedChainKeepsTheInlinedFunction) {
  // A chain holding only the inlined function (no containing subprogram): the
  // symbol supplies the outer frame, the chain's frame stays as inline.
  SymbolTable t = pie_table();
  t.locations.push_back({0x1230, {{"hot_inner", "cpuburn.cpp", 30}}});
  t.locations.push_back({0x1240, {{"main", "main.cpp", 41}}});
  t.locations.push_back({0x1110, {{"burn", "x.cpp", 5}}});  // DW_AT_name of _ZN2ns4burnEv
  Symbolizer s(offline());
  s.add(t);
  s.add(mapping(10, 0x555555555000, 0x555555557000, 0x1000, "/opt/app/bin/prog", kIdA));
  auto f = one(s, 10, 0x555555555230);
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f[0].name, "hot_inner");
  EXPECT_EQ(f[0].type, FrameType::kInline);
  EXPECT_EQ(f[1].name, "main");
  f = one(s, 10, 0x555555555240);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].line, 41u);
  f = one(s, 10, 0x555555555110);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].name, "ns::burn()");
}

}  // namespace
}  // namespace ebt::symbolize
