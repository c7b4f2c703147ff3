// Offline naming of LuaJIT frames (symbolize/lua_names.h) on hand-built protos:
// lines from lineinfo, callee names from the caller's bytecode (GGET, UGET via
// MOV, TGETS, a local from varinfo), fast-function names, pseudo-frames and the
// C-boundary segment marks. The e2e tests in tests/lua/ check real captures.
#include "symbolize/lua_names.h"

#include <gtest/gtest.h>

#include <array>
#include <cstring>

namespace ebt::symbolize {
namespace {

// Opcode numbers of this test's "build" (names by opcode, as LuaVm carries them).
enum Op : uint32_t { FUNCF, GGET, CALL, TGETS, MOV, UGET, KSHORT };
const std::vector<std::string> kBc = {"FUNCF", "GGET", "CALL", "TGETS", "MOV", "UGET", "KSHORT"};

uint32_t ad(Op op, uint32_t a, uint32_t d) { return op | a << 8 | d << 16; }
uint32_t abc(Op op, uint32_t a, uint32_t b, uint32_t c) { return op | a << 8 | c << 16 | b << 24; }

constexpr uint64_t kAddr = 0x7f0000001000;
constexpr uint32_t kHeader = 104;

LuaProto caller() {
  std::vector<uint32_t> bc = {
      ad(FUNCF, 0, 0),
      ad(GGET, 0, 0),       // 1: slot 0 = _G["leaf_b"]
      ad(KSHORT, 1, 5),     // 2
      abc(CALL, 0, 2, 2),   // 3: leaf_b(5)               line 12
      ad(UGET, 2, 1),       // 4: slot 2 = upvalue 1 ("helper")
      ad(MOV, 3, 2),        // 5: slot 3 = slot 2
      abc(CALL, 3, 1, 1),   // 6: helper()                line 13
      abc(TGETS, 4, 0, 1),  // 7: slot 4 = slot0.method
      abc(CALL, 4, 1, 1),   // 8: x.method()              line 14
      abc(CALL, 5, 1, 1),   // 9: loc()  (a local)         line 15
  };
  LuaProto p;
  p.pid = 7;
  p.id = 1;
  p.address = kAddr;
  p.chunk = "@/tmp/t/app.lua";
  p.first_line = 10;
  p.last_line = 16;
  p.bc_offset = kHeader;
  p.size_bc = bc.size();
  p.blob.resize(kHeader + bc.size() * 4);
  std::memcpy(p.blob.data() + kHeader, bc.data(), bc.size() * 4);
  p.lineinfo_offset = p.blob.size();
  for (uint8_t l : {1, 2, 2, 3, 3, 3, 4, 4, 5}) p.blob.push_back(l);  // instructions 1..9
  p.uvinfo_offset = p.blob.size();
  for (const char* s : {"up0", "helper"}) p.blob.insert(p.blob.end(), s, s + std::strlen(s) + 1);
  p.varinfo_offset = p.blob.size();
  // slots 0..4 are temporaries here; one local "loc" lives in slot 0 of the
  // varinfo list from pc 9 to 14 (varinfo counts live locals, not raw slots):
  // debug_varname(pc, slot 0) is "loc".
  for (uint8_t b : {uint8_t('l'), uint8_t('o'), uint8_t('c'), uint8_t(0), uint8_t(9), uint8_t(5), uint8_t(0)}) p.blob.push_back(b);
  p.kgc_strings = {{0, "leaf_b"}, {1, "method"}};
  return p;
}

uint64_t pc_after(uint32_t pos) { return kAddr + kHeader + (pos + 1) * 4; }

TEST(LuaNames, LineOfReturnPcIsTheCallLine) {
  LuaProto p = caller();
  EXPECT_EQ(LuaNamer::line_of(p, pc_after(3)), 12u);
  EXPECT_EQ(LuaNamer::line_of(p, pc_after(6)), 13u);
  EXPECT_EQ(LuaNamer::line_of(p, pc_after(9)), 15u);
  EXPECT_EQ(LuaNamer::line_of(p, pc_after(0)), 10u);  // function header: first line
  EXPECT_FALSE(LuaNamer::line_of(p, kAddr));           // before the bytecode
  EXPECT_FALSE(LuaNamer::line_of(p, pc_after(3) + 1)); // not an instruction boundary
  EXPECT_FALSE(LuaNamer::line_of(p, pc_after(40)));    // past the proto
}

TEST(LuaNames, CalleeNameFromCallerBytecode) {
  LuaProto p = caller();
  EXPECT_EQ(LuaNamer::callee_name(p, pc_after(3), kBc), "leaf_b");  // GGET
  EXPECT_EQ(LuaNamer::callee_name(p, pc_after(6), kBc), "helper");  // MOV -> UGET
  EXPECT_EQ(LuaNamer::callee_name(p, pc_after(8), kBc), "method");  // TGETS
  EXPECT_EQ(LuaNamer::callee_name(p, pc_after(2), kBc), "");        // not a call
}

TEST(LuaNames, CalleeNameFromLocal) {
  LuaProto p = caller();
  // CALL A=5 at pos 9; varinfo has one live local at pc 9, so slot 0 is "loc"
  // and slot 5 is not a named local: no name, like lj_debug_funcname.
  EXPECT_EQ(LuaNamer::callee_name(p, pc_after(9), kBc), "");
  // The same local filling the called slot directly.
  std::memcpy(p.blob.data() + kHeader + 9 * 4, std::array<uint32_t, 1>{abc(CALL, 0, 1, 1)}.data(), 4);
  EXPECT_EQ(LuaNamer::callee_name(p, pc_after(9), kBc), "loc");
}

TEST(LuaNames, TruncatedBlobsNeverCrash) {
  LuaProto p = caller();
  for (size_t n = 0; n < p.blob.size(); n++) {
    LuaProto q = p;
    q.blob.resize(n);
    (void)LuaNamer::line_of(q, pc_after(3));
    (void)LuaNamer::callee_name(q, pc_after(6), kBc);
    (void)LuaNamer::callee_name(q, pc_after(9), kBc);
  }
}

TEST(LuaNames, StackLabels) {
  LuaNamer n;
  LuaVm vm;
  vm.pid = 7;
  vm.bc_names = kBc;
  vm.ff_names = {"Lua", "C", "assert", "pcall"};
  n.add(vm);
  LuaProto c = caller();
  n.add(c);
  LuaProto leaf = caller();
  leaf.id = 2;
  leaf.address = kAddr + 0x1000;
  leaf.chunk = "@/tmp/t/lib.lua";
  leaf.first_line = 40;
  leaf.last_line = 46;
  n.add(leaf);

  LuaStack s;
  s.vmstate = 3;  // trace 3 running
  // leaf (pc unknown: a trace) <- caller at pos 3 <- builtin pcall <- a C function (entered from C)
  s.frames = {
      {LuaFrameKind::kLua, 2, leaf.address, 0, 0, false},
      {LuaFrameKind::kLua, 1, kAddr, pc_after(3), 6, false},  // called by pcall (FRAME_PCALL)
      {LuaFrameKind::kFast, 0, 3, 0, 0, false},
      {LuaFrameKind::kC, 0, 0x5555000, 0, 5, false},          // FRAME_CP: lua_pcall from C
  };
  auto l = n.label(7, s);
  ASSERT_EQ(l.size(), 5u);
  EXPECT_EQ(l[0].name, "[trace 3]");
  EXPECT_EQ(l[0].kind, LuaLabel::Kind::kPseudo);
  EXPECT_EQ(l[1].name, "@/tmp/t/lib.lua:40 leaf_b");  // no pc: first line; named by the caller's GGET
  EXPECT_EQ(l[2].name, "@/tmp/t/app.lua:12");         // called by pcall: no name
  EXPECT_EQ(l[3].name, "builtin#pcall");
  EXPECT_EQ(l[4].kind, LuaLabel::Kind::kC);
  EXPECT_EQ(l[4].address, 0x5555000u);
  EXPECT_TRUE(l[4].segment_end);
  EXPECT_FALSE(l[1].segment_end);

  s.vmstate = -3;
  s.frames[2].address = 99;  // an id this build has no name for
  l = n.label(7, s);
  EXPECT_EQ(l[0].name, "[GC]");
  EXPECT_EQ(l[3].name, "builtin#99");
  s.vmstate = -6;
  EXPECT_EQ(n.label(7, s)[0].name, "[JIT compiler]");
  s.vmstate = -1;
  EXPECT_EQ(n.label(7, s)[0].name, "@/tmp/t/lib.lua:40 leaf_b");

  // A proto the capture does not hold.
  s.frames[0].proto_id = 77;
  EXPECT_EQ(n.label(7, s)[0].name, "[lua proto 0x7f0000002000]");

  // The final LuaVm copy (counters, no names) keeps the names.
  LuaVm fin;
  fin.pid = 7;
  fin.final = true;
  n.add(fin);
  EXPECT_EQ(n.label(7, s)[2].name, "builtin#99");
  s.frames[2].address = 3;
  EXPECT_EQ(n.label(7, s)[2].name, "builtin#pcall");
}

}  // namespace
}  // namespace ebt::symbolize
