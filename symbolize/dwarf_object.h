// One ELF file (binary or separate .debug file) opened with libdwfl: symbols from
// its .symtab/.dynsym, and inline chains + file:line when it carries DWARF.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "format/records.h"

namespace ebt::symbolize {

// Reads the GNU build-id note of an ELF file; empty when none or unreadable.
std::vector<uint8_t> read_build_id(const std::string& path);
// Opens `path` read-only if it is a regular file, without blocking (FIFOs and
// devices named by a capture are refused); -1 with `why` set otherwise.
int open_regular(const std::string& path, std::string* why);

class DwarfObject {
 public:
  // Opens `path`. Returns nullptr (and says why in *why) when the file is missing,
  // not ELF, or its build-id differs from `build_id`. An empty `build_id` is only
  // accepted when `allow_unverified` (the user pointed at the file explicitly).
  static std::unique_ptr<DwarfObject> open(const std::string& path,
                                           const std::vector<uint8_t>& build_id,
                                           bool allow_unverified, std::string* why);
  ~DwarfObject();
  DwarfObject(const DwarfObject&) = delete;
  DwarfObject& operator=(const DwarfObject&) = delete;

  const std::string& path() const { return path_; }
  bool has_dwarf() const { return has_dwarf_; }
  bool has_symbols() const { return has_symbols_; }
  const std::vector<LoadSegment>& segments() const { return segments_; }
  // False for separate debug files (objcopy --only-keep-debug, dbgsym packages):
  // their PT_LOAD headers keep addresses but zero the file offsets and sizes, so
  // callers must map offsets to addresses with the object's load bias instead.
  bool segments_have_offsets() const { return segments_have_offsets_; }
  // Page-aligned address of the first PT_LOAD: where file offset 0 is mapped.
  uint64_t first_load_vaddr() const { return first_load_vaddr_; }

  // Frames for one ELF virtual address, innermost (inlined) first, outermost being
  // the containing function. Names are as in the object (mangled). Empty when the
  // address is in no known function.
  std::vector<SourceFrame> lookup(uint64_t vaddr, bool with_inline) const;

 private:
  DwarfObject() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string path_;
  bool has_dwarf_ = false;
  bool has_symbols_ = false;
  std::vector<LoadSegment> segments_;
  std::vector<Symbol> symbols_;  // functions, sorted by ELF address
  bool segments_have_offsets_ = false;
  uint64_t first_load_vaddr_ = 0;
};

}  // namespace ebt::symbolize
