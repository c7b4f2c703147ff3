// On-disk layout of the capture container (docs/format.md). Internal to format/.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

namespace ebt::format::disk {

inline constexpr uint16_t kMajor = 1;
inline constexpr uint16_t kMinor = 1;  // 1.1: unwindTable, stackSnapshots

// File header: 32 bytes.
inline constexpr uint8_t kFileMagic[8] = {0x89, 'E', 'B', 'T', '\r', '\n', 0x1a, '\n'};
inline constexpr size_t kFileHeaderBytes = 32;
// Block header: 56 bytes.
inline constexpr uint32_t kBlockMagic = 0x4b4c4245;  // "EBLK"
inline constexpr size_t kBlockHeaderBytes = 56;
// Trailer: 32 bytes, the last bytes of a finished capture.
inline constexpr uint8_t kTrailerMagic[8] = {0x89, 'E', 'B', 'T', 'E', 'N', 'D', '\n'};
inline constexpr size_t kTrailerBytes = 32;
// Frame in front of every packed message in a payload: u16 kind, u16 flags, u32 bytes.
inline constexpr size_t kFrameBytes = 8;

// Readers refuse blocks claiming more than this (uncompressed).
inline constexpr uint32_t kMaxRawBlockBytes = 64u << 20;
// No LZ4 block decompresses to more than 255 times its size (a match of
// 19 + 255k bytes costs 3 + k stored bytes; a literal costs itself). A header
// claiming more is refused before its payload buffer is sized (and zeroed):
// otherwise a file of many 72-byte blocks each claiming 64 MiB costs 64 MiB
// of zeroing per block and pass, tens of seconds for a 1 MB file.
inline constexpr uint32_t kMaxLz4Ratio = 255;

enum BlockType : uint16_t { kSchemaBlock = 1, kDataBlock = 2, kIndexBlock = 3 };
enum Codec : uint16_t { kCodecNone = 0, kCodecLz4 = 1 };

struct FileHeader {
  uint16_t major = kMajor;
  uint16_t minor = kMinor;
  uint32_t header_bytes = kFileHeaderBytes;
  uint64_t flags = 0;
};

struct BlockHeader {
  uint16_t type = kDataBlock;
  uint16_t codec = kCodecLz4;
  uint32_t stored_bytes = 0;  // payload bytes following the header
  uint32_t raw_bytes = 0;     // payload after decompression
  uint32_t records = 0;       // events (a batch of N counts N)
  uint32_t sequence = 0;      // block number in the file, schema block = 0
  uint64_t first_time_ns = 0;
  uint64_t last_time_ns = 0;
  uint64_t kind_mask = 0;
  uint32_t payload_crc = 0;  // CRC-32 (zlib) of the stored payload
};

struct Trailer {
  uint64_t index_offset = 0;
  uint64_t index_bytes = 0;  // header + payload of the index block
  uint32_t block_count = 0;  // all blocks including schema and index
};

uint32_t crc32(const void* data, size_t bytes);

void encode_file_header(const FileHeader& h, uint8_t out[kFileHeaderBytes]);
void encode_block_header(const BlockHeader& h, uint8_t out[kBlockHeaderBytes]);
void encode_trailer(const Trailer& t, uint8_t out[kTrailerBytes]);

// Decoders return nullopt (and set *why) when the bytes are not a valid structure.
std::optional<BlockHeader> decode_block_header(const uint8_t* p, std::string* why);
std::optional<Trailer> decode_trailer(const uint8_t* p);

inline void put16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }
inline void put32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }
inline void put64(uint8_t* p, uint64_t v) { std::memcpy(p, &v, 8); }
inline uint16_t get16(const uint8_t* p) { uint16_t v; std::memcpy(&v, p, 2); return v; }
inline uint32_t get32(const uint8_t* p) { uint32_t v; std::memcpy(&v, p, 4); return v; }
inline uint64_t get64(const uint8_t* p) { uint64_t v; std::memcpy(&v, p, 8); return v; }

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the capture layout is little-endian");

}  // namespace ebt::format::disk
