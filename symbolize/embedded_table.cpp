#include "symbolize/embedded_table.h"

#include <algorithm>

namespace ebt::symbolize {

std::optional<uint64_t> offset_to_vaddr(const std::vector<LoadSegment>& segments, uint64_t offset) {
  for (const auto& s : segments) {
    if (offset >= s.file_offset && offset - s.file_offset < s.file_size) {
      return s.vaddr + (offset - s.file_offset);
    }
  }
  return std::nullopt;
}

long find_symbol(const std::vector<Symbol>& symbols, uint64_t address) {
  auto it = std::upper_bound(symbols.begin(), symbols.end(), address,
                             [](uint64_t a, const Symbol& s) { return a < s.address; });
  if (it == symbols.begin()) return -1;
  long nearest = (it - symbols.begin()) - 1;
  // Sized symbols may nest or share a start; look a little way back for one that
  // really contains the address before settling for a zero-sized nearest start.
  constexpr long kLookBack = 64;
  for (long i = nearest; i >= 0 && nearest - i < kLookBack; --i) {
    const Symbol& s = symbols[static_cast<size_t>(i)];
    if (s.size > 0 && address - s.address < s.size) return i;
  }
  // Zero-sized: only if no sized symbol starts at the same address (that one's end
  // proves the address lies past the function).
  const uint64_t start = symbols[static_cast<size_t>(nearest)].address;
  long zero = -1;
  for (long i = nearest; i >= 0 && symbols[static_cast<size_t>(i)].address == start; --i) {
    if (symbols[static_cast<size_t>(i)].size > 0) return -1;
    zero = i;
  }
  return zero;
}

void merge_symbol_tables(SymbolTable& into, const SymbolTable& more) {
  if (into.segments.empty()) into.segments = more.segments;
  into.symbols.insert(into.symbols.end(), more.symbols.begin(), more.symbols.end());
  std::stable_sort(into.symbols.begin(), into.symbols.end(), [](const Symbol& a, const Symbol& b) {
    return a.address != b.address ? a.address < b.address : a.name < b.name;
  });
  into.symbols.erase(std::unique(into.symbols.begin(), into.symbols.end(),
                                 [](const Symbol& a, const Symbol& b) {
                                   return a.address == b.address && a.name == b.name && a.size == b.size;
                                 }),
                     into.symbols.end());
  into.locations.insert(into.locations.end(), more.locations.begin(), more.locations.end());
  std::stable_sort(into.locations.begin(), into.locations.end(),
                   [](const SourceLocation& a, const SourceLocation& b) { return a.address < b.address; });
  into.locations.erase(std::unique(into.locations.begin(), into.locations.end(),
                                   [](const SourceLocation& a, const SourceLocation& b) { return a.address == b.address; }),
                       into.locations.end());
}

EmbeddedObject::EmbeddedObject(SymbolTable table) : table_(std::move(table)) {
  std::stable_sort(table_.symbols.begin(), table_.symbols.end(),
                   [](const Symbol& a, const Symbol& b) { return a.address < b.address; });
  for (size_t i = 0; i < table_.locations.size(); ++i) {
    locations_.emplace(table_.locations[i].address, i);
  }
}

const Symbol* EmbeddedObject::symbol_at(uint64_t vaddr) const {
  long i = find_symbol(table_.symbols, vaddr);
  return i < 0 ? nullptr : &table_.symbols[static_cast<size_t>(i)];
}

const SourceLocation* EmbeddedObject::location_at(uint64_t vaddr) const {
  auto it = locations_.find(vaddr);
  if (it == locations_.end() || table_.locations[it->second].frames.empty()) return nullptr;
  return &table_.locations[it->second];
}

}  // namespace ebt::symbolize
