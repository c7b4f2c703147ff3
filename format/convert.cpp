#include "format/convert.h"

#include <unordered_map>

namespace ebt::format::conv {
namespace {

kj::ArrayPtr<const kj::byte> bytes(const std::vector<uint8_t>& v) {
  return kj::ArrayPtr<const kj::byte>(v.data(), v.size());
}
std::vector<uint8_t> bytes(capnp::Data::Reader d) { return std::vector<uint8_t>(d.begin(), d.end()); }
std::string text(capnp::Text::Reader t) { return std::string(t.cStr(), t.size()); }

void set_texts(capnp::List<capnp::Text>::Builder out, const std::vector<std::string>& in) {
  for (unsigned i = 0; i < in.size(); ++i) out.set(i, in[i]);
}
std::vector<std::string> texts(capnp::List<capnp::Text>::Reader in) {
  std::vector<std::string> out;
  out.reserve(in.size());
  for (auto t : in) out.push_back(text(t));
  return out;
}

// Enumerants unknown to this build (a newer writer) map to the catch-all value.
template <typename To, typename From>
To enum_in(From v, To other, unsigned count) {
  auto n = static_cast<unsigned>(v);
  return n < count ? static_cast<To>(n) : other;
}

}  // namespace

void encode(wire::Record::Builder r, const SessionInfo& v) {
  auto b = r.initSession();
  b.setHostname(v.hostname);
  b.setKernelRelease(v.kernel_release);
  b.setBootId(v.boot_id);
  b.setClockMonotonicNs(v.clock_monotonic_ns);
  b.setClockRealtimeNs(v.clock_realtime_ns);
  b.setCpuCount(v.cpu_count);
  set_texts(b.initCommandLine(v.command_line.size()), v.command_line);
  b.setOptions(v.options);
  b.setEbtraceVersion(v.ebtrace_version);
  b.setStartNs(v.start_ns);
  b.setSampleFrequencyHz(v.sample_frequency_hz);
  b.setMachine(v.machine);
  b.setTrigger(v.trigger);
}

void encode(wire::Record::Builder r, const SessionEnd& v) {
  auto b = r.initSessionEnd();
  b.setEndNs(v.end_ns);
  b.setSamples(v.samples);
  b.setLost(v.lost);
}

void encode(wire::Record::Builder r, const ProcessInfo& v) {
  auto b = r.initProcess();
  b.setPid(v.pid);
  b.setPpid(v.ppid);
  b.setComm(v.comm);
  b.setExe(v.exe);
  set_texts(b.initCmdline(v.cmdline.size()), v.cmdline);
  b.setCgroupId(v.cgroup_id);
  b.setCgroupPath(v.cgroup_path);
  auto ns = b.initNspid(v.nspid.size());
  for (unsigned i = 0; i < v.nspid.size(); ++i) ns.set(i, v.nspid[i]);
  b.setStartNs(v.start_ns);
  b.setTimeNs(v.time_ns);
}

void encode(wire::Record::Builder r, const ThreadInfo& v) {
  auto b = r.initThread();
  b.setPid(v.pid);
  b.setTid(v.tid);
  b.setComm(v.comm);
  b.setTimeNs(v.time_ns);
}

void encode(wire::Record::Builder r, const ProcessExit& v) {
  auto b = r.initProcessExit();
  b.setPid(v.pid);
  b.setTid(v.tid);
  b.setExitCode(v.exit_code);
  b.setTimeNs(v.time_ns);
}

void encode(wire::Record::Builder r, const Mapping& v) {
  auto b = r.initMapping();
  b.setPid(v.pid);
  b.setStart(v.start);
  b.setEnd(v.end);
  b.setFileOffset(v.file_offset);
  b.setPath(v.path);
  b.setBuildId(bytes(v.build_id));
  b.setTimeNs(v.time_ns);
}

void encode(wire::Record::Builder r, const StringEntry& v) {
  auto b = r.initString();
  b.setId(v.id);
  b.setValue(v.value);
}

void encode(wire::Record::Builder r, const Stack& v) {
  auto b = r.initStack();
  b.setId(v.id);
  auto a = b.initAddresses(v.frames.size());
  auto k = b.initKinds(v.frames.size());
  for (unsigned i = 0; i < v.frames.size(); ++i) {
    a.set(i, v.frames[i].address);
    k.set(i, static_cast<wire::FrameKind>(v.frames[i].kind));
  }
}

void encode(wire::Record::Builder r, const LuaProto& v) {
  auto b = r.initLuaProto();
  b.setPid(v.pid);
  b.setAddress(v.address);
  b.setChunk(v.chunk);
  b.setFirstLine(v.first_line);
  b.setLastLine(v.last_line);
  b.setName(v.name);
  b.setId(v.id);
  b.setTimeNs(v.time_ns);
  b.setFingerprint(v.fingerprint);
  if (!v.blob.empty()) b.setBlob(bytes(v.blob));
  b.setBcOffset(v.bc_offset);
  b.setSizeBc(v.size_bc);
  b.setLineinfoOffset(v.lineinfo_offset);
  b.setUvinfoOffset(v.uvinfo_offset);
  b.setVarinfoOffset(v.varinfo_offset);
  b.setKOffset(v.k_offset);
  b.setSizeKgc(v.size_kgc);
  b.setNumParams(v.num_params);
  b.setFlags(v.flags);
  b.setGcRefBytes(v.gcref_bytes);
  auto ks = b.initKgcStrings(v.kgc_strings.size());
  for (unsigned i = 0; i < v.kgc_strings.size(); ++i) {
    ks[i].setIndex(v.kgc_strings[i].index);
    ks[i].setText(v.kgc_strings[i].text);
  }
  b.setReadError(v.read_error);
}

void encode(wire::Record::Builder r, const LuaVm& v) {
  auto b = r.initLuaVm();
  b.setPid(v.pid);
  b.setTimeNs(v.time_ns);
  b.setPath(v.path);
  b.setBuildId(bytes(v.build_id));
  b.setGc64(v.gc64);
  b.setInterpStart(v.interp_start);
  b.setInterpEnd(v.interp_end);
  b.setSource(v.source);
  b.setVersion(v.version);
  set_texts(b.initFfNames(v.ff_names.size()), v.ff_names);
  set_texts(b.initBcNames(v.bc_names.size()), v.bc_names);
  b.setFinal(v.final);
  b.setSamples(v.samples);
  b.setLuaSamples(v.lua_samples);
  b.setIdleSamples(v.idle_samples);
  b.setNoState(v.no_state);
  b.setBadWalks(v.bad_walks);
  b.setTruncatedWalks(v.truncated_walks);
  b.setLostStacks(v.lost_stacks);
  b.setProtos(v.protos);
  b.setProtoReadErrors(v.proto_read_errors);
  b.setTraces(v.traces);
}

void encode(wire::Record::Builder r, const LuaStack& v) {
  auto b = r.initLuaStack();
  b.setId(v.id);
  auto fs = b.initFrames(v.frames.size());
  for (unsigned i = 0; i < v.frames.size(); ++i) {
    const LuaFrame& f = v.frames[i];
    fs[i].setKind(static_cast<wire::LuaFrameKind>(f.kind));
    fs[i].setProtoId(f.proto_id);
    fs[i].setAddress(f.address);
    fs[i].setPc(f.pc);
    fs[i].setLinkType(f.link_type);
    fs[i].setResumed(f.resumed);
  }
  b.setVmstate(v.vmstate);
  b.setTraceId(v.trace_id);
  b.setFlags(v.flags);
}

void encode(wire::Record::Builder r, const LuaTrace& v) {
  auto b = r.initLuaTrace();
  b.setId(v.id);
  b.setPid(v.pid);
  b.setTimeNs(v.time_ns);
  b.setTraceNo(v.trace_no);
  b.setStartProtoId(v.start_proto_id);
  b.setStartPc(v.start_pc);
  b.setMcode(v.mcode);
  b.setMcodeSize(v.mcode_size);
  b.setRoot(v.root);
}

void encode(wire::Record::Builder r, const SymbolTable& v) {
  auto b = r.initSymbolTable();
  b.setBuildId(bytes(v.build_id));
  b.setPath(v.path);
  auto seg = b.initSegments(v.segments.size());
  for (unsigned i = 0; i < v.segments.size(); ++i) {
    seg[i].setVaddr(v.segments[i].vaddr);
    seg[i].setFileOffset(v.segments[i].file_offset);
    seg[i].setFileSize(v.segments[i].file_size);
  }
  auto sym = b.initSymbols(v.symbols.size());
  for (unsigned i = 0; i < v.symbols.size(); ++i) {
    sym[i].setAddress(v.symbols[i].address);
    sym[i].setSize(v.symbols[i].size);
    sym[i].setName(v.symbols[i].name);
  }
  auto loc = b.initLocations(v.locations.size());
  for (unsigned i = 0; i < v.locations.size(); ++i) {
    loc[i].setAddress(v.locations[i].address);
    const auto& fr = v.locations[i].frames;
    auto f = loc[i].initFrames(fr.size());
    for (unsigned j = 0; j < fr.size(); ++j) {
      f[j].setFunction(fr[j].function);
      f[j].setFile(fr[j].file);
      f[j].setLine(fr[j].line);
    }
  }
}

void encode(wire::Record::Builder r, const KernelSymbols& v) {
  auto b = r.initKernelSymbols();
  auto s = b.initSymbols(v.symbols.size());
  for (unsigned i = 0; i < v.symbols.size(); ++i) {
    s[i].setAddress(v.symbols[i].address);
    s[i].setName(v.symbols[i].name);
    s[i].setModule(v.symbols[i].module);
  }
}

void encode(wire::Record::Builder r, const SocketInfo& v) {
  auto b = r.initSocket();
  b.setId(v.id);
  b.setPid(v.pid);
  b.setFd(v.fd);
  b.setFamily(v.family);
  b.setProtocol(v.protocol);
  b.setLocalAddr(bytes(v.local_addr));
  b.setLocalPort(v.local_port);
  b.setRemoteAddr(bytes(v.remote_addr));
  b.setRemotePort(v.remote_port);
  b.setTimeNs(v.time_ns);
}

void encode(wire::Record::Builder r, const LostEvents& v) {
  auto b = r.initLostEvents();
  b.setTimeNs(v.time_ns);
  b.setCpu(v.cpu);
  b.setSource(static_cast<wire::LossSource>(v.source));
  b.setCount(v.count);
}

void encode(wire::Record::Builder r, std::span<const CpuSample> v) {
  auto b = r.initCpuSamples();
  const unsigned n = v.size();
  // (pid, tid) dictionary: a handful of threads dominate any block.
  std::unordered_map<uint64_t, uint32_t> slots;
  std::vector<uint32_t> pids, tids;
  auto deltas = b.initTimeDeltas(n);
  auto thread = b.initThread(n);
  auto cpu = b.initCpu(n);
  auto stack = b.initStackId(n);
  uint64_t prev = n ? v[0].time_ns : 0;
  b.setBaseTimeNs(prev);
  uint64_t last_key = ~uint64_t{0};
  uint32_t last_slot = 0;
  for (unsigned i = 0; i < n; ++i) {
    const CpuSample& s = v[i];
    deltas.set(i, zigzag(static_cast<int64_t>(s.time_ns - prev)));
    prev = s.time_ns;
    uint64_t key = (uint64_t{s.pid} << 32) | s.tid;
    if (key != last_key) {
      auto [it, fresh] = slots.try_emplace(key, static_cast<uint32_t>(pids.size()));
      if (fresh) {
        pids.push_back(s.pid);
        tids.push_back(s.tid);
      }
      last_key = key;
      last_slot = it->second;
    }
    thread.set(i, last_slot);
    cpu.set(i, s.cpu);
    stack.set(i, s.stack_id);
  }
  bool lua = false;
  for (const CpuSample& s : v) lua |= s.lua_stack_id != 0;
  if (lua) {
    auto l = b.initLuaStackId(n);
    for (unsigned i = 0; i < n; ++i) l.set(i, v[i].lua_stack_id);
  }
  auto p = b.initThreadPids(pids.size());
  auto t = b.initThreadTids(tids.size());
  for (unsigned i = 0; i < pids.size(); ++i) {
    p.set(i, pids[i]);
    t.set(i, tids[i]);
  }
}

void encode(wire::Record::Builder r, std::span<const OffCpuInterval> v) {
  auto l = r.initOffCpuIntervals().initIntervals(v.size());
  for (unsigned i = 0; i < v.size(); ++i) {
    auto b = l[i];
    const auto& e = v[i];
    b.setStartNs(e.start_ns);
    b.setDurationNs(e.duration_ns);
    b.setPid(e.pid);
    b.setTid(e.tid);
    b.setCpu(e.cpu);
    b.setStackId(e.stack_id);
    b.setState(static_cast<wire::TaskState>(e.state));
    b.setWakerPid(e.waker_pid);
    b.setWakerTid(e.waker_tid);
    b.setWakerStackId(e.waker_stack_id);
    b.setWakeupNs(e.wakeup_ns);
  }
}

void encode(wire::Record::Builder r, std::span<const SkbHop> v) {
  auto l = r.initSkbHops().initHops(v.size());
  for (unsigned i = 0; i < v.size(); ++i) {
    auto b = l[i];
    const auto& e = v[i];
    b.setTimeNs(e.time_ns);
    b.setSkb(e.skb);
    b.setLocationId(e.location_id);
    b.setIfindex(e.ifindex);
    b.setNetns(e.netns);
    b.setLen(e.len);
    b.setProtocol(e.protocol);
    b.setCpu(e.cpu);
    b.setPid(e.pid);
    b.setTid(e.tid);
    b.setStackId(e.stack_id);
    b.setDeviceId(e.device_id);
    b.setL4Protocol(e.l4_protocol);
    if (!e.src_addr.empty()) b.setSrcAddr(bytes(e.src_addr));
    if (!e.dst_addr.empty()) b.setDstAddr(bytes(e.dst_addr));
    b.setSrcPort(e.src_port);
    b.setDstPort(e.dst_port);
    b.setReasonId(e.reason_id);
    b.setNewPacket(e.new_packet);
  }
}

void encode(wire::Record::Builder r, std::span<const SyscallEvent> v) {
  auto l = r.initSyscalls().initEvents(v.size());
  for (unsigned i = 0; i < v.size(); ++i) {
    auto b = l[i];
    const auto& e = v[i];
    b.setEnterNs(e.enter_ns);
    b.setExitNs(e.exit_ns);
    b.setPid(e.pid);
    b.setTid(e.tid);
    b.setKind(static_cast<wire::SyscallKind>(e.kind));
    b.setFd(e.fd);
    b.setRet(e.ret);
    b.setSocketId(e.socket_id);
    if (!e.payload.empty()) b.setPayload(bytes(e.payload));
  }
}

void encode(wire::Record::Builder r, const UnwindTable& v) {
  auto b = r.initUnwindTable();
  b.setBuildId(bytes(v.build_id));
  b.setPath(v.path);
  b.setFileSize(v.file_size);
  auto l = b.initChunks(v.chunks.size());
  for (unsigned i = 0; i < v.chunks.size(); ++i) {
    l[i].setOffset(v.chunks[i].offset);
    l[i].setData(bytes(v.chunks[i].data));
  }
}

void encode(wire::Record::Builder r, std::span<const StackSnapshot> v) {
  auto l = r.initStackSnapshots().initSnapshots(v.size());
  for (unsigned i = 0; i < v.size(); ++i) {
    auto b = l[i];
    const auto& e = v[i];
    b.setTimeNs(e.time_ns);
    b.setPid(e.pid);
    b.setTid(e.tid);
    b.setCpu(e.cpu);
    b.setKernelStackId(e.kernel_stack_id);
    b.setIp(e.ip);
    b.setSp(e.sp);
    b.setBp(e.bp);
    if (!e.stack.empty()) b.setStack(bytes(e.stack));
    b.setLuaStackId(e.lua_stack_id);
  }
}

SessionInfo decode(wire::SessionInfo::Reader r) {
  SessionInfo v;
  v.hostname = text(r.getHostname());
  v.kernel_release = text(r.getKernelRelease());
  v.boot_id = text(r.getBootId());
  v.clock_monotonic_ns = r.getClockMonotonicNs();
  v.clock_realtime_ns = r.getClockRealtimeNs();
  v.cpu_count = r.getCpuCount();
  v.command_line = texts(r.getCommandLine());
  v.options = text(r.getOptions());
  v.ebtrace_version = text(r.getEbtraceVersion());
  v.start_ns = r.getStartNs();
  v.sample_frequency_hz = r.getSampleFrequencyHz();
  v.machine = text(r.getMachine());
  v.trigger = text(r.getTrigger());
  return v;
}

SessionEnd decode(wire::SessionEnd::Reader r) {
  return SessionEnd{r.getEndNs(), r.getSamples(), r.getLost()};
}

ProcessInfo decode(wire::ProcessInfo::Reader r) {
  ProcessInfo v;
  v.pid = r.getPid();
  v.ppid = r.getPpid();
  v.comm = text(r.getComm());
  v.exe = text(r.getExe());
  v.cmdline = texts(r.getCmdline());
  v.cgroup_id = r.getCgroupId();
  v.cgroup_path = text(r.getCgroupPath());
  for (auto p : r.getNspid()) v.nspid.push_back(p);
  v.start_ns = r.getStartNs();
  v.time_ns = r.getTimeNs();
  return v;
}

ThreadInfo decode(wire::ThreadInfo::Reader r) {
  return ThreadInfo{r.getPid(), r.getTid(), text(r.getComm()), r.getTimeNs()};
}

ProcessExit decode(wire::ProcessExit::Reader r) {
  return ProcessExit{r.getPid(), r.getTid(), r.getExitCode(), r.getTimeNs()};
}

Mapping decode(wire::Mapping::Reader r) {
  Mapping v;
  v.pid = r.getPid();
  v.start = r.getStart();
  v.end = r.getEnd();
  v.file_offset = r.getFileOffset();
  v.path = text(r.getPath());
  v.build_id = bytes(r.getBuildId());
  v.time_ns = r.getTimeNs();
  return v;
}

StringEntry decode(wire::StringEntry::Reader r) { return StringEntry{r.getId(), text(r.getValue())}; }

Stack decode(wire::Stack::Reader r) {
  Stack v;
  v.id = r.getId();
  auto a = r.getAddresses();
  auto k = r.getKinds();
  v.frames.resize(a.size());
  for (unsigned i = 0; i < a.size(); ++i) {
    v.frames[i].address = a[i];
    v.frames[i].kind = i < k.size() ? enum_in(k[i], FrameKind::kUser, 4) : FrameKind::kUser;
  }
  return v;
}

LuaProto decode(wire::LuaProto::Reader r) {
  LuaProto v;
  v.pid = r.getPid();
  v.address = r.getAddress();
  v.chunk = text(r.getChunk());
  v.first_line = r.getFirstLine();
  v.last_line = r.getLastLine();
  v.name = text(r.getName());
  v.id = r.getId();
  v.time_ns = r.getTimeNs();
  v.fingerprint = r.getFingerprint();
  v.blob = bytes(r.getBlob());
  v.bc_offset = r.getBcOffset();
  v.size_bc = r.getSizeBc();
  v.lineinfo_offset = r.getLineinfoOffset();
  v.uvinfo_offset = r.getUvinfoOffset();
  v.varinfo_offset = r.getVarinfoOffset();
  v.k_offset = r.getKOffset();
  v.size_kgc = r.getSizeKgc();
  v.num_params = r.getNumParams();
  v.flags = r.getFlags();
  v.gcref_bytes = r.getGcRefBytes();
  for (auto k : r.getKgcStrings()) v.kgc_strings.push_back({k.getIndex(), text(k.getText())});
  v.read_error = text(r.getReadError());
  return v;
}

LuaVm decode(wire::LuaVm::Reader r) {
  LuaVm v;
  v.pid = r.getPid();
  v.time_ns = r.getTimeNs();
  v.path = text(r.getPath());
  v.build_id = bytes(r.getBuildId());
  v.gc64 = r.getGc64();
  v.interp_start = r.getInterpStart();
  v.interp_end = r.getInterpEnd();
  v.source = text(r.getSource());
  v.version = text(r.getVersion());
  v.ff_names = texts(r.getFfNames());
  v.bc_names = texts(r.getBcNames());
  v.final = r.getFinal();
  v.samples = r.getSamples();
  v.lua_samples = r.getLuaSamples();
  v.idle_samples = r.getIdleSamples();
  v.no_state = r.getNoState();
  v.bad_walks = r.getBadWalks();
  v.truncated_walks = r.getTruncatedWalks();
  v.lost_stacks = r.getLostStacks();
  v.protos = r.getProtos();
  v.proto_read_errors = r.getProtoReadErrors();
  v.traces = r.getTraces();
  return v;
}

LuaStack decode(wire::LuaStack::Reader r) {
  LuaStack v;
  v.id = r.getId();
  for (auto f : r.getFrames()) {
    LuaFrame o;
    o.kind = enum_in(f.getKind(), LuaFrameKind::kC, 3);
    o.proto_id = f.getProtoId();
    o.address = f.getAddress();
    o.pc = f.getPc();
    o.link_type = f.getLinkType();
    o.resumed = f.getResumed();
    v.frames.push_back(o);
  }
  v.vmstate = r.getVmstate();
  v.trace_id = r.getTraceId();
  v.flags = r.getFlags();
  return v;
}

LuaTrace decode(wire::LuaTrace::Reader r) {
  LuaTrace v;
  v.id = r.getId();
  v.pid = r.getPid();
  v.time_ns = r.getTimeNs();
  v.trace_no = r.getTraceNo();
  v.start_proto_id = r.getStartProtoId();
  v.start_pc = r.getStartPc();
  v.mcode = r.getMcode();
  v.mcode_size = r.getMcodeSize();
  v.root = r.getRoot();
  return v;
}

SymbolTable decode(wire::SymbolTable::Reader r) {
  SymbolTable v;
  v.build_id = bytes(r.getBuildId());
  v.path = text(r.getPath());
  for (auto s : r.getSegments()) v.segments.push_back({s.getVaddr(), s.getFileOffset(), s.getFileSize()});
  auto syms = r.getSymbols();
  v.symbols.reserve(syms.size());
  for (auto s : syms) v.symbols.push_back({s.getAddress(), s.getSize(), text(s.getName())});
  for (auto l : r.getLocations()) {
    SourceLocation loc;
    loc.address = l.getAddress();
    for (auto f : l.getFrames()) loc.frames.push_back({text(f.getFunction()), text(f.getFile()), f.getLine()});
    v.locations.push_back(std::move(loc));
  }
  return v;
}

KernelSymbols decode(wire::KernelSymbols::Reader r) {
  KernelSymbols v;
  auto syms = r.getSymbols();
  v.symbols.reserve(syms.size());
  for (auto s : syms) v.symbols.push_back({s.getAddress(), text(s.getName()), text(s.getModule())});
  return v;
}

SocketInfo decode(wire::SocketInfo::Reader r) {
  SocketInfo v;
  v.id = r.getId();
  v.pid = r.getPid();
  v.fd = r.getFd();
  v.family = r.getFamily();
  v.protocol = r.getProtocol();
  v.local_addr = bytes(r.getLocalAddr());
  v.local_port = r.getLocalPort();
  v.remote_addr = bytes(r.getRemoteAddr());
  v.remote_port = r.getRemotePort();
  v.time_ns = r.getTimeNs();
  return v;
}

LostEvents decode(wire::LostEvents::Reader r) {
  LostEvents v;
  v.time_ns = r.getTimeNs();
  v.cpu = r.getCpu();
  v.source = enum_in(r.getSource(), LossSource::kOther, 7);
  v.count = r.getCount();
  return v;
}

OffCpuInterval decode(wire::OffCpuInterval::Reader r) {
  OffCpuInterval v;
  v.start_ns = r.getStartNs();
  v.duration_ns = r.getDurationNs();
  v.pid = r.getPid();
  v.tid = r.getTid();
  v.cpu = r.getCpu();
  v.stack_id = r.getStackId();
  v.state = enum_in(r.getState(), TaskState::kOther, 4);
  v.waker_pid = r.getWakerPid();
  v.waker_tid = r.getWakerTid();
  v.waker_stack_id = r.getWakerStackId();
  v.wakeup_ns = r.getWakeupNs();
  return v;
}

SkbHop decode(wire::SkbHop::Reader r) {
  SkbHop v;
  v.time_ns = r.getTimeNs();
  v.skb = r.getSkb();
  v.location_id = r.getLocationId();
  v.ifindex = r.getIfindex();
  v.netns = r.getNetns();
  v.len = r.getLen();
  v.protocol = r.getProtocol();
  v.cpu = r.getCpu();
  v.pid = r.getPid();
  v.tid = r.getTid();
  v.stack_id = r.getStackId();
  v.device_id = r.getDeviceId();
  v.l4_protocol = r.getL4Protocol();
  v.src_addr = bytes(r.getSrcAddr());
  v.dst_addr = bytes(r.getDstAddr());
  v.src_port = r.getSrcPort();
  v.dst_port = r.getDstPort();
  v.reason_id = r.getReasonId();
  v.new_packet = r.getNewPacket();
  return v;
}

SyscallEvent decode(wire::SyscallEvent::Reader r) {
  SyscallEvent v;
  v.enter_ns = r.getEnterNs();
  v.exit_ns = r.getExitNs();
  v.pid = r.getPid();
  v.tid = r.getTid();
  v.kind = enum_in(r.getKind(), SyscallKind::kOther, 9);
  v.fd = r.getFd();
  v.ret = r.getRet();
  v.socket_id = r.getSocketId();
  v.payload = bytes(r.getPayload());
  return v;
}

UnwindTable decode(wire::UnwindTable::Reader r) {
  UnwindTable v;
  v.build_id = bytes(r.getBuildId());
  v.path = text(r.getPath());
  v.file_size = r.getFileSize();
  for (auto c : r.getChunks()) v.chunks.push_back(FileChunk{c.getOffset(), bytes(c.getData())});
  return v;
}

StackSnapshot decode(wire::StackSnapshot::Reader r) {
  StackSnapshot v;
  v.time_ns = r.getTimeNs();
  v.pid = r.getPid();
  v.tid = r.getTid();
  v.cpu = r.getCpu();
  v.kernel_stack_id = r.getKernelStackId();
  v.ip = r.getIp();
  v.sp = r.getSp();
  v.bp = r.getBp();
  v.stack = bytes(r.getStack());
  v.lua_stack_id = r.getLuaStackId();
  return v;
}

}  // namespace ebt::format::conv
