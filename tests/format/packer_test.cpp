// format/packer.h must write exactly capnp::writePackedMessage's bytes (the
// capture format says "packed as capnp::writePackedMessage does"; golden
// captures and every reader rely on standard packing), and capnp must unpack it.
#include <gtest/gtest.h>

#include <capnp/message.h>
#include <capnp/serialize-packed.h>
#include <kj/io.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <vector>

#include "format/packer.h"

namespace ebt::format {
namespace {

std::vector<uint8_t> capnp_packed(capnp::MessageBuilder& msg) {
  kj::VectorOutputStream out;
  capnp::writePackedMessage(out, msg);
  auto a = out.getArray();
  return {a.begin(), a.end()};
}

std::vector<uint8_t> ours(capnp::MessageBuilder& msg) {
  auto segments = msg.getSegmentsForOutput();
  std::vector<uint8_t> out(packed_message_bound(segments));
  out.resize(pack_message(segments, out.data()));
  return out;
}

// Fills a message of `segments` segments (small first segment + a list of data
// blobs of the given sizes) with bytes from `byte`.
template <typename ByteFn>
void check(const std::vector<size_t>& sizes, ByteFn byte, uint32_t first_segment_words = 1024) {
  capnp::MallocMessageBuilder msg(first_segment_words, capnp::AllocationStrategy::FIXED_SIZE);
  auto list = msg.initRoot<capnp::AnyPointer>().initAs<capnp::List<capnp::Data>>(sizes.size());
  for (size_t i = 0; i < sizes.size(); ++i) {
    auto d = list.init(i, sizes[i]);
    for (size_t k = 0; k < sizes[i]; ++k) d[k] = byte(i, k);
  }
  auto want = capnp_packed(msg);
  auto got = ours(msg);
  ASSERT_EQ(got, want) << "sizes " << sizes.size() << ", segments " << msg.getSegmentsForOutput().size();
  // And capnp reads it back.
  kj::ArrayInputStream in(kj::ArrayPtr<const kj::byte>(got.data(), got.size()));
  capnp::PackedMessageReader reader(in);
  auto back = reader.getRoot<capnp::List<capnp::Data>>();
  ASSERT_EQ(back.size(), sizes.size());
  for (size_t i = 0; i < sizes.size(); ++i) {
    std::vector<uint8_t> expect(sizes[i]);
    for (size_t k = 0; k < sizes[i]; ++k) expect[k] = byte(i, k);
    ASSERT_TRUE(std::equal(expect.begin(), expect.end(), back[i].begin(), back[i].end())) << "blob " << i;
  }
}

TEST(Packer, SameBytesAsCapnp) {
  std::mt19937 rng(7);
  // Runs of every kind and at their limits: zero words (> 255 in a row),
  // words without zeros (> 255 in a row), words with exactly one and two zeros.
  check({0, 1, 7, 8, 9, 4096, 3000, 16}, [](size_t, size_t) { return uint8_t(0); });
  check({4096, 2048, 3, 8 * 255, 8 * 256, 8 * 257}, [](size_t i, size_t k) { return uint8_t('a' + (i + k) % 26); });
  check({4096}, [](size_t, size_t k) { return uint8_t(k % 8 == 3 ? 0 : 'x'); });            // one zero per word
  check({4096}, [](size_t, size_t k) { return uint8_t(k % 8 == 3 || k % 8 == 6 ? 0 : 'x'); });  // two
  check({4096}, [](size_t, size_t k) { return uint8_t(k % 5 ? 0 : 0x80 | k); });
  for (int round = 0; round < 200; ++round) {
    std::vector<size_t> sizes(1 + rng() % 40);
    for (auto& s : sizes) s = rng() % 3 == 0 ? rng() % 16 : rng() % 5000;
    const uint32_t density = rng() % 5;  // how often a byte is zero
    std::vector<std::vector<uint8_t>> bytes;
    for (size_t s : sizes) {
      std::vector<uint8_t> b(s);
      for (auto& c : b) c = density && rng() % (density + 1) == 0 ? 0 : uint8_t(1 + rng() % 255);
      bytes.push_back(std::move(b));
    }
    // Small fixed segments: messages of many segments, with a segment table of
    // several words.
    check(sizes, [&](size_t i, size_t k) { return bytes[i][k]; }, round % 2 ? 64 : 1 << 16);
  }
}

TEST(Packer, UnalignedInputAndBound) {
  std::vector<uint8_t> raw(8 * 600 + 3);
  for (size_t i = 0; i < raw.size(); ++i) raw[i] = uint8_t(i % 11 == 0 ? 0 : i);
  std::vector<uint8_t> a(packed_bound(600)), b(packed_bound(600));
  size_t na = pack_words(raw.data() + 3, 600, a.data());
  std::vector<capnp::word> aligned(600);
  std::memcpy(aligned.data(), raw.data() + 3, 600 * 8);
  size_t nb = pack_words(reinterpret_cast<const uint8_t*>(aligned.data()), 600, b.data());
  EXPECT_EQ(na, nb);
  EXPECT_TRUE(std::equal(a.begin(), a.begin() + na, b.begin()));
  EXPECT_LE(na, packed_bound(600));
}

}  // namespace
}  // namespace ebt::format
