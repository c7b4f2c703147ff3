// CaptureReader internals shared by reader.cpp and dump.cpp. Internal to format/.
#pragma once

#include <algorithm>
#include <functional>
#include <set>
#include <stdexcept>

#include <capnp/message.h>
#include <capnp/schema-loader.h>
#include <capnp/serialize-packed.h>
#include <capnp/serialize.h>
#include <kj/io.h>
#include <kj/vector.h>

#include "format/block.h"
#include "format/kind_table.h"
#include "format/reader.h"

namespace ebt::format {

struct BlockRef {
  uint64_t offset = 0;  // of the block header
  disk::BlockHeader header;
};

// Called once per message of a data block. Returns the number of events it
// delivered (for records_lost when a later message of the block is damaged).
using MessageFn = std::function<uint64_t(const BlockRef&, uint16_t kind, capnp::MessageReader&, size_t frame_bytes)>;

class CaptureReader::Impl {
 public:
  explicit Impl(const std::string& path);
  Impl(const std::string& name, const uint8_t* data, size_t size);
  ~Impl();

  // Visits every message of every selected data block; damage goes to damage_.
  void for_each_message(const ReadOptions& options, const MessageFn& fn) const;
  // Decompresses and checks one block; nullopt (and a damage entry) if unusable.
  bool load_payload(const BlockRef& b, std::vector<uint8_t>& out) const;
  void add_damage(const BlockRef* b, Damage d) const;

  // The embedded schema, loaded lazily; null if unavailable.
  const capnp::StructSchema* embedded_record() const;

  std::string path_;
  int fd_ = -1;
  const uint8_t* base_ = nullptr;
  size_t size_ = 0;
  bool borrowed_ = false;  // base_ is the caller's memory, not a mapping
  disk::FileHeader header_;
  SessionInfo session_;
  bool has_index_ = false;
  std::optional<BlockRef> schema_block_;
  std::vector<BlockRef> data_blocks_;
  std::vector<BlockInfo> infos_;
  mutable std::vector<Damage> damage_;
  mutable std::set<uint64_t> damaged_offsets_;
  mutable DecodeCounts decoded_;

  mutable bool schema_tried_ = false;
  mutable std::unique_ptr<capnp::SchemaLoader> loader_;
  mutable std::optional<capnp::StructSchema> record_schema_;

 private:
  void open_file();
  void open_rest();
  void check_header();
  bool load_index();
  void scan();
  void add_block(uint64_t offset, const disk::BlockHeader& h);
  void load_session();
};

capnp::ReaderOptions reader_options();

// Limits that make hostile input cheap to refuse (docs/format.md, section 7).
// Input beyond them is damage naming the block and the limit.
namespace limits {
// Decoded (unpacked) Cap'n Proto words one pass over a capture may produce:
// packed zero runs expand 1000-fold and LZ4 multiplies that again, so a small
// file could otherwise decode to tens of gigabytes per pass.
inline constexpr uint64_t kDecodeFloorWords = (64ull << 20) / 8;  // 64 MiB...
inline constexpr uint64_t kDecodeWordsPerFileByte = 8;             // ...or 64 bytes per file byte
inline constexpr uint64_t kBlockDecodeFloorWords = (8ull << 20) / 8;  // per block: 8 MiB or 64 x its bytes
// What each message costs on top of its words (framing, reader setup), so a
// block of millions of empty messages is refused too.
inline constexpr uint64_t kMessageOverheadWords = 16;
inline constexpr uint64_t kMaxMessagesPerBlock = 1u << 20;
inline constexpr uint64_t kMaxRecordsPerBlock = 4u << 20;
// Frames of one stack record (the recorder writes at most 2 x 128 + Lua frames).
inline constexpr uint64_t kMaxStackFrames = 4096;
// Inline frames of one source location in a symbol table.
inline constexpr uint64_t kMaxInlineFrames = 256;
}  // namespace limits

// The decode budget of one pass over a capture, and of one block within it
// (so one crafted block is refused without starving the blocks after it).
struct DecodeBudget {
  explicit DecodeBudget(uint64_t file_bytes, uint64_t floor_words = limits::kDecodeFloorWords,
                        DecodeBudget* pass = nullptr, const char* what = "one pass over this capture")
      : words(std::max(floor_words, file_bytes * limits::kDecodeWordsPerFileByte)),
        total(words),
        pass(pass),
        what(what) {}
  uint64_t words;  // left
  uint64_t total;
  DecodeBudget* pass;  // also charged, when set
  const char* what;
};

// One framed, packed message. Unpacking is bounded by the global limit and by
// the pass's decode budget (both checked against the segment table before
// allocating); reading is then bounded by the message's actual size, so a
// small corrupt message cannot make readers walk gigabytes of aliased pointers.
// Throws CorruptRecord when the budget is exhausted.
// words(): the message's size, for per-record checks.
class FrameMessage {
 public:
  FrameMessage(const uint8_t* data, size_t len, DecodeBudget& budget)
      : in_(kj::arrayPtr(data, len)), packed_(charge(data, len, budget), reader_options()) {
    size_t words = 0;
    for (unsigned i = 0; i < 512; ++i) {
      auto seg = packed_.getSegment(i);
      if (seg.size() == 0) break;
      segments_.add(seg);
      words += seg.size();
    }
    words_ = words;
    capnp::ReaderOptions o = reader_options();
    o.traversalLimitInWords = words * 4 + 1024;
    reader_.emplace(segments_.asPtr(), o);
  }
  capnp::MessageReader& get() { return *reader_; }
  size_t words() const { return words_; }
  // Whether the message, in stream framing (segment table, segments), is
  // exactly `flat` (capnp::messageToFlatArray bytes).
  bool equals_flat(const std::vector<uint8_t>& flat) const;

 private:
  // Reads the segment table (unpacking only its first words), charges the
  // message's size to the budget, and hands the packed reader its input.
  kj::ArrayInputStream& charge(const uint8_t* data, size_t len, DecodeBudget& budget);

  kj::ArrayInputStream in_;
  capnp::PackedMessageReader packed_;
  kj::Vector<kj::ArrayPtr<const capnp::word>> segments_;
  std::optional<capnp::SegmentArrayMessageReader> reader_;
  size_t words_ = 0;
};

}  // namespace ebt::format
