// libFuzzer custom mutator shared by the capture targets: most mutations take
// the capture apart (tests/fuzz/capture_edit.h), change one thing inside a
// record's unpacked Cap'n Proto message, a frame or a block, and put it back
// with valid sizes, LZ4, checksums and index, so the reader gets past its
// integrity checks and the decoders see the mutated contents. The rest are
// plain byte mutations of the file (which exercise the integrity checks).
#include <cstring>
#include <random>

#include "tests/fuzz/capture_edit.h"

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

namespace ebt::fuzz {
namespace {

// Mutates `v` in place with libFuzzer's own byte-level mutators.
void mutate_bytes(std::vector<uint8_t>& v, size_t max_size) {
  size_t size = v.size();
  v.resize(std::max(max_size, size + 1));
  size_t n = LLVMFuzzerMutate(v.data(), size, v.size());
  v.resize(n);
}

// Frames are parsed lazily: the one picked is unpacked here.
EditFrame* pick_frame(EditCapture& c, std::minstd_rand& rng, size_t max_unpacked, size_t* block = nullptr) {
  size_t n = 0;
  for (const auto& b : c.blocks) n += b.frames.size();
  if (n == 0) return nullptr;
  size_t k = rng() % n;
  for (size_t b = 0;; ++b) {
    if (k < c.blocks[b].frames.size()) {
      if (block) *block = b;
      EditFrame* f = &c.blocks[b].frames[k];
      unpack_frame(*f, max_unpacked);
      return f;
    }
    k -= c.blocks[b].frames.size();
  }
}

size_t unpack_limit(size_t max_size) { return std::max<size_t>(max_size * 4, 1 << 16); }

// A 64-bit value a careless reader mishandles.
uint64_t nasty(std::minstd_rand& rng) {
  static const uint64_t kValues[] = {0, 1, 2, 7, 8, 0x7f, 0x80, 0xff, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff,
                                     0x100000000, 0x7fffffffffffffff, 0x8000000000000000, 0xfffffffffffffff8,
                                     0xffffffffffffffff};
  return kValues[rng() % (sizeof kValues / sizeof kValues[0])];
}

bool mutate(EditCapture& c, std::minstd_rand& rng, size_t max_size) {
  const size_t max_unpacked = unpack_limit(max_size);
  switch (rng() % 12) {
    case 0: case 1: case 2: case 3: case 4: {  // the contents of one message
      EditFrame* f = pick_frame(c, rng, max_unpacked);
      if (!f) return false;
      if (f->packed) {
        mutate_bytes(*f->packed, f->packed->size() + 64);
      } else {
        mutate_bytes(f->unpacked, std::min(max_size * 4, f->unpacked.size() + 256));
      }
      return true;
    }
    case 5: {  // one aligned word of a message set to a nasty value (sizes, offsets, times)
      EditFrame* f = pick_frame(c, rng, max_unpacked);
      if (!f || f->packed || f->unpacked.size() < 8) return false;
      size_t w = rng() % (f->unpacked.size() / 8);
      uint64_t v = nasty(rng);
      if (rng() % 2) {
        uint32_t v32 = uint32_t(v);
        std::memcpy(f->unpacked.data() + w * 8 + (rng() % 2) * 4, &v32, 4);
      } else {
        std::memcpy(f->unpacked.data() + w * 8, &v, 8);
      }
      return true;
    }
    case 6: {  // a frame's kind
      EditFrame* f = pick_frame(c, rng, max_unpacked);
      if (!f) return false;
      f->kind = rng() % 4 ? uint16_t(rng() % 21) : uint16_t(rng());
      return true;
    }
    case 7: {  // duplicate a frame (into any data block)
      size_t from;
      EditFrame* f = pick_frame(c, rng, max_unpacked, &from);
      if (!f || c.blocks.empty()) return false;
      EditFrame copy = *f;
      auto& to = c.blocks[rng() % c.blocks.size()];
      if (to.opaque_payload) return false;
      to.frames.insert(to.frames.begin() + (to.frames.empty() ? 0 : rng() % (to.frames.size() + 1)), std::move(copy));
      return true;
    }
    case 8: {  // drop a frame
      size_t b;
      EditFrame* f = pick_frame(c, rng, max_unpacked, &b);
      if (!f) return false;
      auto& v = c.blocks[b].frames;
      v.erase(v.begin() + (f - v.data()));
      return true;
    }
    case 9: {  // block order / duplication / removal
      if (c.blocks.empty()) return false;
      size_t i = rng() % c.blocks.size(), j = rng() % c.blocks.size();
      switch (rng() % 3) {
        case 0: std::swap(c.blocks[i], c.blocks[j]); break;
        case 1: c.blocks.insert(c.blocks.begin() + j, c.blocks[i]); break;
        case 2: c.blocks.erase(c.blocks.begin() + i); break;
      }
      return true;
    }
    case 10: {  // block header fields the reader trusts for filtering and counting
      if (c.blocks.empty()) return false;
      auto& h = c.blocks[rng() % c.blocks.size()].header;
      switch (rng() % 5) {
        case 0: h.first_time_ns = nasty(rng); break;
        case 1: h.last_time_ns = nasty(rng); break;
        case 2: h.records = uint32_t(nasty(rng)); break;
        case 3: h.sequence = uint32_t(rng() % 8); break;
        case 4: h.type = uint16_t(rng() % 4); break;
      }
      return true;
    }
    default: {  // file header version fields
      c.header.minor = uint16_t(rng() % 4);
      if (rng() % 8 == 0) c.header.major = uint16_t(rng() % 3);
      return true;
    }
  }
}

}  // namespace
}  // namespace ebt::fuzz

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size, unsigned int seed) {
  using namespace ebt::fuzz;
  std::minstd_rand rng(seed);
  if (rng() % 8 == 0) return LLVMFuzzerMutate(data, size, max_size);
  auto c = parse_capture(data, size, unpack_limit(max_size), /*lazy=*/true);
  if (!c || !mutate(*c, rng, max_size)) return LLVMFuzzerMutate(data, size, max_size);
  WriteChoices w;
  w.codec = rng() % 3 == 0 ? WriteChoices::kNone : WriteChoices::kLz4;
  w.index = rng() % 4 != 0;
  w.recompute_masks = rng() % 8 != 0;
  std::vector<uint8_t> out = write_capture(*c, w);
  if (out.size() > max_size) return LLVMFuzzerMutate(data, size, max_size);
  std::memcpy(data, out.data(), out.size());
  return out.size();
}
