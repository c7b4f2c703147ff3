// The record kinds a capture holds, as plain C++ values.
//
// These are what the rest of ebtrace sees: record/ builds them, report/ and
// symbolize/ consume them. How they are laid out on disk (Cap'n Proto, blocks,
// LZ4) is format/'s business only; see docs/format.md.
//
// Conventions:
//  * times are CLOCK_MONOTONIC nanoseconds (bpf_ktime_get_ns); SessionInfo holds
//    a monotonic<->realtime pair to convert them to wall time.
//  * pid is the process id (tgid), tid the thread id, both as seen from the
//    initial pid namespace.
//  * ids (stack_id, string ids) start at 1; 0 means "none". An id is always
//    defined by a record written earlier in the file.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <tuple>
#include <vector>

namespace ebt {

struct SessionInfo {
  std::string hostname;
  std::string kernel_release;
  std::string boot_id;
  uint64_t clock_monotonic_ns = 0;  // taken at the same instant as...
  uint64_t clock_realtime_ns = 0;   // ...this one
  uint32_t cpu_count = 0;
  std::vector<std::string> command_line;
  std::string options;  // "key=value" pairs, space separated, as given by the user
  std::string ebtrace_version;
  uint64_t start_ns = 0;               // monotonic
  uint32_t sample_frequency_hz = 0;    // 0 when no on-CPU sampling
  std::string machine;                 // uname -m, e.g. x86_64
  std::string trigger;                 // flight-recorder dump: what fired it, e.g. "cpu>80%"; else empty
  bool operator==(const SessionInfo&) const = default;
};

// Frame-pointer leaf repair counts (record/leaf_repair.h, docs/record.md "Leaf
// repair"); all zero when it was off or nothing was recorded with it.
struct LeafRepairCounts {
  uint64_t stacks = 0, repaired = 0, frames_added = 0, intact = 0, no_cfi = 0, unknown_object = 0, short_copy = 0,
           not_frame = 0, max_reach = 0;
  bool operator==(const LeafRepairCounts&) const = default;
};

// "12/15 repaired (+1.25 frames, 232 stack bytes at most), 2 intact, 1 leaf
// without CFI (kept)": `ebtrace info` and `report -v`.
inline std::string describe(const LeafRepairCounts& c) {
  std::string s = std::to_string(c.repaired) + "/" + std::to_string(c.stacks) + " repaired";
  if (c.repaired) {
    char buf[96];
    std::snprintf(buf, sizeof buf, " (+%.2f frames, %llu stack bytes at most)", double(c.frames_added) / double(c.repaired),
                  static_cast<unsigned long long>(c.max_reach));
    s += buf;
  }
  auto part = [&](uint64_t n, const char* what) {
    if (n) s += ", " + std::to_string(n) + " " + what;
  };
  part(c.intact, "intact");
  part(c.no_cfi, "leaf without CFI (kept)");
  part(c.unknown_object, "leaf in no known object (kept)");
  part(c.short_copy, "stack copy too short (kept)");
  part(c.not_frame, "rbp not a frame pointer (CFI frames only)");
  return s;
}

// Written last by a recorder that stopped cleanly; absent after a crash.
struct SessionEnd {
  uint64_t end_ns = 0;
  uint64_t samples = 0;
  uint64_t lost = 0;
  LeafRepairCounts leaf_repair;  // over the recording so far
  bool operator==(const SessionEnd&) const = default;
};

struct ProcessInfo {
  uint32_t pid = 0;
  uint32_t ppid = 0;
  std::string comm;
  std::string exe;
  std::vector<std::string> cmdline;
  uint64_t cgroup_id = 0;
  std::string cgroup_path;
  std::vector<uint32_t> nspid;  // NSpid chain from /proc/PID/status, outermost first
  uint64_t start_ns = 0;        // monotonic; 0 if unknown
  uint64_t time_ns = 0;         // when this record was observed (exec/fork/scan)
  bool operator==(const ProcessInfo&) const = default;
};

struct ThreadInfo {
  uint32_t pid = 0;
  uint32_t tid = 0;
  std::string comm;
  uint64_t time_ns = 0;
  bool operator==(const ThreadInfo&) const = default;
};

struct ProcessExit {
  uint32_t pid = 0;
  uint32_t tid = 0;  // == pid when the whole process exits
  int32_t exit_code = 0;
  uint64_t time_ns = 0;
  bool operator==(const ProcessExit&) const = default;
};

struct Mapping {
  uint32_t pid = 0;
  uint64_t start = 0;
  uint64_t end = 0;
  uint64_t file_offset = 0;
  std::string path;
  std::vector<uint8_t> build_id;  // empty if the object has none / unreadable
  uint64_t time_ns = 0;
  bool operator==(const Mapping&) const = default;
};

struct StringEntry {
  uint32_t id = 0;
  std::string value;
  bool operator==(const StringEntry&) const = default;
};

enum class FrameKind : uint8_t { kKernel = 0, kUser = 1, kLua = 2, kJit = 3 };

struct Frame {
  uint64_t address = 0;
  FrameKind kind = FrameKind::kUser;
  bool operator==(const Frame&) const = default;
};

// A distinct call stack, leaf first. Written once; samples refer to it by id.
struct Stack {
  uint32_t id = 0;
  std::vector<Frame> frames;
  bool operator==(const Stack&) const = default;
};

struct LuaConstant {
  uint32_t index = 0;  // kgc index (~D of GGET/TGETS)
  std::string text;
  bool operator==(const LuaConstant&) const = default;
};

// A LuaJIT GCproto read from the target (--lua); see format/capture.capnp.
struct LuaProto {
  uint32_t pid = 0;
  uint64_t address = 0;  // GCproto address in the target process
  std::string chunk;     // chunkname, e.g. "@/usr/share/lua/foo.lua" or "=content_by_lua"
  uint32_t first_line = 0;
  uint32_t last_line = 0;
  std::string name;      // function name when known
  uint32_t id = 0;
  uint64_t time_ns = 0;
  uint32_t fingerprint = 0;
  std::vector<uint8_t> blob;  // [address, address + sizept)
  uint32_t bc_offset = 0, size_bc = 0, lineinfo_offset = 0, uvinfo_offset = 0, varinfo_offset = 0;
  uint32_t k_offset = 0, size_kgc = 0;
  uint8_t num_params = 0, flags = 0, gcref_bytes = 8;
  std::vector<LuaConstant> kgc_strings;
  std::string read_error;
  bool operator==(const LuaProto&) const = default;
};

struct LuaVm {
  uint32_t pid = 0;
  uint64_t time_ns = 0;
  std::string path;
  std::vector<uint8_t> build_id;
  bool gc64 = true;
  uint64_t interp_start = 0, interp_end = 0;
  std::string source, version;
  std::vector<std::string> ff_names, bc_names;
  bool final = false;
  uint64_t samples = 0, lua_samples = 0, idle_samples = 0, no_state = 0, bad_walks = 0,
           truncated_walks = 0, lost_stacks = 0, protos = 0, proto_read_errors = 0, traces = 0;
  bool operator==(const LuaVm&) const = default;
};

enum class LuaFrameKind : uint8_t { kLua = 0, kC = 1, kFast = 2 };

struct LuaFrame {
  LuaFrameKind kind = LuaFrameKind::kLua;
  uint32_t proto_id = 0;
  uint64_t address = 0;
  uint64_t pc = 0;
  uint8_t link_type = 0;
  bool resumed = false;
  bool operator==(const LuaFrame&) const = default;
};

inline constexpr uint32_t kLuaStackTruncated = 0x1, kLuaStackBad = 0x2, kLuaStackBottom = 0x4,
                          kLuaStackJitBase = 0x8, kLuaStackInterp = 0x10;

struct LuaStack {
  uint32_t id = 0;
  std::vector<LuaFrame> frames;  // leaf first
  int32_t vmstate = 0;
  uint32_t trace_id = 0;
  uint32_t flags = 0;  // EBT_LUA_F_* (bpf/events.h), kLuaStack* below
  bool operator==(const LuaStack&) const = default;
  // The innermost VM C frame runs no Lua function (the JIT's trace exit or
  // trace compiler in lj_vm_cpcall): the Lua frames belong to the one below.
  static constexpr uint32_t kCFrameNoFrame = 0x20;
};

struct LuaTrace {
  uint32_t id = 0;
  uint32_t pid = 0;
  uint64_t time_ns = 0;
  uint32_t trace_no = 0;
  uint32_t start_proto_id = 0;
  uint64_t start_pc = 0;
  uint64_t mcode = 0;
  uint32_t mcode_size = 0;
  uint32_t root = 0;
  bool operator==(const LuaTrace&) const = default;
};

struct Symbol {
  uint64_t address = 0;  // ELF virtual address (objects) or absolute (kernel)
  uint64_t size = 0;
  std::string name;      // as in the object (mangled); the symbolizer demangles
  bool operator==(const Symbol&) const = default;
};

struct LoadSegment {  // a PT_LOAD header: maps file offsets to ELF addresses
  uint64_t vaddr = 0;
  uint64_t file_offset = 0;
  uint64_t file_size = 0;
  bool operator==(const LoadSegment&) const = default;
};

struct SourceFrame {
  std::string function;
  std::string file;
  uint32_t line = 0;
  bool operator==(const SourceFrame&) const = default;
};

// Source locations of one address (ELF virtual address), innermost inline frame first.
struct SourceLocation {
  uint64_t address = 0;
  std::vector<SourceFrame> frames;
  bool operator==(const SourceLocation&) const = default;
};

// Everything report needs to name addresses inside one object, when the object
// itself is not around: embedded by the recorder per build-id.
struct SymbolTable {
  std::vector<uint8_t> build_id;
  std::string path;
  std::vector<LoadSegment> segments;
  std::vector<Symbol> symbols;            // sorted by address
  std::vector<SourceLocation> locations;  // only for addresses that appeared in stacks
  bool operator==(const SymbolTable&) const = default;
};

struct KernelSymbol {
  uint64_t address = 0;
  std::string name;
  std::string module;  // empty for vmlinux
  bool operator==(const KernelSymbol&) const = default;
};

// Only the kernel symbols that cover addresses seen in stacks, sorted by address.
// Each entry is followed (in address order) by the next symbol, which bounds it.
struct KernelSymbols {
  std::vector<KernelSymbol> symbols;
  bool operator==(const KernelSymbols&) const = default;
};

struct CpuSample {
  uint64_t time_ns = 0;
  uint32_t pid = 0;
  uint32_t tid = 0;
  uint32_t cpu = 0;
  uint32_t stack_id = 0;
  uint32_t lua_stack_id = 0;  // --lua: LuaStack (0: none)
  bool operator==(const CpuSample&) const = default;
};

enum class TaskState : uint8_t {
  kRunning = 0,          // preempted: left the CPU while runnable
  kInterruptible = 1,    // S: sleeping
  kUninterruptible = 2,  // D: disk / uninterruptible wait
  kOther = 3,
};

struct OffCpuInterval {
  uint64_t start_ns = 0;
  uint64_t duration_ns = 0;
  uint32_t pid = 0;
  uint32_t tid = 0;
  uint32_t cpu = 0;  // CPU it came back on
  uint32_t stack_id = 0;
  TaskState state = TaskState::kOther;
  uint32_t waker_pid = 0;
  uint32_t waker_tid = 0;
  uint32_t waker_stack_id = 0;
  uint64_t wakeup_ns = 0;  // when the waker woke it (sched_waking); 0: not woken / unknown
  uint32_t lua_stack_id = 0;  // --lua: LuaStack the thread blocked in (0: none)
  bool operator==(const OffCpuInterval&) const = default;
};

struct SkbHop {
  uint64_t time_ns = 0;
  uint64_t skb = 0;          // skb address: ties the hops of one packet together
  uint32_t location_id = 0;  // string id: the hook (tracepoint name, e.g. "net_dev_queue")
  uint32_t ifindex = 0;
  uint32_t netns = 0;
  uint32_t len = 0;
  uint16_t protocol = 0;  // ethertype
  uint32_t cpu = 0;
  uint32_t pid = 0;
  uint32_t tid = 0;
  uint32_t stack_id = 0;
  uint32_t device_id = 0;          // string id of the device name
  uint8_t l4_protocol = 0;         // IPPROTO_*; 0: not parsed
  std::vector<uint8_t> src_addr;   // 4 or 16 bytes, network order; empty: not IP
  std::vector<uint8_t> dst_addr;
  uint16_t src_port = 0;
  uint16_t dst_port = 0;
  uint32_t reason_id = 0;          // string id of the drop reason (kfree_skb); 0: none
  bool new_packet = false;         // first hop of a packet at this address (they are reused)
  bool operator==(const SkbHop&) const = default;
};

// A socket as seen at first use or at connect/accept: lets syscall events carry
// an id instead of the addresses, and outlives the connection.
struct SocketInfo {
  uint64_t id = 0;  // kernel socket cookie/pointer, unique for the session
  uint32_t pid = 0;
  int32_t fd = -1;
  uint16_t family = 0;    // AF_INET / AF_INET6 / AF_UNIX
  uint16_t protocol = 0;  // IPPROTO_TCP / IPPROTO_UDP
  std::vector<uint8_t> local_addr;   // 4 or 16 bytes, network order
  uint16_t local_port = 0;
  std::vector<uint8_t> remote_addr;
  uint16_t remote_port = 0;
  uint64_t time_ns = 0;
  uint32_t netns = 0;  // inode of its network namespace; 0: not known (captures before it was recorded)
  bool operator==(const SocketInfo&) const = default;
};

enum class SyscallKind : uint8_t {
  kRead = 0, kWrite, kReadv, kWritev, kSendto, kRecvfrom, kSendmsg, kRecvmsg, kOther
};

struct SyscallEvent {
  uint64_t enter_ns = 0;
  uint64_t exit_ns = 0;
  uint32_t pid = 0;
  uint32_t tid = 0;
  SyscallKind kind = SyscallKind::kOther;
  int32_t fd = -1;
  int64_t ret = 0;
  uint64_t socket_id = 0;  // 0: not a socket / unknown
  std::vector<uint8_t> payload;  // first bytes actually transferred (bounded by ret)
  bool operator==(const SyscallEvent&) const = default;
};

// The parts of an object file needed to unwind through it offline
// (--keep-stack-bytes), at their offsets in the original file: the ELF header
// and program headers, .eh_frame_hdr and .eh_frame. See unwind/unwind_table.h.
struct FileChunk {
  uint64_t offset = 0;
  std::vector<uint8_t> data;
  bool operator==(const FileChunk&) const = default;
};

struct UnwindTable {
  std::vector<uint8_t> build_id;
  std::string path;        // "[vdso]" for the vDSO
  uint64_t file_size = 0;  // of the original file
  std::vector<FileChunk> chunks;
  bool operator==(const UnwindTable&) const = default;
};

// A raw user stack (--keep-stack-bytes): report unwinds it with the capture's
// UnwindTables and Mappings, as the recorder would have.
struct StackSnapshot {
  uint64_t time_ns = 0;
  uint32_t pid = 0;
  uint32_t tid = 0;
  uint32_t cpu = 0;
  uint32_t kernel_stack_id = 0;  // a Stack of kernel frames; 0: none
  uint64_t ip = 0, sp = 0, bp = 0;
  std::vector<uint8_t> stack;    // the bytes at sp, sp+1, ...
  uint32_t lua_stack_id = 0;     // --lua: LuaStack (0: none)
  bool operator==(const StackSnapshot&) const = default;
};

// Why events were lost: one rule for every probe family (record/loss.h).
enum class LossSource : uint8_t {
  kRingBuffer = 0,   // the ring buffer was full (any family)
  kStack = 1,        // bpf_get_stack failed (the event is kept without the stack)
  kUnwind = 2,       // the recorder's DWARF unwinder could not keep up
  kOffCpu = 3,       // the off-CPU task table was full
  kSyscall = 4,      // no task storage for a syscall in flight
  kSkb = 5,          // (older captures: an skb hop that did not fit in the ring)
  kOther = 6,        // malformed events, reasons this build cannot name
  kSched = 7,        // --sched: a full kernel table (wake-up stamps or aggregates)
};

// The one name of each reason, used by `info`, the recorder's summary line and
// the reports.
inline const char* loss_source_name(LossSource s) {
  switch (s) {
    case LossSource::kRingBuffer: return "ring buffer";
    case LossSource::kStack: return "stack";
    case LossSource::kUnwind: return "unwind";
    case LossSource::kOffCpu: return "off-cpu";
    case LossSource::kSyscall: return "syscall";
    case LossSource::kSkb: return "skb";
    case LossSource::kOther: return "other";
    case LossSource::kSched: return "sched";
  }
  return "other";
}

struct LostEvents {
  uint64_t time_ns = 0;
  uint32_t cpu = 0;
  LossSource source = LossSource::kOther;
  uint64_t count = 0;
  bool operator==(const LostEvents&) const = default;
};

// --tcp: one event of a TCP connection (docs/tcp.md).
enum class TcpEventType : uint8_t { kState = 0, kRetransmit = 1, kSendReset = 2, kReceiveReset = 3, kAccept = 4, kOther = 5 };

struct TcpEvent {
  uint64_t time_ns = 0;
  TcpEventType type = TcpEventType::kOther;
  uint64_t cookie = 0;              // socket cookie: unique per socket
  uint32_t pid = 0;                 // owner; 0: not known (yet)
  uint32_t tid = 0;
  uint8_t old_state = 0;            // Linux TCP_* numbers
  uint8_t new_state = 0;
  std::vector<uint8_t> local_addr;  // 4 or 16 bytes, network order
  std::vector<uint8_t> remote_addr;
  uint16_t local_port = 0;
  uint16_t remote_port = 0;
  uint32_t netns = 0;
  uint64_t socket_id = 0;           // socket inode (SocketInfo.id); 0: not known
  bool has_stats = false;           // the counters are set
  uint64_t bytes_sent = 0;          // payload, retransmissions excluded
  uint64_t bytes_received = 0;
  uint64_t bytes_retrans = 0;
  uint32_t segs_out = 0;
  uint32_t segs_in = 0;
  uint64_t srtt_ns = 0;
  uint32_t retransmits = 0;
  bool owner_from_proc = false;     // pid from the recorder's /proc scan (open before the recording)
  bool operator==(const TcpEvent&) const = default;
};

// One cgroup the recorded processes ran in, with the container identity the
// recorder harvested while they lived (docs/containers.md). Written once per
// capture file, before the first ProcessInfo that names its path.
struct CgroupInfo {
  uint64_t id = 0;            // bpf_get_current_cgroup_id() of its tasks (cgroup v2 inode); 0: unknown
  std::string path;           // ProcessInfo.cgroup_path
  std::string hierarchy;      // where path and id come from: "v2", "v2 (hybrid)", "v1 name=systemd" ...
  std::string runtime;        // docker, containerd, cri-o, podman, systemd-nspawn, container, cgroup; "": not a container
  std::string container_id;   // 64 hex digits (runtimes), the machine name (nspawn), the directory name (cgroup)
  std::string name;           // the runtime's name, else the hostname, else the last path component
  std::string pod_uid;        // Kubernetes pod UID ("" : not a pod)
  std::string qos_class;      // guaranteed, burstable, besteffort
  std::string hostname;       // nodename of its UTS namespace ("" : the host's, or unknown)
  uint64_t pid_ns = 0;        // namespace inodes of a member process (0: unknown)
  uint64_t net_ns = 0;
  uint64_t uts_ns = 0;
  uint64_t mnt_ns = 0;
  uint64_t time_ns = 0;
  std::string notes;          // what could not be known, and why ("" : nothing)
  bool operator==(const CgroupInfo&) const = default;
};

// --sched (docs/sched.md): scheduler latency aggregated while recording; a row
// covers [start_ns, end_ns), between two reads of the kernel's tables.
struct RunqLatency {
  uint64_t start_ns = 0, end_ns = 0;
  uint32_t pid = 0, tid = 0;
  uint32_t cpu = 0;                  // switched in on
  uint64_t count = 0;
  uint64_t total_ns = 0;
  uint64_t max_ns = 0;               // a new maximum of (pid, tid, cpu) in this row; 0: not above an earlier row's
  std::vector<uint16_t> slots;       // histogram slots with a count (report/sched_report.h slot bounds)
  std::vector<uint64_t> slot_counts; // parallel to slots
  bool operator==(const RunqLatency&) const = default;
};

struct Preemption {
  uint64_t start_ns = 0, end_ns = 0;
  uint32_t pid = 0, tid = 0;         // the thread that left the CPU runnable
  uint32_t by_pid = 0, by_tid = 0;   // the task switched in (0: idle)
  std::string by_comm;
  uint64_t count = 0;
  bool operator==(const Preemption&) const = default;
};

struct CgroupSwitch {
  uint64_t start_ns = 0, end_ns = 0;
  uint32_t cpu = 0;
  uint64_t prev_cgroup = 0, next_cgroup = 0;  // ids of CgroupCpuSample::hierarchy
  uint64_t count = 0;
  bool operator==(const CgroupSwitch&) const = default;
};

enum class CgroupHierarchy : uint8_t { kUnknown = 0, kV2 = 1, kV1Cpu = 2 };

struct CgroupCpuSample {
  uint64_t time_ns = 0;
  uint64_t cgroup_id = 0;            // 0: not known
  CgroupHierarchy hierarchy = CgroupHierarchy::kUnknown;
  std::string path;                  // from the hierarchy's root
  bool stat_known = false;           // cpu.stat was read
  uint64_t nr_periods = 0, nr_throttled = 0, throttled_ns = 0;  // kernel totals
  int64_t quota_us = -1;             // -1: no quota
  uint64_t period_us = 0;
  std::string unknown_reason;        // why !stat_known
  std::vector<uint32_t> pids;        // recorded processes seen in it since the previous sample
  bool operator==(const CgroupCpuSample&) const = default;
};

// ---- the list of record kinds -----------------------------------------------------
// One entry per member of the Record union in format/capture.capnp, at its ordinal,
// and its C++ type at the same position of RecordTypes. Everything else format/
// knows about a kind is its entry in format/kind_table.h. How to add a kind:
// docs/architecture.md.
namespace format {

enum class RecordKind : uint16_t {
  kSession = 0,
  kSessionEnd = 1,
  kProcess = 2,
  kThread = 3,
  kProcessExit = 4,
  kMapping = 5,
  kString = 6,
  kStack = 7,
  kLuaProto = 8,
  kSymbolTable = 9,
  kKernelSymbols = 10,
  kCpuSamples = 11,       // CpuSample batch
  kOffCpuIntervals = 12,  // OffCpuInterval batch
  kSkbHops = 13,          // SkbHop batch
  kSocket = 14,
  kSyscalls = 15,         // SyscallEvent batch
  kLostEvents = 16,
  kUnwindTable = 17,
  kStackSnapshots = 18,   // StackSnapshot batch
  kLuaVm = 19,
  kLuaStack = 20,
  kLuaTrace = 21,
  kTcpEvents = 22,        // TcpEvent batch
  kCgroup = 23,
  kRunqLatency = 24,      // RunqLatency batch
  kPreemptions = 25,      // Preemption batch
  kCgroupSwitches = 26,   // CgroupSwitch batch
  kCgroupCpu = 27,        // CgroupCpuSample batch
};

// The C++ type of each kind, in the same order (a batch kind: the type of one event).
using RecordTypes = std::tuple<
    SessionInfo,     // kSession
    SessionEnd,      // kSessionEnd
    ProcessInfo,     // kProcess
    ThreadInfo,      // kThread
    ProcessExit,     // kProcessExit
    Mapping,         // kMapping
    StringEntry,     // kString
    Stack,           // kStack
    LuaProto,        // kLuaProto
    SymbolTable,     // kSymbolTable
    KernelSymbols,   // kKernelSymbols
    CpuSample,       // kCpuSamples
    OffCpuInterval,  // kOffCpuIntervals
    SkbHop,          // kSkbHops
    SocketInfo,      // kSocket
    SyscallEvent,    // kSyscalls
    LostEvents,      // kLostEvents
    UnwindTable,     // kUnwindTable
    StackSnapshot,   // kStackSnapshots
    LuaVm,           // kLuaVm
    LuaStack,        // kLuaStack
    LuaTrace,        // kLuaTrace
    TcpEvent,        // kTcpEvents
    CgroupInfo,      // kCgroup
    RunqLatency,     // kRunqLatency
    Preemption,      // kPreemptions
    CgroupSwitch,    // kCgroupSwitches
    CgroupCpuSample  // kCgroupCpu
    >;

}  // namespace format

}  // namespace ebt
