// DwarfUnwinder without BPF: this very process takes a "sample" of itself (its
// registers and a copy of its stack, as bpf/profile_dwarf.bpf.c would) inside a
// known chain of frameless calls, and the unwinder must walk it back to the
// process entry using only the copy and the CFI of the mapped objects.
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <ctime>
#include <set>
#include <span>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "record/dwarf_unwinder.h"
#include "record/objects.h"
#include "record/proc_reader.h"
#include "unwind/offline_unwinder.h"
#include "unwind/unwind_table.h"

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

// Copies the live stack above sp, as the BPF program does: that memory holds
// other frames' locals and, in the sanitizer build, ASan's redzones, so the
// copy is neither instrumented nor done by the intercepted memcpy.
__attribute__((no_sanitize("address"))) void copy_raw(uint8_t* to, uint64_t from, size_t n) {
  auto* p = reinterpret_cast<const volatile uint8_t*>(from);
  for (size_t i = 0; i < n; ++i) to[i] = p[i];
}

__attribute__((noinline)) void take_snapshot(Snapshot* out, size_t max_bytes) {
  uint64_t ip, sp, bp;
  asm volatile("lea 0(%%rip), %0\n\tmov %%rsp, %1\n\tmov %%rbp, %2" : "=r"(ip), "=r"(sp), "=r"(bp));
  out->ip = ip;
  out->sp = sp;
  out->bp = bp;
  size_t n = std::min<uint64_t>(max_bytes, mapping_end(sp) - sp);
  out->stack.resize(n);
  copy_raw(out->stack.data(), sp, n);
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
  // Plain CFI all the way to the entry: walked with the cached rules, not
  // libdw, and the frames are libdw's.
  EXPECT_EQ(u.stats().walks_cached, 1u);
  EXPECT_EQ(u.stats().walks_libdw, 0u);
  std::vector<ebt::unwind::FrameRegs> libdw;
  bool leaf_cfi = false;
  ASSERT_TRUE(u.walk_regs({pid, pid, 1, s.ip, s.sp, s.bp}, s.stack, &libdw, 127, &leaf_cfi, /*force_libdw=*/true));
  std::vector<uint64_t> libdw_pcs;
  for (const auto& f : libdw) libdw_pcs.push_back(f.pc);
  EXPECT_EQ(pcs, libdw_pcs) << all;

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

// Leaf repair's walk (cached per-pc rules applied without libdw) gives the
// frames libdw's walk gives, from every frame of a real stack as the start and
// with the copy cut short, and it is the path taken (no fallback for plain
// compiled code).
TEST(DwarfUnwinder, CachedRuleWalkEqualsLibdwWalk) {
  Snapshot s;
  ebt_unwind_level1(&s, 65536);
  ebt::record::DwarfUnwinder u;
  const uint32_t pid = uint32_t(getpid());
  std::vector<ebt::unwind::FrameRegs> whole, fast, slow;
  bool leaf_cfi = false;
  ASSERT_TRUE(u.walk_regs({pid, pid, 1, s.ip, s.sp, s.bp}, s.stack, &whole, 64, &leaf_cfi, /*force_libdw=*/true));
  ASSERT_TRUE(leaf_cfi);
  ASSERT_GE(whole.size(), 5u);
  auto same = [](const ebt::unwind::FrameRegs& a, const ebt::unwind::FrameRegs& b) {
    return a.pc == b.pc && a.sp == b.sp && a.bp_known == b.bp_known && (!a.bp_known || a.bp == b.bp);
  };
  int compared = 0;
  for (size_t j = 0; j < whole.size(); j++) {
    const auto& start = whole[j];
    if (start.sp < s.sp || start.sp - s.sp >= s.stack.size() || !start.bp_known) continue;
    std::span<const uint8_t> all(s.stack.data() + (start.sp - s.sp), s.stack.size() - (start.sp - s.sp));
    for (size_t bytes : {all.size(), size_t(512), size_t(64)}) {
      auto copy = all.first(std::min(bytes, all.size()));
      ebt::record::UnwindInput in{pid, pid, 1, start.pc, start.sp, start.bp};
      bool cfi_a = false, cfi_b = false;
      ASSERT_TRUE(u.walk_regs(in, copy, &fast, 16, &cfi_a));
      ASSERT_TRUE(u.walk_regs(in, copy, &slow, 16, &cfi_b, /*force_libdw=*/true));
      EXPECT_EQ(cfi_a, cfi_b);
      // libdw goes on past a frame without CFI by guessing: the cached walk stops there.
      ASSERT_LE(fast.size(), slow.size()) << "from frame " << j << ", " << bytes << " bytes";
      if (fast.size() < slow.size()) {
        EXPECT_FALSE(u.has_cfi_last(fast.back().pc - (fast.size() > 1 ? 1 : 0)));
      }
      for (size_t i = 0; i < fast.size(); i++)
        EXPECT_TRUE(same(fast[i], slow[i])) << "from frame " << j << ", " << bytes << " bytes: frame " << i
                                            << " pc " << std::hex << fast[i].pc << " vs " << slow[i].pc << " sp "
                                            << fast[i].sp << " vs " << slow[i].sp;
      compared++;
    }
  }
  EXPECT_GE(compared, 9);
  EXPECT_GE(u.stats().walks_cached, uint64_t(compared) - 3);  // at most a few starts meet a complex rule

  // Cost per walk, cached rules vs libdw (printed; the point of the cache).
  ebt::record::UnwindInput in{pid, pid, 1, s.ip, s.sp, s.bp};
  std::span<const uint8_t> leaf(s.stack.data(), std::min<size_t>(512, s.stack.size()));
  for (bool libdw : {false, true}) {
    timespec a{}, b{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
    const int kRounds = 5000;
    for (int i = 0; i < kRounds; i++) u.walk_regs(in, leaf, &fast, 16, &leaf_cfi, libdw);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
    double ns = (double(b.tv_sec - a.tv_sec) * 1e9 + double(b.tv_nsec - a.tv_nsec)) / kRounds;
    std::printf("leaf walk (512 bytes, %zu frames) with %s: %.0f ns\n", fast.size(),
                libdw ? "libdw" : "cached rules", ns);
  }
}

// The rule cache keeps a rule for its whole CFI row (on-CPU samples land on
// many pcs of the same function body): walks from other pcs of the row ask
// libdw for nothing more and give the same callers. And the walk leaf repair
// asks for ends at the frame whose sp it names.
TEST(DwarfUnwinder, RuleCacheServesTheWholeRowAndWalkStopsAtSp) {
  Snapshot s;
  ebt_unwind_level1(&s, 65536);
  ebt::record::DwarfUnwinder u;
  const uint32_t pid = uint32_t(getpid());
  std::vector<ebt::unwind::FrameRegs> a, b;
  bool leaf_cfi = false;
  ASSERT_TRUE(u.walk_regs({pid, pid, 1, s.ip, s.sp, s.bp}, s.stack, &a, 16, &leaf_cfi));
  ASSERT_TRUE(leaf_cfi);
  ASSERT_GE(a.size(), 4u);
  const uint64_t lookups = u.stats().rule_lookups;
  EXPECT_GE(lookups, 3u);  // one per distinct row: the leaf and each caller's
  auto same = [](const ebt::unwind::FrameRegs& x, const ebt::unwind::FrameRegs& y) {
    return x.pc == y.pc && x.sp == y.sp && x.bp_known == y.bp_known && (!x.bp_known || x.bp == y.bp);
  };
  // s.ip is the second instruction of take_snapshot's asm block: the next
  // bytes are the same CFI row (no stack adjustment before the block ends).
  for (uint64_t d : {1, 2, 3}) {
    ASSERT_TRUE(u.walk_regs({pid, pid, 1, s.ip + d, s.sp, s.bp}, s.stack, &b, 16, &leaf_cfi));
    ASSERT_EQ(b.size(), a.size()) << "ip + " << d;
    EXPECT_EQ(b[0].pc, s.ip + d);
    for (size_t i = 1; i < a.size(); i++) EXPECT_TRUE(same(a[i], b[i])) << "ip + " << d << ": frame " << i;
  }
  EXPECT_EQ(u.stats().rule_lookups, lookups);
  // Stop at the third frame's sp: exactly the frames up to it.
  ASSERT_TRUE(u.walk_regs({pid, pid, 1, s.ip, s.sp, s.bp}, s.stack, &b, 16, &leaf_cfi, false, a[2].sp));
  ASSERT_EQ(b.size(), 3u);
  for (size_t i = 0; i < 3; i++) EXPECT_TRUE(same(a[i], b[i])) << "frame " << i;
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

// What the recorder embeds with --keep-stack-bytes, built here for this very
// process: a Mapping per executable mapping and an UnwindTable per object.
struct OwnCapture {
  std::vector<ebt::Mapping> mappings;
  std::vector<ebt::UnwindTable> tables;
};

OwnCapture capture_self() {
  OwnCapture c;
  uint32_t pid = uint32_t(getpid());
  auto maps = ebt::record::read_exec_maps(pid);
  std::set<std::string> done;
  for (const auto& m : maps.value_or(std::vector<ebt::record::ProcMapping>{})) {
    bool vdso = m.path == "[vdso]";
    if (!vdso && (m.path.empty() || m.path[0] != '/')) continue;
    std::string file = vdso ? ebt::record::vdso_file() : "/proc/self/map_files/" + [&] {
      char b[64];
      std::snprintf(b, sizeof b, "%llx-%llx", (unsigned long long)m.start, (unsigned long long)m.end);
      return std::string(b);
    }();
    int fd = open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    std::vector<uint8_t> build_id;
    std::vector<ebt::LoadSegment> segs;
    ebt::record::read_elf_identity(fd, &build_id, &segs);
    c.mappings.push_back({pid, m.start, m.end, m.offset, m.path, vdso ? std::vector<uint8_t>{} : build_id, 1});
    std::string why;
    if (done.insert(m.path).second)
      if (auto t = ebt::unwind::extract_unwind_table(fd, m.path, build_id, &why)) c.tables.push_back(*t);
    close(fd);
  }
  return c;
}

// --keep-stack-bytes: report's offline unwinding (only the capture's tables:
// no object files) gives exactly the frames the recorder's live unwinding does.
TEST(OfflineUnwinder, SameFramesAsTheLiveUnwinder) {
  Snapshot s;
  ebt_unwind_level1(&s, 65536);
  uint32_t pid = uint32_t(getpid());
  ebt::record::DwarfUnwinder live;
  std::vector<uint64_t> want;
  ASSERT_TRUE(live.unwind({pid, pid, 1, s.ip, s.sp, s.bp}, s.stack, &want));

  OwnCapture c = capture_self();
  ASSERT_GE(c.tables.size(), 2u);  // the test binary, libc, ...
  size_t table_bytes = 0;
  for (const auto& t : c.tables)
    for (const auto& ch : t.chunks) table_bytes += ch.data.size();
  std::printf("%zu unwind tables, %zu bytes\n", c.tables.size(), table_bytes);
  ebt::unwind::OfflineUnwinder offline;
  for (const auto& m : c.mappings) offline.add(m);
  for (const auto& t : c.tables) offline.add(t);
  ebt::StackSnapshot snap{2, pid, pid, 0, 0, s.ip, s.sp, s.bp, s.stack};
  std::vector<uint64_t> got;
  EXPECT_TRUE(offline.unwind(snap, &got).to_end);
  EXPECT_EQ(got, want);
  EXPECT_TRUE(offline.problems().empty());

  // The same walk again comes from the cached layout.
  std::vector<uint64_t> again;
  offline.unwind(snap, &again);
  EXPECT_EQ(again, want);

  // Without the tables, only the leaf is known, and the object is named.
  ebt::unwind::OfflineUnwinder bare;
  for (const auto& m : c.mappings) bare.add(m);
  std::vector<uint64_t> leaf;
  EXPECT_FALSE(bare.unwind(snap, &leaf).to_end);
  EXPECT_EQ(leaf, std::vector<uint64_t>{s.ip});
  ASSERT_EQ(bare.problems().size(), 1u);
  EXPECT_NE(bare.problems()[0].find("no unwind table"), std::string::npos) << bare.problems()[0];
}

// Tables come from untrusted captures: malformed ones are refused with a
// reason, and damaged CFI bytes never crash a walk.
TEST(OfflineUnwinder, MalformedTablesAreRefusedOrHarmless) {
  OwnCapture c = capture_self();
  ASSERT_FALSE(c.tables.empty());
  const ebt::UnwindTable& good = c.tables[0];
  std::string why;
  int fd = ebt::unwind::materialize(good, &why);
  ASSERT_GE(fd, 0) << why;
  close(fd);

  auto refused = [](ebt::UnwindTable t, const char* what) {
    std::string why;
    int fd = ebt::unwind::materialize(t, &why);
    EXPECT_LT(fd, 0) << what;
    if (fd >= 0) close(fd);
    EXPECT_FALSE(why.empty()) << what;
  };
  {
    auto t = good;
    t.chunks[0].data[1] = 'X';
    refused(t, "bad magic");
  }
  {
    auto t = good;
    t.chunks.back().offset = t.file_size;
    refused(t, "chunk past the end");
  }
  {
    auto t = good;
    t.file_size = ~uint64_t(0);
    refused(t, "absurd size");
  }
  {
    auto t = good;
    t.chunks[0].data.resize(20);
    refused(t, "truncated header");
  }
  {
    auto t = good;
    t.chunks.clear();
    refused(t, "no chunks");
  }

  // Random damage in the CFI bytes: walks end somewhere, never crash.
  Snapshot s;
  ebt_unwind_level1(&s, 65536);
  uint32_t pid = uint32_t(getpid());
  ebt::StackSnapshot snap{2, pid, pid, 0, 0, s.ip, s.sp, s.bp, s.stack};
  uint64_t x = 0x9e3779b97f4a7c15ull;
  for (int round = 0; round < 60; round++) {
    ebt::unwind::OfflineUnwinder u;
    for (const auto& m : c.mappings) u.add(m);
    for (auto t : c.tables) {
      for (auto& ch : t.chunks) {
        if (ch.offset == 0 || ch.data.empty()) continue;  // keep the ELF header valid: damage the CFI
        for (int k = 0; k < 16; k++) {
          x ^= x << 13, x ^= x >> 7, x ^= x << 17;
          ch.data[x % ch.data.size()] ^= uint8_t(x >> 32);
        }
      }
      u.add(t);
    }
    std::vector<uint64_t> pcs;
    u.unwind(snap, &pcs);
    ASSERT_FALSE(pcs.empty());
    EXPECT_EQ(pcs[0], s.ip);
    EXPECT_LE(pcs.size(), 127u);
  }
}

}  // namespace
