// UnwindTable (format/records.h): the bytes of an object file that CFI
// unwinding needs, cut out of the file by the recorder and turned back into a
// file libdw can read by report.
//
// What is kept: the ELF header with the program headers, the PT_GNU_EH_FRAME
// segment (.eh_frame_hdr: the sorted FDE search table) and .eh_frame, each at
// its original file offset. The rebuilt file is sparse (zeros elsewhere) and
// has no section headers, so libdw takes its CFI through PT_GNU_EH_FRAME like
// a runtime unwinder would, and nothing ever reads the zeroed parts.
// Objects without PT_GNU_EH_FRAME (only .debug_frame) are not supported.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "format/records.h"

namespace ebt::unwind {

// Cuts the table out of an open ELF file. nullopt with `why` set when the file
// is not a 64-bit little-endian ELF or has no .eh_frame_hdr.
std::optional<UnwindTable> extract_unwind_table(int fd, const std::string& path,
                                                const std::vector<uint8_t>& build_id, std::string* why);

// Rebuilds the sparse file in an anonymous memory file; returns its fd (the
// caller owns it), or -1 with `why` set when the table is malformed (a capture
// is untrusted input: every offset and size is checked).
int materialize(const UnwindTable& table, std::string* why);

// The PT_LOAD segments of the table's program headers (empty if malformed).
std::vector<LoadSegment> load_segments(const UnwindTable& table);

// Load bias of an object mapped at `map_start` from file offset `map_offset`:
// runtime address = ELF virtual address + bias. nullopt if no PT_LOAD covers
// the offset.
std::optional<uint64_t> load_bias(const std::vector<LoadSegment>& segments, uint64_t map_start,
                                  uint64_t map_offset);

}  // namespace ebt::unwind
