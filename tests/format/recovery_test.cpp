// Damaged and truncated captures: never crash or hang, recover everything
// before the damage, say exactly what was lost.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

#include <lz4.h>

#include "common/error.h"
#include "format/block.h"
#include "tests/format/test_util.h"

namespace ebt::format {
namespace {

using testing::Collected;

// A small capture with several data blocks of mixed kinds.
std::string make_small_capture(const std::string& name) {
  const std::string path = testing::temp_path(name);
  WriterOptions o;
  o.max_block_bytes = 600;
  CaptureWriter w(path, testing::sample_session(), o);
  uint64_t t = 10'000'000'000;
  for (uint32_t i = 1; i <= 12; ++i) {
    w.add(Stack{i, {{0x1000 + i, FrameKind::kUser}, {0xffffffff81000000 + i, FrameKind::kKernel}}});
    w.add(StringEntry{i, "string-" + std::to_string(i)});
    for (int j = 0; j < 10; ++j) {
      t += 5'000'000;
      w.add(CpuSample{t, 100 + i % 2, 200 + i % 3, i % 2, i});
    }
    w.add(SyscallEvent{t, t + 10, 100, 200, SyscallKind::kWrite, 3, 4, 0, {'a', 'b', 'c', 'd'}});
    w.add(LostEvents{t, 0, LossSource::kRingBuffer, i});
  }
  w.finish({t + 1, 120, 78});
  return path;
}

struct BlockSpan {
  uint64_t begin, end;  // [header, end of payload)
  uint32_t records;
  uint32_t sequence;
};

std::vector<BlockSpan> data_spans(const CaptureReader& r) {
  std::vector<BlockSpan> v;
  for (const auto& b : r.blocks()) v.push_back({b.offset, b.offset + 56 + b.compressed_bytes, b.records, b.sequence});
  return v;
}

TEST(Recovery, TruncatedAtEveryByteRecoversExactlyTheCompleteBlocks) {
  const std::string full_path = make_small_capture("trunc-full.ebt");
  const auto bytes = testing::read_file(full_path);
  CaptureReader full(full_path);
  Collected all;
  full.read(all);
  ASSERT_TRUE(full.damage().empty()) << testing::damage_text(full);
  const auto spans = data_spans(full);
  ASSERT_GE(spans.size(), 5u);
  ASSERT_EQ(all.samples.size(), 120u);

  const std::string cut_path = testing::temp_path("trunc-cut.ebt");
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    SCOPED_TRACE("cut at " + std::to_string(cut) + " of " + std::to_string(bytes.size()));
    testing::write_file(cut_path, bytes.data(), cut);
    if (cut < 32) {
      EXPECT_THROW(CaptureReader r(cut_path), BadInput);
      continue;
    }
    CaptureReader r(cut_path);
    EXPECT_FALSE(r.has_index());
    Collected c;
    r.read(c);
    // Expected: exactly the data blocks that end at or before the cut.
    size_t complete = 0;
    uint64_t records = 0;
    for (const auto& s : spans)
      if (s.end <= cut) {
        ++complete;
        records += s.records;
      }
    ASSERT_EQ(r.blocks().size(), complete);
    // The session record is counted in block 1 but delivered via session().
    uint64_t delivered = c.total() + (complete > 0 ? 1 : 0);
    EXPECT_EQ(delivered, records);
    ASSERT_LE(c.samples.size(), all.samples.size());
    EXPECT_TRUE(std::equal(c.samples.begin(), c.samples.end(), all.samples.begin()));
    EXPECT_FALSE(r.corrupted()) << testing::damage_text(r);
    if (complete > 0) {
      EXPECT_EQ(r.session(), testing::sample_session());
    }
    // Unless the cut is exactly on a block boundary, the reader says where the tail was cut.
    bool on_boundary = cut == 32 || cut == spans.front().begin || std::any_of(spans.begin(), spans.end(), [&](const BlockSpan& s) {
                         return s.end == cut;
                       });
    if (!r.damage().empty()) {
      ASSERT_EQ(r.damage().size(), 1u);
      EXPECT_TRUE(r.damage()[0].truncated_tail());
      EXPECT_EQ(r.damage()[0].offset + r.damage()[0].bytes, cut);
    } else {
      EXPECT_TRUE(on_boundary || cut >= spans.back().end) << "silent truncation";
    }
  }
  ::unlink(cut_path.c_str());
  ::unlink(full_path.c_str());
}

void flip_and_check(const std::vector<uint8_t>& bytes, const BlockSpan& span, size_t at, bool drop_trailer,
                    const Collected& all, const std::string& path) {
  auto damaged = bytes;
  damaged[at] ^= 0x5a;
  size_t n = drop_trailer ? damaged.size() - 32 : damaged.size();
  testing::write_file(path, damaged.data(), n);
  CaptureReader r(path);
  Collected c;
  r.read(c);
  ASSERT_TRUE(r.corrupted()) << "flip at " << at << " went unnoticed";
  bool named = false;
  for (const auto& d : r.damage()) {
    EXPECT_FALSE(reason(d).empty());
    if (d.block == static_cast<int64_t>(span.sequence) && d.offset == span.begin) {
      named = true;
      if (d.records_lost) {
        EXPECT_EQ(d.records_lost, span.records);
      }
    }
  }
  EXPECT_TRUE(named) << "no damage entry names block " << span.sequence << ":\n" << testing::damage_text(r);
  // Everything else is still there: only this block's records are missing.
  uint64_t lost_session = span.sequence == 1 ? 1 : 0;
  EXPECT_EQ(c.total() + span.records - lost_session, all.total()) << testing::damage_text(r);
}

TEST(Recovery, FlippedByteInEachBlockIsReportedAndTheRestIsRead) {
  const std::string full_path = make_small_capture("flip-full.ebt");
  const auto bytes = testing::read_file(full_path);
  CaptureReader full(full_path);
  Collected all;
  full.read(all);
  const auto spans = data_spans(full);
  const std::string path = testing::temp_path("flip.ebt");
  for (const auto& s : spans) {
    for (bool drop_trailer : {false, true}) {
      SCOPED_TRACE("block " + std::to_string(s.sequence) + (drop_trailer ? " (no trailer)" : " (indexed)"));
      // In the payload, and in the block header.
      flip_and_check(bytes, s, s.begin + 56 + (s.end - s.begin - 56) / 2, drop_trailer, all, path);
      flip_and_check(bytes, s, s.begin + 10, drop_trailer, all, path);
    }
  }
  ::unlink(path.c_str());
  ::unlink(full_path.c_str());
}

TEST(Recovery, DamagedIndexFallsBackToScanning) {
  const std::string full_path = make_small_capture("index-full.ebt");
  auto bytes = testing::read_file(full_path);
  CaptureReader full(full_path);
  Collected all;
  full.read(all);
  // The index block sits right before the 32-byte trailer: damage its payload.
  uint64_t index_offset = 0;
  std::memcpy(&index_offset, bytes.data() + bytes.size() - 32, 8);
  bytes[index_offset + 60] ^= 0xff;
  const std::string path = testing::temp_path("index.ebt");
  testing::write_file(path, bytes.data(), bytes.size());
  CaptureReader r(path);
  EXPECT_FALSE(r.has_index());
  ASSERT_EQ(r.damage().size(), 1u);
  EXPECT_EQ(r.damage()[0].kind, DamageKind::kIndexUnusable);
  EXPECT_NE(describe(r.damage()[0]).find("index unusable"), std::string::npos);
  Collected c;
  r.read(c);
  EXPECT_EQ(c.total(), all.total());
  EXPECT_EQ(c.samples, all.samples);
  ::unlink(path.c_str());
  ::unlink(full_path.c_str());
}

TEST(Recovery, GarbageNeverCrashes) {
  // Random bytes after a valid header, and random bytes inside block payloads
  // with fixed-up checksums would be the next step; here: deterministic noise.
  const std::string full_path = make_small_capture("noise-full.ebt");
  const auto bytes = testing::read_file(full_path);
  const std::string path = testing::temp_path("noise.ebt");
  uint64_t x = 88172645463325252ull;
  for (int round = 0; round < 300; ++round) {
    auto b = bytes;
    for (int k = 0; k < 1 + round % 8; ++k) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      size_t at = 32 + x % (b.size() - 32);
      b[at] = static_cast<uint8_t>(x >> 32);
    }
    testing::write_file(path, b.data(), b.size() - (round % 3 == 0 ? x % 200 : 0));
    CaptureReader r(path);
    Collected c;
    r.read(c);
    EXPECT_LE(c.samples.size(), 120u);
    std::FILE* devnull = std::fopen("/dev/null", "w");
    r.dump_json(devnull);
    std::fclose(devnull);
  }
  ::unlink(path.c_str());
  ::unlink(full_path.c_str());
}

