// Every record kind, every field, written and read back.
#include <gtest/gtest.h>

#include <thread>

#include "tests/format/test_util.h"

namespace ebt::format {
namespace {

using testing::Collected;

struct AllKinds {
  ProcessInfo process{4242, 1, "redis-server", "/usr/bin/redis-server", {"redis-server", "*:6379"}, 777,
                      "/system.slice/redis.service", {4242, 17}, 123456789, 223456789};
  ThreadInfo thread{4242, 4243, "bio_close_file", 323456789};
  ProcessExit exit{4242, 4243, -9, 999999999};
  Mapping mapping{4242, 0x555500000000, 0x555500100000, 0x1000, "/usr/bin/redis-server",
                  {0xde, 0xad, 0xbe, 0xef, 0x00, 0x01}, 423456789};
  StringEntry string{7, "net:netif_receive_skb"};
  Stack stack{3, {{0xffffffff81000000, FrameKind::kKernel}, {0x555500001234, FrameKind::kUser},
                  {0x7f0000001000, FrameKind::kLua}, {0x7f0000002000, FrameKind::kJit}}};
  LuaProto proto{4242, 0x7f00deadbeef, "@/usr/share/lua/foo.lua", 10, 42, "handler"};
  SymbolTable symtab{{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20},
                     "/usr/lib/x86_64-linux-gnu/libc.so.6",
                     {{0x0, 0x0, 0x28000}, {0x28000, 0x28000, 0x1000}},
                     {{0x1000, 16, "_start"}, {0x2000, 300, "_ZN3foo3barEv"}},
                     {{0x2010, {{"inlined", "a.h", 12}, {"_ZN3foo3barEv", "foo.cpp", 99}}}}};
  KernelSymbols ksyms{{{0xffffffff81000000, "do_syscall_64", ""}, {0xffffffffc0000000, "nf_hook", "nf_tables"}}};
  CpuSample sample{2'000'000'000, 4242, 4243, 1, 3};
  OffCpuInterval offcpu{2'100'000'000, 5'000'000, 4242, 4243, 0, 3, TaskState::kUninterruptible, 10, 11, 4, 2'104'000'000};
  SkbHop hop{2'200'000'000, 0xffff888012345678, 7, 2, 4026531840u, 1514, 0x0800, 1, 4242, 4243, 3,
             8, 17, {10, 0, 0, 1}, {10, 0, 0, 2}, 5353, 9999, 9, true};
  SocketInfo socket{0xffff888000001111, 4242, 9, 2, 6, {127, 0, 0, 1}, 6379, {127, 0, 0, 1}, 51234, 2'250'000'000, 4026531840u};
  SyscallEvent syscall{2'300'000'000, 2'300'010'000, 4242, 4243, SyscallKind::kRecvfrom, 9, 14,
                       0xffff888000001111, {'*', '1', '\r', '\n', 0, 0xff, 0x80}};
  LostEvents lost{2'400'000'000, 1, LossSource::kStack, 17};
  UnwindTable unwind{{9, 8, 7}, "/usr/lib/x86_64-linux-gnu/libc.so.6", 2'000'000,
                     {{0, {0x7f, 'E', 'L', 'F'}}, {0x1c000, {1, 0x1b, 3, 0x3b}}, {0x1d000, {0x14, 0, 0, 0}}}};
  StackSnapshot snapshot{2'500'000'000, 4242, 4243, 1, 3, 0x555500001234, 0x7ffc00001000, 0x7ffc00001100,
                         {0x34, 0x12, 0, 0, 0x55, 0x55, 0, 0, 0xff}};
  TcpEvent tcp{2'600'000'000, TcpEventType::kState, 0x1234, 4242, 4243, 1, 4, {10, 0, 0, 1}, {10, 0, 0, 2},
               34510, 7300, 4026531840u, 99887, true, 1000, 2345, 100, 5, 6, 40'000, 2, true};
  CgroupInfo cgroup{777, "/system.slice/docker-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.scope",
                    "v2 (hybrid)", "docker", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                    "web", "", "", "web-1", 4026532001u, 4026532002u, 4026532003u, 4026532004u, 123456000,
                    "no runtime name in /var/lib/docker/containers/..."};
  RunqLatency runq{2'700'000'000, 2'800'000'000, 4242, 4243, 1, 5, 123'456, 80'000, {20, 21, 60}, {1, 3, 1}};
  Preemption preemption{2'700'000'000, 2'800'000'000, 4242, 4243, 4242, 4244, "pair_b", 12};
  CgroupSwitch cgroup_switch{2'700'000'000, 2'800'000'000, 1, 4026531835u, 4026532000u, 99};
  CgroupCpuSample cgroup_cpu{2'800'000'000, 4026532000u, CgroupHierarchy::kV1Cpu, "/ebt-test", true, 10, 8,
                             640'000'000, 20'000, 100'000, "", {4242, 4250}};
  SessionEnd end{3'000'000'000, 1, 17};
};

TEST(RoundTrip, EveryKindEveryField) {
  const std::string path = testing::temp_path("roundtrip.ebt");
  AllKinds k;
  {
    CaptureWriter w(path, testing::sample_session());
    w.add(k.cgroup);
    w.add(k.process);
    w.add(k.thread);
    w.add(k.mapping);
    w.add(k.string);
    w.add(k.stack);
    w.add(k.proto);
    w.add(k.symtab);
    w.add(k.ksyms);
    w.add(k.socket);
    w.add(k.sample);
    w.add(k.offcpu);
    w.add(k.hop);
    w.add(k.syscall);
    w.add(k.lost);
    w.add(k.unwind);
    w.add(k.snapshot);
    w.add(k.tcp);
    w.add(k.runq);
    w.add(k.preemption);
    w.add(k.cgroup_switch);
    w.add(k.cgroup_cpu);
    w.add(k.exit);
    WriteStats st = w.finish(k.end);
    EXPECT_GE(st.blocks, 3u);
  }
  CaptureReader r(path);
  EXPECT_EQ(r.major_version(), 1);
  EXPECT_TRUE(r.has_index());
  EXPECT_TRUE(r.damage().empty()) << testing::damage_text(r);
  EXPECT_EQ(r.session(), testing::sample_session());
  Collected c;
  r.read(c);
  EXPECT_TRUE(r.damage().empty()) << testing::damage_text(r);
  ASSERT_EQ(c.processes.size(), 1u);
  EXPECT_EQ(c.processes[0], k.process);
  ASSERT_EQ(c.threads.size(), 1u);
  EXPECT_EQ(c.threads[0], k.thread);
  ASSERT_EQ(c.exits.size(), 1u);
  EXPECT_EQ(c.exits[0], k.exit);
  ASSERT_EQ(c.mappings.size(), 1u);
  EXPECT_EQ(c.mappings[0], k.mapping);
  ASSERT_EQ(c.strings.size(), 1u);
  EXPECT_EQ(c.strings[0], k.string);
  ASSERT_EQ(c.stacks.size(), 1u);
  EXPECT_EQ(c.stacks[0], k.stack);
  ASSERT_EQ(c.protos.size(), 1u);
  EXPECT_EQ(c.protos[0], k.proto);
  ASSERT_EQ(c.symtabs.size(), 1u);
  EXPECT_EQ(c.symtabs[0], k.symtab);
  ASSERT_EQ(c.ksyms.size(), 1u);
  EXPECT_EQ(c.ksyms[0], k.ksyms);
  ASSERT_EQ(c.samples.size(), 1u);
  EXPECT_EQ(c.samples[0], k.sample);
  ASSERT_EQ(c.offcpu.size(), 1u);
  EXPECT_EQ(c.offcpu[0], k.offcpu);
  ASSERT_EQ(c.hops.size(), 1u);
  EXPECT_EQ(c.hops[0], k.hop);
  ASSERT_EQ(c.sockets.size(), 1u);
  EXPECT_EQ(c.sockets[0], k.socket);
  ASSERT_EQ(c.syscalls.size(), 1u);
  EXPECT_EQ(c.syscalls[0], k.syscall);
  ASSERT_EQ(c.lost.size(), 1u);
  EXPECT_EQ(c.lost[0], k.lost);
  ASSERT_EQ(c.unwind_tables.size(), 1u);
  EXPECT_EQ(c.unwind_tables[0], k.unwind);
  ASSERT_EQ(c.snapshots.size(), 1u);
  EXPECT_EQ(c.snapshots[0], k.snapshot);
  ASSERT_EQ(c.tcp.size(), 1u);
  EXPECT_EQ(c.tcp[0], k.tcp);
  ASSERT_EQ(c.cgroups.size(), 1u);
  EXPECT_EQ(c.cgroups[0], k.cgroup);
  ASSERT_EQ(c.runq.size(), 1u);
  EXPECT_EQ(c.runq[0], k.runq);
  ASSERT_EQ(c.preemptions.size(), 1u);
  EXPECT_EQ(c.preemptions[0], k.preemption);
  ASSERT_EQ(c.cgroup_switches.size(), 1u);
  EXPECT_EQ(c.cgroup_switches[0], k.cgroup_switch);
  ASSERT_EQ(c.cgroup_cpu.size(), 1u);
  EXPECT_EQ(c.cgroup_cpu[0], k.cgroup_cpu);
  ASSERT_EQ(c.ends.size(), 1u);
  EXPECT_EQ(c.ends[0], k.end);
  EXPECT_TRUE(c.unknown.empty());
  ::unlink(path.c_str());
}

TEST(RoundTrip, ManySamplesAcrossBlocksKeepOrderAndValues) {
  const std::string path = testing::temp_path("many.ebt");
  WriterOptions o;
  o.max_block_bytes = 4096;  // many small blocks
  std::vector<CpuSample> in;
  uint64_t t = 5'000'000'000;
  for (int i = 0; i < 20000; ++i) {
    // Times go backwards now and then (per-CPU reordering): deltas are zigzag coded.
    t += (i % 7 == 3) ? -1000 : 4'999'000 + (i * 7919) % 2000;
    in.push_back({t, 100u + i % 3, 1000u + i % 5, static_cast<uint32_t>(i % 2), 1u + (i * 31) % 997});
  }
  {
    CaptureWriter w(path, testing::sample_session(), o);
    w.add(Stack{1, {{0x1000, FrameKind::kUser}}});
    for (const auto& s : in) w.add(s);
    w.finish({});
  }
  CaptureReader r(path);
  EXPECT_GT(r.blocks().size(), 10u);
  Collected c;
  r.read(c);
  EXPECT_EQ(c.samples, in);
  EXPECT_EQ(c.stacks.size(), 1u);
  EXPECT_TRUE(r.damage().empty()) << testing::damage_text(r);
  ::unlink(path.c_str());
}

TEST(RoundTrip, EmptyValuesAndLargePayload) {
  const std::string path = testing::temp_path("empty.ebt");
  SyscallEvent big;
  big.payload.resize(200000);
  for (size_t i = 0; i < big.payload.size(); ++i) big.payload[i] = static_cast<uint8_t>(i * 13);
  {
    CaptureWriter w(path, SessionInfo{});
    w.add(ProcessInfo{});
    w.add(Stack{});
    w.add(SymbolTable{});
    w.add(big);
    w.finish({});
  }
  CaptureReader r(path);
  EXPECT_EQ(r.session(), SessionInfo{});
  Collected c;
  r.read(c);
  ASSERT_EQ(c.processes.size(), 1u);
  EXPECT_EQ(c.processes[0], ProcessInfo{});
  ASSERT_EQ(c.stacks.size(), 1u);
  EXPECT_EQ(c.stacks[0], Stack{});
  ASSERT_EQ(c.symtabs.size(), 1u);
  ASSERT_EQ(c.syscalls.size(), 1u);
  EXPECT_EQ(c.syscalls[0], big);
  ::unlink(path.c_str());
}

}  // namespace
}  // namespace ebt::format
