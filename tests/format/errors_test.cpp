// Errors are values with a kind, and only damage in the file is damage: an
// exception thrown by a visitor (a report's bug, bad_alloc) reaches the caller.
// The reader counts what it decoded, so a report can show it reads once.
#include <gtest/gtest.h>

#include <new>
#include <stdexcept>

#include "tests/format/test_util.h"

namespace ebt::format {
namespace {

std::string make_capture(const std::string& name, uint32_t samples) {
  const std::string path = testing::temp_path(name);
  WriterOptions o;
  o.max_block_bytes = 400;  // several data blocks
  CaptureWriter w(path, testing::sample_session(), o);
  w.add(Stack{1, {{0x1000, FrameKind::kUser}}});
  for (uint32_t i = 0; i < samples; ++i) w.add(CpuSample{2'000'000'000ull + i * 1'000'000ull, 7, 8, 0, 1});
  w.finish({3'000'000'000ull, samples, 0});
  return path;
}

struct Throws : RecordVisitor {
  std::function<void()> when_sample;
  void on(const CpuSample&) override { when_sample(); }
};

TEST(Errors, AVisitorsExceptionIsNotDamage) {
  const std::string path = make_capture("visitor-throws.ebt", 50);
  CaptureReader r(path);
  Throws bug;
  bug.when_sample = [] { throw std::logic_error("report bug"); };
  EXPECT_THROW(r.read(bug), std::logic_error);
  EXPECT_TRUE(r.damage().empty()) << testing::damage_text(r);
  EXPECT_FALSE(r.corrupted());

  Throws oom;
  oom.when_sample = [] { throw std::bad_alloc(); };
  EXPECT_THROW(r.read(oom), std::bad_alloc);
  EXPECT_TRUE(r.damage().empty()) << testing::damage_text(r);
  ::unlink(path.c_str());
}

TEST(Errors, DamageHasAKindAndTheSameOneLineText) {
  const std::string good = make_capture("kinds-good.ebt", 50);
  auto bytes = testing::read_file(good);
  CaptureReader full(good);
  ASSERT_GE(full.blocks().size(), 3u);
  // Flip a byte inside the payload of the third data block: its checksum fails.
  const BlockInfo b = full.blocks()[2];
  bytes[b.offset + 56 + b.compressed_bytes / 2] ^= 0x5a;
  const std::string bad = testing::temp_path("kinds-bad.ebt");
  testing::write_file(bad, bytes.data(), bytes.size());
  CaptureReader r(bad);
  r.verify();
  ASSERT_EQ(r.damage().size(), 1u) << testing::damage_text(r);
  const Damage& d = r.damage()[0];
  EXPECT_EQ(d.kind, DamageKind::kChecksum);
  EXPECT_EQ(d.block, static_cast<int64_t>(b.sequence));
  EXPECT_EQ(d.offset, b.offset);
  EXPECT_EQ(d.records_lost, b.records);
  EXPECT_FALSE(d.truncated_tail());
  EXPECT_TRUE(r.corrupted());
  EXPECT_EQ(describe(d), "block " + std::to_string(b.sequence) + " at offset " + std::to_string(b.offset) +
                             ": payload checksum mismatch (" + std::to_string(56 + b.compressed_bytes) + " bytes, " +
                             std::to_string(b.records) + " records lost)");
  EXPECT_EQ(r.warnings(), std::vector<std::string>{describe(d)});

  // Cut inside the last data block: a truncated tail, not corruption; the index is gone.
  const BlockInfo last = full.blocks().back();
  const std::string cut = testing::temp_path("kinds-cut.ebt");
  testing::write_file(cut, testing::read_file(good).data(), last.offset + 60);
  CaptureReader c(cut);
  ASSERT_EQ(c.damage().size(), 1u) << testing::damage_text(c);
  EXPECT_EQ(c.damage()[0].kind, DamageKind::kTruncatedBlock);
  EXPECT_TRUE(c.damage()[0].truncated_tail());
  EXPECT_FALSE(c.corrupted());
  EXPECT_EQ(c.warnings().size(), 1u);  // the damage says why there is no index: no second line

  // Cut exactly on a block boundary: nothing is damaged, but the capture is unfinished.
  const std::string boundary = testing::temp_path("kinds-boundary.ebt");
  testing::write_file(boundary, testing::read_file(good).data(), last.offset);
  CaptureReader e(boundary);
  EXPECT_TRUE(e.damage().empty());
  ASSERT_EQ(e.warnings().size(), 1u);
  EXPECT_EQ(e.warnings()[0].rfind("capture not finished (no index", 0), 0u) << e.warnings()[0];
  for (const auto& p : {good, bad, cut, boundary}) ::unlink(p.c_str());
}

TEST(Errors, TheReaderCountsPassesBlocksAndRecords) {
  const std::string path = make_capture("counts.ebt", 50);
  CaptureReader r(path);
  EXPECT_EQ(r.decoded().passes, 0u);
  testing::Collected c;
  r.read(c);
  const DecodeCounts once = r.decoded();
  EXPECT_EQ(once.passes, 1u);
  EXPECT_EQ(once.blocks, r.blocks().size());
  // Every record of the file: the session, the stack, 50 samples, the session end.
  EXPECT_EQ(once.records, 53u);
  EXPECT_EQ(c.samples.size(), 50u);
  r.read(c);
  EXPECT_EQ(r.decoded().passes, 2u);
  EXPECT_EQ(r.decoded().blocks, 2 * once.blocks);
  EXPECT_EQ(r.decoded().records, 2 * once.records);
  ::unlink(path.c_str());
}

}  // namespace
}  // namespace ebt::format
