# The ebtrace capture schema (docs/format.md).
#
# Compatibility rules: ordinals are forever. New record kinds are appended to the
# Record union, new fields are appended to structs (minor version bump). Never
# renumber, retype or remove anything; that would be a major version bump.
@0xb80610401f52db2d;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("ebt::format::wire");

using Schema = import "/capnp/schema.capnp";

# ---- table records: always delivered, referenced by later events -----------

struct SessionInfo {
  hostname @0 :Text;
  kernelRelease @1 :Text;
  bootId @2 :Text;
  clockMonotonicNs @3 :UInt64;   # taken at the same instant as...
  clockRealtimeNs @4 :UInt64;    # ...this one
  cpuCount @5 :UInt32;
  commandLine @6 :List(Text);
  options @7 :Text;
  ebtraceVersion @8 :Text;
  startNs @9 :UInt64;
  sampleFrequencyHz @10 :UInt32;
  machine @11 :Text;
  trigger @12 :Text;             # (1.1) a flight-recorder dump: what fired it ("cpu>80%", "SIGUSR2"); else empty
}

struct SessionEnd {
  endNs @0 :UInt64;
  samples @1 :UInt64;
  lost @2 :UInt64;
  leafRepair @3 :LeafRepairCounts;  # (1.1) fp leaf repair over the recording so far (docs/record.md)
}

struct LeafRepairCounts {
  stacks @0 :UInt64;         # fp stacks that came with registers + stack bytes
  repaired @1 :UInt64;
  framesAdded @2 :UInt64;
  intact @3 :UInt64;
  noCfi @4 :UInt64;          # kept as recorded: the leaf's object has no CFI for it
  unknownObject @5 :UInt64;
  shortCopy @6 :UInt64;
  notFrame @7 :UInt64;       # rbp no frame pointer: only the CFI frames kept
  maxReach @8 :UInt64;       # most stack bytes a repair needed
}

struct ProcessInfo {
  pid @0 :UInt32;
  ppid @1 :UInt32;
  comm @2 :Text;
  exe @3 :Text;
  cmdline @4 :List(Text);
  cgroupId @5 :UInt64;
  cgroupPath @6 :Text;
  nspid @7 :List(UInt32);
  startNs @8 :UInt64;
  timeNs @9 :UInt64;
}

struct ThreadInfo {
  pid @0 :UInt32;
  tid @1 :UInt32;
  comm @2 :Text;
  timeNs @3 :UInt64;
}

struct ProcessExit {
  pid @0 :UInt32;
  tid @1 :UInt32;
  exitCode @2 :Int32;
  timeNs @3 :UInt64;
}

struct Mapping {
  pid @0 :UInt32;
  start @1 :UInt64;
  end @2 :UInt64;
  fileOffset @3 :UInt64;
  path @4 :Text;
  buildId @5 :Data;
  timeNs @6 :UInt64;
}

struct StringEntry {
  id @0 :UInt32;
  value @1 :Text;
}

enum FrameKind {
  kernel @0;
  user @1;
  lua @2;
  jit @3;
}

# One distinct call stack, leaf first; frame i is (addresses[i], kinds[i]).
struct Stack {
  id @0 :UInt32;
  addresses @1 :List(UInt64);
  kinds @2 :List(FrameKind);
}

# A LuaJIT function prototype (GCproto) as read from the target the first time
# a sample showed it (--lua). `blob` is [address, address+sizept): header,
# bytecode, constants, lineinfo, uvinfo, varinfo; the *Offset fields locate the
# parts inside it (relative to address; 0: absent). Names are derived offline.
struct LuaProto {
  pid @0 :UInt32;
  address @1 :UInt64;
  chunk @2 :Text;
  firstLine @3 :UInt32;
  lastLine @4 :UInt32;
  name @5 :Text;
  id @6 :UInt32;              # LuaStack frames refer to it; a new id after address reuse
  timeNs @7 :UInt64;
  fingerprint @8 :UInt32;     # of the header, as the BPF walk saw it
  blob @9 :Data;
  bcOffset @10 :UInt32;       # sizeof(GCproto): first instruction
  sizeBc @11 :UInt32;
  lineinfoOffset @12 :UInt32;
  uvinfoOffset @13 :UInt32;
  varinfoOffset @14 :UInt32;
  kOffset @15 :UInt32;        # proto->k: string constants (GCRefs) lie below it
  sizeKgc @16 :UInt32;
  numParams @17 :UInt8;
  flags @18 :UInt8;
  gcRefBytes @19 :UInt8;      # 8 (GC64) or 4
  kgcStrings @20 :List(LuaConstant);
  readError @21 :Text;        # why the blob is missing ("" when read)
}

