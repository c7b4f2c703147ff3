#include "record/symbol_harvest.h"

#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <dwarf.h>
#include <gelf.h>
#include <libelf.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string_view>
#include <unordered_map>

#include "symbolize/cu_index.h"

namespace ebt::record {
namespace {

void read_symbols(Elf* elf, std::vector<Symbol>* out) {
  // .symtab when present (full), else .dynsym (exported functions only).
  for (uint32_t want : {uint32_t(SHT_SYMTAB), uint32_t(SHT_DYNSYM)}) {
    Elf_Scn* scn = nullptr;
    while ((scn = elf_nextscn(elf, scn)) != nullptr) {
      GElf_Shdr sh;
      if (!gelf_getshdr(scn, &sh) || sh.sh_type != want || sh.sh_entsize == 0) continue;
      Elf_Data* data = elf_getdata(scn, nullptr);
      if (!data) continue;
      size_t n = sh.sh_size / sh.sh_entsize;
      for (size_t i = 0; i < n; i++) {
        GElf_Sym sym;
        if (!gelf_getsym(data, int(i), &sym)) continue;
        int type = GELF_ST_TYPE(sym.st_info);
        if ((type != STT_FUNC && type != STT_GNU_IFUNC) || sym.st_value == 0 || sym.st_shndx == SHN_UNDEF) continue;
        const char* name = elf_strptr(elf, sh.sh_link, sym.st_name);
        if (!name || !*name) continue;
        out->push_back({sym.st_value, sym.st_size, name});
      }
    }
    if (!out->empty()) break;
  }
  std::sort(out->begin(), out->end(), [](const Symbol& a, const Symbol& b) {
    return a.address != b.address ? a.address < b.address : a.name < b.name;
  });
  out->erase(std::unique(out->begin(), out->end(),
                         [](const Symbol& a, const Symbol& b) { return a.address == b.address && a.name == b.name; }),
             out->end());
}

const char* die_name(Dwarf_Die* die) {
  Dwarf_Attribute attr;
  for (int at : {DW_AT_linkage_name, DW_AT_MIPS_linkage_name, DW_AT_name}) {
    if (dwarf_attr_integrate(die, at, &attr)) {
      if (const char* s = dwarf_formstring(&attr)) return s;
    }
  }
  return nullptr;
}

// The functions and inlined calls of one compilation unit with their address
// ranges, from one walk of its DIE tree. dwarf_getscopes() + dwarf_getscopes_die()
// walk the CU's tree from its root for every address (two walks, milliseconds
// for a large C++ CU): with a few thousand hot addresses that was seconds of
// recorder CPU at once, long enough to overflow the ring buffer. Walked once
// here, each address is a lookup.
struct CuScopes {
  struct Scope {
    Dwarf_Die die;
    int parent;  // index of the enclosing subprogram / inlined call, -1 at the top
  };
  struct Range {
    uint64_t lo, hi;  // [lo, hi) in the CU's address space
    int scope;
    int depth;
  };
  std::vector<Scope> scopes;
  std::vector<Range> ranges;  // sorted by lo, then depth, then latest DIE first
  std::vector<uint64_t> max_hi;  // max_hi[i]: the highest end of ranges[0..i]

