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

namespace detail {
template <typename Derived, typename... T>
class ForwardEach : public RecordVisitor {};
template <typename Derived, typename T, typename... Rest>
class ForwardEach<Derived, T, Rest...> : public ForwardEach<Derived, Rest...> {
 public:
  using ForwardEach<Derived, Rest...>::on;
  void on(const T& record) override { static_cast<Derived*>(this)->record(record); }
};
template <typename Derived, typename Types>
struct ForwardAll;
template <typename Derived, typename... T>
struct ForwardAll<Derived, std::tuple<T...>> {
  using type = ForwardEach<Derived, T...>;
};
}  // namespace detail

// A visitor that hands every record, whatever its kind, to one public member
// template of Derived: `template <typename T> void record(const T&)` (kind_of<T>
// tells the kind). For visitors that route records by kind (report's fan-out)
// without one override per kind:
//   struct Count : format::RecordForwarder<Count> {
//     template <typename T> void record(const T&) { ++n[static_cast<size_t>(format::kind_of<T>)]; }
//   };
template <typename Derived>
using RecordForwarder = typename detail::ForwardAll<Derived, RecordTypes>::type;

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

// What is wrong with a part of a capture. The first two are not corruption: the
// file merely ends early (recorder killed, disk full).
enum class DamageKind : uint8_t {
  kTruncatedHeader,     // the file ends inside a block header
  kTruncatedBlock,      // the file ends inside a block whose header is valid
  kBadBlockHeader,      // an invalid block header: skipped to the next valid one
  kIndexUnusable,       // the trailer's index cannot be used: blocks found by scanning
  kIndexMismatch,       // a block header disagrees with its index entry: block skipped
  kChecksum,            // payload checksum mismatch
  kDecompression,       // LZ4 decompression failed
  kUndecodableRecords,  // a frame, a Cap'n Proto message or a batch is inconsistent: rest of the block
  kUndecodableSession,  // the session record (block 1)
  kSchemaUnusable,      // the embedded schema: dump falls back to this build's
};

// One problem found while reading; the reader skips past it and goes on.
struct Damage {
  DamageKind kind = DamageKind::kUndecodableRecords;
  uint64_t offset = 0;        // byte offset in the file
  int64_t block = -1;         // block index, -1 if not attributable
  uint64_t bytes = 0;         // bytes that could not be used
  uint64_t records_lost = 0;  // when the block header or index says how many
  std::string detail;         // specifics (the decoder's message, sizes), may be empty

  // The file merely ends early: everything before `offset` was recovered.
  bool truncated_tail() const {
    return kind == DamageKind::kTruncatedHeader || kind == DamageKind::kTruncatedBlock;
  }
};

// "payload checksum mismatch", "index unusable (checksum mismatch); blocks found by scanning instead"
std::string reason(const Damage& d);
// "block 3 at offset 1234: payload checksum mismatch (5678 bytes, 100 records lost)"
std::string describe(const Damage& d);

// How much a reader has decoded so far (all passes): a report that reads its
// capture once shows passes == 1 (report -v).
struct DecodeCounts {
  uint64_t passes = 0;    // read() / dump_json() / verify() walks over the data blocks
  uint64_t blocks = 0;    // data blocks decompressed and decoded
  uint64_t messages = 0;  // Cap'n Proto messages (one per record or batch)
  uint64_t records = 0;   // records delivered (a batch of N events counts N)
};

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
  // A capture already in memory (fuzzers, tests): `data` must outlive the
  // reader and is never written (it may be read-only memory); `name` stands for
  // the path in messages.
  CaptureReader(const std::string& name, const uint8_t* data, size_t size);
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
  // The warnings to show for this capture, one line each: every damage, and that
  // the capture was not finished when it has no index and no damage says why.
  std::vector<std::string> warnings() const;
  // Decodes every block once (no visitor) so damage() is complete.
  void verify() const;
  uint64_t file_bytes() const;
  // What this reader decoded so far, summed over every pass.
  const DecodeCounts& decoded() const;

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
