#include "record/lua_vm.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <map>

#include "record/cgroups.h"
#include "record/containers.h"
#include "record/lua_vmdef_names.h"
#include "record/record_options.h"
#include "record/objects.h"
#include "unwind/unwind_table.h"

namespace ebt::record {
namespace {

template <size_t N>
std::vector<std::string> names(const char* const (&a)[N]) {
  return std::vector<std::string>(a, a + N);
}

// Offsets common to every LuaJIT 2.1 GC64 build measured (research/luajit.md §3.5).
LuaLayout gc64_common() {
  LuaLayout l;
  l.gc64 = true;
  l.l_glref = 16, l.l_base = 32, l.l_maxstack = 48, l.l_stack = 56, l.l_cframe = 80;
  l.g_vmstate = 184;
  l.gc_marked = 8, l.fn_pc = 32, l.fn_f = 40;
  l.pt_size = 104, l.pt_numparams = 10, l.pt_sizebc = 12, l.pt_k = 32, l.pt_sizekgc = 48, l.pt_sizept = 56,
  l.pt_flags = 61, l.pt_chunkname = 64, l.pt_firstline = 72, l.pt_numline = 76, l.pt_lineinfo = 80,
  l.pt_uvinfo = 88, l.pt_varinfo = 96;
  l.str_len = 20, l.str_size = 24;
  l.tr_startpt = 64, l.tr_startpc = 72, l.tr_szmcode = 84, l.tr_mcode = 88, l.tr_root = 108;
  l.cf_pc = 24, l.cf_l = 16, l.cf_prev = 32, l.cf_size = 80, l.cf_nres = 8;
  return l;
}

// The same for non-GC64 (32-bit GC references, one-slot frames).
LuaLayout gc32_common() {
  LuaLayout l;
  l.gc64 = false;
  l.l_glref = 8, l.l_base = 16, l.l_maxstack = 32, l.l_stack = 36, l.l_cframe = 48;
  l.g_vmstate = 136;
  l.gc_marked = 4, l.fn_pc = 16, l.fn_f = 24;
  l.pt_size = 64, l.pt_numparams = 6, l.pt_sizebc = 8, l.pt_k = 16, l.pt_sizekgc = 24, l.pt_sizept = 32,
  l.pt_flags = 37, l.pt_chunkname = 40, l.pt_firstline = 44, l.pt_numline = 48, l.pt_lineinfo = 52,
  l.pt_uvinfo = 56, l.pt_varinfo = 60;
  l.str_len = 16, l.str_size = 20;
  l.tr_startpt = 48, l.tr_startpc = 52, l.tr_szmcode = 60, l.tr_mcode = 64, l.tr_root = 84;
  l.cf_pc = 28, l.cf_l = 24, l.cf_prev = 32, l.cf_size = 80, l.cf_nres = 16;
  return l;
}

std::string hex(const std::vector<uint8_t>& b) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (uint8_t c : b) {
    s += d[c >> 4];
    s += d[c & 15];
  }
  return s;
}

std::vector<uint8_t> unhex(const char* s) {
  std::vector<uint8_t> out;
  for (; s[0] && s[1]; s += 2) {
    auto v = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
    out.push_back(uint8_t(v(s[0]) << 4 | v(s[1])));
  }
  return out;
}

// Debian bookworm's LuaJIT builds, by build-id (research/luajit.md §3.5, §6).
std::optional<LuaLayout> layout_for_build_id(const std::vector<uint8_t>& id) {
  static const std::map<std::vector<uint8_t>, LuaLayout (*)()> table = {
      {unhex("0a6563c55d870716908fd332f88bf7cdd9bc6a71"), lua_layout_openresty_20230119},  // libluajit2-5.1-2
      {unhex("3e3d615119e82f1b42bd151e94701750bfd15a9d"), lua_layout_openresty_20230119},  // luajit2 CLI
      {unhex("2e18b5eadde600273e47ba2f83a1df8b6a5b2540"), lua_layout_upstream_20220320},   // libluajit-5.1-2
      {unhex("79b0b8114f05a2726860c3141195279ceb0f6e29"), lua_layout_upstream_20220320},   // luajit CLI
  };
  auto it = table.find(id);
  if (it == table.end()) return std::nullopt;
  return it->second();
}

bool has_dynsym(Elf* elf, const char* name) {
  Elf_Scn* scn = nullptr;
  while ((scn = elf_nextscn(elf, scn))) {
    GElf_Shdr sh;
    if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_DYNSYM || sh.sh_entsize == 0) continue;
    Elf_Data* data = elf_getdata(scn, nullptr);
    if (!data) continue;
    size_t n = sh.sh_size / sh.sh_entsize;
    for (size_t i = 0; i < n; i++) {
      GElf_Sym sym;
      if (!gelf_getsym(data, int(i), &sym) || sym.st_shndx == SHN_UNDEF) continue;
      const char* s = elf_strptr(elf, sh.sh_link, sym.st_name);
      if (s && std::strcmp(s, name) == 0) return true;
    }
  }
  return false;
}

