// DwarfUnwinder without BPF: this very process takes a "sample" of itself (its
// registers and a copy of its stack, as bpf/profile_dwarf.bpf.c would) inside a
// known chain of frameless calls, and the unwinder must walk it back to the
// process entry using only the copy and the CFI of the mapped objects.
#include <dlfcn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "record/dwarf_unwinder.h"
#include "record/proc_reader.h"

namespace {

struct Snapshot {
  uint64_t ip = 0, sp = 0, bp = 0;
  std::vector<uint8_t> stack;
};

// End of the mapping holding `addr` in /proc/self/maps.
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

__attribute__((noinline)) void take_snapshot(Snapshot* out, size_t max_bytes) {
  uint64_t ip, sp, bp;
  asm volatile("lea 0(%%rip), %0\n\tmov %%rsp, %1\n\tmov %%rbp, %2" : "=r"(ip), "=r"(sp), "=r"(bp));
  out->ip = ip;
  out->sp = sp;
  out->bp = bp;
  size_t n = std::min<uint64_t>(max_bytes, mapping_end(sp) - sp);
  out->stack.resize(n);
  std::memcpy(out->stack.data(), reinterpret_cast<const void*>(sp), n);
  asm volatile("" ::: "memory");
}

// A chain of real frames (compiled without frame pointers, see CMakeLists).
extern "C" __attribute__((noinline)) int ebt_unwind_level3(Snapshot* s, size_t max) {
  take_snapshot(s, max);
  asm volatile("" ::: "memory");
  return int(s->stack.size() & 1);
}
extern "C" __attribute__((noinline)) int ebt_unwind_level2(Snapshot* s, size_t max) {
  volatile char pad[200];
  pad[0] = 1;
  return ebt_unwind_level3(s, max) + pad[0];
}
extern "C" __attribute__((noinline)) int ebt_unwind_level1(Snapshot* s, size_t max) {
  return ebt_unwind_level2(s, max) + 1;
}

std::string name_of(uint64_t pc) {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(pc), &info) && info.dli_sname) return info.dli_sname;
  return {};
}

std::vector<std::string> names(const std::vector<uint64_t>& pcs) {
  std::vector<std::string> v;
  for (size_t i = 0; i < pcs.size(); i++) v.push_back(name_of(i ? pcs[i] - 1 : pcs[i]));
  return v;
}

int index_of(const std::vector<std::string>& v, const std::string& n) {
  for (size_t i = 0; i < v.size(); i++)
    if (v[i] == n) return int(i);
  return -1;
}

TEST(DwarfUnwinder, WalksOwnStackToEntry) {
  Snapshot s;
  ebt_unwind_level1(&s, 65536);
  ebt::record::DwarfUnwinder u;
  std::vector<uint64_t> pcs;
  uint32_t pid = uint32_t(getpid());
  bool to_end = u.unwind({pid, pid, 1, s.ip, s.sp, s.bp}, s.stack, &pcs);
  auto n = names(pcs);
  std::string all;
  for (auto& x : n) all += (x.empty() ? "?" : x) + "\n";
  EXPECT_TRUE(to_end) << all;
  ASSERT_GE(pcs.size(), 5u) << all;
  EXPECT_EQ(pcs[0], s.ip);
  int l3 = index_of(n, "ebt_unwind_level3"), l2 = index_of(n, "ebt_unwind_level2"),
      l1 = index_of(n, "ebt_unwind_level1"), m = index_of(n, "main");
  EXPECT_GE(l3, 0) << all;
  EXPECT_EQ(l2, l3 + 1) << all;
  EXPECT_EQ(l1, l2 + 1) << all;
  EXPECT_GT(m, l1) << all;
  // The outermost frame is the process entry (libc's start code or _start).
  EXPECT_TRUE(n.back() == "_start" || n.back().rfind("__libc_start", 0) == 0) << all;
  EXPECT_EQ(u.stats().to_end, 1u);

  // Throughput of the cached path (modules and CFI already loaded).
  timespec a{}, b{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
  const int kRounds = 2000;
  for (int i = 0; i < kRounds; i++) {
    pcs.clear();
    u.unwind({pid, pid, 1, s.ip, s.sp, s.bp}, s.stack, &pcs);
  }
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
  double secs = double(b.tv_sec - a.tv_sec) + double(b.tv_nsec - a.tv_nsec) * 1e-9;
  std::printf("unwound %d stacks of %zu frames in %.3f CPU s: %.0f stacks/s\n", kRounds, pcs.size(), secs,
              kRounds / secs);
  EXPECT_EQ(u.stats().to_end, 1u + kRounds);
  EXPECT_EQ(u.stats().dwfl_builds, 1u);  // built once, then cached
}

// A forked child has the same executable mappings: it shares the parent's
// modules (one Dwfl, CFI parsed once) and unwinds the same stack the same way.
TEST(DwarfUnwinder, ForkedProcessesShareModules) {
  int go[2];
  ASSERT_EQ(pipe(go), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    char c;
    (void)!read(go[0], &c, 1);  // wait until the parent is done
    _exit(0);
  }
  Snapshot s;
  ebt_unwind_level1(&s, 65536);
  ebt::record::DwarfUnwinder u;
  std::vector<uint64_t> a, b;
  uint32_t pid = uint32_t(getpid());
  bool ok_parent = u.unwind({pid, pid, 1, s.ip, s.sp, s.bp}, s.stack, &a);
  bool ok_child = u.unwind({uint32_t(child), uint32_t(child), 1, s.ip, s.sp, s.bp}, s.stack, &b);
  (void)!write(go[1], "x", 1);
  waitpid(child, nullptr, 0);
  close(go[0]);
  close(go[1]);
  EXPECT_TRUE(ok_parent);
  EXPECT_TRUE(ok_child);
  EXPECT_EQ(a, b);
  EXPECT_EQ(u.stats().dwfl_builds, 1u);
}

TEST(DwarfUnwinder, ShortCopyStopsEarlyAndSaysSo) {
  Snapshot s;
  ebt_unwind_level1(&s, 256);  // level2 alone holds 200 bytes: the copy ends inside it
  ebt::record::DwarfUnwinder u;
  std::vector<uint64_t> pcs;
  uint32_t pid = uint32_t(getpid());
  bool to_end = u.unwind({pid, pid, 1, s.ip, s.sp, s.bp}, s.stack, &pcs);
  EXPECT_FALSE(to_end);
  ASSERT_GE(pcs.size(), 1u);
  EXPECT_EQ(pcs[0], s.ip);
  EXPECT_LT(pcs.size(), 6u);
  EXPECT_EQ(u.stats().to_end, 0u);
}

TEST(DwarfUnwinder, UnknownProcessGivesTheLeafOnly) {
  ebt::record::DwarfUnwinder u;
  std::vector<uint64_t> pcs;
  std::vector<uint8_t> stack(64, 0);
  bool to_end = u.unwind({0x7ffffff0u, 0x7ffffff0u, 1, 0x401000, 0x7ffc0000, 0}, stack, &pcs);
  EXPECT_FALSE(to_end);
  ASSERT_EQ(pcs.size(), 1u);
  EXPECT_EQ(pcs[0], 0x401000u);
}

}  // namespace
