// The table of record kinds (format/kind_table.h) agrees with the schema, and
// everything derived from it (names, masks, dump names) is what it should be.
#include <gtest/gtest.h>

#include "format/kind_table.h"
#include "format/schema_util.h"

namespace ebt::format {
namespace {

static_assert(kind_of<CpuSample> == RecordKind::kCpuSamples);
static_assert(kind_of<SessionInfo> == RecordKind::kSession);
static_assert(std::is_same_v<record_t<RecordKind::kStackSnapshots>, StackSnapshot>);
static_assert(kind_bit_of<SkbHop> == kind_bit(RecordKind::kSkbHops));

TEST(Kinds, EveryMemberOfTheRecordUnionHasAnEntryAndTheSchemaName) {
  auto record = compiled_record_schema();
  ASSERT_EQ(record.getUnionFields().size(), kKnownKindCount)
      << "a member of the Record union has no entry in format/records.h / format/kind_table.h (or the reverse)";
  for (auto f : record.getUnionFields()) {
    uint16_t d = f.getProto().getDiscriminantValue();
    ASSERT_LT(d, kKnownKindCount);
    EXPECT_EQ(std::string(kind_name(d)), f.getProto().getName().cStr());
  }
  EXPECT_STREQ(kind_name(kKnownKindCount), "");
}

TEST(Kinds, TimeFieldsNameFieldsOfTheSchema) {
  auto record = compiled_record_schema();
  for_each_kind([&](auto k) {
    using E = Kind<k()>;
    const uint16_t d = static_cast<uint16_t>(k());
    if constexpr (E::shape == Shape::kEvent) {
      auto member = record.getFieldByName(kind_name(d)).getType().asStruct();
      EXPECT_TRUE(member.findFieldByName(E::time_field) != nullptr) << kind_name(d);
    } else if constexpr (E::shape == Shape::kBatch && !requires { E::dump_element; }) {
      auto list = row_list(record.getFieldByName(kind_name(d)).getType().asStruct());
      ASSERT_TRUE(list.has_value()) << kind_name(d) << ": a row batch needs a list of structs";
      auto row = list->getType().asList().getElementType().asStruct();
      EXPECT_TRUE(row.findFieldByName(E::time_field) != nullptr) << kind_name(d);
    }
  });
}

TEST(Kinds, EventMaskAndDumpNames) {
  EXPECT_EQ(kEventKinds, kind_bit(RecordKind::kCpuSamples) | kind_bit(RecordKind::kOffCpuIntervals) |
                             kind_bit(RecordKind::kSkbHops) | kind_bit(RecordKind::kSyscalls) |
                             kind_bit(RecordKind::kLostEvents) | kind_bit(RecordKind::kStackSnapshots) |
                             kind_bit(RecordKind::kTcpEvents) | kind_bit(RecordKind::kRunqLatency) |
                             kind_bit(RecordKind::kPreemptions) | kind_bit(RecordKind::kCgroupSwitches) |
                             kind_bit(RecordKind::kCgroupCpu));
  EXPECT_STREQ(event_name(static_cast<uint16_t>(RecordKind::kCpuSamples)), "cpuSample");
  EXPECT_STREQ(event_name(static_cast<uint16_t>(RecordKind::kOffCpuIntervals)), "offCpuInterval");
  EXPECT_STREQ(event_name(static_cast<uint16_t>(RecordKind::kSkbHops)), "skbHop");
  EXPECT_STREQ(event_name(static_cast<uint16_t>(RecordKind::kSyscalls)), "syscallEvent");
  EXPECT_STREQ(event_name(static_cast<uint16_t>(RecordKind::kStackSnapshots)), "stackSnapshot");
  EXPECT_STREQ(event_name(static_cast<uint16_t>(RecordKind::kTcpEvents)), "tcpEvent");
  EXPECT_STREQ(event_name(static_cast<uint16_t>(RecordKind::kRunqLatency)), "runqLatency");
  EXPECT_STREQ(event_name(static_cast<uint16_t>(RecordKind::kPreemptions)), "preemption");
  EXPECT_STREQ(event_name(static_cast<uint16_t>(RecordKind::kCgroupSwitches)), "cgroupSwitch");
  EXPECT_STREQ(event_name(static_cast<uint16_t>(RecordKind::kCgroupCpu)), "cgroupCpuSample");
  EXPECT_STREQ(event_name(static_cast<uint16_t>(RecordKind::kProcess)), "");
  EXPECT_STREQ(event_name(static_cast<uint16_t>(RecordKind::kLostEvents)), "");
}

}  // namespace
}  // namespace ebt::format
