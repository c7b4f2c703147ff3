// The table of record kinds: everything format/ knows about each kind, in ONE
// entry per kind. Internal to format/ (Cap'n Proto types).
//
// An entry `Kind<RecordKind::kX>` says:
//   shape       kTable: one record per message, always delivered (later events refer to it);
//               kEvent: one timed record per message; kBatch: many timed events per message
//   get / init  its member of the Record union (reading / writing)
//   encode      the C++ record (a span of them for a batch) into the union member
//   decode      the union member into C++ records: calls each(record) once, or per event
//   time        the event time (kEvent, kBatch): block time ranges, --time / --start-ns filters
//   time_field  the same field's schema name (dump filters through the embedded schema)
//   estimate    (kBatch) bytes one event adds to a block: cuts blocks, sizes the message
// The reader's dispatch, the writer's batches and add(), the dump's expansion of
// batches, the kind names and counts are all derived from these entries
// (for_each_kind below). Adding a kind: docs/architecture.md.
#pragma once

#include <array>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <capnp/schema.h>

#include "format/capture.capnp.h"
#include "format/kinds.h"

namespace ebt::format {

enum class Shape : uint8_t { kTable, kEvent, kBatch };

// A record that contradicts the format (frames, batch columns): the rest of its
// block is damage. Thrown only by format/'s own decoding, so that an exception
// from a visitor (a bug, bad_alloc) is never mistaken for damage in the file.
class CorruptRecord : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

template <RecordKind K>
struct Kind;  // one specialisation per kind, below

// ---- field helpers ------------------------------------------------------------

namespace field {

inline kj::ArrayPtr<const kj::byte> bytes(const std::vector<uint8_t>& v) {
  return kj::ArrayPtr<const kj::byte>(v.data(), v.size());
}
inline std::vector<uint8_t> bytes(capnp::Data::Reader d) { return std::vector<uint8_t>(d.begin(), d.end()); }
inline std::string text(capnp::Text::Reader t) { return std::string(t.cStr(), t.size()); }

inline void set_texts(capnp::List<capnp::Text>::Builder out, const std::vector<std::string>& in) {
  for (unsigned i = 0; i < in.size(); ++i) out.set(i, in[i]);
}
inline std::vector<std::string> texts(capnp::List<capnp::Text>::Reader in) {
  std::vector<std::string> out;
  out.reserve(in.size());
  for (auto t : in) out.push_back(text(t));
  return out;
}

// Number of enumerants of a schema enum (compiled in): values at or above it
// were written by a newer ebtrace.
template <typename WireEnum>
unsigned enumerant_count() {
  static const unsigned n = capnp::Schema::from<WireEnum>().getEnumerants().size();
  return n;
}

// A C++ mirror of a schema enum; unknown (newer) values read as `other`.
template <typename To, typename From>
To enum_in(From v, To other) {
  auto n = static_cast<unsigned>(v);
  return n < enumerant_count<From>() ? static_cast<To>(n) : other;
}

inline uint64_t zigzag(int64_t v) { return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63); }
inline int64_t unzigzag(uint64_t z) { return static_cast<int64_t>((z >> 1) ^ (~(z & 1) + 1)); }

}  // namespace field

// ---- table kinds ----------------------------------------------------------------

template <>
struct Kind<RecordKind::kSession> {
  static constexpr auto member = wire::Record::SESSION;
  static constexpr Shape shape = Shape::kTable;
  static auto get(wire::Record::Reader r) { return r.getSession(); }
  static void encode(wire::Record::Builder r, const SessionInfo& v) {
    auto b = r.initSession();
    b.setHostname(v.hostname);
    b.setKernelRelease(v.kernel_release);
    b.setBootId(v.boot_id);
    b.setClockMonotonicNs(v.clock_monotonic_ns);
    b.setClockRealtimeNs(v.clock_realtime_ns);
    b.setCpuCount(v.cpu_count);
    field::set_texts(b.initCommandLine(v.command_line.size()), v.command_line);
    b.setOptions(v.options);
    b.setEbtraceVersion(v.ebtrace_version);
    b.setStartNs(v.start_ns);
    b.setSampleFrequencyHz(v.sample_frequency_hz);
    b.setMachine(v.machine);
    b.setTrigger(v.trigger);
  }
  static SessionInfo decode(wire::SessionInfo::Reader r) {
    SessionInfo v;
    v.hostname = field::text(r.getHostname());
    v.kernel_release = field::text(r.getKernelRelease());
    v.boot_id = field::text(r.getBootId());
    v.clock_monotonic_ns = r.getClockMonotonicNs();
    v.clock_realtime_ns = r.getClockRealtimeNs();
    v.cpu_count = r.getCpuCount();
    v.command_line = field::texts(r.getCommandLine());
    v.options = field::text(r.getOptions());
    v.ebtrace_version = field::text(r.getEbtraceVersion());
    v.start_ns = r.getStartNs();
    v.sample_frequency_hz = r.getSampleFrequencyHz();
    v.machine = field::text(r.getMachine());
    v.trigger = field::text(r.getTrigger());
    return v;
  }
};