bool fd_has_lua_vm(int fd) {
  elf_version(EV_CURRENT);
  Elf* elf = elf_begin(fd, ELF_C_READ_MMAP, nullptr);
  if (!elf) return false;
  bool yes = elf_kind(elf) == ELF_K_ELF && has_dynsym(elf, "luaJIT_setmode");
  elf_end(elf);
  return yes;
}

std::string base_name(const std::string& p) {
  auto s = p.rfind('/');
  return s == std::string::npos ? p : p.substr(s + 1);
}

// ---- DWARF -----------------------------------------------------------------

struct DwarfStructs {
  std::map<std::string, std::map<std::string, uint64_t>> members;
  std::map<std::string, uint64_t> sizes;
};

void collect_structs(Dwarf_Die* die, DwarfStructs* out, int depth) {
  Dwarf_Die child;
  if (depth > 2 || dwarf_child(die, &child) != 0) return;
  do {
    int tag = dwarf_tag(&child);
    if (tag == DW_TAG_structure_type && !dwarf_hasattr(&child, DW_AT_declaration)) {
      const char* name = dwarf_diename(&child);
      if (name && !out->sizes.count(name)) {
        static const char* wanted[] = {"lua_State", "global_State", "GG_State", "jit_State", "GCfuncL", "GCfuncC",
                                       "GCproto", "GCstr", "GCtrace", "GCRef"};
        bool want = false;
        for (const char* w : wanted) want |= std::strcmp(w, name) == 0;
        if (want) {
          Dwarf_Word size = 0;
          Dwarf_Attribute a;
          if (dwarf_attr(&child, DW_AT_byte_size, &a) && dwarf_formudata(&a, &size) == 0) out->sizes[name] = size;
          auto& m = out->members[name];
          Dwarf_Die mem;
          if (dwarf_child(&child, &mem) == 0) do {
              if (dwarf_tag(&mem) != DW_TAG_member) continue;
              const char* mn = dwarf_diename(&mem);
              Dwarf_Word off = 0;
              if (mn && dwarf_attr(&mem, DW_AT_data_member_location, &a) && dwarf_formudata(&a, &off) == 0)
                m[mn] = off;
            } while (dwarf_siblingof(&mem, &mem) == 0);
        }
      }
    } else if (tag == DW_TAG_typedef || tag == DW_TAG_namespace) {
      // nothing: typedef'd structs are found as structure_type DIEs themselves
    }
  } while (dwarf_siblingof(&child, &child) == 0);
}