TEST(Header, EmptyForeignAndFutureFilesAreRefusedWithOneLine) {
  const std::string path = testing::temp_path("hdr.ebt");
  auto expect_error = [&](const std::string& needle) {
    try {
      CaptureReader r(path);
      ADD_FAILURE() << "no error, expected: " << needle;
    } catch (const BadInput& e) {
      std::string m = e.what();
      EXPECT_NE(m.find(needle), std::string::npos) << m;
      EXPECT_EQ(m.find('\n'), std::string::npos) << "not one line: " << m;
      EXPECT_EQ(m.rfind(path, 0), 0u) << "does not start with the path: " << m;
    }
  };
  testing::write_file(path, nullptr, 0);
  expect_error("empty file");
  const std::string text = "#!/bin/sh\necho this is not a capture file at all\n";
  testing::write_file(path, reinterpret_cast<const uint8_t*>(text.data()), text.size());
  expect_error("not an ebtrace capture (bad magic)");

  const std::string good = make_small_capture("hdr-good.ebt");
  auto bytes = testing::read_file(good);
  bytes[8] = 3;  // major 3
  bytes[10] = 0;
  testing::write_file(path, bytes.data(), bytes.size());
  expect_error("capture format version 3.0 is newer than this ebtrace supports (1.x)");
  ::unlink(path.c_str());
  expect_error("no such file");
  ::unlink(good.c_str());
}

}  // namespace
}  // namespace ebt::format

