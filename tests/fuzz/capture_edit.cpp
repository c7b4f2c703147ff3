#include "tests/fuzz/capture_edit.h"

#include <capnp/message.h>
#include <capnp/serialize-packed.h>
#include <kj/io.h>
#include <lz4.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "format/capture.capnp.h"
#include "format/reader.h"

namespace ebt::fuzz {
namespace d = format::disk;

std::vector<uint8_t> pack(const std::vector<uint8_t>& unpacked) {
  std::vector<uint8_t> words = unpacked;
  words.resize((words.size() + 7) & ~size_t{7}, 0);
  // Sized to the message: the default 4 KiB, filled by ASan's allocator on
  // every call, was most of a fuzz execution's memory traffic (one per record).
  kj::VectorOutputStream vec(words.size() / 2 + 64);
  {
    capnp::_::PackedOutputStream packed(vec);
    packed.write(words.data(), words.size());
  }
  auto a = vec.getArray();
  return {a.begin(), a.end()};
}

std::optional<std::vector<uint8_t>> unpack(const uint8_t* data, size_t size, size_t max_bytes) {
  // Segment by segment, through the message reader: PackedInputStream only
  // unpacks reads that end on run boundaries, which the segments do.
  try {
    kj::ArrayInputStream in(kj::arrayPtr(data, size));
    capnp::ReaderOptions o;
    o.traversalLimitInWords = max_bytes / 8 + 1;
    capnp::PackedMessageReader r(in, o);
    std::vector<kj::ArrayPtr<const capnp::word>> segs;
    for (unsigned i = 0; i < 512; ++i) {
      auto seg = r.getSegment(i);
      if (seg == nullptr) break;
      segs.push_back(seg);
    }
    if (segs.empty()) return std::nullopt;
    std::vector<uint8_t> out((segs.size() / 2 + 1) * 8, 0);
    uint32_t n = uint32_t(segs.size() - 1);
    std::memcpy(out.data(), &n, 4);
    for (size_t i = 0; i < segs.size(); ++i) {
      uint32_t w = uint32_t(segs[i].size());
      std::memcpy(out.data() + 4 + 4 * i, &w, 4);
    }
    for (auto seg : segs) {
      auto b = seg.asBytes();
      out.insert(out.end(), b.begin(), b.end());
    }
    if (out.size() > max_bytes) return std::nullopt;
    return out;
  } catch (const kj::Exception& e) {
    if (getenv("EBT_EDIT_DEBUG")) fprintf(stderr, "unpack: %s\n", e.getDescription().cStr());
    return std::nullopt;
  }
}

void unpack_frame(EditFrame& f, size_t max_unpacked) {
  if (!f.lazy) return;
  f.lazy = false;
  if (auto u = unpack(f.packed->data(), f.packed->size(), max_unpacked)) {
    f.unpacked = std::move(*u);
    f.packed.reset();
  }
}

std::optional<EditCapture> parse_capture(const uint8_t* data, size_t size, size_t max_unpacked, bool lazy) {
  if (size < d::kFileHeaderBytes || std::memcmp(data, d::kFileMagic, 8) != 0) return std::nullopt;
  EditCapture c;
  c.header.major = d::get16(data + 8);
  c.header.minor = d::get16(data + 10);
  c.header.header_bytes = d::kFileHeaderBytes;
  c.header.flags = d::get64(data + 16);
  uint64_t hb = d::get32(data + 12);
  uint64_t pos = hb < d::kFileHeaderBytes || hb > size ? d::kFileHeaderBytes : hb;
  while (size - pos >= d::kBlockHeaderBytes) {
    auto h = d::decode_block_header(data + pos, nullptr);
    if (!h || h->stored_bytes > size - pos - d::kBlockHeaderBytes) {
      ++pos;  // resynchronize like the reader's scan
      continue;
    }
    const uint8_t* src = data + pos + d::kBlockHeaderBytes;
    pos += d::kBlockHeaderBytes + h->stored_bytes;
    if (h->type == d::kIndexBlock) continue;
    EditBlock b;
    b.header = *h;
    std::vector<uint8_t> raw(h->raw_bytes);
    bool ok = true;
    if (h->codec == d::kCodecNone) {
      if (h->raw_bytes) std::memcpy(raw.data(), src, h->raw_bytes);
    } else {
      int n = LZ4_decompress_safe(reinterpret_cast<const char*>(src), reinterpret_cast<char*>(raw.data()),
                                  int(h->stored_bytes), int(h->raw_bytes));
      ok = n == int(h->raw_bytes);
      if (!ok) raw.assign(src, src + h->stored_bytes);
    }
    size_t p = 0;
    while (ok && p < raw.size()) {
      if (raw.size() - p < d::kFrameBytes) { ok = false; break; }
      uint32_t len = d::get32(raw.data() + p + 4);
      if (len > raw.size() - p - d::kFrameBytes) { ok = false; break; }
      EditFrame f;
      f.kind = d::get16(raw.data() + p);
      f.flags = d::get16(raw.data() + p + 2);
      const uint8_t* m = raw.data() + p + d::kFrameBytes;
      f.packed.emplace(m, m + len);
      f.lazy = true;
      if (!lazy) unpack_frame(f, max_unpacked);
      b.frames.push_back(std::move(f));
      p += d::kFrameBytes + len;
    }
    if (!ok) {
      b.frames.clear();
      b.opaque_payload = std::move(raw);
    }
    c.blocks.push_back(std::move(b));
  }
  return c;
}

std::vector<uint8_t> write_capture(const EditCapture& c, const WriteChoices& w) {
  std::vector<uint8_t> out(d::kFileHeaderBytes);
  format::disk::FileHeader fh = c.header;
  fh.header_bytes = d::kFileHeaderBytes;
  d::encode_file_header(fh, out.data());
  std::vector<std::pair<uint64_t, d::BlockHeader>> index;
  for (const EditBlock& b : c.blocks) {
    d::BlockHeader h = b.header;
    std::vector<uint8_t> raw;
    if (b.opaque_payload) {
      raw = *b.opaque_payload;
    } else {
      uint64_t mask = 0;
      for (const EditFrame& f : b.frames) {
        std::vector<uint8_t> m = f.packed ? *f.packed : pack(f.unpacked);
        uint8_t fr[d::kFrameBytes];
        d::put16(fr, f.kind);
        d::put16(fr + 2, f.flags);
        d::put32(fr + 4, uint32_t(m.size()));
        raw.insert(raw.end(), fr, fr + d::kFrameBytes);
        raw.insert(raw.end(), m.begin(), m.end());
        mask |= format::kind_bit(f.kind);
      }
      if (w.recompute_masks && h.type == d::kDataBlock) h.kind_mask = mask;
    }
    if (raw.size() > d::kMaxRawBlockBytes) raw.resize(d::kMaxRawBlockBytes);
    std::vector<uint8_t> stored;
    uint16_t codec = w.codec == WriteChoices::kKeep ? h.codec : w.codec == WriteChoices::kLz4 ? d::kCodecLz4 : d::kCodecNone;
    if (codec == d::kCodecLz4 && !raw.empty()) {
      stored.resize(LZ4_compressBound(int(raw.size())));
      int n = LZ4_compress_default(reinterpret_cast<const char*>(raw.data()), reinterpret_cast<char*>(stored.data()),
                                   int(raw.size()), int(stored.size()));
      stored.resize(n > 0 ? size_t(n) : 0);
      if (n <= 0) codec = d::kCodecNone;
    } else {
      codec = d::kCodecNone;
    }
    if (codec == d::kCodecNone) stored = raw;
    h.codec = codec;
    h.raw_bytes = uint32_t(raw.size());
    h.stored_bytes = uint32_t(stored.size());
    h.payload_crc = d::crc32(stored.data(), stored.size());
    uint8_t hdr[d::kBlockHeaderBytes];
    d::encode_block_header(h, hdr);
    index.emplace_back(out.size(), h);
    out.insert(out.end(), hdr, hdr + d::kBlockHeaderBytes);
    out.insert(out.end(), stored.begin(), stored.end());
  }
  if (!w.index) return out;
  capnp::MallocMessageBuilder msg;
  auto entries = msg.initRoot<format::wire::Index>().initBlocks(unsigned(index.size()));
  for (unsigned i = 0; i < index.size(); ++i) {
    const auto& [off, h] = index[i];
    auto e = entries[i];
    uint64_t offset = off;
    uint32_t stored = h.stored_bytes;
    if (w.tamper_index) w.tamper_index(i, offset, stored);
    e.setOffset(offset);
    e.setType(h.type);
    e.setSequence(h.sequence);
    e.setStoredBytes(stored);
    e.setRawBytes(h.raw_bytes);
    e.setRecords(h.records);
    e.setFirstTimeNs(h.first_time_ns);
    e.setLastTimeNs(h.last_time_ns);
    e.setKindMask(h.kind_mask);
  }
  kj::VectorOutputStream vec(capnp::computeSerializedSizeInWords(msg) * 8 + 64);
  capnp::writePackedMessage(vec, msg);
  auto m = vec.getArray();
  std::vector<uint8_t> raw(d::kFrameBytes);
  d::put32(raw.data() + 4, uint32_t(m.size()));
  raw.insert(raw.end(), m.begin(), m.end());
  d::BlockHeader ih;
  ih.type = d::kIndexBlock;
  ih.codec = d::kCodecNone;
  ih.raw_bytes = ih.stored_bytes = uint32_t(raw.size());
  ih.sequence = uint32_t(c.blocks.size());
  ih.payload_crc = d::crc32(raw.data(), raw.size());
  uint64_t index_offset = out.size();
  uint8_t hdr[d::kBlockHeaderBytes];
  d::encode_block_header(ih, hdr);
  out.insert(out.end(), hdr, hdr + d::kBlockHeaderBytes);
  out.insert(out.end(), raw.begin(), raw.end());
  d::Trailer t;
  t.index_offset = index_offset;
  t.index_bytes = out.size() - index_offset;
  t.block_count = uint32_t(c.blocks.size() + 1);
  if (w.tamper_trailer) w.tamper_trailer(t);
  uint8_t tr[d::kTrailerBytes];
  d::encode_trailer(t, tr);
  out.insert(out.end(), tr, tr + d::kTrailerBytes);
  return out;
}

}  // namespace ebt::fuzz