std::optional<LuaLayout> layout_from_dwarf_fd(int fd) {
  Dwarf* dw = dwarf_begin(fd, DWARF_C_READ);
  if (!dw) return std::nullopt;
  DwarfStructs s;
  Dwarf_Off off = 0, next;
  size_t hsize;
  while (dwarf_nextcu(dw, off, &next, &hsize, nullptr, nullptr, nullptr) == 0) {
    Dwarf_Die cu;
    if (dwarf_offdie(dw, off + hsize, &cu)) collect_structs(&cu, &s, 0);
    off = next;
    if (s.sizes.size() >= 10) break;
  }
  dwarf_end(dw);
  auto m = [&](const char* st, const char* f) -> std::optional<uint64_t> {
    auto i = s.members.find(st);
    if (i == s.members.end()) return std::nullopt;
    auto j = i->second.find(f);
    if (j == i->second.end()) return std::nullopt;
    return j->second;
  };
  if (!s.sizes.count("GCproto") || !s.sizes.count("GCRef") || !m("global_State", "cur_L") || !m("GG_State", "dispatch"))
    return std::nullopt;
  bool gc64 = s.members["GCRef"].count("gcptr64") > 0;
  LuaLayout l = gc64 ? gc64_common() : gc32_common();
  bool ok = true;
  auto get = [&](uint16_t* dst, const char* st, const char* f) {
    if (auto v = m(st, f)) *dst = uint16_t(*v);
    else ok = false;
  };
  get(&l.l_glref, "lua_State", "glref");
  get(&l.l_base, "lua_State", "base");
  get(&l.l_stack, "lua_State", "stack");
  get(&l.l_maxstack, "lua_State", "maxstack");
  get(&l.l_cframe, "lua_State", "cframe");
  get(&l.g_vmstate, "global_State", "vmstate");
  get(&l.g_cur_l, "global_State", "cur_L");
  get(&l.g_jit_base, "global_State", "jit_base");
  get(&l.gc_marked, "GCproto", "marked");
  get(&l.fn_pc, "GCfuncL", "pc");
  get(&l.fn_f, "GCfuncC", "f");
  get(&l.pt_numparams, "GCproto", "numparams");
  get(&l.pt_sizebc, "GCproto", "sizebc");
  get(&l.pt_k, "GCproto", "k");
  get(&l.pt_sizekgc, "GCproto", "sizekgc");
  get(&l.pt_sizept, "GCproto", "sizept");
  get(&l.pt_flags, "GCproto", "flags");
  get(&l.pt_chunkname, "GCproto", "chunkname");
  get(&l.pt_firstline, "GCproto", "firstline");
  get(&l.pt_numline, "GCproto", "numline");
  get(&l.pt_lineinfo, "GCproto", "lineinfo");
  get(&l.pt_uvinfo, "GCproto", "uvinfo");
  get(&l.pt_varinfo, "GCproto", "varinfo");
  get(&l.str_len, "GCstr", "len");
  get(&l.tr_startpt, "GCtrace", "startpt");
  get(&l.tr_startpc, "GCtrace", "startpc");
  get(&l.tr_szmcode, "GCtrace", "szmcode");
  get(&l.tr_mcode, "GCtrace", "mcode");
  get(&l.tr_root, "GCtrace", "root");
  l.pt_size = uint16_t(s.sizes["GCproto"]);
  l.str_size = uint16_t(s.sizes.count("GCstr") ? s.sizes["GCstr"] : 0);
  auto g = m("GG_State", "g"), disp = m("GG_State", "dispatch"), j = m("GG_State", "J"), tr = m("jit_State", "trace");
  if (!ok || !g || !disp || !l.str_size) return std::nullopt;
  l.g2disp = uint32_t(*disp - *g);
  if (j && tr) l.g_jtrace = uint16_t(*j - *g + *tr);
  bool openresty = m("lua_State", "exdata").has_value();
  l.bc_names = names(lua_names::kOpenResty20230119Bc);
  l.ff_names = openresty ? names(lua_names::kOpenResty20230119Ff) : names(lua_names::kUpstream20220320Ff);
  l.version = openresty ? "OpenResty LuaJIT 2.1 (layout from DWARF)" : "LuaJIT 2.1 (layout from DWARF)";
  return l;
}

}  // namespace

LuaLayout lua_layout_openresty_20230119() {
  LuaLayout l = gc64_common();
  l.g_cur_l = 368, l.g_jit_base = 376, l.g2disp = 4008, l.g_jtrace = 1120;
  l.version = "OpenResty LuaJIT 2.1-20230119 (Debian luajit2)";
  l.bc_names = names(lua_names::kOpenResty20230119Bc);
  l.ff_names = names(lua_names::kOpenResty20230119Ff);
  return l;
}

LuaLayout lua_layout_upstream_20220320() {
  LuaLayout l = gc64_common();
  l.g_cur_l = 368, l.g_jit_base = 376, l.g2disp = 3968, l.g_jtrace = 1112;
  l.version = "LuaJIT 2.1.0-beta3 git20220320 (Debian luajit)";
  l.bc_names = names(lua_names::kUpstream20220320Bc);
  l.ff_names = names(lua_names::kUpstream20220320Ff);
  return l;
}

std::optional<LuaLayout> lua_layout_from_dwarf(int fd, const std::vector<uint8_t>& build_id) {
  if (auto l = layout_from_dwarf_fd(fd)) return l;
  if (build_id.size() < 2) return std::nullopt;
  std::string h = hex(build_id);
  std::string path = "/usr/lib/debug/.build-id/" + h.substr(0, 2) + "/" + h.substr(2) + ".debug";
  int dfd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (dfd < 0) return std::nullopt;
  auto l = layout_from_dwarf_fd(dfd);
  close(dfd);
  return l;
}

