// `ebtrace dump`: records as JSON lines, decoded through the embedded schema.
#include <array>
#include <cmath>
#include <cstring>
#include <functional>

#include <capnp/dynamic.h>

#include "common/error.h"
#include "format/capture.capnp.h"
#include "format/kind_table.h"
#include "format/reader_impl.h"
#include "format/schema_util.h"

namespace ebt::format {
namespace {

void put_u(std::string& o, uint64_t v) { o += std::to_string(v); }
void put_i(std::string& o, int64_t v) { o += std::to_string(v); }

void put_hex_escape(std::string& o, unsigned c) {
  static const char* hex = "0123456789abcdef";
  o += "\\u00";
  o += hex[(c >> 4) & 15];
  o += hex[c & 15];
}

void put_ascii_char(std::string& o, unsigned char c) {
  switch (c) {
    case '"': o += "\\\""; break;
    case '\\': o += "\\\\"; break;
    case '\n': o += "\\n"; break;
    case '\t': o += "\\t"; break;
    case '\r': o += "\\r"; break;
    default:
      if (c < 0x20 || c == 0x7f) put_hex_escape(o, c);
      else o += static_cast<char>(c);
  }
}

// Length of a valid UTF-8 sequence at p (n bytes left), 0 if invalid.
size_t utf8_len(const unsigned char* p, size_t n) {
  unsigned char c = p[0];
  size_t len = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
  if (len == 0 || len > n) return 0;
  for (size_t i = 1; i < len; ++i)
    if ((p[i] & 0xc0) != 0x80) return 0;
  return len;
}

// Text: UTF-8 kept, invalid bytes replaced by U+FFFD.
void put_text(std::string& o, const char* s, size_t n) {
  o += '"';
  auto* p = reinterpret_cast<const unsigned char*>(s);
  for (size_t i = 0; i < n;) {
    if (p[i] < 0x80) {
      put_ascii_char(o, p[i]);
      ++i;
    } else if (size_t l = utf8_len(p + i, n - i)) {
      o.append(s + i, l);
      i += l;
    } else {
      o += "\\ufffd";
      ++i;
    }
  }
  o += '"';
}

// Data: one JSON character per byte, U+0000..U+00FF (printable ASCII as is).
void put_data(std::string& o, const kj::byte* p, size_t n) {
  o += '"';
  for (size_t i = 0; i < n; ++i) {
    if (p[i] >= 0x80) put_hex_escape(o, p[i]);
    else put_ascii_char(o, p[i]);
  }
  o += '"';
}

void put_value(std::string& o, capnp::DynamicValue::Reader v, unsigned depth);

// Structs and lists nested deeper than this are refused: groups (which need no
// pointer, so the message's nesting limit does not stop them) can nest without
// end in a crafted embedded schema.
constexpr unsigned kMaxJsonDepth = 64;

void put_fields(std::string& o, capnp::DynamicStruct::Reader s, bool& first, unsigned depth = 0) {
  if (depth > kMaxJsonDepth)
    throw CorruptRecord("record nested deeper than " + std::to_string(kMaxJsonDepth) + " levels (limit)");
  auto field = [&](capnp::StructSchema::Field f) {
    if (!first) o += ',';
    first = false;
    put_text(o, f.getProto().getName().cStr(), f.getProto().getName().size());
    o += ':';
    put_value(o, s.get(f), depth + 1);
  };
  for (auto f : s.getSchema().getNonUnionFields()) field(f);
  KJ_IF_MAYBE(f, s.which()) { field(*f); }
}

void put_value(std::string& o, capnp::DynamicValue::Reader v, unsigned depth) {
  switch (v.getType()) {
    case capnp::DynamicValue::VOID: o += "null"; break;
    case capnp::DynamicValue::BOOL: o += v.as<bool>() ? "true" : "false"; break;
    case capnp::DynamicValue::INT: put_i(o, v.as<int64_t>()); break;
    case capnp::DynamicValue::UINT: put_u(o, v.as<uint64_t>()); break;
    case capnp::DynamicValue::FLOAT: {
      double d = v.as<double>();
      if (std::isfinite(d)) {
        char buf[40];
        std::snprintf(buf, sizeof buf, "%.17g", d);
        o += buf;
      } else {
        o += "null";
      }
      break;
    }
    case capnp::DynamicValue::TEXT: {
      auto t = v.as<capnp::Text>();
      put_text(o, t.cStr(), t.size());
      break;
    }
    case capnp::DynamicValue::DATA: {
      auto d = v.as<capnp::Data>();
      put_data(o, d.begin(), d.size());
      break;
    }
    case capnp::DynamicValue::LIST: {
      o += '[';
      bool first = true;
      for (auto e : v.as<capnp::DynamicList>()) {
        if (!first) o += ',';
        first = false;
        put_value(o, e, depth + 1);
      }
      o += ']';
      break;
    }
    case capnp::DynamicValue::ENUM: {
      auto e = v.as<capnp::DynamicEnum>();
      KJ_IF_MAYBE(en, e.getEnumerant()) {
        auto name = en->getProto().getName();
        put_text(o, name.cStr(), name.size());
      } else {
        put_u(o, e.getRaw());
      }
      break;
    }
    case capnp::DynamicValue::STRUCT: {
      o += '{';
      bool first = true;
      put_fields(o, v.as<capnp::DynamicStruct>(), first, depth + 1);
      o += '}';
      break;
    }
    default: o += "null"; break;
  }
}

// Starts a line: {"kind":"name"
void begin_line(std::string& o, const char* kind) {
  o += "{\"_kind\":";
  put_text(o, kind, std::strlen(kind));
}

// A record whose union member is `name`: its fields flattened after "kind".
void put_record_fields(std::string& o, const char* name, capnp::DynamicValue::Reader v) {
  begin_line(o, name);
  if (v.getType() == capnp::DynamicValue::STRUCT) {
    bool first = false;
    put_fields(o, v.as<capnp::DynamicStruct>(), first);
  } else {
    o += ",\"value\":";
    put_value(o, v, 1);
  }
  o += "}\n";
}

void put_record(std::string& o, const char* name, capnp::DynamicValue::Reader v) {
  const size_t mark = o.size();
  try {
    put_record_fields(o, name, v);
  } catch (...) {
    o.resize(mark);  // never half a line
    throw;
  }
}

// How dump prints the records of each kind this build knows, derived from the
// table of kinds: batches expand to one line per event (by the schema's row
// struct, or the entry's dump_fields for a columnar batch); events are filtered
// by their time field. `member` is the union member name as this build knows it:
// an embedded schema naming the ordinal differently is printed as it says.
struct DumpWay {
  const char* member = "";
  Shape shape = Shape::kTable;
  const char* time_field = nullptr;  // events and batches
  // Columnar batches: prints the batch's events, returns how many.
  uint64_t (*columns)(std::string&, wire::Record::Reader, uint64_t begin, uint64_t end,
                      const std::function<void()>& emit) = nullptr;
};

template <RecordKind K>
uint64_t dump_columns(std::string& o, wire::Record::Reader r, uint64_t begin, uint64_t end,
                      const std::function<void()>& emit) {
  using E = Kind<K>;
  uint64_t n = 0;
  decode_records<K>(r, [&](const record_t<K>& e) {
    const uint64_t t = E::time(e);
    if (t < begin || t >= end) return;
    begin_line(o, E::dump_element);
    E::dump_fields([&](const char* name, uint64_t v) {
      o += ",\"";
      o += name;
      o += "\":";
      put_u(o, v);
    }, e);
    o += "}\n";
    ++n;
    emit();
  });
  return n;
}

const std::array<DumpWay, kKnownKindCount>& dump_ways() {
  static const auto ways = kind_array([](auto k) {
    using E = Kind<k()>;
    DumpWay w;
    w.member = kind_name(static_cast<uint16_t>(k()));
    w.shape = E::shape;
    if constexpr (E::shape != Shape::kTable) w.time_field = E::time_field;
    if constexpr (requires { E::dump_element; }) w.columns = &dump_columns<k()>;
    return w;
  });
  return ways;
}

}  // namespace

uint64_t CaptureReader::dump_json(std::FILE* out, const ReadOptions& options) const {
  const capnp::StructSchema* embedded = impl_->embedded_record();
  capnp::StructSchema schema = embedded ? *embedded : compiled_record_schema();
  uint64_t lines = 0;
  std::string o;
  auto in_range = [&](uint64_t t) { return t >= options.time_begin_ns && t < options.time_end_ns; };
  auto emit = [&] {
    if (o.size() > (1 << 16)) {
      std::fwrite(o.data(), 1, o.size(), out);
      o.clear();
    }
  };
  // Events outside the time range are not printed: a struct without the time
  // field (an embedded schema that renamed it) is.
  auto event_in_range = [&](capnp::DynamicStruct::Reader ev, const char* time_field) {
    KJ_IF_MAYBE(tf, ev.getSchema().findFieldByName(time_field)) { return in_range(ev.get(*tf).as<uint64_t>()); }
    return true;
  };
  impl_->for_each_message(options, [&](const BlockRef&, uint16_t, capnp::MessageReader& msg, size_t) -> uint64_t {
    auto root = msg.getRoot<capnp::DynamicStruct>(schema);
    capnp::StructSchema::Field field;
    KJ_IF_MAYBE(f, root.which()) { field = *f; }
    else {
      // Not even the embedded schema knows this member: say which ordinal it was.
      auto raw = msg.getRoot<wire::Record>();
      begin_line(o, ("#" + std::to_string(static_cast<unsigned>(raw.which()))).c_str());
      o += "}\n";
      ++lines;
      emit();
      return 1;
    }
    const uint16_t ordinal = field.getProto().getDiscriminantValue();
    const auto name = field.getProto().getName();
    auto value = root.get(field);
    const DumpWay* way = ordinal < kKnownKindCount && name == dump_ways()[ordinal].member ? &dump_ways()[ordinal]
                                                                                            : nullptr;
    const bool is_struct = value.getType() == capnp::DynamicValue::STRUCT;
    if (way && way->columns) {
      uint64_t n = way->columns(o, msg.getRoot<wire::Record>(), options.time_begin_ns, options.time_end_ns, emit);
      lines += n;
      return n;
    }
    if (way && way->shape == Shape::kBatch && is_struct) {
      auto batch = value.as<capnp::DynamicStruct>();
      if (auto list = row_list(batch.getSchema())) {
        const std::string element = row_name(*list);
        uint64_t n = 0;
        for (auto e : batch.get(*list).as<capnp::DynamicList>()) {
          if (!event_in_range(e.as<capnp::DynamicStruct>(), way->time_field)) continue;
          put_record(o, element.c_str(), e);
          ++n;
          emit();
        }
        lines += n;
        return n;
      }
    }
    if (way && way->shape == Shape::kEvent && is_struct &&
        !event_in_range(value.as<capnp::DynamicStruct>(), way->time_field))
      return 0;
    put_record(o, name.cStr(), value);
    ++lines;
    emit();
    return 1;
  });
  std::fwrite(o.data(), 1, o.size(), out);
  std::fflush(out);
  return lines;
}

}  // namespace ebt::format
