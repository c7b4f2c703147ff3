// Forward compatibility: a record kind unknown to this build is still decoded
// and dumped through the schema embedded in the capture.
#include <gtest/gtest.h>

#include <cstdio>

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

}  // namespace
}  // namespace ebt::format