namespace ebt::format {
namespace {

// Corrupts the decompressed payloads and re-wraps them with valid checksums, so
// the damage reaches the frame parser and Cap'n Proto instead of stopping at the CRC.
TEST(Recovery, CorruptMessagesBehindValidChecksumsNeverCrash) {
  const std::string full_path = make_small_capture("deep-full.ebt");
  const auto bytes = testing::read_file(full_path);
  struct RawBlock {
    disk::BlockHeader h;
    std::vector<uint8_t> raw;
  };
  std::vector<RawBlock> blocks;
  for (size_t pos = 32; pos + 56 <= bytes.size();) {
    auto h = disk::decode_block_header(bytes.data() + pos, nullptr);
    if (!h) break;
    RawBlock b{*h, std::vector<uint8_t>(h->raw_bytes)};
    const char* src = reinterpret_cast<const char*>(bytes.data() + pos + 56);
    if (h->codec == disk::kCodecLz4) {
      ASSERT_EQ(LZ4_decompress_safe(src, reinterpret_cast<char*>(b.raw.data()), h->stored_bytes, h->raw_bytes),
                static_cast<int>(h->raw_bytes));
    } else {
      std::memcpy(b.raw.data(), src, h->raw_bytes);
    }
    if (h->type != disk::kIndexBlock) blocks.push_back(std::move(b));
    pos += 56 + h->stored_bytes;
  }
  ASSERT_GE(blocks.size(), 5u);

  const std::string path = testing::temp_path("deep.ebt");
  uint64_t x = 0x2545F4914F6CDD1Dull;
  auto rnd = [&] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  size_t undecodable = 0;
  for (int round = 0; round < 400; ++round) {
    std::vector<uint8_t> file(bytes.begin(), bytes.begin() + 32);
    for (size_t i = 0; i < blocks.size(); ++i) {
      RawBlock b = blocks[i];
      if (i >= 1 && rnd() % 2 == 0) {
        for (int k = 0; k < 1 + round % 4; ++k) {
          size_t at = rnd() % b.raw.size();
          b.raw[at] = (round % 3 == 0) ? 0xff : static_cast<uint8_t>(rnd());
        }
      }
      b.h.codec = disk::kCodecNone;
      b.h.stored_bytes = b.h.raw_bytes = b.raw.size();
      b.h.payload_crc = disk::crc32(b.raw.data(), b.raw.size());
      uint8_t hb[56];
      disk::encode_block_header(b.h, hb);
      file.insert(file.end(), hb, hb + 56);
      file.insert(file.end(), b.raw.begin(), b.raw.end());
    }
    testing::write_file(path, file.data(), file.size());
    CaptureReader r(path);
    Collected c;
    r.read(c);
    EXPECT_LE(c.samples.size(), 120u);
    for (const auto& d : r.damage())
      if (d.kind == DamageKind::kUndecodableRecords) ++undecodable;
    std::FILE* devnull = std::fopen("/dev/null", "w");
    r.dump_json(devnull);
    std::fclose(devnull);
    r.embedded_kind_names();
  }
  EXPECT_GT(undecodable, 0u) << "corruption never reached the decoder";
  ::unlink(path.c_str());
  ::unlink(full_path.c_str());
}

}  // namespace
}  // namespace ebt::format
