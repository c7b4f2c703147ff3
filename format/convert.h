// records.h structs <-> Cap'n Proto wire structs. Internal to format/.
#pragma once

#include <span>
#include <vector>

#include "format/capture.capnp.h"
#include "format/records.h"

namespace ebt::format::conv {

void encode(wire::Record::Builder r, const SessionInfo& v);
void encode(wire::Record::Builder r, const SessionEnd& v);
void encode(wire::Record::Builder r, const ProcessInfo& v);
void encode(wire::Record::Builder r, const ThreadInfo& v);
void encode(wire::Record::Builder r, const ProcessExit& v);
void encode(wire::Record::Builder r, const Mapping& v);
void encode(wire::Record::Builder r, const StringEntry& v);
void encode(wire::Record::Builder r, const Stack& v);
void encode(wire::Record::Builder r, const LuaProto& v);
void encode(wire::Record::Builder r, const LuaVm& v);
void encode(wire::Record::Builder r, const LuaStack& v);
void encode(wire::Record::Builder r, const LuaTrace& v);
void encode(wire::Record::Builder r, const SymbolTable& v);
void encode(wire::Record::Builder r, const KernelSymbols& v);
void encode(wire::Record::Builder r, const SocketInfo& v);
void encode(wire::Record::Builder r, const LostEvents& v);
void encode(wire::Record::Builder r, const UnwindTable& v);
// Batches.
void encode(wire::Record::Builder r, std::span<const CpuSample> v);
void encode(wire::Record::Builder r, std::span<const OffCpuInterval> v);
void encode(wire::Record::Builder r, std::span<const SkbHop> v);
void encode(wire::Record::Builder r, std::span<const SyscallEvent> v);
void encode(wire::Record::Builder r, std::span<const StackSnapshot> v);

SessionInfo decode(wire::SessionInfo::Reader r);
SessionEnd decode(wire::SessionEnd::Reader r);
ProcessInfo decode(wire::ProcessInfo::Reader r);
ThreadInfo decode(wire::ThreadInfo::Reader r);
ProcessExit decode(wire::ProcessExit::Reader r);
Mapping decode(wire::Mapping::Reader r);
StringEntry decode(wire::StringEntry::Reader r);
Stack decode(wire::Stack::Reader r);
LuaProto decode(wire::LuaProto::Reader r);
LuaVm decode(wire::LuaVm::Reader r);
LuaStack decode(wire::LuaStack::Reader r);
LuaTrace decode(wire::LuaTrace::Reader r);
SymbolTable decode(wire::SymbolTable::Reader r);
KernelSymbols decode(wire::KernelSymbols::Reader r);
SocketInfo decode(wire::SocketInfo::Reader r);
LostEvents decode(wire::LostEvents::Reader r);
OffCpuInterval decode(wire::OffCpuInterval::Reader r);
SkbHop decode(wire::SkbHop::Reader r);
SyscallEvent decode(wire::SyscallEvent::Reader r);
UnwindTable decode(wire::UnwindTable::Reader r);
StackSnapshot decode(wire::StackSnapshot::Reader r);

// Calls fn(const CpuSample&) for every sample of the batch. Throws BadInput on
// inconsistent columns.
template <typename Fn>
void for_each_sample(wire::CpuSampleBatch::Reader b, Fn&& fn);

inline uint64_t zigzag(int64_t v) { return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63); }
inline int64_t unzigzag(uint64_t z) { return static_cast<int64_t>((z >> 1) ^ (~(z & 1) + 1)); }

}  // namespace ebt::format::conv

#include "common/error.h"

namespace ebt::format::conv {

template <typename Fn>
void for_each_sample(wire::CpuSampleBatch::Reader b, Fn&& fn) {
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
    throw BadInput("cpu sample batch has columns of different lengths");
  const unsigned nthreads = pids.size();
  uint64_t t = b.getBaseTimeNs();
  CpuSample s;
  for (unsigned i = 0; i < n; ++i) {
    t += static_cast<uint64_t>(unzigzag(deltas[i]));
    uint32_t th = thread[i];
    if (th >= nthreads) throw BadInput("cpu sample refers to thread slot out of range");
    s.time_ns = t;
    s.pid = pids[th];
    s.tid = tids[th];
    s.cpu = cpu[i];
    s.stack_id = stack[i];
    s.lua_stack_id = lua.size() ? lua[i] : 0;
    fn(s);
  }
}

}  // namespace ebt::format::conv
