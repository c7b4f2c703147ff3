// CaptureReader internals shared by reader.cpp and dump.cpp. Internal to format/.
#pragma once

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
  void check_header();
  bool load_index();
  void scan();
  void add_block(uint64_t offset, const disk::BlockHeader& h);
  void load_session();
};

capnp::ReaderOptions reader_options();

// One framed, packed message. Unpacking is bounded by the global limit (checked
// against the segment table before allocating); reading is then bounded by the
// message's actual size, so a small corrupt message cannot make readers walk
// gigabytes of aliased pointers.
class FrameMessage {
 public:
  FrameMessage(const uint8_t* data, size_t len) : in_(kj::arrayPtr(data, len)), packed_(in_, reader_options()) {
    size_t words = 0;
    for (unsigned i = 0; i < 512; ++i) {
      auto seg = packed_.getSegment(i);
      if (seg.size() == 0) break;
      segments_.add(seg);
      words += seg.size();
    }
    capnp::ReaderOptions o = reader_options();
    o.traversalLimitInWords = words * 4 + 1024;
    reader_.emplace(segments_.asPtr(), o);
  }
  capnp::MessageReader& get() { return *reader_; }

 private:
  kj::ArrayInputStream in_;
  capnp::PackedMessageReader packed_;
  kj::Vector<kj::ArrayPtr<const capnp::word>> segments_;
  std::optional<capnp::SegmentArrayMessageReader> reader_;
};

}  // namespace ebt::format
