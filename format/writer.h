// Appends records to a capture file (docs/format.md).
//
// Single producer. Records are encoded on the caller's thread; blocks are cut by
// size and age, then compressed, checksummed and written on a background thread,
// so a slow disk never stalls the ring-buffer drain loop for long.
// References point backwards: write a Stack/StringEntry/Mapping before the
// samples that use it; every complete block is a valid capture prefix.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "format/kinds.h"

namespace ebt::format {

struct WriterOptions {
  size_t max_block_bytes = 1 << 20;                  // uncompressed bytes before a cut
  std::chrono::milliseconds max_block_age{1000};     // crash loses at most ~this much
  // Tests/tools only: a schema block to embed instead of the compiled one
  // (see format/schema_util.h). Empty: the schema this ebtrace was built with.
  std::vector<uint8_t> schema_block_override;
  size_t max_queued_blocks = 4;  // producer waits when the writer thread lags this much
  // Called on the producer's thread just before a block is sealed; records it
  // adds still go into that block. The recorder writes the symbols the
  // block's stacks need here, so every complete block is named even if the
  // recorder is killed right after it.
  std::function<void()> before_cut;
};

struct WriteStats {
  uint64_t records = 0;
  uint64_t blocks = 0;
  uint64_t bytes_uncompressed = 0;
  uint64_t bytes_written = 0;  // file size
};

class CaptureWriter {
 public:
  // Creates (truncates) `path` with mode 0600 and writes the header, the schema
  // block and the session; "-" writes to standard output instead (the format
  // is written front to back, so pipes and sockets work). Throws RuntimeFailure
  // on I/O errors.
  CaptureWriter(const std::string& path, const SessionInfo& session, WriterOptions options = {});
  ~CaptureWriter();  // finishes without SessionEnd if finish() was not called
  CaptureWriter(const CaptureWriter&) = delete;
  CaptureWriter& operator=(const CaptureWriter&) = delete;

  // Any record of the list of kinds (format/records.h): tables are written as
  // they come, events are batched per kind. The session is the constructor's
  // and the session end finish()'s.
  template <typename T>
    requires(kind_of<T> != RecordKind::kSession && kind_of<T> != RecordKind::kSessionEnd)
  void add(const T& record) {
    add_record(kind_of<T>, &record);
  }
  // add() that may take `record`'s contents instead of copying them: `record`
  // is left valid but unspecified (a recycled event of an earlier block whose
  // buffers keep their capacity). A producer that refills one object per event
  // then copies its payload bytes once and allocates nothing.
  template <typename T>
    requires(kind_of<T> != RecordKind::kSession && kind_of<T> != RecordKind::kSessionEnd)
  void take(T& record) {
    take_record(kind_of<T>, &record);
  }
  // Tests/tools: a record already encoded as an unpacked Cap'n Proto message
  // (capnp::messageToFlatArray) of the embedded schema's Record struct, union
  // member `kind_ordinal`. Written as a single record (not time-filtered).
  void add_raw(uint16_t kind_ordinal, const void* flat_message, size_t bytes);

  // Cuts the current block if it is older than max_block_age. Cheap; call it from
  // the drain loop's idle path so a quiet recording still reaches the disk.
  void tick();
  // Cuts the current block now and waits until everything is on disk.
  void flush();
  // Writes SessionEnd, the last block, the index and the trailer; closes the file.
  WriteStats finish(const SessionEnd& end);

  WriteStats stats() const;

 private:
  void add_record(RecordKind kind, const void* record);  // `record` is a record_t<kind>
  void take_record(RecordKind kind, void* record);
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ebt::format
