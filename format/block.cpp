#include "format/block.h"

#include <zlib.h>

namespace ebt::format::disk {

uint32_t crc32(const void* data, size_t bytes) {
  uLong crc = ::crc32(0L, Z_NULL, 0);
  const auto* p = static_cast<const Bytef*>(data);
  while (bytes > 0) {
    uInt chunk = bytes > (1u << 30) ? (1u << 30) : static_cast<uInt>(bytes);
    crc = ::crc32(crc, p, chunk);
    p += chunk;
    bytes -= chunk;
  }
  return static_cast<uint32_t>(crc);
}

void encode_file_header(const FileHeader& h, uint8_t out[kFileHeaderBytes]) {
  std::memset(out, 0, kFileHeaderBytes);
  std::memcpy(out, kFileMagic, 8);
  put16(out + 8, h.major);
  put16(out + 10, h.minor);
  put32(out + 12, h.header_bytes);
  put64(out + 16, h.flags);
  put32(out + 28, crc32(out, 28));
}

void encode_block_header(const BlockHeader& h, uint8_t out[kBlockHeaderBytes]) {
  std::memset(out, 0, kBlockHeaderBytes);
  put32(out + 0, kBlockMagic);
  put16(out + 4, h.type);
  put16(out + 6, h.codec);
  put32(out + 8, h.stored_bytes);
  put32(out + 12, h.raw_bytes);
  put32(out + 16, h.records);
  put32(out + 20, h.sequence);
  put64(out + 24, h.first_time_ns);
  put64(out + 32, h.last_time_ns);
  put64(out + 40, h.kind_mask);
  put32(out + 48, h.payload_crc);
  put32(out + 52, crc32(out, 52));
}

void encode_trailer(const Trailer& t, uint8_t out[kTrailerBytes]) {
  std::memset(out, 0, kTrailerBytes);
  put64(out + 0, t.index_offset);
  put64(out + 8, t.index_bytes);
  put32(out + 16, t.block_count);
  put32(out + 20, crc32(out, 20));
  std::memcpy(out + 24, kTrailerMagic, 8);
}

std::optional<BlockHeader> decode_block_header(const uint8_t* p, std::string* why) {
  if (get32(p) != kBlockMagic) {
    if (why) *why = "no block header here (bad block magic)";
    return std::nullopt;
  }
  if (get32(p + 52) != crc32(p, 52)) {
    if (why) *why = "block header checksum mismatch";
    return std::nullopt;
  }
  BlockHeader h;
  h.type = get16(p + 4);
  h.codec = get16(p + 6);
  h.stored_bytes = get32(p + 8);
  h.raw_bytes = get32(p + 12);
  h.records = get32(p + 16);
  h.sequence = get32(p + 20);
  h.first_time_ns = get64(p + 24);
  h.last_time_ns = get64(p + 32);
  h.kind_mask = get64(p + 40);
  h.payload_crc = get32(p + 48);
  if (h.raw_bytes > kMaxRawBlockBytes) {
    if (why) *why = "block claims " + std::to_string(h.raw_bytes) + " uncompressed bytes (limit " +
                    std::to_string(kMaxRawBlockBytes) + ")";
    return std::nullopt;
  }
  if (h.codec == kCodecNone ? h.stored_bytes != h.raw_bytes
                            : (h.codec != kCodecLz4 ||
                               h.stored_bytes > h.raw_bytes + h.raw_bytes / 255 + 16 ||
                               h.raw_bytes / kMaxLz4Ratio > h.stored_bytes)) {
    if (why) *why = "block header has inconsistent codec/sizes";
    return std::nullopt;
  }
  return h;
}

std::optional<Trailer> decode_trailer(const uint8_t* p) {
  if (std::memcmp(p + 24, kTrailerMagic, 8) != 0) return std::nullopt;
  if (get32(p + 20) != crc32(p, 20)) return std::nullopt;
  Trailer t;
  t.index_offset = get64(p);
  t.index_bytes = get64(p + 8);
  t.block_count = get32(p + 16);
  return t;
}

}  // namespace ebt::format::disk
