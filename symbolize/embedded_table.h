// Name lookup in a symbol table embedded in the capture (format/records.h SymbolTable).
#pragma once

#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

#include "format/records.h"

namespace ebt::symbolize {

// File offset -> ELF virtual address through PT_LOAD segments; nullopt when no
// segment holds the offset.
std::optional<uint64_t> offset_to_vaddr(const std::vector<LoadSegment>& segments, uint64_t offset);

// Index of the symbol containing `address` in `symbols` (sorted by address), or -1.
// A sized symbol covers [address, address+size); a zero-sized one is accepted only
// as the nearest symbol start below `address` and is bounded by the next symbol.
// Addresses past a sized symbol's end are never attributed to it.
long find_symbol(const std::vector<Symbol>& symbols, uint64_t address);

// Adds `more` (a later table of the same object: the recorder embeds symbols in
// batches, as addresses are first seen) to `into`: symbols and locations united,
// sorted by address, without duplicates.
void merge_symbol_tables(SymbolTable& into, const SymbolTable& more);

class EmbeddedObject {
 public:
  explicit EmbeddedObject(SymbolTable table);

  const SymbolTable& table() const { return table_; }
  std::optional<uint64_t> vaddr_for_offset(uint64_t offset) const {
    return offset_to_vaddr(table_.segments, offset);
  }
  const Symbol* symbol_at(uint64_t vaddr) const;
  const SourceLocation* location_at(uint64_t vaddr) const;

 private:
  SymbolTable table_;
  std::unordered_map<uint64_t, size_t> locations_;
};

}  // namespace ebt::symbolize
