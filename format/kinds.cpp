// Names of the record kinds, from the compiled schema and the table of kinds.
#include <cctype>

#include "format/kind_table.h"

namespace ebt::format {

std::optional<capnp::StructSchema::Field> row_list(capnp::StructSchema batch) {
  for (auto f : batch.getFields()) {
    auto t = f.getType();
    if (t.isList() && t.asList().getElementType().isStruct()) return f;
  }
  return std::nullopt;
}

std::string row_name(capnp::StructSchema::Field list) {
  std::string name = list.getType().asList().getElementType().asStruct().getShortDisplayName().cStr();
  if (!name.empty()) name[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(name[0])));
  return name;
}

namespace {

struct Names {
  std::array<std::string, kKnownKindCount> kind, event;
  Names() {
    auto record = capnp::Schema::from<wire::Record>();
    for (auto f : record.getUnionFields()) {
      uint16_t d = f.getProto().getDiscriminantValue();
      if (d < kKnownKindCount) kind[d] = f.getProto().getName().cStr();
    }
    for_each_kind([&](auto k) {
      using E = Kind<k()>;
      const auto d = static_cast<uint16_t>(k());
      if constexpr (E::shape == Shape::kBatch) {
        if constexpr (requires { E::dump_element; }) {
          event[d] = E::dump_element;
        } else {
          auto member = record.getFieldByName(kind[d]).getType().asStruct();
          if (auto list = row_list(member)) event[d] = row_name(*list);
        }
      }
    });
  }
};

const Names& names() {
  static const Names n;
  return n;
}

}  // namespace

const char* kind_name(uint16_t ordinal) { return ordinal < kKnownKindCount ? names().kind[ordinal].c_str() : ""; }
const char* event_name(uint16_t ordinal) { return ordinal < kKnownKindCount ? names().event[ordinal].c_str() : ""; }

}  // namespace ebt::format
