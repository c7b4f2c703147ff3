// A capture taken apart into blocks and frames, each frame's Cap'n Proto
// message unpacked, and put back together with fresh sizes, LZ4, checksums,
// index and trailer. The fuzzers' structure-aware mutator edits captures this
// way so that mutations reach record contents instead of dying at a CRC, and
// the regression tests craft hostile captures with it.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <random>
#include <vector>

#include "format/block.h"

namespace ebt::fuzz {

struct EditFrame {
  uint16_t kind = 0;
  uint16_t flags = 0;
  // The message in the standard stream framing (segment table, segments),
  // unpacked. When the packed bytes do not unpack, `packed` holds them as is.
  std::vector<uint8_t> unpacked;
  std::optional<std::vector<uint8_t>> packed;
  // Parsed lazily: `packed` holds the stored bytes and `unpacked` is empty
  // until unpack_frame() (the mutator edits one frame per call: unpacking and
  // re-packing every frame was a third of an execution).
  bool lazy = false;
};

struct EditBlock {
  format::disk::BlockHeader header;
  std::vector<EditFrame> frames;
  // A payload that could not be split into frames (or decompressed) is kept raw.
  std::optional<std::vector<uint8_t>> opaque_payload;
};

struct EditCapture {
  format::disk::FileHeader header;
  std::vector<EditBlock> blocks;  // schema and data blocks; the index is rebuilt
};

// Takes a capture apart by scanning its blocks (index and trailer ignored).
// Unpacks at most `max_unpacked` bytes per message. nullopt if the file header
// is not an ebtrace header.
std::optional<EditCapture> parse_capture(const uint8_t* data, size_t size, size_t max_unpacked = 1 << 20,
                                         bool lazy = false);
// Unpacks a lazily parsed frame as parse_capture() would have (no-op otherwise).
void unpack_frame(EditFrame& f, size_t max_unpacked);

struct WriteChoices {
  enum Codec { kKeep, kNone, kLz4 } codec = kKeep;
  bool index = true;           // index block + trailer
  bool recompute_masks = true; // kind_mask from the frames' kinds
  // Tests: change index entry i's offset / stored size, or the trailer, before they are written.
  std::function<void(size_t i, uint64_t& offset, uint32_t& stored)> tamper_index;
  std::function<void(format::disk::Trailer&)> tamper_trailer;
};
std::vector<uint8_t> write_capture(const EditCapture& c, const WriteChoices& w = {});

// Packs an unpacked stream (padded to whole words) the way the writer does.
std::vector<uint8_t> pack(const std::vector<uint8_t>& unpacked);
// Unpacks a packed stream; nullopt if it is malformed or exceeds `max_bytes`.
std::optional<std::vector<uint8_t>> unpack(const uint8_t* data, size_t size, size_t max_bytes);

}  // namespace ebt::fuzz
