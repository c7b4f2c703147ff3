// What the capture embeds at the end of a recording so that report needs
// nothing from this machine: symbol tables of the objects that were hit, and
// the kernel symbols around every kernel address seen.
#pragma once

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "format/records.h"
#include "record/objects.h"

namespace ebt::record {

// PT_LOAD segments, the function symbols (.symtab, else .dynsym), and, when the
// object (or its debug file found by build-id/debuglink) has DWARF, the source
// locations with inline frames of the hit addresses only.
//
// Symbols: with `all_symbols`, every one; otherwise only those a reader needs to
// name the hit addresses exactly as the full table would (see
// symbols_for_hits()): a few dozen instead of thousands for libc, which keeps
// captures small (docs/record.md).
SymbolTable build_symbol_table(const ObjectFile& object, const std::set<uint64_t>& hits, bool all_symbols = false);

// build_symbol_table() for a recorder that asks again at every block cut: an
// object's symbol table is read once and its DWARF stays open (opening it means
// decompressing .debug_* sections: milliseconds per object per cut, which was
// most of the recorder's CPU at -F 999 -a). Keyed by build-id (same build-id,
// same file contents); bounded: the least recently used are forgotten.
// The source locations of each address are kept too: a rotated recording
// (--switch-output, the flight recorder) embeds the same hot addresses again in
// every file. And each compilation unit's functions and inlined calls are
// indexed by address once (one walk of its DIE tree), not walked per address.
class SymbolHarvester {
 public:
  SymbolHarvester();
  ~SymbolHarvester();
  SymbolHarvester(const SymbolHarvester&) = delete;
  SymbolHarvester& operator=(const SymbolHarvester&) = delete;
  SymbolTable build(const ObjectFile& object, const std::set<uint64_t>& hits, bool all_symbols = false);
  // A new capture file begins: what the bounds forget first is what the
  // latest files did not use.
  void on_new_file() { generation_++; }

  // What the caches saved and cost so far (the recorder's -v per-file line).
  struct Stats {
    uint64_t addresses = 0;     // locations asked for
    uint64_t located = 0;       // of those, looked up in DWARF (not kept from an earlier file)
    uint64_t dwarf_opened = 0;  // objects' DWARF opened (or reopened after kMaxOpenDwarf closed it)
    uint64_t cus_indexed = 0;   // compilation units walked (CuScopes built)
    uint64_t evictions = 0;     // times a bound forgot kept locations or CU indexes
  };
  const Stats& stats() const { return stats_; }

 private:
  struct Entry;
  static constexpr size_t kMaxObjects = 256;    // symbol tables kept
  static constexpr size_t kMaxOpenDwarf = 16;   // of those, DWARF handles kept open
  static constexpr size_t kMaxLocations = 1 << 16;  // addresses whose locations are kept (~300 bytes each)
  static constexpr size_t kMaxCuScopes = 1 << 19;   // CU scope index entries kept (~40 bytes each)
  Entry& entry(const ObjectFile& object);
  void open_dwarf(const ObjectFile& object, Entry& e);
  std::vector<SourceFrame> locate_in(Entry& e, uint64_t vaddr);
  void evict_locations();
  // `keep`: the unit being indexed; `kept`: the scope entries kept in all.
  void evict_cu_scopes(const void* keep, size_t kept);
  std::unordered_map<std::string, std::unique_ptr<Entry>> entries_;
  uint64_t clock_ = 0;
  uint64_t generation_ = 1;
  size_t locations_kept_ = 0;
  Stats stats_;
};

inline SymbolTable build_symbol_table(const ObjectFile& object, bool all_symbols = false) {
  return build_symbol_table(object, object.hits, all_symbols);
}

// The subset of `symbols` (sorted by address) that answers a "which function
// contains this address" lookup for every address of `hits` the same way the
// whole table does: for each hit, every symbol starting at the nearest start at
// or below it, plus a sized symbol further back that contains it.
std::vector<Symbol> symbols_for_hits(const std::vector<Symbol>& symbols, const std::set<uint64_t>& hits);

// For every address: the kallsyms symbol containing it and the one after it.
// Empty when kallsyms hides addresses (kptr_restrict).
KernelSymbols build_kernel_symbols(const std::set<uint64_t>& addresses);
// Reads and indexes /proc/kallsyms now (once per process; build_kernel_symbols
// would do it at its first call). The recorder calls it before attaching its
// probes: reading kallsyms costs a tenth of a second of CPU or more, which
// would otherwise land in the traced workload's first second.
void preload_kernel_symbols();

}  // namespace ebt::record
