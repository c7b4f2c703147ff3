// The schema embedded in every capture (block 0). Internal to format/ and its
// tests: other modules never see Cap'n Proto types.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <capnp/schema.h>

namespace ebt::format {

// The Record struct this ebtrace was compiled with.
capnp::StructSchema compiled_record_schema();

// A SchemaBlock message (capnp::messageToFlatArray bytes) holding `record` and
// every node it depends on. Pass it as WriterOptions::schema_block_override to
// embed a different schema (tests of forward compatibility).
std::vector<uint8_t> encode_schema_block(capnp::StructSchema record);

// Checks schema nodes from a capture before they reach capnp::SchemaLoader,
// whose validator is not hardened against crafted nodes (Cap'n Proto 0.9.2
// recurses forever on some, and overflows on others): only struct and enum
// nodes, unique ids, every field inside its struct's sections, every type
// among the nodes, no group nested in itself, everything within small limits.
// Returns "" when they are fine, else why not. Pointers are checked by the
// caller (a deep copy throws on invalid ones).
std::string check_schema_nodes(capnp::List<capnp::schema::Node>::Reader nodes);

}  // namespace ebt::format