  explicit CuScopes(Dwarf_Die* cu) {
    struct Pending {
      Dwarf_Die die;
      int parent;
      int depth;
    };
    std::vector<Pending> todo;
    Dwarf_Die child;
    if (dwarf_child(cu, &child) == 0) todo.push_back({child, -1, 0});
    while (!todo.empty()) {
      Pending p = todo.back();
      todo.pop_back();
      Dwarf_Die next;
      if (dwarf_siblingof(&p.die, &next) == 0) todo.push_back({next, p.parent, p.depth});
      int tag = dwarf_tag(&p.die);
      int parent = p.parent, depth = p.depth;
      if (tag == DW_TAG_subprogram || tag == DW_TAG_inlined_subroutine) {
        Dwarf_Addr base, lo, hi;
        ptrdiff_t off = 0;
        int index = int(scopes.size());
        bool any = false;
        while ((off = dwarf_ranges(&p.die, off, &base, &lo, &hi)) > 0) {
          if (hi > lo) ranges.push_back({lo, hi, index, depth + 1});
          any = true;
        }
        if (any) {
          scopes.push_back({p.die, p.parent});
          parent = index;
          depth++;
        }
      } else if (tag == DW_TAG_structure_type || tag == DW_TAG_class_type || tag == DW_TAG_union_type ||
                 tag == DW_TAG_enumeration_type || tag == DW_TAG_variable || tag == DW_TAG_formal_parameter ||
                 tag == DW_TAG_typedef || tag == DW_TAG_base_type || tag == DW_TAG_pointer_type) {
        continue;  // no code below a type or a variable (in-class member functions are declarations)
      }
      if (dwarf_haschildren(&p.die) > 0 && dwarf_child(&p.die, &child) == 0) todo.push_back({child, parent, depth});
    }
    std::sort(ranges.begin(), ranges.end(), [](const Range& a, const Range& b) {
      // Ties (aliases: one range, two DIEs) go to the first DIE in the tree,
      // as dwarf_getscopes() has it: the backward scan meets it first.
      if (a.lo != b.lo) return a.lo < b.lo;
      return a.depth != b.depth ? a.depth < b.depth : a.scope > b.scope;
    });
    max_hi.reserve(ranges.size());
    for (const Range& r : ranges) max_hi.push_back(std::max(r.hi, max_hi.empty() ? 0 : max_hi.back()));
  }

  // The innermost (deepest) scope containing `addr`, or -1. Scans back from the
  // last range starting at or below it, and stops where no earlier range reaches
  // it (max_hi): top-level functions do not overlap, so that is the start of
  // the function holding `addr`.
  int innermost(uint64_t addr) const {
    size_t i = size_t(std::upper_bound(ranges.begin(), ranges.end(), addr,
                                       [](uint64_t a, const Range& r) { return a < r.lo; }) -
                      ranges.begin());
    int best = -1, best_depth = -1;
    while (i-- > 0 && max_hi[i] > addr) {
      const Range& r = ranges[i];
      if (addr < r.hi && r.depth > best_depth) {
        best = r.scope;
        best_depth = r.depth;
      }
    }
    return best;
  }

  size_t size() const { return scopes.size() + ranges.size(); }

