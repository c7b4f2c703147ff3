// The user-space half of --lua (see bpf/lua.bpf.h and docs/lua.md).
//
// Finds LuaJIT VMs in sampled processes and configures the BPF walk for them
// (the `lua_procs` map); turns each EBT_EV_LUA_STACK into an interned LuaStack
// for the dwarf sample it belongs to; the first time a proto (or a JIT trace)
// shows up, reads it from /proc/PID/mem while the process is alive and writes
// it to the capture (LuaProto / LuaTrace), again when its address is reused by
// a different proto (the BPF walk fingerprints every proto header). Nothing is
// named here: report/ does that from the capture.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "bpf/events.h"
#include "record/lua_vm.h"
#include "record/probe.h"
#include "unwind/snapshot_walker.h"

struct bpf_object;

namespace ebt::record {

class LuaRecorder {
 public:
  // The recording's one LuaRecorder, shared by the families whose BPF programs
  // walk Lua stacks (profile-dwarf: on-CPU samples; offcpu: switch-outs), so
  // VMs, protos and stacks have one set of ids; made by the first to ask,
  // gone with the last holder.
  static std::shared_ptr<LuaRecorder> shared();
  // Makes `obj` (before load) use this recorder's `lua_procs` map, the VM
  // configurations every walk reads (bpf/lua.bpf.h).
  void use_map(bpf_object* obj) const;
  // The off-CPU family walks Lua stacks too (the summary counts its intervals).
  void expect_offcpu() { offcpu_ = true; }

  LuaRecorder();
  ~LuaRecorder();
  LuaRecorder(const LuaRecorder&) = delete;
  LuaRecorder& operator=(const LuaRecorder&) = delete;

  // An event of `pid` (its thread's `comm`) arrived: look for its VM the first
  // time (and again, less and less often, while none is found: a library may be
  // loaded later), and at once for a comm not seen before in it (an exec:
  // `record -- CMD` sees the child before it runs CMD).
  void note_process(uint32_t pid, uint64_t now_ns, RecordContext& ctx, const char* comm = nullptr);
  // Looks for the VMs of the -p processes before the BPF programs attach, so
  // their first samples and off-CPU intervals already carry Lua stacks (the
  // LuaVm record is written at the process's first event).
  void prime(const std::vector<uint32_t>& pids);
  // An EBT_EV_LUA_STACK: kept until its sample arrives.
  void on_stack_event(const ebt_event_header& h, std::span<const uint8_t> event);
  // The user stack copy of the event a Lua stack belongs to (its bytes from sp).
  struct StackCopy {
    uint64_t sp = 0;
    std::span<const uint8_t> bytes;
  };
  // The LuaStack id for the event (h.pid, h.tid, h.time_ns): an on-CPU sample,
  // or with `offcpu` an off-CPU interval ending then; 0 if none. With the
  // event's user stack copy, `*vm` gets the VM's C frames in it (the chain
  // from L->cframe, over coroutine.resume hops) for the native unwinder, and
  // a C frame of the JIT's own (trace exit, compiler: no Lua frame) is noted
  // in the stack's flags; `*vm` is emptied when there is no Lua stack.
  uint32_t take(const ebt_event_header& h, RecordContext& ctx, bool offcpu = false, const StackCopy* copy = nullptr,
                unwind::VmFrames* vm = nullptr);
  void forget(uint32_t pid);
  // Final LuaVm records with the counters (once, whoever calls first).
  void finish(RecordContext& ctx);
  // The summary-line part, the first time only (each holder asks).
  std::string summary_once();
  std::string summary() const;

  uint64_t lua_samples() const { return lua_samples_; }

 private:
  struct Proc;
  Proc& proc(uint32_t pid);
  void look(Proc& p, uint64_t now);
  uint32_t proto_id(Proc& p, uint64_t addr, uint32_t fp, RecordContext& ctx);
  uint32_t trace_id(Proc& p, uint64_t g, uint32_t traceno, uint64_t now, RecordContext& ctx);
  static bool vm_frames(const Proc& p, uint64_t cframe, const StackCopy& copy, unwind::VmFrames* vm);

  int map_fd_ = -1;  // lua_procs, owned
  bool finished_ = false, summarized_ = false, offcpu_ = false;
  std::unordered_map<uint32_t, std::unique_ptr<Proc>> procs_;
  struct Pending {
    uint64_t time_ns = 0;
    std::vector<uint8_t> event;
  };
  std::unordered_map<uint32_t, Pending> pending_;  // tid -> Lua stack waiting for its sample
  std::unordered_map<std::string, uint32_t> stacks_;
  uint32_t next_stack_ = 1, next_proto_ = 1, next_trace_ = 1;
  uint64_t lua_samples_ = 0, offcpu_stacks_ = 0, protos_ = 0, traces_ = 0, vms_ = 0;
};

// The fingerprint the BPF walk computes over 16 bytes of a proto header.
uint32_t lua_proto_fingerprint(const uint8_t* header16);

}  // namespace ebt::record
