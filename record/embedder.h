// Embedding: what a capture file needs so that report can name and unwind its
// stacks on another machine: the symbol tables of the objects its stacks hit
// (with source lines of the hit addresses), the kernel symbols around the kernel
// addresses seen, and (--keep-stack-bytes) the CFI of the objects raw stacks
// pass through. Written from the hits noted by the interner, as they come
// (write_pending() is called in batches), so a file cut short keeps its names.
#pragma once

#include <cstdint>
#include <set>
#include <unordered_map>

#include "record/file_scope.h"
#include "record/interner.h"
#include "record/objects.h"
#include "record/symbol_harvest.h"

namespace ebt::record {

class Embedder {
 public:
  // `symbols`: false with --no-embed (unwind tables are still written: without
  // them nothing can be unwound offline).
  Embedder(const CurrentFile& file, ObjectCache& objects, Hits& hits, bool symbols, bool all_symbols)
      : file_(file), objects_(objects), hits_(hits), symbols_(symbols), all_symbols_(all_symbols) {}

  // Writes the unwind tables, symbol tables and kernel symbols that the hits
  // noted since the previous call need and the current file lacks. Returns the
  // (approximate) uncompressed bytes of the symbol records written.
  uint64_t write_pending();
  // A new file begins: it holds nothing yet.
  void on_new_file();

  // The cost of embedding so far (the recorder's -v per-file line).
  struct Cost {
    uint64_t ns = 0;      // CPU time in write_pending()
    uint64_t tables = 0;  // symbol table records written
    SymbolHarvester::Stats harvest;
  };
  Cost cost() const {
    Cost c = cost_;
    c.harvest = harvester_.stats();
    return c;
  }

 private:
  void write_unwind_tables();
  const CurrentFile& file_;
  ObjectCache& objects_;
  Hits& hits_;
  bool symbols_, all_symbols_;
  uint64_t generation_ = 0;  // the file the sets below describe
  std::unordered_map<const ObjectFile*, std::set<uint64_t>> embedded_;  // symbols written for these hits
  std::set<const ObjectFile*> unwind_written_;
  bool vdso_written_ = false;
  std::set<uint64_t> kernel_embedded_;
  SymbolHarvester harvester_;
  Cost cost_;
};

}  // namespace ebt::record
