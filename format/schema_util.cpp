#include "format/schema_util.h"

#include <unordered_set>

#include <capnp/message.h>
#include <capnp/serialize.h>

#include "format/capture.capnp.h"

namespace ebt::format {
namespace {

struct Collector {
  std::unordered_set<uint64_t> seen;
  std::vector<capnp::Schema> nodes;

  void add_type(capnp::Type t) {
    while (t.isList()) t = t.asList().getElementType();
    if (t.isStruct()) add_struct(t.asStruct());
    else if (t.isEnum()) add(t.asEnum());
  }
  bool add(capnp::Schema s) {
    if (!seen.insert(s.getProto().getId()).second) return false;
    nodes.push_back(s);
    return true;
  }
  void add_struct(capnp::StructSchema s) {
    if (!add(s)) return;
    for (auto f : s.getFields()) {
      auto proto = f.getProto();
      if (proto.isGroup()) add_struct(f.getType().asStruct());
      else add_type(f.getType());
    }
  }
};

}  // namespace

capnp::StructSchema compiled_record_schema() { return capnp::Schema::from<wire::Record>(); }

std::vector<uint8_t> encode_schema_block(capnp::StructSchema record) {
  Collector c;
  c.add_struct(record);
  capnp::MallocMessageBuilder msg;
  auto b = msg.initRoot<wire::SchemaBlock>();
  b.setRecordNodeId(record.getProto().getId());
  auto nodes = b.initNodes(c.nodes.size());
  for (unsigned i = 0; i < c.nodes.size(); ++i) nodes.setWithCaveats(i, c.nodes[i].getProto());
  auto flat = capnp::messageToFlatArray(msg);
  auto bytes = flat.asBytes();
  return std::vector<uint8_t>(bytes.begin(), bytes.end());
}

}  // namespace ebt::format
