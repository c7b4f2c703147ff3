// The native unwinder across LuaJIT's VM activations (unwind::VmFrames, filled
// by record/lua_recorder.cpp from L->cframe and the stack copy), without BPF or
// LuaJIT: this process takes a snapshot of its own stack inside a chain of
// calls and declares one function of the chain "the interpreter" (or lets the
// leaf run in anonymous executable memory, as a JIT trace does), with a "VM C
// frame" whose return address is that of a frame further out. The walk must go
// from the VM frame or the JIT code straight to that C frame's caller (never to
// what the CFI or a scan of the stack would give) and on to the process entry.
#include <dlfcn.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "record/dwarf_unwinder.h"

namespace {

struct Snapshot {
  uint64_t ip = 0, sp = 0, bp = 0;
  std::vector<uint8_t> stack;
};

uint64_t mapping_end(uint64_t addr) {
  FILE* f = fopen("/proc/self/maps", "r");
  char line[512];
  uint64_t end = 0;
  while (f && fgets(line, sizeof line, f)) {
    unsigned long long s, e;
    if (sscanf(line, "%llx-%llx", &s, &e) == 2 && addr >= s && addr < e) end = e;
  }
  if (f) fclose(f);
  return end;
}

// The raw stack above sp, as BPF copies it (frames' redzones included: not a
// sanitizer's business).
__attribute__((no_sanitize_address, noinline)) void copy_raw(uint8_t* dst, uint64_t src, size_t n) {
  const volatile uint8_t* p = reinterpret_cast<const volatile uint8_t*>(src);
  for (size_t i = 0; i < n; i++) dst[i] = p[i];
}

__attribute__((noinline)) void take_snapshot(Snapshot* out) {
  uint64_t ip, sp, bp;
  asm volatile("lea 0(%%rip), %0\n\tmov %%rsp, %1\n\tmov %%rbp, %2" : "=r"(ip), "=r"(sp), "=r"(bp));
  out->ip = ip;
  out->sp = sp;
  out->bp = bp;
  size_t n = std::min<uint64_t>(65536, mapping_end(sp) - sp);
  out->stack.resize(n);
  copy_raw(out->stack.data(), sp, n);
  asm volatile("" ::: "memory");
}

extern "C" __attribute__((noinline)) int ebt_lua_unwind_level3(Snapshot* s) {
  take_snapshot(s);
  asm volatile("" ::: "memory");
  return int(s->stack.size() & 1);
}
// "The interpreter": a frame larger than CFRAME_SIZE, like the VM's.
extern "C" __attribute__((noinline)) int ebt_lua_unwind_level2(Snapshot* s) {
  volatile char pad[200];
  pad[0] = 1;
  return ebt_lua_unwind_level3(s) + pad[0];
}
extern "C" __attribute__((noinline)) int ebt_lua_unwind_level1(Snapshot* s) { return ebt_lua_unwind_level2(s) + 1; }

std::string name_of(uint64_t pc) {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(pc), &info) && info.dli_sname) return info.dli_sname;
  return "?";
}

std::vector<std::string> names(const std::vector<uint64_t>& pcs) {
  std::vector<std::string> v;
  for (size_t i = 0; i < pcs.size(); i++) v.push_back(name_of(i ? pcs[i] - 1 : pcs[i]));
  return v;
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += x + ";";
  return s;
}

int index_of(const std::vector<std::string>& v, const std::string& n) {
  for (size_t i = 0; i < v.size(); i++)
    if (v[i] == n) return int(i);
  return -1;
}

// The address of the stack slot holding `word`, searched from `from` up.
uint64_t slot_of(const Snapshot& s, uint64_t word, uint64_t from) {
  for (uint64_t off = (from - s.sp + 7) & ~uint64_t{7}; off + 8 <= s.stack.size(); off += 8) {
    uint64_t w;
    std::memcpy(&w, s.stack.data() + off, 8);
    if (w == word) return s.sp + off;
  }
  return 0;
}

struct Plain {
  std::vector<uint64_t> pcs;
  std::vector<std::string> n;
  int l3 = -1, l2 = -1, l1 = -1;
};

Plain plain_walk(ebt::record::DwarfUnwinder& u, const Snapshot& s) {
  Plain p;
  uint32_t pid = uint32_t(getpid());
  u.unwind({pid, pid, 1, s.ip, s.sp, s.bp}, s.stack, &p.pcs);
  p.n = names(p.pcs);
  p.l3 = index_of(p.n, "ebt_lua_unwind_level3");
  p.l2 = index_of(p.n, "ebt_lua_unwind_level2");
  p.l1 = index_of(p.n, "ebt_lua_unwind_level1");
  return p;
}

