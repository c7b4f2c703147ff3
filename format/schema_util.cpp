#include "format/schema_util.h"

#include <unordered_map>
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

namespace {

using capnp::schema::Node;
using capnp::schema::Type;

constexpr unsigned kMaxNodes = 1024;
constexpr unsigned kMaxFields = 4096;
constexpr unsigned kMaxTypeNesting = 8;
constexpr unsigned kMaxGroupDepth = 32;

// Bits of a data field; 0 for void; -1 for pointers; -2 when not allowed here.
int type_bits(Type::Reader t) {
  switch (t.which()) {
    case Type::VOID: return 0;
    case Type::BOOL: return 1;
    case Type::INT8: case Type::UINT8: return 8;
    case Type::INT16: case Type::UINT16: case Type::ENUM: return 16;
    case Type::INT32: case Type::UINT32: case Type::FLOAT32: return 32;
    case Type::INT64: case Type::UINT64: case Type::FLOAT64: return 64;
    case Type::TEXT: case Type::DATA: case Type::LIST: case Type::STRUCT: return -1;
    default: return -2;  // interfaces, AnyPointer: no record uses them
  }
}

std::string check_type(Type::Reader t, const std::unordered_map<uint64_t, Node::Which>& kinds, unsigned depth) {
  if (depth > kMaxTypeNesting) return "list types nested too deeply";
  switch (t.which()) {
    case Type::LIST: return check_type(t.getList().getElementType(), kinds, depth + 1);
    case Type::STRUCT: {
      auto k = kinds.find(t.getStruct().getTypeId());
      return k != kinds.end() && k->second == Node::STRUCT ? "" : "a field's struct type is not in the schema";
    }
    case Type::ENUM: {
      auto k = kinds.find(t.getEnum().getTypeId());
      return k != kinds.end() && k->second == Node::ENUM ? "" : "a field's enum type is not in the schema";
    }
    default: return type_bits(t) == -2 ? "unsupported field type" : "";
  }
}

std::string check_struct(Node::Reader n, const std::unordered_map<uint64_t, Node::Which>& kinds,
                         const std::unordered_map<uint64_t, Node::Reader>& by_id) {
  auto s = n.getStruct();
  const uint64_t data_bits = uint64_t{s.getDataWordCount()} * 64;
  const uint64_t pointers = s.getPointerCount();
  auto fields = s.getFields();
  if (fields.size() > kMaxFields) return "too many fields";
  unsigned discriminants = 0;
  std::unordered_set<uint16_t> values;
  for (auto f : fields) {
    uint16_t d = f.getDiscriminantValue();
    if (d != capnp::schema::Field::NO_DISCRIMINANT) {
      ++discriminants;
      if (d >= s.getDiscriminantCount() || !values.insert(d).second) return "bad union discriminant";
    }
    if (f.isGroup()) {
      auto g = by_id.find(f.getGroup().getTypeId());
      if (g == by_id.end() || !g->second.isStruct() || !g->second.getStruct().getIsGroup())
        return "a group field's type is not a group in the schema";
      continue;
    }
    auto slot = f.getSlot();
    auto type = slot.getType();
    if (auto why = check_type(type, kinds, 0); !why.empty()) return why;
    int bits = type_bits(type);
    uint64_t offset = slot.getOffset();
    if (bits > 0 && (offset + 1) * uint64_t(bits) > data_bits) return "a field lies outside its struct's data";
    if (bits < 0 && offset >= pointers) return "a field lies outside its struct's pointers";
  }
  if (discriminants != s.getDiscriminantCount() || discriminants == 1) return "bad union";
  if (discriminants > 0 && (uint64_t{s.getDiscriminantOffset()} + 1) * 16 > data_bits)
    return "union discriminant outside the struct's data";
  return "";
}

// Reads every text of a node once. An invalid one (not NUL-terminated, not a
// byte list) throws here; inside SchemaLoader, whose error context re-reads
// the same text, Cap'n Proto 0.9.2 recursed until the stack overflowed.
void touch_texts(Node::Reader n) {
  size_t bytes = n.getDisplayName().size();
  for (auto nn : n.getNestedNodes()) bytes += nn.getName().size();
  for (auto p : n.getParameters()) bytes += p.getName().size();
  auto value = [&](capnp::schema::Value::Reader v) {
    if (v.isText()) bytes += v.getText().size();
    if (v.isData()) bytes += v.getData().size();
  };
  for (auto a : n.getAnnotations()) value(a.getValue());
  if (n.isStruct())
    for (auto f : n.getStruct().getFields()) {
      bytes += f.getName().size();
      for (auto a : f.getAnnotations()) value(a.getValue());
      if (f.isSlot()) value(f.getSlot().getDefaultValue());
    }
  if (n.isEnum())
    for (auto e : n.getEnum().getEnumerants()) {
      bytes += e.getName().size();
      for (auto a : e.getAnnotations()) value(a.getValue());
    }
  (void)bytes;
}

}  // namespace

std::string check_schema_nodes(capnp::List<Node>::Reader nodes) {
  if (nodes.size() > kMaxNodes) return "more than " + std::to_string(kMaxNodes) + " schema nodes";
  for (auto n : nodes) touch_texts(n);
  std::unordered_map<uint64_t, Node::Which> kinds;
  std::unordered_map<uint64_t, Node::Reader> by_id;
  for (auto n : nodes) {
    if (n.which() != Node::STRUCT && n.which() != Node::ENUM) return "a schema node is neither a struct nor an enum";
    if (!kinds.emplace(n.getId(), n.which()).second) return "two schema nodes with the same id";
    by_id.emplace(n.getId(), n);
  }
  std::unordered_set<uint64_t> groups;  // each group node belongs to one field
  for (auto n : nodes)
    if (n.isStruct())
      for (auto f : n.getStruct().getFields())
        if (f.isGroup() && !groups.insert(f.getGroup().getTypeId()).second) return "a group node used by two fields";
  for (auto n : nodes) {
    if (n.isStruct()) {
      if (auto why = check_struct(n, kinds, by_id); !why.empty())
        return "node " + std::string(n.getDisplayName().cStr()) + ": " + why;
    } else if (n.getEnum().getEnumerants().size() > 65535) {
      return "too many enumerants";
    }
  }
  // Groups share their parent's sections, so a group nested in itself is an
  // endless struct without a single pointer to follow: refuse cycles.
  for (auto n : nodes) {
    if (!n.isStruct()) continue;
    std::vector<std::pair<uint64_t, unsigned>> todo{{n.getId(), 0}};
    while (!todo.empty()) {
      auto [id, depth] = todo.back();
      todo.pop_back();
      if (depth > kMaxGroupDepth) return "groups nested deeper than " + std::to_string(kMaxGroupDepth);
      for (auto f : by_id.at(id).getStruct().getFields())
        if (f.isGroup()) {
          if (f.getGroup().getTypeId() == n.getId()) return "a group contains itself";
          todo.push_back({f.getGroup().getTypeId(), depth + 1});
        }
    }
  }
  return "";
}

}  // namespace ebt::format
