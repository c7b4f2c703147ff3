// Reads a capture file: all records in file order, or only some kinds / a time
// range (using the index when the capture has one). A capture is untrusted input:
// damage is reported, never crashed on, and everything readable is recovered.
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "format/kinds.h"
#include "format/records.h"

namespace ebt::format {

namespace detail {
template <typename T>
class VisitOne {
 public:
  virtual ~VisitOne() = default;
  virtual void on(const T&) {}
};
template <typename Types>
class VisitAll;
template <typename... T>
class VisitAll<std::tuple<T...>> : public VisitOne<T>... {
 public:
  using VisitOne<T>::on...;
};
}  // namespace detail

// Receives decoded records: one virtual `on(const T&)` per record type of the
// list of kinds (format/records.h), the session included. Override what you
// need; the rest are ignored.
class RecordVisitor : public detail::VisitAll<RecordTypes> {
 public:
  // A record kind this build does not know (written by a newer ebtrace).
  virtual void on_unknown(uint16_t kind_ordinal) {}
};

// Per record kind totals, filled by read() when ReadOptions::stats is set.
struct KindStats {
  uint64_t messages = 0;     // Cap'n Proto messages (one per record or batch)
  uint64_t records = 0;      // events: a batch of N samples counts N
  uint64_t raw_bytes = 0;    // packed message bytes before LZ4
  uint64_t stored_bytes = 0; // share of the compressed block bytes (estimate)
};
struct ReadStats {
  std::map<uint16_t, KindStats> kinds;  // by RecordKind ordinal, unknown ones too
  uint64_t blocks = 0;
  uint64_t raw_bytes = 0;     // all payloads read, uncompressed
  uint64_t stored_bytes = 0;  // the same payloads on disk (block headers excluded)
};

struct ReadOptions {
  uint64_t time_begin_ns = 0;           // inclusive
  uint64_t time_end_ns = UINT64_MAX;    // exclusive
  // Table kinds (processes, mappings, stacks, strings, symbols...) are always
  // delivered regardless of the time range, since later events refer to them.
  uint64_t kinds = kAllKinds;  // kind_bit() mask; blocks without these kinds are skipped
  ReadStats* stats = nullptr;  // optional: per-kind counts and sizes of what was read
};

// One problem found while reading; the reader skips past it and goes on.
struct Damage {
  uint64_t offset = 0;        // byte offset in the file
  int64_t block = -1;         // block index, -1 if not attributable
  uint64_t bytes = 0;         // bytes that could not be used
  uint64_t records_lost = 0;  // when the block header or index says how many
  std::string what;           // one line, e.g. "checksum mismatch"
  // true: the file merely ends early (recorder killed, disk full): not corruption.
  // Everything before `offset` was recovered.
  bool truncated_tail = false;
};

// "block 3 at offset 1234: payload checksum mismatch (5678 bytes, 100 records lost)"
std::string describe(const Damage& d);

struct BlockInfo {
  uint64_t offset = 0;
  uint32_t compressed_bytes = 0;
  uint32_t uncompressed_bytes = 0;
  uint32_t records = 0;
  uint64_t first_time_ns = 0;
  uint64_t last_time_ns = 0;
  uint32_t sequence = 0;   // block number in the file (0 = schema block)
  uint64_t kind_mask = 0;  // kind_bit() of every kind in the block
};

// Not thread-safe: read() records damage it finds; use one reader per thread.
class CaptureReader {
 public:
  // Throws BadInput with a one-line message for: empty file, not a capture,
  // unsupported major version, unreadable header. Damage past the header is not
  // thrown: it is collected in damage().
  explicit CaptureReader(const std::string& path);
  ~CaptureReader();
  CaptureReader(CaptureReader&&) noexcept;

  uint16_t major_version() const;
  uint16_t minor_version() const;
  const SessionInfo& session() const;
  bool has_index() const;  // false: trailer missing (recorder killed) -> scanned
  const std::vector<BlockInfo>& blocks() const;
  // Problems found so far: at open (headers, truncation) and by read() (checksums,
  // decompression, decoding). Call read() (or verify()) first for a full list.
  const std::vector<Damage>& damage() const;
  // True if a damage entry is real corruption (not just a truncated tail).
  bool corrupted() const;
  // Decodes every block once (no visitor) so damage() is complete.
  void verify() const;
  uint64_t file_bytes() const;

  void read(RecordVisitor& visitor, const ReadOptions& options = {}) const;

  // Union member names of the Record schema embedded in the file, by ordinal
  // (may name kinds this build does not know). Empty if the schema block is unreadable.
  std::vector<std::string> embedded_kind_names() const;

  // Writes each record as one JSON object per line, decoded dynamically through
  // the embedded schema; batches are expanded to one line per event
  // (docs/format.md, "JSON dump"). Returns the number of lines written.
  uint64_t dump_json(std::FILE* out, const ReadOptions& options = {}) const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ebt::format