template <>
struct Kind<RecordKind::kSessionEnd> {
  static constexpr auto member = wire::Record::SESSION_END;
  static constexpr Shape shape = Shape::kTable;
  static auto get(wire::Record::Reader r) { return r.getSessionEnd(); }
  static void encode(wire::Record::Builder r, const SessionEnd& v) {
    auto b = r.initSessionEnd();
    b.setEndNs(v.end_ns);
    b.setSamples(v.samples);
    b.setLost(v.lost);
    const LeafRepairCounts& c = v.leaf_repair;
    if (c.stacks) {
      auto l = b.initLeafRepair();
      l.setStacks(c.stacks);
      l.setRepaired(c.repaired);
      l.setFramesAdded(c.frames_added);
      l.setIntact(c.intact);
      l.setNoCfi(c.no_cfi);
      l.setUnknownObject(c.unknown_object);
      l.setShortCopy(c.short_copy);
      l.setNotFrame(c.not_frame);
      l.setMaxReach(c.max_reach);
    }
  }
  static SessionEnd decode(wire::SessionEnd::Reader r) {
    SessionEnd e{r.getEndNs(), r.getSamples(), r.getLost(), {}};
    if (r.hasLeafRepair()) {
      auto l = r.getLeafRepair();
      e.leaf_repair = {l.getStacks(),        l.getRepaired(),  l.getFramesAdded(), l.getIntact(),  l.getNoCfi(),
                       l.getUnknownObject(), l.getShortCopy(), l.getNotFrame(),    l.getMaxReach()};
    }
    return e;
  }
};

template <>
struct Kind<RecordKind::kProcess> {
  static constexpr auto member = wire::Record::PROCESS;
  static constexpr Shape shape = Shape::kTable;
  static auto get(wire::Record::Reader r) { return r.getProcess(); }
  static void encode(wire::Record::Builder r, const ProcessInfo& v) {
    auto b = r.initProcess();
    b.setPid(v.pid);
    b.setPpid(v.ppid);
    b.setComm(v.comm);
    b.setExe(v.exe);
    field::set_texts(b.initCmdline(v.cmdline.size()), v.cmdline);
    b.setCgroupId(v.cgroup_id);
    b.setCgroupPath(v.cgroup_path);
    auto ns = b.initNspid(v.nspid.size());
    for (unsigned i = 0; i < v.nspid.size(); ++i) ns.set(i, v.nspid[i]);
    b.setStartNs(v.start_ns);
    b.setTimeNs(v.time_ns);
  }
  static ProcessInfo decode(wire::ProcessInfo::Reader r) {
    ProcessInfo v;
    v.pid = r.getPid();
    v.ppid = r.getPpid();
    v.comm = field::text(r.getComm());
    v.exe = field::text(r.getExe());
    v.cmdline = field::texts(r.getCmdline());
    v.cgroup_id = r.getCgroupId();
    v.cgroup_path = field::text(r.getCgroupPath());
    for (auto p : r.getNspid()) v.nspid.push_back(p);
    v.start_ns = r.getStartNs();
    v.time_ns = r.getTimeNs();
    return v;
  }
};

template <>
struct Kind<RecordKind::kThread> {
  static constexpr auto member = wire::Record::THREAD;
  static constexpr Shape shape = Shape::kTable;
  static auto get(wire::Record::Reader r) { return r.getThread(); }
  static void encode(wire::Record::Builder r, const ThreadInfo& v) {
    auto b = r.initThread();
    b.setPid(v.pid);
    b.setTid(v.tid);
    b.setComm(v.comm);
    b.setTimeNs(v.time_ns);
  }
  static ThreadInfo decode(wire::ThreadInfo::Reader r) {
    return ThreadInfo{r.getPid(), r.getTid(), field::text(r.getComm()), r.getTimeNs()};
  }
};

template <>
struct Kind<RecordKind::kProcessExit> {
  static constexpr auto member = wire::Record::PROCESS_EXIT;
  static constexpr Shape shape = Shape::kTable;
  static auto get(wire::Record::Reader r) { return r.getProcessExit(); }
  static void encode(wire::Record::Builder r, const ProcessExit& v) {
    auto b = r.initProcessExit();
    b.setPid(v.pid);
    b.setTid(v.tid);
    b.setExitCode(v.exit_code);
    b.setTimeNs(v.time_ns);
  }
  static ProcessExit decode(wire::ProcessExit::Reader r) {
    return ProcessExit{r.getPid(), r.getTid(), r.getExitCode(), r.getTimeNs()};
  }
};

template <>
struct Kind<RecordKind::kMapping> {
  static constexpr auto member = wire::Record::MAPPING;
  static constexpr Shape shape = Shape::kTable;
  static auto get(wire::Record::Reader r) { return r.getMapping(); }
  static void encode(wire::Record::Builder r, const Mapping& v) {
    auto b = r.initMapping();
    b.setPid(v.pid);
    b.setStart(v.start);
    b.setEnd(v.end);
    b.setFileOffset(v.file_offset);
    b.setPath(v.path);
    b.setBuildId(field::bytes(v.build_id));
    b.setTimeNs(v.time_ns);
  }
  static Mapping decode(wire::Mapping::Reader r) {
    Mapping v;
    v.pid = r.getPid();
    v.start = r.getStart();
    v.end = r.getEnd();
    v.file_offset = r.getFileOffset();
    v.path = field::text(r.getPath());
    v.build_id = field::bytes(r.getBuildId());
    v.time_ns = r.getTimeNs();
    return v;
  }
};

template <>
struct Kind<RecordKind::kString> {
  static constexpr auto member = wire::Record::STRING;
  static constexpr Shape shape = Shape::kTable;
  static auto get(wire::Record::Reader r) { return r.getString(); }
  static void encode(wire::Record::Builder r, const StringEntry& v) {
    auto b = r.initString();
    b.setId(v.id);
    b.setValue(v.value);
  }
  static StringEntry decode(wire::StringEntry::Reader r) { return StringEntry{r.getId(), field::text(r.getValue())}; }
};