# The string constant at kgc index `index` (~D of GGET/TGETS).
struct LuaConstant {
  index @0 :UInt32;
  text @1 :Text;
}

# One LuaJIT VM a process runs (--lua): how it was identified, where the
# interpreter is, and at the end of the recording what the walks gave.
struct LuaVm {
  pid @0 :UInt32;
  timeNs @1 :UInt64;
  path @2 :Text;              # the object holding the VM (library or executable)
  buildId @3 :Data;
  gc64 @4 :Bool;
  interpStart @5 :UInt64;     # absolute, in this process
  interpEnd @6 :UInt64;
  source @7 :Text;            # "dwarf", "build-id table", ...
  version @8 :Text;
  ffNames @9 :List(Text);     # fast-function names by ffid ("" unknown)
  bcNames @10 :List(Text);    # bytecode names by opcode
  final @11 :Bool;            # the end-of-recording copy with the counters below
  samples @12 :UInt64;        # samples the walk looked at
  luaSamples @13 :UInt64;     # with a Lua stack
  idleSamples @14 :UInt64;    # VM not running Lua (no Lua frames, correctly)
  noState @15 :UInt64;        # global_State not found: native frames only
  badWalks @16 :UInt64;       # inconsistent walks (frames up to the bad one kept, flagged)
  truncatedWalks @17 :UInt64;
  lostStacks @18 :UInt64;     # Lua stacks lost (ring buffer) or not matched to a sample
  protos @19 :UInt64;
  protoReadErrors @20 :UInt64;
  traces @21 :UInt64;
}

enum LuaFrameKind {
  lua @0;
  c @1;
  fast @2;
}

struct LuaFrame {
  kind @0 :LuaFrameKind;
  protoId @1 :UInt32;         # lua: the LuaProto record
  address @2 :UInt64;         # lua: GCproto address; c: lua_CFunction; fast: ffid
  pc @3 :UInt64;              # lua: bytecode PC (0: unknown)
  linkType @4 :UInt8;         # frame link & 7 (1 FRAME_C, 5 FRAME_CP: entered from C)
  resumed @5 :Bool;           # first frame of a coroutine's resumer
}

# A distinct Lua stack (interned like Stack), leaf first.
struct LuaStack {
  id @0 :UInt32;
  frames @1 :List(LuaFrame);
  vmstate @2 :Int32;          # -1 interp, -2 C, -3 GC, -4 exit, -5..-7 compiler, >= 0 trace
  traceId @3 :UInt32;         # LuaTrace record of the running trace (0: none)
  flags @4 :UInt32;           # 1 truncated, 2 inconsistent (cut), 4 bottom reached, 8 jit base, 16 interpreter
}

# A JIT trace seen running (--lua).
struct LuaTrace {
  id @0 :UInt32;
  pid @1 :UInt32;
  timeNs @2 :UInt64;
  traceNo @3 :UInt32;
  startProtoId @4 :UInt32;    # 0: unknown
  startPc @5 :UInt64;
  mcode @6 :UInt64;
  mcodeSize @7 :UInt32;
  root @8 :UInt32;
}

struct Symbol {
  address @0 :UInt64;
  size @1 :UInt64;
  name @2 :Text;
}

struct LoadSegment {
  vaddr @0 :UInt64;
  fileOffset @1 :UInt64;
  fileSize @2 :UInt64;
}

struct SourceFrame {
  function @0 :Text;
  file @1 :Text;
  line @2 :UInt32;
}

struct SourceLocation {
  address @0 :UInt64;
  frames @1 :List(SourceFrame);
}

struct SymbolTable {
  buildId @0 :Data;
  path @1 :Text;
  segments @2 :List(LoadSegment);
  symbols @3 :List(Symbol);
  locations @4 :List(SourceLocation);
}

struct KernelSymbol {
  address @0 :UInt64;
  name @1 :Text;
  module @2 :Text;
}

struct KernelSymbols {
  symbols @0 :List(KernelSymbol);
}

# The bytes of one object file that unwinding needs (--keep-stack-bytes): the
# ELF header with the program headers, the PT_GNU_EH_FRAME segment
# (.eh_frame_hdr) and .eh_frame, each at its offset in the original file. A
# reader rebuilds a sparse copy of the file from them (unwind/unwind_table.h).
struct FileChunk {
  offset @0 :UInt64;
  data @1 :Data;
}

struct UnwindTable {
  buildId @0 :Data;
  path @1 :Text;          # "[vdso]" for the vDSO
  fileSize @2 :UInt64;
  chunks @3 :List(FileChunk);
}

