# A Record schema as a future ebtrace might have it: every kind of today's
# format/capture.capnp at the same ordinal, plus a kind this build never heard of.
# Different file id, so its nodes never clash with the compiled-in schema.
@0x9a247317230da640;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("ebt::format::future");

using C = import "/format/capture.capnp";

struct Gadget {
  name @0 :Text;
  size @1 :UInt64;
  tags @2 :List(Text);
  blob @3 :Data;
  mood @4 :Mood;
  enum Mood {
    calm @0;
    grumpy @1;
  }
}

struct Record {
  union {
    session @0 :C.SessionInfo;
    sessionEnd @1 :C.SessionEnd;
    process @2 :C.ProcessInfo;
    thread @3 :C.ThreadInfo;
    processExit @4 :C.ProcessExit;
    mapping @5 :C.Mapping;
    string @6 :C.StringEntry;
    stack @7 :C.Stack;
    luaProto @8 :C.LuaProto;
    symbolTable @9 :C.SymbolTable;
    kernelSymbols @10 :C.KernelSymbols;
    cpuSamples @11 :C.CpuSampleBatch;
    offCpuIntervals @12 :C.OffCpuBatch;
    skbHops @13 :C.SkbHopBatch;
    socket @14 :C.SocketInfo;
    syscalls @15 :C.SyscallBatch;
    lostEvents @16 :C.LostEvents;
    unwindTable @17 :C.UnwindTable;
    stackSnapshots @18 :C.StackSnapshotBatch;
    luaVm @19 :C.LuaVm;
    luaStack @20 :C.LuaStack;
    luaTrace @21 :C.LuaTrace;
    gadget @22 :Gadget;
  }
}