constexpr uint32_t kCFrameSize = 80;  // LuaJIT x86-64: return address at +72, rbp at +64

// level2 is "the interpreter", and its C frame's return address is the one
// into level1's caller: the walk skips level1 although the CFI has it.
TEST(LuaUnwind, VmFrameContinuesAtItsCFramesCaller) {
  Snapshot s;
  ebt_lua_unwind_level1(&s);
  ebt::record::DwarfUnwinder u;
  Plain p = plain_walk(u, s);
  ASSERT_TRUE(p.l3 >= 0 && p.l2 == p.l3 + 1 && p.l1 == p.l2 + 1 && p.l1 + 2 < int(p.pcs.size())) << joined(p.n);
  uint64_t outer_ra = p.pcs[p.l1 + 1];  // into level1's caller
  uint64_t slot = slot_of(s, outer_ra, s.sp);
  ASSERT_NE(slot, 0u);
  Dl_info info{};
  ASSERT_TRUE(dladdr(reinterpret_cast<void*>(p.pcs[p.l2] - 1), &info));

  ebt::unwind::VmFrames vm;
  vm.interp_start = reinterpret_cast<uint64_t>(info.dli_saddr);
  vm.interp_end = p.pcs[p.l2] + 1;  // level2's code up to its call
  vm.cframe_size = kCFrameSize;
  vm.cframes = {slot + 8 - kCFrameSize};
  std::vector<uint64_t> pcs;
  uint32_t pid = uint32_t(getpid());
  bool to_end = u.unwind({pid, pid, 1, s.ip, s.sp, s.bp, &vm}, s.stack, &pcs);
  auto n = names(pcs);
  EXPECT_TRUE(to_end) << joined(n);
  // take_snapshot, level3, level2 ("VM"), then level1's caller and the rest.
  std::vector<uint64_t> want(p.pcs.begin(), p.pcs.begin() + p.l2 + 1);
  want.insert(want.end(), p.pcs.begin() + p.l1 + 1, p.pcs.end());
  EXPECT_EQ(pcs, want) << "got " << joined(n) << "\nplain " << joined(p.n);
}

// The leaf runs in anonymous executable memory (a trace): no CFI there, and
// no guessing from the stack: the walk goes on at the C frame's caller.
TEST(LuaUnwind, JitCodeContinuesAtItsCFramesCaller) {
  void* page = mmap(nullptr, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(page, MAP_FAILED);
  Snapshot s;
  ebt_lua_unwind_level1(&s);
  ebt::record::DwarfUnwinder u;
  Plain p = plain_walk(u, s);
  ASSERT_TRUE(p.l3 >= 0 && p.l2 == p.l3 + 1 && p.l1 == p.l2 + 1) << joined(p.n);
  uint64_t l1_ra = p.pcs[p.l1];  // level2's return address, into level1
  uint64_t slot = slot_of(s, l1_ra, s.sp);
  ASSERT_NE(slot, 0u);
  uint64_t jit_ip = reinterpret_cast<uint64_t>(page) + 16;
  uint32_t pid = uint32_t(getpid());

  ebt::unwind::VmFrames vm;
  vm.interp_start = 1;  // no interpreter frame in this stack
  vm.interp_end = 2;
  vm.cframe_size = kCFrameSize;
  vm.cframes = {slot + 8 - kCFrameSize};
  std::vector<uint64_t> pcs;
  bool to_end = u.unwind({pid, pid, 1, jit_ip, s.sp, s.bp, &vm}, s.stack, &pcs);
  auto n = names(pcs);
  EXPECT_TRUE(to_end) << joined(n);
  std::vector<uint64_t> want{jit_ip};
  want.insert(want.end(), p.pcs.begin() + p.l1, p.pcs.end());
  EXPECT_EQ(pcs, want) << "got " << joined(n) << "\nplain " << joined(p.n);

  // Two activations: the JIT code's C frame is the inner one (the outer one
  // is never taken for a frame below the inner one).
  uint64_t outer_slot = slot_of(s, p.pcs[p.l1 + 1], slot + 8);
  ASSERT_NE(outer_slot, 0u);
  vm.cframes = {slot + 8 - kCFrameSize, outer_slot + 8 - kCFrameSize};
  pcs.clear();
  u.unwind({pid, pid, 1, jit_ip, s.sp, s.bp, &vm}, s.stack, &pcs);
  EXPECT_EQ(pcs, want) << "got " << joined(names(pcs));
  munmap(page, 4096);
}

}  // namespace