struct SocketInfo {
  id @0 :UInt64;
  pid @1 :UInt32;
  fd @2 :Int32;
  family @3 :UInt16;
  protocol @4 :UInt16;
  localAddr @5 :Data;
  localPort @6 :UInt16;
  remoteAddr @7 :Data;
  remotePort @8 :UInt16;
  timeNs @9 :UInt64;
  netns @10 :UInt32;        # (1.1) inode of the socket's network namespace; 0: not known (older captures)
}

# (1.1) One cgroup the recorded processes ran in and the container identity
# harvested while they lived (docs/containers.md): written once per file,
# before the first process record naming its path.
struct CgroupInfo {
  id @0 :UInt64;            # what bpf_get_current_cgroup_id() returns for its tasks (the cgroup v2 inode); 0: unknown
  path @1 :Text;            # as ProcessInfo.cgroupPath
  hierarchy @2 :Text;       # where path and id come from: "v2", "v2 (hybrid)", "v1 name=systemd"
  runtime @3 :Text;         # docker, containerd, cri-o, podman, systemd-nspawn, container, cgroup; "": not a container
  containerId @4 :Text;
  name @5 :Text;            # the runtime's name, else the hostname, else the last path component
  podUid @6 :Text;
  qosClass @7 :Text;        # guaranteed, burstable, besteffort
  hostname @8 :Text;        # nodename of its UTS namespace ("": the host's, or unknown)
  pidNs @9 :UInt64;         # namespace inodes of a member process (0: unknown)
  netNs @10 :UInt64;
  utsNs @11 :UInt64;
  mntNs @12 :UInt64;
  timeNs @13 :UInt64;
  notes @14 :Text;          # what could not be known, and why
}

# ---- events: filtered by time, stored in per-block batches -------------------

# On-CPU samples, columnar. Sample i:
#   time_ns[i]  = baseTimeNs + sum_{j<=i} unzigzag(timeDeltas[j])   (timeDeltas[0] is 0)
#   pid, tid    = threadPids[thread[i]], threadTids[thread[i]]
#   cpu, stack  = cpu[i], stackId[i]
# unzigzag(z) = (z >> 1) XOR -(z AND 1): deltas may be negative (per-CPU reordering).
struct CpuSampleBatch {
  baseTimeNs @0 :UInt64;
  timeDeltas @1 :List(UInt64);
  threadPids @2 :List(UInt32);
  threadTids @3 :List(UInt32);
  thread @4 :List(UInt32);
  cpu @5 :List(UInt32);
  stackId @6 :List(UInt32);
  luaStackId @7 :List(UInt32);   # --lua: LuaStack per sample (empty list: none in this batch)
}

enum TaskState {
  running @0;
  interruptible @1;
  uninterruptible @2;
  other @3;
}

struct OffCpuInterval {
  startNs @0 :UInt64;
  durationNs @1 :UInt64;
  pid @2 :UInt32;
  tid @3 :UInt32;
  cpu @4 :UInt32;
  stackId @5 :UInt32;
  state @6 :TaskState;
  wakerPid @7 :UInt32;
  wakerTid @8 :UInt32;
  wakerStackId @9 :UInt32;
  wakeupNs @10 :UInt64;  # sched_waking time; 0 = not woken (preempted) or unknown
  luaStackId @11 :UInt32;  # --lua: LuaStack the thread blocked in (0: none)
}

struct OffCpuBatch {
  intervals @0 :List(OffCpuInterval);
}

struct SkbHop {
  timeNs @0 :UInt64;
  skb @1 :UInt64;
  locationId @2 :UInt32;
  ifindex @3 :UInt32;
  netns @4 :UInt32;
  len @5 :UInt32;
  protocol @6 :UInt16;
  cpu @7 :UInt32;
  pid @8 :UInt32;
  tid @9 :UInt32;
  stackId @10 :UInt32;
  # 1.1 (--skb):
  deviceId @11 :UInt32;    # string id of the device name (ifindex names differ per netns)
  l4Protocol @12 :UInt8;   # IPPROTO_*; 0: not parsed
  srcAddr @13 :Data;       # 4 or 16 bytes, network order; empty: not IP
  dstAddr @14 :Data;
  srcPort @15 :UInt16;
  dstPort @16 :UInt16;
  reasonId @17 :UInt32;    # string id: drop reason of kfree_skb (e.g. "NO_SOCKET"); 0: none
  newPacket @18 :Bool;     # the first hop of a packet at this skb address (addresses are reused)
}

struct SkbHopBatch {
  hops @0 :List(SkbHop);
}

