// Writes a capture as a newer ebtrace would: the embedded schema knows a record
// kind ("gadget", at the ordinal after the last one this build knows) that this
// build's compiled schema does not.
#pragma once

#include <capnp/message.h>
#include <capnp/serialize.h>

#include "format/schema_util.h"
#include "tests/format/future.capnp.h"
#include "tests/format/test_util.h"

namespace ebt::format::testing {

inline constexpr uint16_t kGadgetOrdinal = static_cast<uint16_t>(future::Record::GADGET);
static_assert(kGadgetOrdinal == kKnownKindCount, "future.capnp is generated with the next ordinal");

inline void write_future_capture(const std::string& path) {
  WriterOptions o;
  o.schema_block_override = encode_schema_block(capnp::Schema::from<future::Record>());
  CaptureWriter w(path, sample_session(), o);
  w.add(Stack{1, {{0x1000, FrameKind::kUser}}});
  capnp::MallocMessageBuilder msg;
  auto g = msg.initRoot<future::Record>().initGadget();
  g.setName("widget \"7\"");
  g.setSize(42);
  auto tags = g.initTags(2);
  tags.set(0, "new");
  tags.set(1, "shiny");
  const uint8_t blob[] = {0x00, 0x41, 0xff};
  g.setBlob(kj::arrayPtr(blob, sizeof blob));
  g.setMood(future::Gadget::Mood::GRUMPY);
  auto flat = capnp::messageToFlatArray(msg);
  w.add_raw(kGadgetOrdinal, flat.begin(), flat.size() * sizeof(capnp::word));
  w.add(CpuSample{1'000'000'000, 1, 2, 0, 1});
  w.finish({2'000'000'000, 1, 0});
}

inline const char* kGadgetLine =
    R"({"_kind":"gadget","name":"widget \"7\"","size":42,"tags":["new","shiny"],"blob":"\u0000A\u00ff","mood":"grumpy"})";

}  // namespace ebt::format::testing
