// Writes the fuzzers' seed captures through the project's own writer: one
// small capture per record kind (with the records it refers to), one with
// every kind, a raw-stack capture unwindable with the vDSO's table, and the
// vDSO's table as raw ELF bytes. Usage: fuzz_seed_gen DIR (writes DIR/reader,
// DIR/report, DIR/unwind_table). The committed corpora under
// tests/fuzz/corpus/ started from these.
#include <elf.h>
#include <fcntl.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <string>

#include "format/writer.h"
#include "unwind/unwind_table.h"

namespace ebt::fuzz {
namespace {

using format::CaptureWriter;
constexpr uint64_t kT0 = 1'000'000'000;
constexpr uint32_t kPid = 4242;

SessionInfo session() {
  SessionInfo s;
  s.hostname = "seed";
  s.kernel_release = "6.18.0";
  s.boot_id = "b";
  s.clock_monotonic_ns = kT0;
  s.clock_realtime_ns = 1'790'000'000'000'000'000ull;
  s.cpu_count = 2;
  s.command_line = {"ebtrace", "record"};
  s.ebtrace_version = "0.1.0";
  s.start_ns = kT0;
  s.sample_frequency_hz = 99;
  s.machine = "x86_64";
  return s;
}

const std::vector<uint8_t> kBuildId = {0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89};

void process(CaptureWriter& w) {
  w.add(ProcessInfo{kPid, 1, "app", "/usr/bin/app", {"app", "-x"}, 7, "/user.slice", {kPid}, kT0 - 5, kT0});
  w.add(ThreadInfo{kPid, kPid + 1, "worker", kT0});
  w.add(Mapping{kPid, 0x400000, 0x401000, 0, "/usr/bin/app", kBuildId, kT0});
  w.add(Mapping{kPid, 0x401000, 0x403000, 0x1000, "/usr/bin/app", kBuildId, kT0});
}

void stacks(CaptureWriter& w) {
  w.add(Stack{1, {{0xffffffff81000010, FrameKind::kKernel}, {0x401010, FrameKind::kUser}, {0x401120, FrameKind::kUser}}});
  w.add(Stack{2, {{0x401200, FrameKind::kUser}, {0x7f0000001000, FrameKind::kLua}, {0x7e0000000100, FrameKind::kJit}}});
}

void symbols(CaptureWriter& w) {
  SymbolTable t;
  t.build_id = kBuildId;
  t.path = "/usr/bin/app";
  t.segments = {{0x400000, 0, 0x1000}, {0x401000, 0x1000, 0x2000}};
  t.symbols = {{0x401000, 0x100, "_ZN2ns4workEv"}, {0x401100, 0x100, "main"}, {0x401200, 0x80, "_Z4leafi"}};
  t.locations = {{0x40100f, {{"inlined_helper", "a.cpp", 3}, {"_ZN2ns4workEv", "a.cpp", 10}}}};
  w.add(t);
  w.add(KernelSymbols{{{0xffffffff81000000, "do_syscall_64", ""}, {0xffffffff81000100, "ext4_read", "ext4"},
                       {0xffffffff81000200, "_end", ""}}});
  w.add(LuaProto{kPid, 0x7f0000001000, "@/srv/app.lua", 10, 20, "handler"});
}

void samples(CaptureWriter& w) {
  for (int i = 0; i < 6; ++i)
    w.add(CpuSample{kT0 + 1'000'000 * uint64_t(i), kPid, kPid + (i % 2), uint32_t(i % 2), uint32_t(1 + i % 2)});
}

void offcpu(CaptureWriter& w) {
  w.add(OffCpuInterval{kT0 + 100, 5'000'000, kPid, kPid, 0, 1, TaskState::kInterruptible, kPid, kPid + 1, 2,
                       kT0 + 4'000'000});
  w.add(OffCpuInterval{kT0 + 10'000'000, 1'000, kPid, kPid + 1, 1, 2, TaskState::kUninterruptible, 0, 0, 0, 0});
}

// A client connection (handshake, close) and a refused connect (--tcp).
void tcp(CaptureWriter& w) {
  TcpEvent e;
  e.type = TcpEventType::kState;
  e.cookie = 7;
  e.pid = e.tid = kPid;
  e.local_addr = {10, 0, 0, 1};
  e.remote_addr = {10, 0, 0, 2};
  e.local_port = 40000;
  e.remote_port = 80;
  auto at = [&](uint64_t t, uint8_t from, uint8_t to) {
    e.time_ns = kT0 + t;
    e.old_state = from;
    e.new_state = to;
    w.add(e);
  };
  at(100, 7, 2);
  at(200, 2, 1);
  at(300, 1, 4);
  e.has_stats = true;
  e.bytes_sent = 10;
  e.bytes_received = 20;
  e.srtt_ns = 100;
  at(400, 4, 7);
  e = TcpEvent{};
  e.cookie = 8;
  e.pid = e.tid = kPid;
  e.local_addr = {10, 0, 0, 1};
  e.remote_addr = {10, 0, 0, 2};
  e.local_port = 40001;
  e.remote_port = 81;
  e.type = TcpEventType::kState;
  at(500, 7, 2);
  e.type = TcpEventType::kReceiveReset;
  at(600, 0, 0);
  e.type = TcpEventType::kState;
  at(600, 2, 7);
}

void skb(CaptureWriter& w) {
  w.add(StringEntry{1, "net_dev_queue"});
  w.add(StringEntry{2, "kfree_skb"});
  w.add(StringEntry{3, "NO_SOCKET"});
  w.add(StringEntry{4, "veth0"});
  SkbHop h;
  h.time_ns = kT0 + 10;
  h.skb = 0xffff888000001000;
  h.location_id = 1;
  h.ifindex = 2;
  h.len = 60;
  h.protocol = 0x0800;
  h.pid = kPid;
  h.tid = kPid;
  h.stack_id = 1;
  h.device_id = 4;
  h.l4_protocol = 17;
  h.src_addr = {10, 0, 0, 1};
  h.dst_addr = {10, 0, 0, 2};
  h.src_port = 5353;
  h.dst_port = 53;
  h.new_packet = true;
  w.add(h);
  h.time_ns += 5000;
  h.location_id = 2;
  h.reason_id = 3;
  h.new_packet = false;
  w.add(h);
}

void syscalls(CaptureWriter& w) {
  w.add(SocketInfo{77, kPid, 9, 2, 6, {127, 0, 0, 1}, 6379, {127, 0, 0, 1}, 40000, kT0});
  auto ev = [&](SyscallKind k, uint64_t t, const std::string& p) {
    SyscallEvent e;
    e.enter_ns = t;
    e.exit_ns = t + 1000;
    e.pid = kPid;
    e.tid = kPid;
    e.kind = k;
    e.fd = 9;
    e.ret = int64_t(p.size());
    e.socket_id = 77;
    e.payload.assign(p.begin(), p.end());
    w.add(e);
  };
  ev(SyscallKind::kRead, kT0 + 100, "*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\nb\r\n");
  ev(SyscallKind::kWrite, kT0 + 20'000, "+OK\r\n");
  ev(SyscallKind::kRecvfrom, kT0 + 50'000, "GET /x HTTP/1.1\r\nHost: h\r\n\r\n");
  ev(SyscallKind::kSendto, kT0 + 90'000, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi");
}

void misc(CaptureWriter& w) {
  w.add(ProcessExit{kPid, kPid + 1, 0, kT0 + 50'000'000});
  w.add(LostEvents{kT0 + 2, 1, LossSource::kRingBuffer, 3});
}

// A LuaJIT VM with one Lua stack (Lua, C and fast-function frames) sampled,
// and a trace (--lua).
void lua(CaptureWriter& w) {
  LuaVm vm;
  vm.pid = kPid;
  vm.time_ns = kT0;
  vm.path = "/usr/bin/luajit";
  vm.build_id = kBuildId;
  vm.interp_start = 0x401000;
  vm.interp_end = 0x402000;
  vm.version = "LuaJIT 2.1";
  vm.ff_names = {"assert", "pcall"};
  vm.bc_names = {"ISLT", "CALL"};
  w.add(vm);
  LuaStack s;
  s.id = 1;
  s.frames = {{LuaFrameKind::kLua, 0, 0x7f0000001000, 0x7f0000001040, 0, false},
              {LuaFrameKind::kFast, 1, 0, 0, 0, false},
              {LuaFrameKind::kC, 0, 0x401100, 0, 1, true}};
  s.trace_id = 1;
  w.add(s);
  w.add(LuaTrace{1, kPid, kT0 + 10, 1, 0, 0x7f0000001040, 0x7e0000000000, 0x400, 0});
  w.add(CpuSample{kT0 + 500, kPid, kPid, 0, 1, 1});
  vm.final = true;
  vm.samples = vm.lua_samples = 1;
  w.add(vm);
}

// --sched: a container cgroup, run-queue latency, preemptions, switches between
// cgroups and CPU throttling samples.
void sched(CaptureWriter& w) {
  CgroupInfo c;
  c.id = 99;
  c.path = "/system.slice/docker-0123.scope";
  c.hierarchy = "v2";
  c.runtime = "docker";
  c.container_id = "0123";
  c.name = "web";
  c.time_ns = kT0;
  w.add(c);
  w.add(RunqLatency{kT0, kT0 + 1'000'000, kPid, kPid, 1, 3, 30'000, 20'000, {4, 9}, {2, 1}});
  w.add(Preemption{kT0, kT0 + 1'000'000, kPid, kPid, kPid + 1, kPid + 1, "worker", 2});
  w.add(CgroupSwitch{kT0, kT0 + 1'000'000, 1, 0, 99, 5});
  w.add(CgroupCpuSample{kT0 + 2'000'000, 99, CgroupHierarchy::kV2, c.path, true, 10, 2, 500'000, 50'000, 100'000,
                        "", {kPid}});
}

// The vDSO image (its CFI is tiny): the unwind-table seeds.
std::vector<uint8_t> vdso_image() {
  auto base = reinterpret_cast<const uint8_t*>(getauxval(AT_SYSINFO_EHDR));
  if (!base) return {};
  Elf64_Ehdr eh;
  std::memcpy(&eh, base, sizeof eh);
  uint64_t end = 0;
  for (int i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph;
    std::memcpy(&ph, base + eh.e_phoff + i * sizeof ph, sizeof ph);
    if (ph.p_type == PT_LOAD) end = std::max<uint64_t>(end, ph.p_offset + ph.p_filesz);
  }
  return {base, base + end};
}

void raw_stacks(CaptureWriter& w) {
  std::vector<uint8_t> img = vdso_image();
  if (img.empty()) return;
  std::string path = "/tmp/ebtrace-seed-vdso";
  FILE* f = std::fopen(path.c_str(), "wb");
  std::fwrite(img.data(), 1, img.size(), f);
  std::fclose(f);
  int fd = open(path.c_str(), O_RDONLY);
  std::string why;
  auto t = unwind::extract_unwind_table(fd, "[vdso]", {}, &why);
  close(fd);
  unlink(path.c_str());
  if (!t) {
    std::fprintf(stderr, "vdso table: %s\n", why.c_str());
    return;
  }
  const uint64_t vdso = getauxval(AT_SYSINFO_EHDR);
  w.add(Mapping{kPid, vdso, vdso + ((img.size() + 4095) & ~size_t{4095}), 0, "[vdso]", {}, kT0});
  w.add(*t);
  StackSnapshot s;
  s.time_ns = kT0 + 1000;
  s.pid = kPid;
  s.tid = kPid;
  s.kernel_stack_id = 1;
  Elf64_Ehdr eh;
  std::memcpy(&eh, img.data(), sizeof eh);
  s.ip = vdso + 0x20 + (eh.e_entry & 0xfff);  // somewhere in the vDSO's text
  s.sp = 0x7ffc00001000;
  s.bp = 0x7ffc00001100;
  s.stack.resize(256);
  for (size_t i = 0; i < s.stack.size(); i += 8) {
    uint64_t v = i == 8 ? 0x401110 : 0x7ffc00001000 + i;
    std::memcpy(s.stack.data() + i, &v, 8);
  }
  w.add(s);
}

void write(const std::string& path, const std::function<void(CaptureWriter&)>& body, bool finish = true) {
  auto w = std::make_unique<CaptureWriter>(path, session());
  body(*w);
  if (finish) {
    w->finish(SessionEnd{kT0 + 100'000'000, 6, 3});
  } else {
    w->flush();
    // Leave the file as a killed recorder would: no index, no trailer.
    int fd = open(path.c_str(), O_RDONLY);
    struct stat st;
    fstat(fd, &st);
    std::vector<char> bytes(size_t(st.st_size));
    if (read(fd, bytes.data(), bytes.size()) != ssize_t(bytes.size())) std::perror("read");
    close(fd);
    w.reset();
    FILE* f = std::fopen(path.c_str(), "wb");
    std::fwrite(bytes.data(), 1, bytes.size(), f);
    std::fclose(f);
  }
  std::printf("%s\n", path.c_str());
}

}  // namespace
}  // namespace ebt::fuzz

int main(int argc, char** argv) {
  using namespace ebt::fuzz;
  using ebt::format::CaptureWriter;
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  std::string dir = argv[1];
  for (const char* sub : {"", "/reader", "/report", "/unwind_table"}) mkdir((dir + sub).c_str(), 0755);
  auto all = [](CaptureWriter& w) {
    process(w);
    symbols(w);
    stacks(w);
    samples(w);
    offcpu(w);
    skb(w);
    syscalls(w);
    misc(w);
    raw_stacks(w);
    tcp(w);
    lua(w);
    sched(w);
  };
  for (const char* target : {"/reader/", "/report/"}) {
    std::string d = dir + target;
    write(d + "empty.ebt", [](CaptureWriter&) {});
    write(d + "oncpu.ebt", [](CaptureWriter& w) { process(w); symbols(w); stacks(w); samples(w); });
    write(d + "offcpu.ebt", [](CaptureWriter& w) { process(w); symbols(w); stacks(w); offcpu(w); });
    write(d + "skb.ebt", [](CaptureWriter& w) { stacks(w); skb(w); misc(w); });
    write(d + "l7.ebt", [](CaptureWriter& w) { process(w); syscalls(w); });
    write(d + "tcp.ebt", [](CaptureWriter& w) { process(w); syscalls(w); tcp(w); });
    write(d + "rawstack.ebt", [](CaptureWriter& w) { process(w); stacks(w); raw_stacks(w); });
    write(d + "lua.ebt", [](CaptureWriter& w) { process(w); symbols(w); stacks(w); lua(w); });
    write(d + "sched.ebt", [](CaptureWriter& w) { process(w); sched(w); });
    write(d + "all.ebt", all);
    write(d + "killed.ebt", all, false);
  }
  write(dir + "/unwind_table/rawstack.ebt", [](CaptureWriter& w) { process(w); raw_stacks(w); });
  std::vector<uint8_t> img = vdso_image();
  FILE* f = std::fopen((dir + "/unwind_table/vdso.elf").c_str(), "wb");
  std::fwrite(img.data(), 1, img.size(), f);
  std::fclose(f);
  return 0;
}
