// Finding and identifying the LuaJIT VM a process runs (--lua).
//
// A process runs LuaJIT when it maps libluajit-5.1.so* or an executable with
// the VM linked in (the luajit CLI, nginx/openresty built statically: they
// export luaJIT_setmode). The VM is identified by the object's build-id:
//  * struct offsets from the object's DWARF (or its separate debug file by
//    build-id), when present;
//  * else a table of the builds Debian ships (luajit, luajit2, libluajit-5.1-2,
//    libluajit2-5.1-2), measured from their own sources;
//  * else it is not identified: the process keeps native frames and the
//    recorder says so once (never a guessed layout).
// The interpreter range is the VM's one big FDE whose CFA is rsp+80
// (CFRAME_SIZE) from its first instruction, found in .eh_frame_hdr.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bpf/events.h"
#include "format/records.h"
#include "record/proc_reader.h"

namespace ebt::record {

struct LuaLayout {
  bool gc64 = true;
  uint32_t g2disp = 0;
  uint16_t l_glref = 0, l_base = 0, l_stack = 0, l_maxstack = 0, l_cframe = 0;
  uint16_t g_vmstate = 0, g_cur_l = 0, g_jit_base = 0, g_jtrace = 0;  // g_jtrace: G -> J->trace
  uint16_t gc_marked = 0, fn_pc = 0, fn_f = 0;
  uint16_t pt_size = 0, pt_sizebc = 0, pt_k = 0, pt_sizekgc = 0, pt_sizept = 0, pt_flags = 0,
           pt_numparams = 0, pt_chunkname = 0, pt_firstline = 0, pt_numline = 0, pt_lineinfo = 0,
           pt_uvinfo = 0, pt_varinfo = 0;
  uint16_t str_len = 0, str_size = 0;
  uint16_t tr_startpt = 0, tr_startpc = 0, tr_szmcode = 0, tr_mcode = 0, tr_root = 0;
  uint16_t cf_pc = 0, cf_l = 0, cf_prev = 0, cf_size = 80, cf_nres = 0;
  std::string version;                  // "" if unknown
  std::vector<std::string> ff_names, bc_names;
};

// The GC64 layouts of Debian's builds; tests and docs refer to them.
LuaLayout lua_layout_openresty_20230119();  // luajit2 2.1-20230119 (GC64)
LuaLayout lua_layout_upstream_20220320();    // LuaJIT 2.1.0~beta3+git20220320 (GC64)

struct LuaVmInfo {
  LuaVm record;         // pid, path, build-id, gc64, interpreter, source, version, names
  LuaLayout layout;
  bool identified = false;
  std::string why;      // when not identified: what is missing
};

// The VM `pid` maps, if any: nullopt when no mapping looks like LuaJIT; a
// LuaVmInfo with identified == false when it does but cannot be walked.
std::optional<LuaVmInfo> find_lua_vm(uint32_t pid, const std::vector<ProcMapping>& maps);

// Whether an executable (or a library it needs) is LuaJIT: for --lua
// auto-enabling before a command starts. `path` is a file on this machine.
bool elf_has_lua_vm(const std::string& path);

// Whether a target of `o` runs (or, for -- CMD, will run) LuaJIT: -p pids and
// their maps, CMD's executable, else (-a, --comm) every process.
struct RecordOptions;
bool lua_in_targets(const RecordOptions& o);

// The BPF config for a process.
ebt_lua_config lua_bpf_config(const LuaVmInfo& vm);

// [start, end) file virtual addresses of the interpreter in an open ELF file
// (the largest FDE with CFA = rsp+80 at its first instruction).
std::optional<std::pair<uint64_t, uint64_t>> find_lua_interpreter(int fd);

// Layout from DWARF (the object's own or its debug file's); nullopt without.
std::optional<LuaLayout> lua_layout_from_dwarf(int fd, const std::vector<uint8_t>& build_id);

}  // namespace ebt::record