std::optional<std::pair<uint64_t, uint64_t>> find_lua_interpreter(int fd) {
  elf_version(EV_CURRENT);
  Elf* elf = elf_begin(fd, ELF_C_READ_MMAP, nullptr);
  if (!elf) return std::nullopt;
  std::optional<std::pair<uint64_t, uint64_t>> best;
  size_t nph = 0;
  GElf_Phdr hdr{};
  bool found = false;
  if (elf_kind(elf) == ELF_K_ELF && elf_getphdrnum(elf, &nph) == 0)
    for (size_t i = 0; i < nph && !found; i++)
      if (gelf_getphdr(elf, int(i), &hdr) && hdr.p_type == PT_GNU_EH_FRAME) found = true;
  Dwarf_CFI* cfi = found ? dwarf_getcfi_elf(elf) : nullptr;
  Elf_Data* data = found ? elf_getdata_rawchunk(elf, hdr.p_offset, hdr.p_filesz, ELF_T_BYTE) : nullptr;
  if (cfi && data && data->d_size >= 12) {
    const uint8_t* p = static_cast<const uint8_t*>(data->d_buf);
    // version 1, eh_frame_ptr (4-byte encodings only), count udata4, table datarel|sdata4
    uint32_t count = 0;
    if (p[0] == 1 && (p[1] & 0x0f) == 0x0b && p[2] == 0x03 && p[3] == 0x3b) {
      std::memcpy(&count, p + 8, 4);
      uint64_t best_size = 0;
      for (uint64_t i = 0; i < count && 12 + i * 8 + 8 <= data->d_size; i++) {
        int32_t rel;
        std::memcpy(&rel, p + 12 + i * 8, 4);
        uint64_t loc = hdr.p_vaddr + int64_t(rel);
        Dwarf_Frame* fr = nullptr;
        if (dwarf_cfi_addrframe(cfi, loc, &fr) != 0 || !fr) continue;
        Dwarf_Addr s = 0, e = 0;
        Dwarf_Op* ops = nullptr;
        size_t nops = 0;
        dwarf_frame_info(fr, &s, &e, nullptr);
        bool rsp80 = dwarf_frame_cfa(fr, &ops, &nops) == 0 && nops == 1 &&
                     ((ops[0].atom == DW_OP_bregx && ops[0].number == 7 && ops[0].number2 == 80) ||
                      (ops[0].atom == DW_OP_breg7 && ops[0].number == 80));
        free(fr);
        if (rsp80 && s == loc && e > s && e - s > best_size && e - s >= 4096) {
          best_size = e - s;
          best = std::make_pair(uint64_t(s), uint64_t(e));
        }
      }
    }
  }
  elf_end(elf);
  return best;
}

bool elf_has_lua_vm(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool yes = fd_has_lua_vm(fd);
  if (!yes) {
    // DT_NEEDED libluajit-5.1.so.*
    elf_version(EV_CURRENT);
    if (Elf* elf = elf_begin(fd, ELF_C_READ_MMAP, nullptr)) {
      Elf_Scn* scn = nullptr;
      while (!yes && (scn = elf_nextscn(elf, scn))) {
        GElf_Shdr sh;
        if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_DYNAMIC || sh.sh_entsize == 0) continue;
        Elf_Data* d = elf_getdata(scn, nullptr);
        for (size_t i = 0; d && i < sh.sh_size / sh.sh_entsize; i++) {
          GElf_Dyn dyn;
          if (!gelf_getdyn(d, int(i), &dyn) || dyn.d_tag != DT_NEEDED) continue;
          const char* s = elf_strptr(elf, sh.sh_link, dyn.d_un.d_val);
          if (s && std::strncmp(s, "libluajit", 9) == 0) yes = true;
        }
      }
      elf_end(elf);
    }
  }
  close(fd);
  return yes;
}