enum SyscallKind {
  read @0;
  write @1;
  readv @2;
  writev @3;
  sendto @4;
  recvfrom @5;
  sendmsg @6;
  recvmsg @7;
  other @8;
}

struct SyscallEvent {
  enterNs @0 :UInt64;
  exitNs @1 :UInt64;
  pid @2 :UInt32;
  tid @3 :UInt32;
  kind @4 :SyscallKind;
  fd @5 :Int32;
  ret @6 :Int64;
  socketId @7 :UInt64;
  payload @8 :Data;
}

struct SyscallBatch {
  events @0 :List(SyscallEvent);
}

# --tcp (docs/tcp.md): one event of a TCP connection. Connections are told
# apart by `cookie`; addresses and ports are the socket's local and remote ones.
enum TcpEventType {
  state @0;          # oldState -> newState (Linux TCP_* numbers: 1 ESTABLISHED ... 12 NEW_SYN_RECV)
  retransmit @1;     # tcp:tcp_retransmit_skb
  sendReset @2;      # tcp:tcp_send_reset
  receiveReset @3;   # tcp:tcp_receive_reset
  accept @4;         # accept()/accept4() returned the socket to pid/tid
  other @5;
}

struct TcpEvent {
  timeNs @0 :UInt64;
  type @1 :TcpEventType;
  cookie @2 :UInt64;        # socket cookie: unique per socket
  pid @3 :UInt32;           # the connection's owner; 0: not known (yet)
  tid @4 :UInt32;
  oldState @5 :UInt8;
  newState @6 :UInt8;
  localAddr @7 :Data;       # 4 or 16 bytes, network order
  remoteAddr @8 :Data;
  localPort @9 :UInt16;
  remotePort @10 :UInt16;
  netns @11 :UInt32;        # network namespace inode
  socketId @12 :UInt64;     # inode of the socket (SocketInfo.id, SyscallEvent.socketId); 0: not known
  hasStats @13 :Bool;       # the counters below are set
  bytesSent @14 :UInt64;    # payload bytes sent, retransmissions excluded (socket totals so far)
  bytesReceived @15 :UInt64;
  bytesRetrans @16 :UInt64;
  segsOut @17 :UInt32;
  segsIn @18 :UInt32;
  srttNs @19 :UInt64;       # smoothed RTT; at a passive open's ESTABLISHED the SYN-ACK's RTT
  retransmits @20 :UInt32;  # the socket's total_retrans
  ownerFromProc @21 :Bool;  # pid found by the recorder in /proc (the socket was open before the recording)
}

struct TcpEventBatch {
  events @0 :List(TcpEvent);
}

# --sched (docs/sched.md): scheduler latency, aggregated in the kernel and
# written by the recorder about once a second. Each row covers [startNs, endNs):
# what happened between two reads of the kernel's tables.
struct RunqLatency {
  startNs @0 :UInt64;
  endNs @1 :UInt64;
  pid @2 :UInt32;
  tid @3 :UInt32;
  cpu @4 :UInt32;              # the CPU it was switched in on
  count @5 :UInt64;            # switch-ins after a wait on the run queue
  totalNs @6 :UInt64;          # their summed latency
  maxNs @7 :UInt64;            # the largest when it was a new maximum of (pid, tid, cpu); 0: not above an earlier row's
  slots @8 :List(UInt16);      # histogram slots with a count (quarter octaves, docs/sched.md)
  slotCounts @9 :List(UInt64); # the count of each slot in `slots`
}

struct RunqLatencyBatch {
  entries @0 :List(RunqLatency);
}

# Involuntary switch-outs (the thread stayed runnable) of pid/tid, by the task
# switched in (byTid 0: the idle task: a throttled cgroup or a migration).
struct Preemption {
  startNs @0 :UInt64;
  endNs @1 :UInt64;
  pid @2 :UInt32;
  tid @3 :UInt32;
  byPid @4 :UInt32;
  byTid @5 :UInt32;
  byComm @6 :Text;
  count @7 :UInt64;
}

struct PreemptionBatch {
  preemptions @0 :List(Preemption);
}

# Switches on a CPU between two tasks (neither idle, one recorded) by the
# cgroups of the previous and the next task; same-cgroup pairs included.
struct CgroupSwitch {
  startNs @0 :UInt64;
  endNs @1 :UInt64;
  cpu @2 :UInt32;
  prevCgroup @3 :UInt64;       # cgroup ids of CgroupCpuSample.hierarchy
  nextCgroup @4 :UInt64;
  count @5 :UInt64;
}

struct CgroupSwitchBatch {
  switches @0 :List(CgroupSwitch);
}

