// Naming LuaJIT frames offline, from what the capture holds (--lua captures):
// LuaVm (per process: fast-function and bytecode names of that build), LuaProto
// (each proto's raw block: bytecode, lineinfo, uvinfo, varinfo, string
// constants), LuaTrace, and LuaStack (raw frames per sample).
//
// Labels (docs/lua.md):
//   Lua function   "<chunkname>:<line> <name>" or "<chunkname>:<line>"; line = the
//                  current line for the leaf, the call line for callers; name as
//                  lj_debug_funcname derives it from the caller's bytecode
//   fast function  "builtin#<name>" ("builtin#<id>" when the build's names are unknown)
//   C function     the lua_CFunction address (named like native code by the caller)
//   pseudo-frames  "[trace N]" on the frame a trace runs in, "[GC]", "[JIT compiler]"
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "format/records.h"

namespace ebt::symbolize {

struct LuaLabel {
  enum class Kind : uint8_t { kLua, kFast, kC, kPseudo };
  Kind kind = Kind::kLua;
  std::string name;       // the label (kC: empty; `address` holds the function)
  std::string file;       // chunkname (kLua)
  uint32_t line = 0;      // kLua: 0 when unknown
  uint64_t address = 0;   // kC: lua_CFunction
  bool segment_end = false;  // the next label belongs to the next VM activation outwards
  bool resume_end = false;   // ... which resumed this coroutine from Lua (its VM frame is natively adjacent)
};

class LuaNamer {
 public:
  void add(const LuaVm& vm);
  void add(const LuaProto& proto);
  void add(const LuaTrace& trace);

  // Labels of a Lua stack, leaf first, pseudo-frames included.
  std::vector<LuaLabel> label(uint32_t pid, const LuaStack& stack) const;

  // The VM `pid` ran (last LuaVm record), nullptr if none.
  const LuaVm* vm(uint32_t pid) const;
  bool empty() const { return vms_.empty() && protos_.empty(); }

  // Exposed for tests: the line of `pc` in `proto` (nullopt: pc outside it or no lineinfo).
  static std::optional<uint32_t> line_of(const LuaProto& proto, uint64_t pc);
  // The name lj_debug_funcname would give the function `caller` calls at `pc`.
  static std::string callee_name(const LuaProto& caller, uint64_t pc, const std::vector<std::string>& bc_names);

 private:
  std::unordered_map<uint32_t, LuaVm> vms_;          // by pid
  std::unordered_map<uint32_t, LuaProto> protos_;    // by id
  std::unordered_map<uint32_t, LuaTrace> traces_;    // by id
};

}  // namespace ebt::symbolize