std::optional<LuaVmInfo> find_lua_vm(uint32_t pid, const std::vector<ProcMapping>& maps) {
  // The library first; else the main executable (luajit CLI, static nginx).
  const ProcMapping* pick = nullptr;
  for (const auto& m : maps)
    if (m.inode && base_name(m.path).rfind("libluajit", 0) == 0) {
      pick = &m;
      break;
    }
  int fd = -1;
  if (pick) {
    fd = open_mapped_file(pid, *pick);
  } else {
    char exe[4096];
    std::string link = "/proc/" + std::to_string(pid) + "/exe";
    ssize_t n = readlink(link.c_str(), exe, sizeof exe - 1);
    if (n <= 0) return std::nullopt;
    exe[n] = 0;
    std::string e = exe;
    if (e.size() > 10 && e.compare(e.size() - 10, 10, " (deleted)") == 0) e.resize(e.size() - 10);
    for (const auto& m : maps)
      if (m.inode && m.path == e) {
        pick = &m;
        break;
      }
    if (!pick) return std::nullopt;
    fd = open_mapped_file(pid, *pick);
    if (fd < 0) return std::nullopt;
    if (!fd_has_lua_vm(fd)) {
      close(fd);
      return std::nullopt;
    }
  }
  LuaVmInfo vm;
  vm.record.pid = pid;
  vm.record.path = pick->path;
  if (fd < 0) {
    vm.why = "cannot open " + pick->path;
    return vm;
  }
  std::vector<LoadSegment> segments;
  read_elf_identity(fd, &vm.record.build_id, &segments);
  auto interp = find_lua_interpreter(fd);
  std::optional<LuaLayout> layout = lua_layout_from_dwarf(fd, vm.record.build_id);
  if (layout) {
    vm.record.source = "dwarf";
  } else if ((layout = layout_for_build_id(vm.record.build_id))) {
    vm.record.source = "build-id table";
  }
  close(fd);
  auto bias = unwind::load_bias(segments, pick->start, pick->offset);
  if (!interp) vm.why = "no interpreter (no FDE with CFA rsp+80) in " + pick->path;
  else if (!layout) vm.why = "unknown build (no DWARF, build-id " + hex(vm.record.build_id) + " not in the table)";
  else if (!bias) vm.why = "cannot place " + pick->path + " in memory";
  if (!vm.why.empty()) return vm;
  vm.layout = *layout;
  vm.identified = true;
  vm.record.gc64 = layout->gc64;
  vm.record.interp_start = interp->first + *bias;
  vm.record.interp_end = interp->second + *bias;
  vm.record.version = layout->version;
  vm.record.ff_names = layout->ff_names;
  vm.record.bc_names = layout->bc_names;
  return vm;
}

ebt_lua_config lua_bpf_config(const LuaVmInfo& vm) {
  const LuaLayout& l = vm.layout;
  ebt_lua_config c{};
  c.interp_start = vm.record.interp_start;
  c.interp_end = vm.record.interp_end;
  c.gc64 = l.gc64 ? 1 : 0;
  c.g2disp = l.g2disp;
  c.l_glref = l.l_glref, c.l_base = l.l_base, c.l_stack = l.l_stack, c.l_maxstack = l.l_maxstack,
  c.l_cframe = l.l_cframe;
  c.g_vmstate = l.g_vmstate, c.g_cur_l = l.g_cur_l, c.g_jit_base = l.g_jit_base;
  c.gc_marked = l.gc_marked, c.fn_pc = l.fn_pc, c.fn_f = l.fn_f;
  c.pt_size = l.pt_size, c.pt_chunkname = l.pt_chunkname;
  c.cf_pc = l.cf_pc, c.cf_l = l.cf_l, c.cf_prev = l.cf_prev, c.cf_size = l.cf_size;
  return c;
}

}  // namespace ebt::record

namespace ebt::record {

bool lua_in_targets(const RecordOptions& o) {
  if (!o.command.empty()) {
    std::string cmd = o.command[0];
    if (cmd.find('/') == std::string::npos) {
      const char* path = std::getenv("PATH");
      std::string dirs = path ? path : "/usr/bin:/bin";
      size_t pos = 0;
      while (pos <= dirs.size()) {
        size_t e = dirs.find(':', pos);
        if (e == std::string::npos) e = dirs.size();
        std::string c = dirs.substr(pos, e - pos) + "/" + cmd;
        if (access(c.c_str(), X_OK) == 0) {
          cmd = c;
          break;
        }
        pos = e + 1;
      }
    }
    if (elf_has_lua_vm(cmd)) return true;
  }
  // --cgroup / --container: the processes of that cgroup ("" if it does not resolve: refused later).
  const std::string cgroup = cgroup_filter_path(o);
  if ((!o.cgroup.empty() || !o.container.empty()) && cgroup.empty()) return false;  // refused later
  std::vector<uint32_t> pids = o.pids;
  if (pids.empty() && (o.command.empty() || !cgroup.empty()) && o.tids.empty()) pids = list_pids();
  for (uint32_t tid : o.tids)
    if (uint32_t p = tgid_of(tid)) pids.push_back(p);
  for (uint32_t pid : pids) {
    if (!cgroup.empty() && !cgroup_under(read_proc_cgroup(pid).path, cgroup)) continue;
    if (!o.comm.empty() && o.pids.empty()) {
      std::string c = read_thread_comm(pid, pid);
      if (c != o.comm.substr(0, 15)) continue;
    }
    auto maps = read_exec_maps(pid);
    if (maps && find_lua_vm(pid, *maps)) return true;
  }
  return false;
}

}  // namespace ebt::record
