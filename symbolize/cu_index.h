// Which compilation unit holds an address. libdw 0.188 (Debian 12) finds a CU
// only through .debug_aranges, which clang and rustc do not emit unless asked
// (-gdwarf-aranges): for the objects they build dwfl_module_addrdie() and
// dwfl_module_getsrc() find nothing, i.e. no source lines and no inline frames.
// find_cu() asks libdw first and otherwise looks the address up in the CUs' own
// address ranges (DW_AT_low_pc/high_pc or DW_AT_ranges), indexed once per module.
#pragma once

#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>

#include <cstdint>
#include <memory>
#include <vector>

namespace ebt::symbolize {

class CuIndex {
 public:
  explicit CuIndex(Dwarf* dwarf);
  // The CU DIE whose ranges hold `addr` (a DWARF address), or null.
  Dwarf_Die* find(Dwarf_Addr addr);

 private:
  struct Range {
    Dwarf_Addr lo, hi;  // [lo, hi)
    size_t cu;
  };
  std::vector<Dwarf_Die> cus_;
  std::vector<Range> ranges_;      // sorted by lo
  std::vector<Dwarf_Addr> max_hi_;  // max_hi_[i]: the highest end of ranges_[0..i]
};

// The CU DIE holding module address `addr` and its bias (DWARF address =
// addr - *bias), or null. `index` is built on first need and belongs to `mod`'s
// open DWARF (drop it with the Dwfl).
Dwarf_Die* find_cu(Dwfl_Module* mod, Dwarf_Addr addr, Dwarf_Addr* bias, std::unique_ptr<CuIndex>& index);

}  // namespace ebt::symbolize