template <>
struct Kind<RecordKind::kStack> {
  static constexpr auto member = wire::Record::STACK;
  static constexpr Shape shape = Shape::kTable;
  static auto get(wire::Record::Reader r) { return r.getStack(); }
  static void encode(wire::Record::Builder r, const Stack& v) {
    auto b = r.initStack();
    b.setId(v.id);
    auto a = b.initAddresses(v.frames.size());
    auto k = b.initKinds(v.frames.size());
    for (unsigned i = 0; i < v.frames.size(); ++i) {
      a.set(i, v.frames[i].address);
      k.set(i, static_cast<wire::FrameKind>(v.frames[i].kind));
    }
  }
  static Stack decode(wire::Stack::Reader r) {
    Stack v;
    v.id = r.getId();
    auto a = r.getAddresses();
    auto k = r.getKinds();
    v.frames.resize(a.size());
    for (unsigned i = 0; i < a.size(); ++i) {
      v.frames[i].address = a[i];
      v.frames[i].kind = i < k.size() ? field::enum_in(k[i], FrameKind::kUser) : FrameKind::kUser;
    }
    return v;
  }
};

template <>
struct Kind<RecordKind::kLuaProto> {
  static constexpr auto member = wire::Record::LUA_PROTO;
  static constexpr Shape shape = Shape::kTable;
  static auto get(wire::Record::Reader r) { return r.getLuaProto(); }
  static void encode(wire::Record::Builder r, const LuaProto& v) {
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
    if (!v.blob.empty()) b.setBlob(field::bytes(v.blob));
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
  static LuaProto decode(wire::LuaProto::Reader r) {
    LuaProto v;
    v.pid = r.getPid();
    v.address = r.getAddress();
    v.chunk = field::text(r.getChunk());
    v.first_line = r.getFirstLine();
    v.last_line = r.getLastLine();
    v.name = field::text(r.getName());
    v.id = r.getId();
    v.time_ns = r.getTimeNs();
    v.fingerprint = r.getFingerprint();
    v.blob = field::bytes(r.getBlob());
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
    for (auto k : r.getKgcStrings()) v.kgc_strings.push_back({k.getIndex(), field::text(k.getText())});
    v.read_error = field::text(r.getReadError());
    return v;
  }
};

template <>
struct Kind<RecordKind::kSymbolTable> {
  static constexpr auto member = wire::Record::SYMBOL_TABLE;
  static constexpr Shape shape = Shape::kTable;
  static auto get(wire::Record::Reader r) { return r.getSymbolTable(); }
  static void encode(wire::Record::Builder r, const SymbolTable& v) {
    auto b = r.initSymbolTable();
    b.setBuildId(field::bytes(v.build_id));
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
  static SymbolTable decode(wire::SymbolTable::Reader r) {
    SymbolTable v;
    v.build_id = field::bytes(r.getBuildId());
    v.path = field::text(r.getPath());
    for (auto s : r.getSegments()) v.segments.push_back({s.getVaddr(), s.getFileOffset(), s.getFileSize()});
    auto syms = r.getSymbols();
    v.symbols.reserve(syms.size());
    for (auto s : syms) v.symbols.push_back({s.getAddress(), s.getSize(), field::text(s.getName())});
    for (auto l : r.getLocations()) {
      SourceLocation loc;
      loc.address = l.getAddress();
      for (auto f : l.getFrames())
        loc.frames.push_back({field::text(f.getFunction()), field::text(f.getFile()), f.getLine()});
      v.locations.push_back(std::move(loc));
    }
    return v;
  }
};

template <>
struct Kind<RecordKind::kKernelSymbols> {
  static constexpr auto member = wire::Record::KERNEL_SYMBOLS;
  static constexpr Shape shape = Shape::kTable;
  static auto get(wire::Record::Reader r) { return r.getKernelSymbols(); }
  static void encode(wire::Record::Builder r, const KernelSymbols& v) {
    auto s = r.initKernelSymbols().initSymbols(v.symbols.size());
    for (unsigned i = 0; i < v.symbols.size(); ++i) {
      s[i].setAddress(v.symbols[i].address);
      s[i].setName(v.symbols[i].name);
      s[i].setModule(v.symbols[i].module);
    }
  }
  static KernelSymbols decode(wire::KernelSymbols::Reader r) {
    KernelSymbols v;
    auto syms = r.getSymbols();
    v.symbols.reserve(syms.size());
    for (auto s : syms) v.symbols.push_back({s.getAddress(), field::text(s.getName()), field::text(s.getModule())});
    return v;
  }
};

template <>
struct Kind<RecordKind::kSocket> {
  static constexpr auto member = wire::Record::SOCKET;
  static constexpr Shape shape = Shape::kTable;
  static auto get(wire::Record::Reader r) { return r.getSocket(); }
  static void encode(wire::Record::Builder r, const SocketInfo& v) {
    auto b = r.initSocket();
    b.setId(v.id);
    b.setPid(v.pid);
    b.setFd(v.fd);
    b.setFamily(v.family);
    b.setProtocol(v.protocol);
    b.setLocalAddr(field::bytes(v.local_addr));
    b.setLocalPort(v.local_port);
    b.setRemoteAddr(field::bytes(v.remote_addr));
    b.setRemotePort(v.remote_port);
    b.setTimeNs(v.time_ns);
    b.setNetns(v.netns);
  }
  static SocketInfo decode(wire::SocketInfo::Reader r) {
    SocketInfo v;
    v.id = r.getId();
    v.pid = r.getPid();
    v.fd = r.getFd();
    v.family = r.getFamily();
    v.protocol = r.getProtocol();
    v.local_addr = field::bytes(r.getLocalAddr());
    v.local_port = r.getLocalPort();
    v.remote_addr = field::bytes(r.getRemoteAddr());
    v.remote_port = r.getRemotePort();
    v.time_ns = r.getTimeNs();
    v.netns = r.getNetns();
    return v;
  }
};

template <>
struct Kind<RecordKind::kUnwindTable> {
  static constexpr auto member = wire::Record::UNWIND_TABLE;
  static constexpr Shape shape = Shape::kTable;
  static auto get(wire::Record::Reader r) { return r.getUnwindTable(); }
  static void encode(wire::Record::Builder r, const UnwindTable& v) {
    auto b = r.initUnwindTable();
    b.setBuildId(field::bytes(v.build_id));
    b.setPath(v.path);
    b.setFileSize(v.file_size);
    auto l = b.initChunks(v.chunks.size());
    for (unsigned i = 0; i < v.chunks.size(); ++i) {
      l[i].setOffset(v.chunks[i].offset);
      l[i].setData(field::bytes(v.chunks[i].data));
    }
  }
  static UnwindTable decode(wire::UnwindTable::Reader r) {
    UnwindTable v;
    v.build_id = field::bytes(r.getBuildId());
    v.path = field::text(r.getPath());
    v.file_size = r.getFileSize();
    for (auto c : r.getChunks()) v.chunks.push_back(FileChunk{c.getOffset(), field::bytes(c.getData())});
    return v;
  }
};

// --lua (docs/lua.md): the VM of a process, interned Lua stacks, JIT traces.
template <>
struct Kind<RecordKind::kLuaVm> {
  static constexpr auto member = wire::Record::LUA_VM;
  static constexpr Shape shape = Shape::kTable;
  static auto get(wire::Record::Reader r) { return r.getLuaVm(); }
  static void encode(wire::Record::Builder r, const LuaVm& v) {
    auto b = r.initLuaVm();
    b.setPid(v.pid);
    b.setTimeNs(v.time_ns);
    b.setPath(v.path);
    b.setBuildId(field::bytes(v.build_id));
    b.setGc64(v.gc64);
    b.setInterpStart(v.interp_start);
    b.setInterpEnd(v.interp_end);
    b.setSource(v.source);
    b.setVersion(v.version);
    field::set_texts(b.initFfNames(v.ff_names.size()), v.ff_names);
    field::set_texts(b.initBcNames(v.bc_names.size()), v.bc_names);
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
  static LuaVm decode(wire::LuaVm::Reader r) {
    LuaVm v;
    v.pid = r.getPid();
    v.time_ns = r.getTimeNs();
    v.path = field::text(r.getPath());
    v.build_id = field::bytes(r.getBuildId());
    v.gc64 = r.getGc64();
    v.interp_start = r.getInterpStart();
    v.interp_end = r.getInterpEnd();
    v.source = field::text(r.getSource());
    v.version = field::text(r.getVersion());
    v.ff_names = field::texts(r.getFfNames());
    v.bc_names = field::texts(r.getBcNames());
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
};

template <>
struct Kind<RecordKind::kLuaStack> {
  static constexpr auto member = wire::Record::LUA_STACK;
  static constexpr Shape shape = Shape::kTable;
  static auto get(wire::Record::Reader r) { return r.getLuaStack(); }
  static void encode(wire::Record::Builder r, const LuaStack& v) {
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
  static LuaStack decode(wire::LuaStack::Reader r) {
    LuaStack v;
    v.id = r.getId();
    for (auto f : r.getFrames()) {
      LuaFrame o;
      o.kind = field::enum_in(f.getKind(), LuaFrameKind::kC);
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
};

template <>
struct Kind<RecordKind::kLuaTrace> {
  static constexpr auto member = wire::Record::LUA_TRACE;
  static constexpr Shape shape = Shape::kTable;
  static auto get(wire::Record::Reader r) { return r.getLuaTrace(); }
  static void encode(wire::Record::Builder r, const LuaTrace& v) {
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
  static LuaTrace decode(wire::LuaTrace::Reader r) {
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
};

// ---- event kinds --------------------------------------------------------------

template <>
struct Kind<RecordKind::kLostEvents> {
  static constexpr auto member = wire::Record::LOST_EVENTS;
  static constexpr Shape shape = Shape::kEvent;
  static constexpr const char* time_field = "timeNs";
  static uint64_t time(const LostEvents& v) { return v.time_ns; }
  static auto get(wire::Record::Reader r) { return r.getLostEvents(); }
  static void encode(wire::Record::Builder r, const LostEvents& v) {
    auto b = r.initLostEvents();
    b.setTimeNs(v.time_ns);
    b.setCpu(v.cpu);
    b.setSource(static_cast<wire::LossSource>(v.source));
    b.setCount(v.count);
  }
  static LostEvents decode(wire::LostEvents::Reader r) {
    LostEvents v;
    v.time_ns = r.getTimeNs();
    v.cpu = r.getCpu();
    v.source = field::enum_in(r.getSource(), LossSource::kOther);
    v.count = r.getCount();
    return v;
  }
};

// CPU samples are columnar (docs/format.md, "cpuSamples batch"): a per-batch
// thread dictionary and zigzag time deltas, ~7 bytes a sample.
template <>
struct Kind<RecordKind::kCpuSamples> {
  static constexpr auto member = wire::Record::CPU_SAMPLES;
  static constexpr Shape shape = Shape::kBatch;
  static constexpr const char* time_field = "timeNs";
  static uint64_t time(const CpuSample& v) { return v.time_ns; }
  static size_t estimate(const CpuSample&) { return 20; }
  static auto get(wire::Record::Reader r) { return r.getCpuSamples(); }
  static void encode(wire::Record::Builder r, std::span<const CpuSample> v) {
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
      deltas.set(i, field::zigzag(static_cast<int64_t>(s.time_ns - prev)));
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
    // --lua: a LuaStack per sample; no column at all in batches without one.
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
  // Calls each(const CpuSample&) per sample. Throws CorruptRecord on inconsistent columns.
  template <typename Fn>
  static void for_each(wire::CpuSampleBatch::Reader b, Fn&& each) {
    auto deltas = b.getTimeDeltas();
    auto pids = b.getThreadPids();
    auto tids = b.getThreadTids();
    auto thread = b.getThread();
    auto cpu = b.getCpu();
    auto stack = b.getStackId();
    auto lua = b.getLuaStackId();
    const unsigned n = deltas.size();
    if (thread.size() != n || cpu.size() != n || stack.size() != n || pids.size() != tids.size() ||
        (lua.size() != 0 && lua.size() != n))
      throw CorruptRecord("cpu sample batch has columns of different lengths");
    const unsigned nthreads = pids.size();
    uint64_t t = b.getBaseTimeNs();
    CpuSample s;
    for (unsigned i = 0; i < n; ++i) {
      t += static_cast<uint64_t>(field::unzigzag(deltas[i]));
      uint32_t th = thread[i];
      if (th >= nthreads) throw CorruptRecord("cpu sample refers to thread slot out of range");
      s.time_ns = t;
      s.pid = pids[th];
      s.tid = tids[th];
      s.cpu = cpu[i];
      s.stack_id = stack[i];
      s.lua_stack_id = lua.size() ? lua[i] : 0;
      each(s);
    }
  }
  // `ebtrace dump`: a columnar batch has no row struct for the schema to print.
  static constexpr const char* dump_element = "cpuSample";
  template <typename Put>
  static void dump_fields(Put&& put, const CpuSample& s) {
    put("timeNs", s.time_ns);
    put("pid", s.pid);
    put("tid", s.tid);
    put("cpu", s.cpu);
    put("stackId", s.stack_id);
    if (s.lua_stack_id) put("luaStackId", s.lua_stack_id);
  }
};

template <>
struct Kind<RecordKind::kOffCpuIntervals> {
  static constexpr auto member = wire::Record::OFF_CPU_INTERVALS;
  static constexpr Shape shape = Shape::kBatch;
  static constexpr const char* time_field = "startNs";
  static uint64_t time(const OffCpuInterval& v) { return v.start_ns; }
  static size_t estimate(const OffCpuInterval&) { return 64; }
  static auto get(wire::Record::Reader r) { return r.getOffCpuIntervals(); }
  static auto rows(wire::OffCpuBatch::Reader b) { return b.getIntervals(); }
  static void encode(wire::Record::Builder r, std::span<const OffCpuInterval> v) {
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
      b.setLuaStackId(e.lua_stack_id);
    }
  }
  static OffCpuInterval decode(wire::OffCpuInterval::Reader r) {
    OffCpuInterval v;
    v.start_ns = r.getStartNs();
    v.duration_ns = r.getDurationNs();
    v.pid = r.getPid();
    v.tid = r.getTid();
    v.cpu = r.getCpu();
    v.stack_id = r.getStackId();
    v.state = field::enum_in(r.getState(), TaskState::kOther);
    v.waker_pid = r.getWakerPid();
    v.waker_tid = r.getWakerTid();
    v.waker_stack_id = r.getWakerStackId();
    v.wakeup_ns = r.getWakeupNs();
    v.lua_stack_id = r.getLuaStackId();
    return v;
  }
};

template <>
struct Kind<RecordKind::kSkbHops> {
  static constexpr auto member = wire::Record::SKB_HOPS;
  static constexpr Shape shape = Shape::kBatch;
  static constexpr const char* time_field = "timeNs";
  static uint64_t time(const SkbHop& v) { return v.time_ns; }
  static size_t estimate(const SkbHop&) { return 128; }
  static auto get(wire::Record::Reader r) { return r.getSkbHops(); }
  static auto rows(wire::SkbHopBatch::Reader b) { return b.getHops(); }
  static void encode(wire::Record::Builder r, std::span<const SkbHop> v) {
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
      if (!e.src_addr.empty()) b.setSrcAddr(field::bytes(e.src_addr));
      if (!e.dst_addr.empty()) b.setDstAddr(field::bytes(e.dst_addr));
      b.setSrcPort(e.src_port);
      b.setDstPort(e.dst_port);
      b.setReasonId(e.reason_id);
      b.setNewPacket(e.new_packet);
    }
  }
  static SkbHop decode(wire::SkbHop::Reader r) {
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
    v.src_addr = field::bytes(r.getSrcAddr());
    v.dst_addr = field::bytes(r.getDstAddr());
    v.src_port = r.getSrcPort();
    v.dst_port = r.getDstPort();
    v.reason_id = r.getReasonId();
    v.new_packet = r.getNewPacket();
    return v;
  }
};

template <>
struct Kind<RecordKind::kSyscalls> {
  static constexpr auto member = wire::Record::SYSCALLS;
  static constexpr Shape shape = Shape::kBatch;
  static constexpr const char* time_field = "enterNs";
  static uint64_t time(const SyscallEvent& v) { return v.enter_ns; }
  static size_t estimate(const SyscallEvent& v) { return 72 + v.payload.size(); }
  static auto get(wire::Record::Reader r) { return r.getSyscalls(); }
  static auto rows(wire::SyscallBatch::Reader b) { return b.getEvents(); }
  static void encode(wire::Record::Builder r, std::span<const SyscallEvent> v) {
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
      if (!e.payload.empty()) b.setPayload(field::bytes(e.payload));
    }
  }
  static SyscallEvent decode(wire::SyscallEvent::Reader r) {
    SyscallEvent v;
    v.enter_ns = r.getEnterNs();
    v.exit_ns = r.getExitNs();
    v.pid = r.getPid();
    v.tid = r.getTid();
    v.kind = field::enum_in(r.getKind(), SyscallKind::kOther);
    v.fd = r.getFd();
    v.ret = r.getRet();
    v.socket_id = r.getSocketId();
    v.payload = field::bytes(r.getPayload());
    return v;
  }
};

template <>
struct Kind<RecordKind::kStackSnapshots> {
  static constexpr auto member = wire::Record::STACK_SNAPSHOTS;
  static constexpr Shape shape = Shape::kBatch;
  static constexpr const char* time_field = "timeNs";
  static uint64_t time(const StackSnapshot& v) { return v.time_ns; }
  static size_t estimate(const StackSnapshot& v) { return 64 + v.stack.size(); }
  static auto get(wire::Record::Reader r) { return r.getStackSnapshots(); }
  static auto rows(wire::StackSnapshotBatch::Reader b) { return b.getSnapshots(); }
  static void encode(wire::Record::Builder r, std::span<const StackSnapshot> v) {
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
      if (!e.stack.empty()) b.setStack(field::bytes(e.stack));
      b.setLuaStackId(e.lua_stack_id);
    }
  }
  static StackSnapshot decode(wire::StackSnapshot::Reader r) {
    StackSnapshot v;
    v.time_ns = r.getTimeNs();
    v.pid = r.getPid();
    v.tid = r.getTid();
    v.cpu = r.getCpu();
    v.kernel_stack_id = r.getKernelStackId();
    v.ip = r.getIp();
    v.sp = r.getSp();
    v.bp = r.getBp();
    v.stack = field::bytes(r.getStack());
    v.lua_stack_id = r.getLuaStackId();
    return v;
  }
};

template <>
struct Kind<RecordKind::kTcpEvents> {
  static constexpr auto member = wire::Record::TCP_EVENTS;
  static constexpr Shape shape = Shape::kBatch;
  static constexpr const char* time_field = "timeNs";
  static uint64_t time(const TcpEvent& v) { return v.time_ns; }
  static size_t estimate(const TcpEvent&) { return 136; }
  static auto get(wire::Record::Reader r) { return r.getTcpEvents(); }
  static auto rows(wire::TcpEventBatch::Reader b) { return b.getEvents(); }
  static void encode(wire::Record::Builder r, std::span<const TcpEvent> v) {
    auto l = r.initTcpEvents().initEvents(v.size());
    for (unsigned i = 0; i < v.size(); ++i) {
      auto b = l[i];
      const auto& e = v[i];
      b.setTimeNs(e.time_ns);
      b.setType(static_cast<wire::TcpEventType>(e.type));
      b.setCookie(e.cookie);
      b.setPid(e.pid);
      b.setTid(e.tid);
      b.setOldState(e.old_state);
      b.setNewState(e.new_state);
      if (!e.local_addr.empty()) b.setLocalAddr(field::bytes(e.local_addr));
      if (!e.remote_addr.empty()) b.setRemoteAddr(field::bytes(e.remote_addr));
      b.setLocalPort(e.local_port);
      b.setRemotePort(e.remote_port);
      b.setNetns(e.netns);
      b.setSocketId(e.socket_id);
      b.setHasStats(e.has_stats);
      b.setBytesSent(e.bytes_sent);
      b.setBytesReceived(e.bytes_received);
      b.setBytesRetrans(e.bytes_retrans);
      b.setSegsOut(e.segs_out);
      b.setSegsIn(e.segs_in);
      b.setSrttNs(e.srtt_ns);
      b.setRetransmits(e.retransmits);
      b.setOwnerFromProc(e.owner_from_proc);
    }
  }
  static TcpEvent decode(wire::TcpEvent::Reader r) {
    TcpEvent v;
    v.time_ns = r.getTimeNs();
    v.type = field::enum_in(r.getType(), TcpEventType::kOther);
    v.cookie = r.getCookie();
    v.pid = r.getPid();
    v.tid = r.getTid();
    v.old_state = r.getOldState();
    v.new_state = r.getNewState();
    v.local_addr = field::bytes(r.getLocalAddr());
    v.remote_addr = field::bytes(r.getRemoteAddr());
    v.local_port = r.getLocalPort();
    v.remote_port = r.getRemotePort();
    v.netns = r.getNetns();
    v.socket_id = r.getSocketId();
    v.has_stats = r.getHasStats();
    v.bytes_sent = r.getBytesSent();
    v.bytes_received = r.getBytesReceived();
    v.bytes_retrans = r.getBytesRetrans();
    v.segs_out = r.getSegsOut();
    v.segs_in = r.getSegsIn();
    v.srtt_ns = r.getSrttNs();
    v.retransmits = r.getRetransmits();
    v.owner_from_proc = r.getOwnerFromProc();
    return v;
  }
};

template <>
struct Kind<RecordKind::kCgroup> {
  static constexpr auto member = wire::Record::CGROUP;
  static constexpr Shape shape = Shape::kTable;
  static auto get(wire::Record::Reader r) { return r.getCgroup(); }
  static void encode(wire::Record::Builder r, const CgroupInfo& v) {
    auto b = r.initCgroup();
    b.setId(v.id);
    b.setPath(v.path);
    b.setHierarchy(v.hierarchy);
    b.setRuntime(v.runtime);
    b.setContainerId(v.container_id);
    b.setName(v.name);
    b.setPodUid(v.pod_uid);
    b.setQosClass(v.qos_class);
    b.setHostname(v.hostname);
    b.setPidNs(v.pid_ns);
    b.setNetNs(v.net_ns);
    b.setUtsNs(v.uts_ns);
    b.setMntNs(v.mnt_ns);
    b.setTimeNs(v.time_ns);
    b.setNotes(v.notes);
  }
  static CgroupInfo decode(wire::CgroupInfo::Reader r) {
    CgroupInfo v;
    v.id = r.getId();
    v.path = field::text(r.getPath());
    v.hierarchy = field::text(r.getHierarchy());
    v.runtime = field::text(r.getRuntime());
    v.container_id = field::text(r.getContainerId());
    v.name = field::text(r.getName());
    v.pod_uid = field::text(r.getPodUid());
    v.qos_class = field::text(r.getQosClass());
    v.hostname = field::text(r.getHostname());
    v.pid_ns = r.getPidNs();
    v.net_ns = r.getNetNs();
    v.uts_ns = r.getUtsNs();
    v.mnt_ns = r.getMntNs();
    v.time_ns = r.getTimeNs();
    v.notes = field::text(r.getNotes());
    return v;
  }
};

// --sched (docs/sched.md): aggregates written about once a second.
// Histogram slots are 0 .. kRunqLatencySlots - 1 (bpf/events.h EBT_RQ_SLOTS,
// report/sched_report.cpp): a row naming another is refused, its slot bounds
// would be a shift past 64 bits.
constexpr uint16_t kRunqLatencySlots = 160;
template <>
struct Kind<RecordKind::kRunqLatency> {
  static constexpr auto member = wire::Record::RUNQ_LATENCY;
  static constexpr Shape shape = Shape::kBatch;
  static constexpr const char* time_field = "startNs";
  static uint64_t time(const RunqLatency& v) { return v.start_ns; }
  static size_t estimate(const RunqLatency& v) { return 48 + 10 * v.slots.size(); }
  static auto get(wire::Record::Reader r) { return r.getRunqLatency(); }
  static auto rows(wire::RunqLatencyBatch::Reader b) { return b.getEntries(); }
  static void encode(wire::Record::Builder r, std::span<const RunqLatency> v) {
    auto l = r.initRunqLatency().initEntries(v.size());
    for (unsigned i = 0; i < v.size(); ++i) {
      auto b = l[i];
      const auto& e = v[i];
      b.setStartNs(e.start_ns);
      b.setEndNs(e.end_ns);
      b.setPid(e.pid);
      b.setTid(e.tid);
      b.setCpu(e.cpu);
      b.setCount(e.count);
      b.setTotalNs(e.total_ns);
      b.setMaxNs(e.max_ns);
      auto s = b.initSlots(e.slots.size());
      for (unsigned j = 0; j < e.slots.size(); ++j) s.set(j, e.slots[j]);
      auto c = b.initSlotCounts(e.slot_counts.size());
      for (unsigned j = 0; j < e.slot_counts.size(); ++j) c.set(j, e.slot_counts[j]);
    }
  }
  static RunqLatency decode(wire::RunqLatency::Reader r) {
    RunqLatency v;
    v.start_ns = r.getStartNs();
    v.end_ns = r.getEndNs();
    v.pid = r.getPid();
    v.tid = r.getTid();
    v.cpu = r.getCpu();
    v.count = r.getCount();
    v.total_ns = r.getTotalNs();
    v.max_ns = r.getMaxNs();
    for (auto s : r.getSlots()) {
      if (s >= kRunqLatencySlots)
        throw CorruptRecord("runq latency row has histogram slot " + std::to_string(s) + " (slots 0-" +
                            std::to_string(kRunqLatencySlots - 1) + ")");
      v.slots.push_back(s);
    }
    for (auto c : r.getSlotCounts()) v.slot_counts.push_back(c);
    if (v.slots.size() != v.slot_counts.size()) throw CorruptRecord("runq latency row has slots and counts of different lengths");
    return v;
  }
};

template <>
struct Kind<RecordKind::kPreemptions> {
  static constexpr auto member = wire::Record::PREEMPTIONS;
  static constexpr Shape shape = Shape::kBatch;
  static constexpr const char* time_field = "startNs";
  static uint64_t time(const Preemption& v) { return v.start_ns; }
  static size_t estimate(const Preemption&) { return 64; }
  static auto get(wire::Record::Reader r) { return r.getPreemptions(); }
  static auto rows(wire::PreemptionBatch::Reader b) { return b.getPreemptions(); }
  static void encode(wire::Record::Builder r, std::span<const Preemption> v) {
    auto l = r.initPreemptions().initPreemptions(v.size());
    for (unsigned i = 0; i < v.size(); ++i) {
      auto b = l[i];
      const auto& e = v[i];
      b.setStartNs(e.start_ns);
      b.setEndNs(e.end_ns);
      b.setPid(e.pid);
      b.setTid(e.tid);
      b.setByPid(e.by_pid);
      b.setByTid(e.by_tid);
      b.setByComm(e.by_comm);
      b.setCount(e.count);
    }
  }
  static Preemption decode(wire::Preemption::Reader r) {
    Preemption v;
    v.start_ns = r.getStartNs();
    v.end_ns = r.getEndNs();
    v.pid = r.getPid();
    v.tid = r.getTid();
    v.by_pid = r.getByPid();
    v.by_tid = r.getByTid();
    v.by_comm = field::text(r.getByComm());
    v.count = r.getCount();
    return v;
  }
};

template <>
struct Kind<RecordKind::kCgroupSwitches> {
  static constexpr auto member = wire::Record::CGROUP_SWITCHES;
  static constexpr Shape shape = Shape::kBatch;
  static constexpr const char* time_field = "startNs";
  static uint64_t time(const CgroupSwitch& v) { return v.start_ns; }
  static size_t estimate(const CgroupSwitch&) { return 48; }
  static auto get(wire::Record::Reader r) { return r.getCgroupSwitches(); }
  static auto rows(wire::CgroupSwitchBatch::Reader b) { return b.getSwitches(); }
  static void encode(wire::Record::Builder r, std::span<const CgroupSwitch> v) {
    auto l = r.initCgroupSwitches().initSwitches(v.size());
    for (unsigned i = 0; i < v.size(); ++i) {
      auto b = l[i];
      const auto& e = v[i];
      b.setStartNs(e.start_ns);
      b.setEndNs(e.end_ns);
      b.setCpu(e.cpu);
      b.setPrevCgroup(e.prev_cgroup);
      b.setNextCgroup(e.next_cgroup);
      b.setCount(e.count);
    }
  }
  static CgroupSwitch decode(wire::CgroupSwitch::Reader r) {
    CgroupSwitch v;
    v.start_ns = r.getStartNs();
    v.end_ns = r.getEndNs();
    v.cpu = r.getCpu();
    v.prev_cgroup = r.getPrevCgroup();
    v.next_cgroup = r.getNextCgroup();
    v.count = r.getCount();
    return v;
  }
};

template <>
struct Kind<RecordKind::kCgroupCpu> {
  static constexpr auto member = wire::Record::CGROUP_CPU;
  static constexpr Shape shape = Shape::kBatch;
  static constexpr const char* time_field = "timeNs";
  static uint64_t time(const CgroupCpuSample& v) { return v.time_ns; }
  static size_t estimate(const CgroupCpuSample& v) { return 80 + v.path.size() + v.unknown_reason.size() + 4 * v.pids.size(); }
  static auto get(wire::Record::Reader r) { return r.getCgroupCpu(); }
  static auto rows(wire::CgroupCpuBatch::Reader b) { return b.getSamples(); }
  static void encode(wire::Record::Builder r, std::span<const CgroupCpuSample> v) {
    auto l = r.initCgroupCpu().initSamples(v.size());
    for (unsigned i = 0; i < v.size(); ++i) {
      auto b = l[i];
      const auto& e = v[i];
      b.setTimeNs(e.time_ns);
      b.setCgroupId(e.cgroup_id);
      b.setHierarchy(static_cast<wire::CgroupHierarchy>(e.hierarchy));
      b.setPath(e.path);
      b.setStatKnown(e.stat_known);
      b.setNrPeriods(e.nr_periods);
      b.setNrThrottled(e.nr_throttled);
      b.setThrottledNs(e.throttled_ns);
      b.setQuotaUs(e.quota_us);
      b.setPeriodUs(e.period_us);
      b.setUnknownReason(e.unknown_reason);
      auto p = b.initPids(e.pids.size());
      for (unsigned j = 0; j < e.pids.size(); ++j) p.set(j, e.pids[j]);
    }
  }
  static CgroupCpuSample decode(wire::CgroupCpuSample::Reader r) {
    CgroupCpuSample v;
    v.time_ns = r.getTimeNs();
    v.cgroup_id = r.getCgroupId();
    v.hierarchy = field::enum_in(r.getHierarchy(), CgroupHierarchy::kUnknown);
    v.path = field::text(r.getPath());
    v.stat_known = r.getStatKnown();
    v.nr_periods = r.getNrPeriods();
    v.nr_throttled = r.getNrThrottled();
    v.throttled_ns = r.getThrottledNs();
    v.quota_us = r.getQuotaUs();
    v.period_us = r.getPeriodUs();
    v.unknown_reason = field::text(r.getUnknownReason());
    for (auto p : r.getPids()) v.pids.push_back(p);
    return v;
  }
};

// ---- derived from the entries ------------------------------------------------------

template <RecordKind K>
using KindConstant = std::integral_constant<RecordKind, K>;

// Calls fn(KindConstant<K>{}) for every kind this build knows, in ordinal order.
template <typename Fn>
constexpr void for_each_kind(Fn&& fn) {
  [&]<uint16_t... I>(std::integer_sequence<uint16_t, I...>) {
    (fn(KindConstant<static_cast<RecordKind>(I)>{}), ...);
  }(std::make_integer_sequence<uint16_t, kKnownKindCount>{});
}

// A table indexed by ordinal, one make(KindConstant<K>{}) per kind.
template <typename Fn>
constexpr auto kind_array(Fn&& make) {
  return [&]<uint16_t... I>(std::integer_sequence<uint16_t, I...>) {
    return std::array{make(KindConstant<static_cast<RecordKind>(I)>{})...};
  }(std::make_integer_sequence<uint16_t, kKnownKindCount>{});
}

// Decodes a Record holding kind K: each(const record_t<K>&) per record, or per
// event of a batch (in batch order). Throws kj::Exception / CorruptRecord on damage.
template <RecordKind K, typename Fn>
void decode_records(wire::Record::Reader r, Fn&& each) {
  using E = Kind<K>;
  if constexpr (E::shape != Shape::kBatch) {
    each(E::decode(E::get(r)));
  } else if constexpr (requires { E::rows(E::get(r)); }) {
    for (auto row : E::rows(E::get(r))) each(E::decode(row));
  } else {
    E::for_each(E::get(r), each);
  }
}

// Kinds whose records carry an event time (block time ranges apply to them).
inline constexpr uint64_t kEventKinds = [] {
  uint64_t mask = 0;
  for_each_kind([&](auto k) {
    if constexpr (Kind<k()>::shape != Shape::kTable) mask |= kind_bit(k());
  });
  return mask;
}();

// Every entry is the union member of its ordinal.
inline constexpr bool kEntriesMatchTheSchema = [] {
  bool ok = true;
  for_each_kind([&](auto k) { ok = ok && static_cast<uint16_t>(Kind<k()>::member) == static_cast<uint16_t>(k()); });
  return ok;
}();
static_assert(kEntriesMatchTheSchema, "a Kind<> entry names the union member of another ordinal");

// A row batch's list of events: the batch struct's field that is a list of
// structs (nullopt if it has none: a columnar batch, or not a batch).
std::optional<capnp::StructSchema::Field> row_list(capnp::StructSchema batch);
// The name of one row of such a list: its struct's name, first letter in lower
// case ("OffCpuInterval" -> "offCpuInterval").
std::string row_name(capnp::StructSchema::Field list);

}  // namespace ebt::format
