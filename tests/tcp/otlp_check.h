// Reads an OTLP JSON document strictly, with libprotobuf's JSON parser into
// messages generated from the OTLP .proto definitions in tests/tcp/otlp/
// (unknown fields rejected), after turning the hex trace and span ids of the
// OTLP JSON encoding into the base64 the protobuf JSON mapping expects.
#pragma once

#include <cstdint>
#include <map>
#include <regex>
#include <string>
#include <vector>

#include <google/protobuf/util/json_util.h>

#include "opentelemetry/proto/trace/v1/trace.pb.h"

namespace ebt::test {

struct OtlpSpan {
  std::string trace_id, span_id, parent_id;  // raw bytes
  std::string name;
  int kind = 0;
  uint64_t start_ns = 0, end_ns = 0;
  std::map<std::string, std::string> attrs;  // values as text
  std::vector<std::string> events;
  std::vector<std::pair<std::string, std::string>> links;  // (trace id, span id), raw bytes
  int status = 0;
  std::string service;  // its resource's service.name
};

struct OtlpDoc {
  std::string error;  // empty: parsed
  size_t resources = 0;
  std::vector<OtlpSpan> spans;
};

inline std::string base64(const std::string& bytes) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    uint32_t v = uint8_t(bytes[i]) << 16 | uint8_t(bytes[i + 1]) << 8 | uint8_t(bytes[i + 2]);
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], t[v & 63]};
  }
  if (i + 1 == bytes.size()) {
    uint32_t v = uint8_t(bytes[i]) << 16;
    out += {t[v >> 18], t[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == bytes.size()) {
    uint32_t v = uint8_t(bytes[i]) << 16 | uint8_t(bytes[i + 1]) << 8;
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], '='};
  }
  return out;
}

inline OtlpDoc parse_otlp_strict(const std::string& json) {
  OtlpDoc doc;
  // Every id must be lower-case hex of the right length (32 for traces, 16 for spans).
  std::regex id_re("\"(traceId|spanId|parentSpanId)\":\"([^\"]*)\"");
  std::string converted;
  size_t last = 0, ids = 0;
  for (auto it = std::sregex_iterator(json.begin(), json.end(), id_re); it != std::sregex_iterator(); ++it) {
    const std::smatch& m = *it;
    std::string hex = m[2];
    size_t want = m[1] == "traceId" ? 32 : 16;
    if (hex.size() != want || hex.find_first_not_of("0123456789abcdef") != std::string::npos) {
      doc.error = "bad " + std::string(m[1]) + ": \"" + hex + "\"";
      return doc;
    }
    std::string bytes;
    for (size_t i = 0; i < hex.size(); i += 2) bytes += char(std::stoi(hex.substr(i, 2), nullptr, 16));
    converted += json.substr(last, m.position(0) - last) + "\"" + std::string(m[1]) + "\":\"" + base64(bytes) + "\"";
    last = m.position(0) + m.length(0);
    ids++;
  }
  converted += json.substr(last);
  size_t keys = 0;
  for (const char* k : {"\"traceId\"", "\"spanId\"", "\"parentSpanId\""})
    for (size_t p = json.find(k); p != std::string::npos; p = json.find(k, p + 1)) keys++;
  if (keys != ids) {
    doc.error = "an id is not a JSON string";
    return doc;
  }
  opentelemetry::proto::trace::v1::TracesData data;
  google::protobuf::util::JsonParseOptions opts;
  opts.ignore_unknown_fields = false;
  auto st = google::protobuf::util::JsonStringToMessage(converted, &data, opts);
  if (!st.ok()) {
    doc.error = st.ToString();
    return doc;
  }
  for (const auto& rs : data.resource_spans()) {
    doc.resources++;
    std::string service;
    for (const auto& kv : rs.resource().attributes())
      if (kv.key() == "service.name") service = kv.value().string_value();
    for (const auto& ss : rs.scope_spans())
      for (const auto& s : ss.spans()) {
        OtlpSpan o;
        o.trace_id = s.trace_id();
        o.span_id = s.span_id();
        o.parent_id = s.parent_span_id();
        o.name = s.name();
        o.kind = s.kind();
        o.start_ns = s.start_time_unix_nano();
        o.end_ns = s.end_time_unix_nano();
        for (const auto& kv : s.attributes()) {
          const auto& v = kv.value();
          o.attrs[kv.key()] = v.has_string_value() ? v.string_value()
                              : v.has_int_value()  ? std::to_string(v.int_value())
                              : v.has_bool_value() ? (v.bool_value() ? "true" : "false")
                                                   : "?";
        }
        for (const auto& e : s.events()) o.events.push_back(e.name());
        for (const auto& l : s.links()) o.links.push_back({l.trace_id(), l.span_id()});
        o.status = s.status().code();
        o.service = service;
        doc.spans.push_back(o);
      }
  }
  return doc;
}

// The span tree's invariants: ids of the right size, unique span ids, every
// parent a span of the same trace whose interval holds the child's. Returns
// "" or what is wrong.
inline std::string check_span_tree(const OtlpDoc& d) {
  std::map<std::string, const OtlpSpan*> by_id;
  for (const auto& s : d.spans) {
    if (s.trace_id.size() != 16 || s.span_id.size() != 8) return "bad id size in " + s.name;
    if (s.trace_id == std::string(16, '\0') || s.span_id == std::string(8, '\0')) return "zero id in " + s.name;
    if (!by_id.emplace(s.span_id, &s).second) return "duplicate span id: " + s.name;
    if (s.end_ns < s.start_ns) return "ends before it starts: " + s.name;
  }
  for (const auto& s : d.spans) {
    if (s.parent_id.empty()) continue;
    auto p = by_id.find(s.parent_id);
    if (p == by_id.end()) return "parent not in the document: " + s.name;
    if (p->second->trace_id != s.trace_id) return "parent in another trace: " + s.name;
    if (s.name.rfind("TCP accept", 0) == 0) continue;  // the server end of a client's connection
    if (s.start_ns < p->second->start_ns || s.end_ns > p->second->end_ns)
      return "child outside its parent: " + s.name + " in " + p->second->name;
  }
  return "";
}

}  // namespace ebt::test
