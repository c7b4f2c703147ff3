// `ebtrace dump`: records as JSON lines, decoded through the embedded schema.
#include <cmath>
#include <cstring>

#include <capnp/dynamic.h>

#include "format/capture.capnp.h"
#include "format/convert.h"
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

void put_value(std::string& o, capnp::DynamicValue::Reader v);

void put_fields(std::string& o, capnp::DynamicStruct::Reader s, bool& first) {
  auto field = [&](capnp::StructSchema::Field f) {
    if (!first) o += ',';
    first = false;
    put_text(o, f.getProto().getName().cStr(), f.getProto().getName().size());
    o += ':';
    put_value(o, s.get(f));
  };
  for (auto f : s.getSchema().getNonUnionFields()) field(f);
  KJ_IF_MAYBE(f, s.which()) { field(*f); }
}

void put_value(std::string& o, capnp::DynamicValue::Reader v) {
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
        put_value(o, e);
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
      put_fields(o, v.as<capnp::DynamicStruct>(), first);
      o += '}';
      break;
    }
    default: o += "null"; break;
  }
}

// Starts a line: {"kind":"name"
void begin(std::string& o, const char* kind) {
  o += "{\"_kind\":";
  put_text(o, kind, std::strlen(kind));
}

// A record whose union member is `name`: its fields flattened after "kind".
void put_record(std::string& o, const char* name, capnp::DynamicValue::Reader v) {
  begin(o, name);
  if (v.getType() == capnp::DynamicValue::STRUCT) {
    bool first = false;
    put_fields(o, v.as<capnp::DynamicStruct>(), first);
  } else {
    o += ",\"value\":";
    put_value(o, v);
  }
  o += "}\n";
}

struct RowBatch {
  RecordKind kind;
  const char* member;   // union member name
  const char* list;     // list field inside the batch struct
  const char* element;  // "kind" of one expanded line
  const char* time;     // time field of one element
};
constexpr RowBatch kRowBatches[] = {
    {RecordKind::kOffCpuIntervals, "offCpuIntervals", "intervals", "offCpuInterval", "startNs"},
    {RecordKind::kSkbHops, "skbHops", "hops", "skbHop", "timeNs"},
    {RecordKind::kSyscalls, "syscalls", "events", "syscallEvent", "enterNs"},
    {RecordKind::kStackSnapshots, "stackSnapshots", "snapshots", "stackSnapshot", "timeNs"},
};

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
  impl_->for_each_message(options, [&](const BlockRef&, uint16_t, capnp::MessageReader& msg, size_t) -> uint64_t {
    auto root = msg.getRoot<capnp::DynamicStruct>(schema);
    capnp::StructSchema::Field field;
    KJ_IF_MAYBE(f, root.which()) { field = *f; }
    else {
      // Not even the embedded schema knows this member: say which ordinal it was.
      auto raw = msg.getRoot<wire::Record>();
      begin(o, ("#" + std::to_string(static_cast<unsigned>(raw.which()))).c_str());
      o += "}\n";
      ++lines;
      emit();
      return 1;
    }
    const uint16_t ordinal = field.getProto().getDiscriminantValue();
    const auto name = field.getProto().getName();
    auto value = root.get(field);
    uint64_t n = 0;

    if (ordinal == static_cast<uint16_t>(RecordKind::kCpuSamples) && name == "cpuSamples") {
      conv::for_each_sample(msg.getRoot<wire::Record>().getCpuSamples(), [&](const CpuSample& s) {
        if (!in_range(s.time_ns)) return;
        begin(o, "cpuSample");
        o += ",\"timeNs\":";
        put_u(o, s.time_ns);
        o += ",\"pid\":";
        put_u(o, s.pid);
        o += ",\"tid\":";
        put_u(o, s.tid);
        o += ",\"cpu\":";
        put_u(o, s.cpu);
        o += ",\"stackId\":";
        put_u(o, s.stack_id);
        if (s.lua_stack_id) {
          o += ",\"luaStackId\":";
          put_u(o, s.lua_stack_id);
        }
        o += "}\n";
        ++n;
        emit();
      });
      lines += n;
      return n;
    }
    for (const auto& rb : kRowBatches) {
      if (ordinal != static_cast<uint16_t>(rb.kind) || name != rb.member ||
          value.getType() != capnp::DynamicValue::STRUCT)
        continue;
      auto batch = value.as<capnp::DynamicStruct>();
      KJ_IF_MAYBE(lf, batch.getSchema().findFieldByName(rb.list)) {
        for (auto e : batch.get(*lf).as<capnp::DynamicList>()) {
          auto ev = e.as<capnp::DynamicStruct>();
          KJ_IF_MAYBE(tf, ev.getSchema().findFieldByName(rb.time)) {
            if (!in_range(ev.get(*tf).as<uint64_t>())) continue;
          }
          put_record(o, rb.element, e);
          ++n;
          emit();
        }
        lines += n;
        return n;
      }
    }
    if (ordinal == static_cast<uint16_t>(RecordKind::kLostEvents) && name == "lostEvents" &&
        value.getType() == capnp::DynamicValue::STRUCT) {
      auto ev = value.as<capnp::DynamicStruct>();
      KJ_IF_MAYBE(tf, ev.getSchema().findFieldByName("timeNs")) {
        if (!in_range(ev.get(*tf).as<uint64_t>())) return 0;
      }
    }
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
