// What the capture embeds at the end of a recording so that report needs
// nothing from this machine: symbol tables of the objects that were hit, and
// the kernel symbols around every kernel address seen.
#pragma once

#include <cstdint>
#include <set>

#include "format/records.h"
#include "record/objects.h"

namespace ebt::record {

// PT_LOAD segments, every function symbol (.symtab, else .dynsym), and, when the
// object (or its debug file found by build-id/debuglink) has DWARF, the source
// locations with inline frames of the hit addresses only.
SymbolTable build_symbol_table(const ObjectFile& object);

// For every address: the kallsyms symbol containing it and the one after it.
// Empty when kallsyms hides addresses (kptr_restrict).
KernelSymbols build_kernel_symbols(const std::set<uint64_t>& addresses);

}  // namespace ebt::record
