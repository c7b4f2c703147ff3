// Forward compatibility: a record kind unknown to this build is still decoded
// and dumped through the schema embedded in the capture.
#include <gtest/gtest.h>

#include <capnp/serialize-packed.h>
#include <kj/io.h>

#include <cstdio>

#include "format/reader_impl.h"
#include "tests/format/future_capture.h"

namespace ebt::format {
namespace {

std::string dump_to_string(const CaptureReader& r, const ReadOptions& o = {}) {
  std::FILE* f = std::tmpfile();
  r.dump_json(f, o);
  std::rewind(f);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  std::fclose(f);
  return out;
}

TEST(Schema, UnknownKindIsDumpedThroughTheEmbeddedSchema) {
  const std::string path = testing::temp_path("future.ebt");
  testing::write_future_capture(path);
  CaptureReader r(path);
  auto names = r.embedded_kind_names();
  ASSERT_EQ(names.size(), testing::kGadgetOrdinal + 1u);
  EXPECT_EQ(names[testing::kGadgetOrdinal], "gadget");
  EXPECT_EQ(names[11], "cpuSamples");
  EXPECT_STREQ(kind_name(testing::kGadgetOrdinal), "");  // this build does not know it

  testing::Collected c;
  r.read(c);
  EXPECT_EQ(c.unknown, std::vector<uint16_t>{testing::kGadgetOrdinal});
  EXPECT_EQ(c.samples.size(), 1u);
  EXPECT_EQ(c.stacks.size(), 1u);
  EXPECT_TRUE(r.damage().empty()) << testing::damage_text(r);

  std::string out = dump_to_string(r);
  EXPECT_NE(out.find(std::string(testing::kGadgetLine) + "\n"), std::string::npos) << out;
  EXPECT_NE(out.find(R"({"_kind":"cpuSample","timeNs":1000000000,"pid":1,"tid":2,"cpu":0,"stackId":1})"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find(R"({"_kind":"session","hostname":"testhost")"), std::string::npos) << out;

  // Kind filter by ordinal works for unknown kinds too.
  ReadOptions only;
  only.kinds = kind_bit(testing::kGadgetOrdinal);
  EXPECT_EQ(dump_to_string(r, only), std::string(testing::kGadgetLine) + "\n");
  ::unlink(path.c_str());
}

TEST(Schema, DumpEscapesTextAndDataIntoValidJson) {
  const std::string path = testing::temp_path("escape.ebt");
  {
    CaptureWriter w(path, SessionInfo{});
    ProcessInfo p;
    p.pid = 5;
    p.comm = std::string("a\"b\\c\n\x01\xff\xc3\xa9", 10);  // quote, backslash, newline, control, invalid, é
    w.add(p);
    SyscallEvent e;
    e.enter_ns = 1;
    e.payload = {'G', '"', 0x00, 0x7f, 0x80, 0xff, '\n'};
    w.add(e);
    w.finish({});
  }
  CaptureReader r(path);
  std::string out = dump_to_string(r);
  EXPECT_NE(out.find("\"comm\":\"a\\\"b\\\\c\\n\\u0001\\ufffd\xc3\xa9\""), std::string::npos) << out;
  EXPECT_NE(out.find(R"("payload":"G\"\u0000\u007f\u0080\u00ff\n")"), std::string::npos) << out;
  ::unlink(path.c_str());
}

TEST(Schema, EmbeddedSchemaOfThisBuildNamesEveryKnownKind) {
  const std::string path = testing::temp_path("known.ebt");
  {
    CaptureWriter w(path, testing::sample_session());
    w.finish({});
  }
  CaptureReader r(path);
  auto names = r.embedded_kind_names();
  ASSERT_EQ(names.size(), kKnownKindCount);
  for (uint16_t k = 0; k < kKnownKindCount; ++k) EXPECT_EQ(names[k], kind_name(k));
  ::unlink(path.c_str());
}

// The reader recognises this build's schema block by its bytes
// (FrameMessage::equals_flat, no copy and no schema loader); any other
// message, even the same one framed differently, takes the checked path.
TEST(Schema, FrameMessageEqualsOnlyTheSameSegments) {
  // Three segments of 2 words each, at most, and a list that spans them.
  capnp::MallocMessageBuilder b(2, capnp::AllocationStrategy::FIXED_SIZE);
  auto root = b.getRoot<capnp::AnyPointer>().initAs<capnp::List<uint64_t>>(1);
  root.set(0, 0x1122334455667788);
  auto more = b.getOrphanage().newOrphan<capnp::List<uint64_t>>(3);
  more.get().set(2, 42);
  auto flat_words = capnp::messageToFlatArray(b);
  std::vector<uint8_t> flat(flat_words.asBytes().begin(), flat_words.asBytes().end());
  ASSERT_GT(b.getSegmentsForOutput().size(), 1u);
  kj::VectorOutputStream packed;
  capnp::writePackedMessage(packed, b);
  DecodeBudget budget(1 << 20);
  FrameMessage m(packed.getArray().begin(), packed.getArray().size(), budget);
  EXPECT_TRUE(m.equals_flat(flat));

  auto changed = flat;
  changed.back() ^= 1;
  EXPECT_FALSE(m.equals_flat(changed));
  changed = flat;
  changed.insert(changed.end(), 8, 0);
  EXPECT_FALSE(m.equals_flat(changed));
  EXPECT_FALSE(m.equals_flat(std::vector<uint8_t>(flat.begin(), flat.end() - 8)));
  EXPECT_FALSE(m.equals_flat({}));
  // The same words in one segment: another framing, not equal.
  capnp::MallocMessageBuilder one;
  one.setRoot(b.getRoot<capnp::AnyPointer>().asReader());
  auto one_words = capnp::messageToFlatArray(one);
  EXPECT_FALSE(m.equals_flat(std::vector<uint8_t>(one_words.asBytes().begin(), one_words.asBytes().end())));
}

}  // namespace
}  // namespace ebt::format
