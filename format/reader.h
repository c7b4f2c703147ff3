// Reads a capture file: all records in file order, or only some kinds / a time
// range (using the index when the capture has one). A capture is untrusted input:
// damage is reported, never crashed on, and everything readable is recovered.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "format/records.h"

namespace ebt::format {

// Receives decoded records. Override what you need; the rest are ignored.
class RecordVisitor {
 public:
  virtual ~RecordVisitor() = default;
  virtual void on(const SessionEnd&) {}
  virtual void on(const ProcessInfo&) {}
  virtual void on(const ThreadInfo&) {}
  virtual void on(const ProcessExit&) {}
  virtual void on(const Mapping&) {}
  virtual void on(const StringEntry&) {}
  virtual void on(const Stack&) {}
  virtual void on(const LuaProto&) {}
  virtual void on(const SymbolTable&) {}
  virtual void on(const KernelSymbols&) {}
  virtual void on(const CpuSample&) {}
  virtual void on(const OffCpuInterval&) {}
  virtual void on(const SkbHop&) {}
  virtual void on(const SocketInfo&) {}
  virtual void on(const SyscallEvent&) {}
  virtual void on(const LostEvents&) {}
  // A record kind this build does not know (written by a newer ebtrace).
  virtual void on_unknown(uint16_t kind_ordinal) {}
};

// The record kinds, by their ordinal in the schema's Record union.
enum class RecordKind : uint16_t;

struct ReadOptions {
  uint64_t time_begin_ns = 0;           // inclusive
  uint64_t time_end_ns = UINT64_MAX;    // exclusive
  // Table kinds (processes, mappings, stacks, strings, symbols...) are always
  // delivered regardless of the time range, since later events refer to them.
};

// One problem found while reading; the reader skips past it and goes on.
struct Damage {
  uint64_t offset = 0;        // byte offset in the file
  int64_t block = -1;         // block index, -1 if not attributable
  uint64_t bytes = 0;         // bytes that could not be used
  uint64_t records_lost = 0;  // when the block header or index says how many
  std::string what;           // one line, e.g. "checksum mismatch"
};

struct BlockInfo {
  uint64_t offset = 0;
  uint32_t compressed_bytes = 0;
  uint32_t uncompressed_bytes = 0;
  uint32_t records = 0;
  uint64_t first_time_ns = 0;
  uint64_t last_time_ns = 0;
};

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
  const std::vector<Damage>& damage() const;

  void read(RecordVisitor& visitor, const ReadOptions& options = {}) const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ebt::format
