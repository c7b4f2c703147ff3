// /proc, ELF and kallsyms harvesting, without BPF.
#include <dlfcn.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <string>

#include <gtest/gtest.h>

#include "record/objects.h"
#include "record/proc_reader.h"
#include "record/symbol_harvest.h"
#include "symbolize/dwarf_object.h"
#include "symbolize/embedded_table.h"

namespace {

using namespace ebt;
using namespace ebt::record;

__attribute__((noinline)) int harvest_test_marker(int x) { return x * 3 + 1; }

// An address inside inlined code: the return address of a call made from a
// function that is always inlined into harvest_test_outer.
uint64_t g_inline_ret = 0;
__attribute__((noinline)) int harvest_test_callee(int x) {
  g_inline_ret = reinterpret_cast<uint64_t>(__builtin_return_address(0));
  return x + 1;
}
static inline __attribute__((always_inline)) int harvest_test_inlined(int x) {
  return harvest_test_callee(x) * 2;
}
__attribute__((noinline)) int harvest_test_outer(int x) { return harvest_test_inlined(x) + 5; }

std::string self_exe() { return std::filesystem::canonical("/proc/self/exe").string(); }

std::string readelf_build_id(const std::string& path) {
  std::string cmd = "readelf -n '" + path + "' 2>/dev/null | sed -n 's/.*Build ID: //p'";
  FILE* p = popen(cmd.c_str(), "r");
  char buf[256] = {};
  if (!fgets(buf, sizeof buf, p)) buf[0] = 0;
  pclose(p);
  std::string s = buf;
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// This process's executable mapping that holds `addr`, read the way the
// recorder reads mappings.
std::optional<ProcMapping> own_exec_mapping_at(uint64_t addr) {
  auto maps = read_exec_maps(uint32_t(getpid()));
  if (!maps) return std::nullopt;
  for (const auto& m : *maps)
    if (addr >= m.start && addr < m.end) return m;
  return std::nullopt;
}

std::string hex(const std::vector<uint8_t>& v) {
  std::string s;
  char b[3];
  for (uint8_t c : v) {
    snprintf(b, sizeof b, "%02x", c);
    s += b;
  }
  return s;
}

TEST(Harvest, ProcessInfoOfSelf) {
  auto p = read_process_info(uint32_t(getpid()), boot_minus_mono_ns());
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->pid, uint32_t(getpid()));
  EXPECT_EQ(p->ppid, uint32_t(getppid()));
  EXPECT_EQ(p->exe, self_exe());
  ASSERT_FALSE(p->cmdline.empty());
  EXPECT_FALSE(p->nspid.empty());
  EXPECT_EQ(p->nspid.back(), uint32_t(getpid()));
  // Started before now, and not long before boot.
  EXPECT_GT(p->start_ns, 0u);
  EXPECT_LE(p->start_ns, monotonic_ns());
}

TEST(Harvest, VanishedProcessIsNotAnError) {
  pid_t child = fork();
  if (child == 0) _exit(0);
  int st;
  waitpid(child, &st, 0);
  EXPECT_FALSE(read_process_info(uint32_t(child), 0).has_value());
  EXPECT_FALSE(read_exec_maps(uint32_t(child)).has_value());
  EXPECT_TRUE(list_tids(uint32_t(child)).empty());
}

TEST(Harvest, ExecutableMappingAndBuildId) {
  uint64_t addr = reinterpret_cast<uint64_t>(&harvest_test_marker);
  auto exe = own_exec_mapping_at(addr);
  ASSERT_TRUE(exe.has_value());
  EXPECT_EQ(exe->path, self_exe());
  EXPECT_EQ(exe->perms[2], 'x');
  ObjectCache cache;
  ObjectFile* obj = cache.get(uint32_t(getpid()), *exe);
  ASSERT_NE(obj, nullptr);
  std::string expected = readelf_build_id(self_exe());
  if (!expected.empty()) EXPECT_EQ(hex(obj->build_id), expected);
  EXPECT_EQ(cache.get(uint32_t(getpid()), *exe), obj) << "one object per file";

  // The marker's runtime address maps back to its ELF address and symbol.
  uint64_t vaddr = 0;
  ASSERT_TRUE(obj->offset_to_vaddr(addr - exe->start + exe->offset, &vaddr));
  obj->hits.insert(vaddr);
  SymbolTable t = build_symbol_table(*obj);
  EXPECT_EQ(t.build_id, obj->build_id);
  EXPECT_TRUE(std::is_sorted(t.symbols.begin(), t.symbols.end(),
                             [](const Symbol& a, const Symbol& b) { return a.address < b.address; }));
  bool found = false;
  for (const auto& s : t.symbols)
    if (vaddr >= s.address && vaddr < s.address + s.size)
      found |= s.name.find("harvest_test_marker") != std::string::npos;
  EXPECT_TRUE(found);
  // Built with -g: the hit address has a source location in this file.
  ASSERT_EQ(t.locations.size(), 1u);
  EXPECT_EQ(t.locations[0].address, vaddr);
  ASSERT_FALSE(t.locations[0].frames.empty());
  EXPECT_NE(t.locations[0].frames[0].file.find("harvest_test.cpp"), std::string::npos);
  EXPECT_NE(t.locations[0].frames.back().function.find("harvest_test_marker"), std::string::npos);
}

// The recorder embeds only the symbols that name the hit addresses; the
// symbolizer's lookup must give the same answer on that subset as on the whole
// table, for every hit: tables with nested, shared-start and zero-sized symbols.
TEST(Harvest, HitSymbolSubsetNamesHitsLikeTheFullTable) {
  std::mt19937_64 rng(12345);
  for (int round = 0; round < 200; round++) {
    std::vector<Symbol> all;
    uint64_t addr = 0x1000;
    int n = 5 + int(rng() % 60);
    for (int i = 0; i < n; i++) {
      addr += rng() % 3 == 0 ? 0 : 1 + rng() % 64;  // some symbols share a start
      uint64_t size = rng() % 4 == 0 ? 0 : 1 + rng() % 200;  // some are zero-sized, some nest
      all.push_back({addr, size, "f" + std::to_string(i)});
    }
    std::stable_sort(all.begin(), all.end(), [](const Symbol& a, const Symbol& b) { return a.address < b.address; });
    std::set<uint64_t> hits;
    for (int i = 0; i < 10; i++) hits.insert(0xf00 + rng() % (addr - 0xf00 + 300));
    std::vector<Symbol> subset = symbols_for_hits(all, hits);
    EXPECT_LE(subset.size(), all.size());
    for (uint64_t h : hits) {
      long full = symbolize::find_symbol(all, h);
      long part = symbolize::find_symbol(subset, h);
      std::string a = full < 0 ? "" : all[size_t(full)].name;
      std::string b = part < 0 ? "" : subset[size_t(part)].name;
      ASSERT_EQ(a, b) << "round " << round << " hit 0x" << std::hex << h;
    }
  }
}

TEST(Harvest, InlineChainIsConcrete) {
  ASSERT_EQ(harvest_test_outer(1), 9);
  auto exe = own_exec_mapping_at(g_inline_ret);
  ASSERT_TRUE(exe.has_value());
  ObjectCache cache;
  ObjectFile* obj = cache.get(uint32_t(getpid()), *exe);
  ASSERT_NE(obj, nullptr);
  uint64_t vaddr = 0;
  // A return address: look up the call instruction, as the recorder does.
  ASSERT_TRUE(obj->offset_to_vaddr(g_inline_ret - 1 - exe->start + exe->offset, &vaddr));
  obj->hits.insert(vaddr);
  SymbolTable t = build_symbol_table(*obj);
  ASSERT_EQ(t.locations.size(), 1u);
  const auto& frames = t.locations[0].frames;
  ASSERT_EQ(frames.size(), 2u) << "innermost inlined frame, then the function it was inlined into";
  EXPECT_NE(frames[0].function.find("harvest_test_inlined"), std::string::npos) << frames[0].function;
  EXPECT_NE(frames[1].function.find("harvest_test_outer"), std::string::npos) << frames[1].function;
  EXPECT_NE(frames[1].file.find("harvest_test.cpp"), std::string::npos);
  EXPECT_GT(frames[1].line, frames[0].line) << "call site of the inlined function, below its definition";
}

// clang and rustc emit no .debug_aranges unless asked (-gdwarf-aranges), and
// libdw 0.188 finds a CU only through them: the recorder and report find the
// CU in the CUs' own ranges instead (symbolize/cu_index.h). libnoaranges.so is
// built by clang the default way; its source lines are looked up by marker.
uint32_t marker_line(const std::string& marker) {
  std::ifstream in(EBT_NOARANGES_SRC);
  std::string line;
  for (uint32_t n = 1; std::getline(in, line); ++n)
    if (line.find("LINE:" + marker + " ") != std::string::npos) return n;
  ADD_FAILURE() << "no marker " << marker;
  return 0;
}

bool has_section(const char* path, const char* wanted) {
  elf_version(EV_CURRENT);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  Elf* elf = fd >= 0 ? elf_begin(fd, ELF_C_READ, nullptr) : nullptr;
  size_t shstrndx = 0;
  bool found = false;
  if (elf && elf_getshdrstrndx(elf, &shstrndx) == 0) {
    for (Elf_Scn* scn = nullptr; (scn = elf_nextscn(elf, scn));) {
      GElf_Shdr sh;
      const char* name = gelf_getshdr(scn, &sh) ? elf_strptr(elf, shstrndx, sh.sh_name) : nullptr;
      found |= name && std::string(name) == wanted;
    }
  }
  if (elf) elf_end(elf);
  if (fd >= 0) close(fd);
  return found;
}

TEST(Harvest, SourceLinesWithoutDebugAranges) {
  ASSERT_FALSE(has_section(EBT_NOARANGES_LIB, ".debug_aranges")) << "built with .debug_aranges: this test proves nothing";
  ASSERT_TRUE(has_section(EBT_NOARANGES_LIB, ".debug_info"));
  void* lib = dlopen(EBT_NOARANGES_LIB, RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(lib, nullptr) << dlerror();
  auto marker = reinterpret_cast<int (*)(int)>(dlsym(lib, "noaranges_marker"));
  auto outer = reinterpret_cast<int (*)(int)>(dlsym(lib, "noaranges_outer"));
  auto* ret = static_cast<uintptr_t*>(dlsym(lib, "noaranges_ret"));
  ASSERT_TRUE(marker && outer && ret);
  ASSERT_EQ(marker(1), 4);
  ASSERT_EQ(outer(1), 9);
  // Addresses as the recorder sees them: the marker's entry, and the call in
  // the inlined function (a return address, looked up at the call instruction).
  const uint64_t at_marker = reinterpret_cast<uint64_t>(marker), at_call = *ret - 1;
  auto m = own_exec_mapping_at(at_call);
  ASSERT_TRUE(m.has_value());
  ASSERT_TRUE(at_marker >= m->start && at_marker < m->end);
  ObjectCache cache;
  ObjectFile* obj = cache.get(uint32_t(getpid()), *m);
  ASSERT_NE(obj, nullptr);
  uint64_t v_marker = 0, v_call = 0;
  ASSERT_TRUE(obj->offset_to_vaddr(at_marker - m->start + m->offset, &v_marker));
  ASSERT_TRUE(obj->offset_to_vaddr(at_call - m->start + m->offset, &v_call));

  const std::string file = EBT_NOARANGES_SRC;  // clang was given this path
  auto expect_marker = [&](const std::vector<SourceFrame>& f) {
    ASSERT_EQ(f.size(), 1u);
    EXPECT_EQ(f[0].function, "noaranges_marker");
    EXPECT_EQ(f[0].file, file);
    EXPECT_EQ(f[0].line, marker_line("marker"));
  };
  auto expect_call = [&](const std::vector<SourceFrame>& f) {
    ASSERT_EQ(f.size(), 2u) << "the inlined function, then the one it was inlined into";
    EXPECT_EQ(f[0].function, "noaranges_inlined");
    EXPECT_EQ(f[0].file, file);
    EXPECT_EQ(f[0].line, marker_line("call_in_inlined"));
    EXPECT_EQ(f[1].function, "noaranges_outer");
    EXPECT_EQ(f[1].file, file);
    EXPECT_EQ(f[1].line, marker_line("inlined_call_site"));
  };

  // The recorder's harvest (record/symbol_harvest).
  obj->hits = {v_marker, v_call};
  SymbolTable t = build_symbol_table(*obj);
  ASSERT_EQ(t.locations.size(), 2u);
  for (const auto& loc : t.locations) {
    if (loc.address == v_marker) expect_marker(loc.frames);
    else if (loc.address == v_call) expect_call(loc.frames);
    else ADD_FAILURE() << "location at 0x" << std::hex << loc.address;
  }

  // report's lookup in a local file (symbolize/dwarf_object).
  std::string why;
  auto d = symbolize::DwarfObject::open(EBT_NOARANGES_LIB, obj->build_id, false, &why);
  ASSERT_NE(d, nullptr) << why;
  ASSERT_TRUE(d->has_dwarf());
  expect_marker(d->lookup(v_marker, true));
  expect_call(d->lookup(v_call, true));
  dlclose(lib);
}

TEST(Harvest, KernelSymbolsAreBounded) {
  if (geteuid() != 0) GTEST_SKIP() << "kallsyms addresses need root";
  // Find a real kernel text address: the symbol of some function.
  FILE* f = fopen("/proc/kallsyms", "r");
  ASSERT_NE(f, nullptr);
  unsigned long long a = 0;
  char type, name[256];
  uint64_t vfs_read = 0;
  while (fscanf(f, "%llx %c %255s%*[^\n]", &a, &type, name) == 3)
    if (std::string(name) == "vfs_read") vfs_read = a;
  fclose(f);
  if (vfs_read == 0) GTEST_SKIP() << "kallsyms hides addresses";
  KernelSymbols ks = build_kernel_symbols({vfs_read + 4});
  ASSERT_EQ(ks.symbols.size(), 2u);
  EXPECT_EQ(ks.symbols[0].name, "vfs_read");
  EXPECT_EQ(ks.symbols[0].address, vfs_read);
  EXPECT_GT(ks.symbols[1].address, vfs_read);
}

}  // namespace
