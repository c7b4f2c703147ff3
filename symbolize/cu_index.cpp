#include "symbolize/cu_index.h"

#include <dwarf.h>

#include <algorithm>

namespace ebt::symbolize {

CuIndex::CuIndex(Dwarf* dwarf) {
  Dwarf_CU* cu = nullptr;
  Dwarf_CU* next = nullptr;
  Dwarf_Half version;
  uint8_t unit_type;
  Dwarf_Die cudie, subdie;
  while (dwarf_get_units(dwarf, cu, &next, &version, &unit_type, &cudie, &subdie) == 0) {
    cu = next;
    // Type units hold no code; split (skeleton) units keep their ranges in the skeleton.
    if (unit_type != DW_UT_compile && unit_type != DW_UT_skeleton) continue;
    Dwarf_Addr base, lo, hi;
    ptrdiff_t off = 0;
    bool any = false;
    while ((off = dwarf_ranges(&cudie, off, &base, &lo, &hi)) > 0) {
      if (hi <= lo) continue;
      ranges_.push_back({lo, hi, cus_.size()});
      any = true;
    }
    if (any) cus_.push_back(cudie);
  }
  std::sort(ranges_.begin(), ranges_.end(), [](const Range& a, const Range& b) { return a.lo < b.lo; });
  max_hi_.reserve(ranges_.size());
  for (const Range& r : ranges_) max_hi_.push_back(std::max(r.hi, max_hi_.empty() ? 0 : max_hi_.back()));
}

Dwarf_Die* CuIndex::find(Dwarf_Addr addr) {
  size_t i = size_t(std::upper_bound(ranges_.begin(), ranges_.end(), addr,
                                     [](Dwarf_Addr a, const Range& r) { return a < r.lo; }) -
                    ranges_.begin());
  // CUs do not overlap in a sound object; if they do, the range starting
  // closest below `addr` wins. max_hi_ stops the scan where no earlier range
  // reaches `addr`.
  while (i-- > 0 && max_hi_[i] > addr)
    if (addr < ranges_[i].hi) return &cus_[ranges_[i].cu];
  return nullptr;
}

Dwarf_Die* find_cu(Dwfl_Module* mod, Dwarf_Addr addr, Dwarf_Addr* bias, std::unique_ptr<CuIndex>& index) {
  if (Dwarf_Die* cu = dwfl_module_addrdie(mod, addr, bias)) return cu;
  Dwarf* dwarf = dwfl_module_getdwarf(mod, bias);
  if (!dwarf) return nullptr;
  if (!index) index = std::make_unique<CuIndex>(dwarf);
  return index->find(addr - *bias);
}

}  // namespace ebt::symbolize
