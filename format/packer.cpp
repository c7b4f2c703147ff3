#include "format/packer.h"

#include <bit>
#include <cstring>
#include <iterator>

namespace ebt::format {
namespace {

static_assert(std::endian::native == std::endian::little, "the word tricks below read words little-endian");

constexpr uint64_t kLow7 = 0x7f7f7f7f7f7f7f7full;
constexpr uint64_t kHigh = 0x8080808080808080ull;

inline uint64_t load(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;  // little-endian host (x86_64, arm64): byte k of the word is bits 8k..8k+7
}

// Bit 7 of each byte of the result is set iff that byte of v is not zero
// (exact: no borrow runs between bytes, unlike the v - 0x01... trick).
inline uint64_t nonzero_bytes(uint64_t v) { return (((v & kLow7) + kLow7) | v) & kHigh; }

// The packing tag: bit k set iff byte k is not zero.
inline uint8_t tag_of(uint64_t nonzero) { return uint8_t(((nonzero >> 7) * 0x0102040810204080ull) >> 56); }

}  // namespace

// The same decisions as capnp's PackedOutputStream::write (serialize-packed.c++),
// so the same bytes: a tag per word and its nonzero bytes; after a zero word
// the count of the zero words that follow (at most 255); after a word without
// zero bytes the count of the following words that hold at most one zero byte
// (at most 255; a word with two or more zeros ends the run: packing it wins),
// then those words verbatim.
size_t pack_words(const uint8_t* in, size_t words, uint8_t* out) {
  const uint8_t* const start = out;
  const uint8_t* const end = in + words * 8;
  while (in < end) {
    const uint64_t v = load(in);
    in += 8;
    if (v == 0) {
      *out++ = 0;
      const uint8_t* limit = end - in > 255 * 8 ? in + 255 * 8 : end;
      const uint8_t* run = in;
      while (in < limit && load(in) == 0) in += 8;
      *out++ = uint8_t((in - run) / 8);
      continue;
    }
    const uint64_t nz = nonzero_bytes(v);
    if (nz == kHigh) {
      *out++ = 0xff;
      std::memcpy(out, in - 8, 8);
      out += 8;
      const uint8_t* limit = end - in > 255 * 8 ? in + 255 * 8 : end;
      const uint8_t* run = in;
      // At most one zero byte: at most one bit in the mask of zero bytes.
      while (in < limit) {
        const uint64_t zero = ~nonzero_bytes(load(in)) & kHigh;
        if (zero & (zero - 1)) break;
        in += 8;
      }
      const size_t n = size_t(in - run);
      *out++ = uint8_t(n / 8);
      std::memcpy(out, run, n);
      out += n;
      continue;
    }
    *out++ = tag_of(nz);
    for (int k = 0; k < 8; ++k) {
      const uint8_t b = uint8_t(v >> (8 * k));
      *out = b;
      out += b != 0;
    }
  }
  return size_t(out - start);
}

namespace {

// The stream framing's segment table: u32 count - 1, u32 words per segment,
// zero-padded to a whole word.
size_t table_words(size_t segments) { return segments / 2 + 1; }

}  // namespace

size_t packed_message_bound(kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>> segments) {
  size_t words = table_words(segments.size());
  for (auto s : segments) words += s.size();
  return packed_bound(words);
}

size_t pack_message(kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>> segments, uint8_t* out) {
  uint32_t table[2 * 256];
  const size_t tw = table_words(segments.size());
  uint32_t* t = tw * 2 <= std::size(table) ? table : new uint32_t[tw * 2];
  t[0] = uint32_t(segments.size() - 1);
  for (size_t i = 0; i < segments.size(); ++i) t[i + 1] = uint32_t(segments[i].size());
  if (segments.size() % 2 == 0) t[segments.size() + 1] = 0;
  // Each piece on its own, as capnp::writeMessage hands them to the packer.
  size_t n = pack_words(reinterpret_cast<const uint8_t*>(t), tw, out);
  if (t != table) delete[] t;
  for (auto s : segments) n += pack_words(reinterpret_cast<const uint8_t*>(s.begin()), s.size(), out + n);
  return n;
}

}  // namespace ebt::format
