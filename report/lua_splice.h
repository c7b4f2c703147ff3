// Splicing LuaJIT frames into native stacks (--lua captures; docs/lua.md).
//
// A sample with a Lua stack shows, where the VM ran, the Lua frames it was
// running instead of the VM's own native frames: each native frame inside the
// interpreter (one per VM activation: lua_pcall, lua_call, lua_resume,
// coroutine.resume from Lua) is replaced by the next segment of Lua frames (cut
// where Lua was entered from C), and an unresolved frame just inside a VM frame
// (JIT-compiled code) goes with it. Native frames below and above stay:
// main → lua_pcall → @app.lua:12 handler → @lib.lua:40 work → strlen.
// C functions called from Lua keep their native frame; fast functions show as
// builtin#name, traces as [trace N] on the frame they run in.
#pragma once

#include <cstdint>
#include <vector>

#include "format/records.h"

namespace ebt::report {

class ReportContext;

// Frame ids (leaf first) of the native stack `native_stack_id` of `pid` with the
// Lua stack spliced in.
std::vector<uint32_t> splice_lua(ReportContext& profile, uint32_t pid, uint64_t time_ns, uint32_t native_stack_id,
                                 const LuaStack& lua);

}  // namespace ebt::report