enum CgroupHierarchy {
  unknown @0;
  v2 @1;         # the unified hierarchy (ids as bpf_get_current_cgroup_id())
  v1Cpu @2;      # the cgroup v1 cpu controller's hierarchy
}

# A cgroup of the recording (of a recorded process, or met in a CgroupSwitch):
# its name and CPU-bandwidth throttling counters (cpu.stat), sampled at the
# start, about every second and at the end. Counters are the kernel's totals.
struct CgroupCpuSample {
  timeNs @0 :UInt64;
  cgroupId @1 :UInt64;         # its directory's inode in `hierarchy`; 0: not known
  hierarchy @2 :CgroupHierarchy;
  path @3 :Text;               # from the hierarchy's root ("/" for the root)
  statKnown @4 :Bool;          # the counters below were read
  nrPeriods @5 :UInt64;        # enforcement periods that had runnable tasks
  nrThrottled @6 :UInt64;      # periods in which the quota ran out
  throttledNs @7 :UInt64;      # time the cgroup's tasks were throttled
  quotaUs @8 :Int64;           # CPU quota per period (cpu.max / cpu.cfs_quota_us); -1: none
  periodUs @9 :UInt64;
  unknownReason @10 :Text;     # why statKnown is false
  pids @11 :List(UInt32);      # recorded processes seen in it since the previous sample
}

struct CgroupCpuBatch {
  samples @0 :List(CgroupCpuSample);
}

# A user stack kept raw for offline unwinding (--keep-stack-bytes): the user
# registers x86_64 unwinding starts from and the bytes from sp upwards.
struct StackSnapshot {
  timeNs @0 :UInt64;
  pid @1 :UInt32;
  tid @2 :UInt32;
  cpu @3 :UInt32;
  kernelStackId @4 :UInt32;  # a Stack of kernel frames only; 0: none
  ip @5 :UInt64;
  sp @6 :UInt64;
  bp @7 :UInt64;
  stack @8 :Data;
  luaStackId @9 :UInt32;          # --lua: LuaStack of this sample (0: none)
}

struct StackSnapshotBatch {
  snapshots @0 :List(StackSnapshot);
}

enum LossSource {
  ringBuffer @0;
  stack @1;
  unwind @2;
  offCpu @3;
  syscall @4;
  skb @5;
  other @6;
  sched @7;
}

struct LostEvents {
  timeNs @0 :UInt64;
  cpu @1 :UInt32;
  source @2 :LossSource;
  count @3 :UInt64;
}

# ---- the record: one per message in a data block ------------------------------

struct Record {
  union {
    session @0 :SessionInfo;
    sessionEnd @1 :SessionEnd;
    process @2 :ProcessInfo;
    thread @3 :ThreadInfo;
    processExit @4 :ProcessExit;
    mapping @5 :Mapping;
    string @6 :StringEntry;
    stack @7 :Stack;
    luaProto @8 :LuaProto;
    symbolTable @9 :SymbolTable;
    kernelSymbols @10 :KernelSymbols;
    cpuSamples @11 :CpuSampleBatch;
    offCpuIntervals @12 :OffCpuBatch;
    skbHops @13 :SkbHopBatch;
    socket @14 :SocketInfo;
    syscalls @15 :SyscallBatch;
    lostEvents @16 :LostEvents;
    unwindTable @17 :UnwindTable;
    stackSnapshots @18 :StackSnapshotBatch;
    luaVm @19 :LuaVm;
    luaStack @20 :LuaStack;
    luaTrace @21 :LuaTrace;
    tcpEvents @22 :TcpEventBatch;
    cgroup @23 :CgroupInfo;
    runqLatency @24 :RunqLatencyBatch;
    preemptions @25 :PreemptionBatch;
    cgroupSwitches @26 :CgroupSwitchBatch;
    cgroupCpu @27 :CgroupCpuBatch;
  }
}

# ---- container blocks ----------------------------------------------------------

# Payload of the schema block (block 0): the nodes of Record and everything it
# depends on, as compiled into the writer.
struct SchemaBlock {
  recordNodeId @0 :UInt64;
  nodes @1 :List(Schema.Node);
}

struct IndexEntry {
  offset @0 :UInt64;        # of the block header
  type @1 :UInt16;
  sequence @2 :UInt32;
  storedBytes @3 :UInt32;
  rawBytes @4 :UInt32;
  records @5 :UInt32;
  firstTimeNs @6 :UInt64;
  lastTimeNs @7 :UInt64;
  kindMask @8 :UInt64;
}

# Payload of the index block (the last block).
struct Index {
  blocks @0 :List(IndexEntry);
}
