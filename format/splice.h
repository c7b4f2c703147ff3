// One capture from consecutive captures of one recording (the flight
// recorder's in-memory segments), without decoding a record.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ebt::format {

// Writes `out` (mode 0600): the file header, schema block and session block of
// `head` (a capture holding only those: the session the result shall have),
// then the data blocks of each of `segments` in order, each without its own
// schema and session block, renumbered, then an index and a trailer. The
// segments must come from this build's writer (same schema) and be complete;
// each must be self-contained (its tables written before its events), so the
// result is a valid capture. Returns the bytes written; throws RuntimeFailure
// on I/O errors, BadInput on a segment that is not a capture.
// A segment cut short (recorder killed: no trailer, a truncated last block)
// contributes its complete blocks, and a line in `notes` when given.
uint64_t splice_captures(const std::string& head, const std::vector<std::string>& segments, const std::string& out,
                         std::vector<std::string>* notes = nullptr);

}  // namespace ebt::format
