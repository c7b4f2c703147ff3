// The schema embedded in every capture (block 0). Internal to format/ and its
// tests: other modules never see Cap'n Proto types.
#pragma once

#include <cstdint>
#include <vector>

#include <capnp/schema.h>

namespace ebt::format {

// The Record struct this ebtrace was compiled with.
capnp::StructSchema compiled_record_schema();

// A SchemaBlock message (capnp::messageToFlatArray bytes) holding `record` and
// every node it depends on. Pass it as WriterOptions::schema_block_override to
// embed a different schema (tests of forward compatibility).
std::vector<uint8_t> encode_schema_block(capnp::StructSchema record);

}  // namespace ebt::format