  uint64_t used_in = 0;  // the last file (SymbolHarvester generation) that looked into it
};

// Source frames for `addr` (module address) in the CU `cudie`, innermost
// inline frame first (eu-addr2line -i).
// The line is looked up in `cudie` itself (dwfl_module_getsrc() would look for
// the CU again, through .debug_aranges only: symbolize/cu_index.h).
std::vector<SourceFrame> locate(Dwarf_Die* cudie, Dwarf_Addr cu_bias, const CuScopes& cu, Dwarf_Addr addr) {
  std::vector<SourceFrame> frames;
  SourceFrame cur;
  if (Dwarf_Line* line = dwarf_getsrc_die(cudie, addr - cu_bias)) {
    int lineno = 0;
    dwarf_lineno(line, &lineno);
    if (const char* file = dwarf_linesrc(line, nullptr, nullptr)) cur.file = file;
    cur.line = uint32_t(lineno > 0 ? lineno : 0);
  }
  Dwarf_Files* files = nullptr;
  size_t nfiles = 0;
  bool have_files = dwarf_getsrcfiles(cudie, &files, &nfiles) == 0;
  for (int i = cu.innermost(addr - cu_bias); i >= 0; i = cu.scopes[size_t(i)].parent) {
    Dwarf_Die die = cu.scopes[size_t(i)].die;
    const char* name = die_name(&die);
    cur.function = name ? name : "";
    frames.push_back(cur);
    if (dwarf_tag(&die) == DW_TAG_subprogram) break;
    // The caller's position is the inlined call site.
    cur = SourceFrame{};
    Dwarf_Attribute attr;
    Dwarf_Word v;
    if (have_files && dwarf_attr(&die, DW_AT_call_file, &attr) && dwarf_formudata(&attr, &v) == 0 && v < nfiles) {
      if (const char* f = dwarf_filesrc(files, v, nullptr, nullptr)) cur.file = f;
    }
    if (dwarf_attr(&die, DW_AT_call_line, &attr) && dwarf_formudata(&attr, &v) == 0) cur.line = uint32_t(v);
  }
  return frames;
}

}  // namespace

std::vector<Symbol> symbols_for_hits(const std::vector<Symbol>& symbols, const std::set<uint64_t>& hits) {
  std::vector<size_t> keep;
  for (uint64_t a : hits) {
    auto it = std::upper_bound(symbols.begin(), symbols.end(), a,
                               [](uint64_t v, const Symbol& s) { return v < s.address; });
    if (it == symbols.begin()) continue;
    size_t nearest = size_t(it - symbols.begin()) - 1;
    uint64_t start = symbols[nearest].address;
    // The whole group at the nearest start: its sized members tell a reader
    // whether `a` is inside or past them.
    size_t i = nearest;
    for (;; i--) {
      if (symbols[i].address != start) break;
      keep.push_back(i);
      if (i == 0) break;
    }
    // A sized symbol starting further back that still contains `a` (nesting).
    for (size_t j = nearest + 1; j-- > 0 && nearest - j < 256;) {
      const Symbol& s = symbols[j];
      if (s.size > 0 && a - s.address < s.size) {
        keep.push_back(j);
        break;
      }
    }
  }
  std::sort(keep.begin(), keep.end());
  keep.erase(std::unique(keep.begin(), keep.end()), keep.end());
  std::vector<Symbol> out;
  out.reserve(keep.size());
  for (size_t k : keep) out.push_back(symbols[k]);
  return out;
}

// One object's symbols and opened DWARF, kept across block cuts.
struct SymbolHarvester::Entry {
  std::vector<Symbol> symbols;  // sorted; the whole table
  Dwfl* dwfl = nullptr;         // open with DWARF; null: not opened yet, or closed (kMaxOpenDwarf)
  Dwfl_Module* module = nullptr;
  Dwarf_Addr elf_bias = 0;
  bool no_dwarf = false;        // opened once and found none: never opened again
  uint64_t last_use = 0;
  // locate() results by address (no frames: DWARF has none for it).
  struct Located {
    std::vector<SourceFrame> frames;
    uint64_t used_in = 0;  // the last file (SymbolHarvester generation) that embedded it
  };
  std::unordered_map<uint64_t, Located> located;
  // The scope index of each CU looked into, by CU offset (its DIEs point into
  // the open DWARF: dropped with it).
  std::unordered_map<Dwarf_Off, std::unique_ptr<CuScopes>> cus;
  size_t cu_entries = 0;  // scopes + ranges in `cus`
  std::unique_ptr<symbolize::CuIndex> cu_index;  // CUs by address, when .debug_aranges lacks them
  Entry() = default;
  Entry(const Entry&) = delete;
  Entry& operator=(const Entry&) = delete;
  ~Entry() { close_dwarf(); }
  void close_dwarf() {
    cus.clear();
    cu_entries = 0;
    cu_index.reset();
    if (dwfl) dwfl_end(dwfl);
    dwfl = nullptr;
    module = nullptr;
  }
};

SymbolHarvester::SymbolHarvester() = default;
SymbolHarvester::~SymbolHarvester() = default;

SymbolHarvester::Entry& SymbolHarvester::entry(const ObjectFile& obj) {
  std::string key(obj.build_id.begin(), obj.build_id.end());
  auto [it, fresh] = entries_.try_emplace(key);
  if (fresh) {
    it->second = std::make_unique<Entry>();
    elf_version(EV_CURRENT);
    if (Elf* elf = elf_begin(obj.fd, ELF_C_READ, nullptr)) {
      read_symbols(elf, &it->second->symbols);
      elf_end(elf);
    }
    if (entries_.size() > kMaxObjects) {  // forget the least recently used object
      auto lru = entries_.end();
      for (auto e = entries_.begin(); e != entries_.end(); ++e)
        if (e != it && (lru == entries_.end() || e->second->last_use < lru->second->last_use)) lru = e;
      locations_kept_ -= lru->second->located.size();
      entries_.erase(lru);
    }
  }
  it->second->last_use = ++clock_;
  return *it->second;
}

void SymbolHarvester::open_dwarf(const ObjectFile& obj, Entry& e) {
  static const Dwfl_Callbacks callbacks = {
      .find_elf = dwfl_build_id_find_elf,
      .find_debuginfo = dwfl_standard_find_debuginfo,
      .section_address = dwfl_offline_section_address,
      .debuginfo_path = nullptr,
  };
  size_t open = 0;
  Entry* lru = nullptr;
  for (auto& [key, other] : entries_) {
    if (!other->dwfl) continue;
    open++;
    if (!lru || other->last_use < lru->last_use) lru = other.get();
  }
  if (open >= kMaxOpenDwarf && lru) lru->close_dwarf();
  stats_.dwarf_opened++;
  e.dwfl = dwfl_begin(&callbacks);
  if (!e.dwfl) return;
  int fd = dup(obj.fd);
  std::string path = obj.path;
  if (auto pos = path.find(" (deleted)"); pos != std::string::npos) path.resize(pos);
  // dwfl takes the fd; the path only guides the .gnu_debuglink search.
  e.module = fd >= 0 ? dwfl_report_offline(e.dwfl, path.c_str(), path.c_str(), fd) : nullptr;
  dwfl_report_end(e.dwfl, nullptr, nullptr);
  Dwarf_Addr bias = 0;
  if (e.module && dwfl_module_getdwarf(e.module, &bias)) {
    dwfl_module_getelf(e.module, &e.elf_bias);
  } else {
    e.no_dwarf = true;
    e.close_dwarf();
  }
}

// The bounds forget by age in files, not all at once: a rotated recording
// embeds mostly the same hot addresses in every file, and forgetting those
// meant looking all of them up again in the next file (and indexing their
// units again): a jump of seconds of recorder CPU each time a bound was
// reached. First what neither this file nor the previous one used, then what
// this file did not use, and only when this file alone needs more than the
// bound, the rest. Each pass runs until a quarter of the bound is free, so
// the scans cost O(1) per entry added.
void SymbolHarvester::evict_locations() {
  stats_.evictions++;
  for (uint64_t older_than : {generation_ - 1, generation_, UINT64_MAX}) {
    for (auto& [key, e] : entries_)
      locations_kept_ -= std::erase_if(e->located, [&](const auto& kv) { return kv.second.used_in < older_than; });
    if (locations_kept_ <= kMaxLocations / 4 * 3) return;
  }
}

void SymbolHarvester::evict_cu_scopes(const void* keep, size_t kept) {
  stats_.evictions++;
  for (uint64_t older_than : {generation_ - 1, generation_, UINT64_MAX}) {
    for (auto& object : entries_) {
      Entry& e = *object.second;  // (clang before 16 cannot capture a structured binding)
      std::erase_if(e.cus, [&](const auto& kv) {
        if (kv.second.get() == keep || kv.second->used_in >= older_than) return false;  // the unit being indexed stays
        e.cu_entries -= kv.second->size();
        kept -= kv.second->size();
        return true;
      });
    }
    if (kept <= kMaxCuScopes / 4 * 3) return;
  }
}

std::vector<SourceFrame> SymbolHarvester::locate_in(Entry& e, uint64_t vaddr) {
  Dwarf_Addr addr = vaddr + e.elf_bias, cu_bias = 0;
  Dwarf_Die* cudie = symbolize::find_cu(e.module, addr, &cu_bias, e.cu_index);
  if (!cudie) return {};
  auto [it, fresh] = e.cus.try_emplace(dwarf_dieoffset(cudie));
  if (fresh) {
    it->second = std::make_unique<CuScopes>(cudie);
    stats_.cus_indexed++;
    e.cu_entries += it->second->size();
    size_t kept = 0;
    for (const auto& [key, other] : entries_) kept += other->cu_entries;
    if (kept > kMaxCuScopes) evict_cu_scopes(it->second.get(), kept);
  }
  it->second->used_in = generation_;
  return locate(cudie, cu_bias, *it->second, addr);
}

SymbolTable SymbolHarvester::build(const ObjectFile& obj, const std::set<uint64_t>& hits, bool all_symbols) {
  SymbolTable t;
  t.build_id = obj.build_id;
  t.path = obj.path;
  t.segments = obj.segments;
  Entry& e = entry(obj);
  t.symbols = all_symbols ? e.symbols : symbols_for_hits(e.symbols, hits);
  if (e.no_dwarf) return t;
  for (uint64_t vaddr : hits) {
    stats_.addresses++;
    auto known = e.located.find(vaddr);
    if (known == e.located.end()) {
      stats_.located++;
      if (!e.dwfl) open_dwarf(obj, e);  // not opened yet, or closed to stay within kMaxOpenDwarf
      if (!e.dwfl) return t;
      if (locations_kept_ >= kMaxLocations) evict_locations();
      known = e.located.emplace(vaddr, Entry::Located{locate_in(e, vaddr), 0}).first;
      locations_kept_++;
    }
    known->second.used_in = generation_;
    if (!known->second.frames.empty()) t.locations.push_back(SourceLocation{vaddr, known->second.frames});
  }
  return t;
}

SymbolTable build_symbol_table(const ObjectFile& obj, const std::set<uint64_t>& hits, bool all_symbols) {
  return SymbolHarvester().build(obj, hits, all_symbols);
}

namespace {

// The text symbols of /proc/kallsyms, sorted, names in one pool (~20 bytes a
// symbol): read once per recording (the embedder asks in batches, and the file
// is ~5 MB); empty when kptr_restrict hides the addresses.
struct KernelText {
  uint64_t address;
  uint32_t name_at;  // in KernelTextTable::pool
  uint16_t name_len;
  uint16_t module;   // index in KernelTextTable::modules; 0: vmlinux
};

struct KernelTextTable {
  std::vector<KernelText> symbols;
  std::string pool;
  std::vector<std::string> modules{""};
  std::string name(const KernelText& k) const { return pool.substr(k.name_at, k.name_len); }
};

const KernelTextTable& kernel_text_symbols() {
  static const KernelTextTable table = []() -> KernelTextTable {
    KernelTextTable t;
    std::vector<KernelText>& out = t.symbols;
    std::unordered_map<std::string, uint16_t> module_ids;
    std::string text;
    int fd = open("/proc/kallsyms", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return t;
    char buf[1 << 16];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) text.append(buf, size_t(n));
    close(fd);
    out.reserve(text.size() / 60);
    const char* p = text.data();
    const char* end = p + text.size();
    while (p < end) {
      const char* eol = static_cast<const char*>(memchr(p, '\n', size_t(end - p)));
      if (!eol) eol = end;
      // "ffffffff81000000 T _stext\t[module]"
      char* q = nullptr;
      uint64_t addr = strtoull(p, &q, 16);
      if (q && q + 3 < eol && q[0] == ' ' && q[2] == ' ') {
        char type = q[1];
        // Text symbols only; data symbols would wrongly bound functions.
        if (addr != 0 && (type == 't' || type == 'T' || type == 'w' || type == 'W')) {
          const char* name = q + 3;
          const char* name_end = name;
          while (name_end < eol && *name_end != '\t' && *name_end != ' ') name_end++;
          std::string_view module;
          const char* lb = static_cast<const char*>(memchr(name_end, '[', size_t(eol - name_end)));
          if (lb) {
            const char* rb = static_cast<const char*>(memchr(lb, ']', size_t(eol - lb)));
            if (rb) module = std::string_view(lb + 1, size_t(rb - lb - 1));
          }
          uint16_t mod = 0;
          if (!module.empty()) {
            auto [it, added] = module_ids.try_emplace(std::string(module), uint16_t(t.modules.size()));
            if (added) t.modules.emplace_back(module);
            mod = it->second;
          }
          out.push_back({addr, uint32_t(t.pool.size()), uint16_t(name_end - name), mod});
          t.pool.append(name, size_t(uint16_t(name_end - name)));
        }
      }
      p = eol + 1;
    }
    std::stable_sort(out.begin(), out.end(),
                     [](const KernelText& a, const KernelText& b) { return a.address < b.address; });
    out.shrink_to_fit();
    t.pool.shrink_to_fit();
    return t;
  }();
  return table;
}

}  // namespace

void preload_kernel_symbols() { kernel_text_symbols(); }

KernelSymbols build_kernel_symbols(const std::set<uint64_t>& addresses) {
  KernelSymbols out;
  if (addresses.empty()) return out;
  const KernelTextTable& table = kernel_text_symbols();
  const std::vector<KernelText>& all = table.symbols;
  if (all.empty()) return out;  // kptr_restrict hides addresses
  std::vector<size_t> keep;
  for (uint64_t a : addresses) {
    auto it = std::upper_bound(all.begin(), all.end(), a,
                               [](uint64_t v, const KernelText& s) { return v < s.address; });
    if (it == all.begin()) continue;
    size_t i = size_t(it - all.begin()) - 1;
    keep.push_back(i);
    if (i + 1 < all.size()) keep.push_back(i + 1);
  }
  std::sort(keep.begin(), keep.end());
  keep.erase(std::unique(keep.begin(), keep.end()), keep.end());
  for (size_t i : keep) out.symbols.push_back({all[i].address, table.name(all[i]), table.modules[all[i].module]});
  return out;
}

}  // namespace ebt::record
