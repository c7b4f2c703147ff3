// A strict little JSON parser for tests: parses a whole document (RFC 8259,
// UTF-8 checked) into a tree, or throws std::runtime_error with the offset.
// Tests use it to prove the trace/latency JSON is valid and to inspect it.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace ebt::test {

struct Json {
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject } type = Type::kNull;
  bool b = false;
  double num = 0;
  std::string raw_number;  // the number's text, for exact comparisons
  std::string str;
  std::vector<Json> arr;
  std::vector<std::pair<std::string, Json>> obj;  // in document order

  // Special members and lookups are defined once Json is complete: clang with
  // libstdc++ 12 (the sanitizer build) otherwise instantiates
  // std::pair<std::string, Json> while Json is still incomplete.
  Json();
  Json(const Json&);
  Json(Json&&) noexcept;
  Json& operator=(const Json&);
  Json& operator=(Json&&) noexcept;
  ~Json();
  bool has(std::string_view k) const;
  const Json& operator[](std::string_view k) const;
};

inline Json::Json() = default;
inline Json::Json(const Json&) = default;
inline Json::Json(Json&&) noexcept = default;
inline Json& Json::operator=(const Json&) = default;
inline Json& Json::operator=(Json&&) noexcept = default;
inline Json::~Json() = default;
inline bool Json::has(std::string_view k) const {
  for (const auto& kv : obj)
    if (kv.first == k) return true;
  return false;
}
inline const Json& Json::operator[](std::string_view k) const {
  for (const auto& kv : obj)
    if (kv.first == k) return kv.second;
  throw std::runtime_error("no key " + std::string(k));
}

class JsonParser {
 public:
  static Json parse(std::string_view text) {
    JsonParser p(text);
    p.ws();
    Json v = p.value(0);
    p.ws();
    if (p.i_ != p.s_.size()) p.fail("trailing data");
    return v;
  }

 private:
  explicit JsonParser(std::string_view s) : s_(s) {}
  [[noreturn]] void fail(const char* what) {
    throw std::runtime_error(std::string("JSON: ") + what + " at offset " + std::to_string(i_));
  }
  void ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\r' || s_[i_] == '\t'))
      i_++;
  }
  char peek() { return i_ < s_.size() ? s_[i_] : '\0'; }
  void expect(char c) {
    if (peek() != c) fail("unexpected character");
    i_++;
  }
  void lit(std::string_view w) {
    if (s_.substr(i_, w.size()) != w) fail("bad literal");
    i_ += w.size();
  }
  Json value(int depth) {
    if (depth > 200) fail("too deep");
    Json v;
    char c = peek();
    if (c == '{') {
      v.type = Json::Type::kObject;
      i_++;
      ws();
      if (peek() == '}') { i_++; return v; }
      for (;;) {
        ws();
        if (peek() != '"') fail("expected key");
        std::string k = string();
        ws();
        expect(':');
        ws();
        v.obj.emplace_back(std::move(k), value(depth + 1));
        ws();
        if (peek() == ',') { i_++; continue; }
        expect('}');
        return v;
      }
    }
    if (c == '[') {
      v.type = Json::Type::kArray;
      i_++;
      ws();
      if (peek() == ']') { i_++; return v; }
      for (;;) {
        ws();
        v.arr.push_back(value(depth + 1));
        ws();
        if (peek() == ',') { i_++; continue; }
        expect(']');
        return v;
      }
    }
    if (c == '"') {
      v.type = Json::Type::kString;
      v.str = string();
      return v;
    }
    if (c == 't') { lit("true"); v.type = Json::Type::kBool; v.b = true; return v; }
    if (c == 'f') { lit("false"); v.type = Json::Type::kBool; return v; }
    if (c == 'n') { lit("null"); return v; }
    return number();
  }
  Json number() {
    size_t start = i_;
    if (peek() == '-') i_++;
    if (peek() == '0') i_++;
    else if (peek() >= '1' && peek() <= '9') while (peek() >= '0' && peek() <= '9') i_++;
    else fail("bad number");
    if (peek() == '.') {
      i_++;
      if (!(peek() >= '0' && peek() <= '9')) fail("bad fraction");
      while (peek() >= '0' && peek() <= '9') i_++;
    }
    if (peek() == 'e' || peek() == 'E') {
      i_++;
      if (peek() == '+' || peek() == '-') i_++;
      if (!(peek() >= '0' && peek() <= '9')) fail("bad exponent");
      while (peek() >= '0' && peek() <= '9') i_++;
    }
    Json v;
    v.type = Json::Type::kNumber;
    v.raw_number = std::string(s_.substr(start, i_ - start));
    v.num = std::strtod(v.raw_number.c_str(), nullptr);
    return v;
  }
  std::string string() {
    expect('"');
    std::string o;
    for (;;) {
      if (i_ >= s_.size()) fail("unterminated string");
      unsigned char c = static_cast<unsigned char>(s_[i_]);
      if (c == '"') { i_++; return o; }
      if (c < 0x20) fail("control character in string");
      if (c == '\\') {
        i_++;
        char e = peek();
        i_++;
        switch (e) {
          case '"': o += '"'; break;
          case '\\': o += '\\'; break;
          case '/': o += '/'; break;
          case 'b': o += '\b'; break;
          case 'f': o += '\f'; break;
          case 'n': o += '\n'; break;
          case 'r': o += '\r'; break;
          case 't': o += '\t'; break;
          case 'u': {
            if (i_ + 4 > s_.size()) fail("short \\u");
            uint32_t cp = std::stoul(std::string(s_.substr(i_, 4)), nullptr, 16);
            i_ += 4;
            if (cp < 0x80) o += static_cast<char>(cp);
            else if (cp < 0x800) { o += static_cast<char>(0xc0 | (cp >> 6)); o += static_cast<char>(0x80 | (cp & 0x3f)); }
            else { o += static_cast<char>(0xe0 | (cp >> 12)); o += static_cast<char>(0x80 | ((cp >> 6) & 0x3f)); o += static_cast<char>(0x80 | (cp & 0x3f)); }
            break;
          }
          default: fail("bad escape");
        }
        continue;
      }
      size_t n = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
      if (n == 0 || i_ + n > s_.size()) fail("invalid UTF-8");
      for (size_t k = 1; k < n; k++)
        if ((static_cast<unsigned char>(s_[i_ + k]) & 0xc0) != 0x80) fail("invalid UTF-8");
      o.append(s_.substr(i_, n));
      i_ += n;
    }
  }

  std::string_view s_;
  size_t i_ = 0;
};

// Checks the Chrome Trace Event Format rules ebtrace relies on; returns "" when
// fine, else the first violation.
inline std::string check_trace_events(const Json& doc) {
  if (doc.type != Json::Type::kObject || !doc.has("traceEvents")) return "no traceEvents";
  const Json& evs = doc["traceEvents"];
  if (evs.type != Json::Type::kArray) return "traceEvents is not an array";
  std::map<std::string, int> flow_s, flow_f;
  std::map<std::string, double> async_open;  // id -> begin ts
  for (size_t i = 0; i < evs.arr.size(); i++) {
    const Json& e = evs.arr[i];
    std::string where = "event " + std::to_string(i) + ": ";
    for (const char* k : {"name", "ph", "ts", "pid", "tid"})
      if (!e.has(k)) return where + "missing " + k;
    if (e["ph"].type != Json::Type::kString || e["name"].type != Json::Type::kString)
      return where + "name/ph not strings";
    for (const char* k : {"ts", "pid", "tid"})
      if (e[k].type != Json::Type::kNumber) return where + k + " not a number";
    const std::string& ph = e["ph"].str;
    if (ph == "X") {
      if (!e.has("dur") || e["dur"].type != Json::Type::kNumber) return where + "X without dur";
      if (e["dur"].num < 0) return where + "negative dur";
    } else if (ph == "s" || ph == "f") {
      if (!e.has("id")) return where + "flow without id";
      std::string id = e["id"].type == Json::Type::kString ? e["id"].str : e["id"].raw_number;
      (ph == "s" ? flow_s : flow_f)[id]++;
    } else if (ph == "b" || ph == "e") {
      if (!e.has("id") || !e.has("cat")) return where + "async event without id/cat";
      std::string id = e["cat"].str + "/" + (e["id"].type == Json::Type::kString ? e["id"].str : e["id"].raw_number);
      if (ph == "b") {
        if (async_open.count(id)) return where + "async " + id + " begins twice";
        async_open[id] = e["ts"].num;
      } else {
        auto it = async_open.find(id);
        if (it == async_open.end()) return where + "async " + id + " ends without a begin";
        if (e["ts"].num < it->second) return where + "async " + id + " ends before it begins";
        async_open.erase(it);
      }
    } else if (ph == "i") {
      if (e.has("s") && e["s"].str != "t" && e["s"].str != "p" && e["s"].str != "g")
        return where + "bad instant scope";
    } else if (ph != "M" && ph != "C" && ph != "B" && ph != "E" && ph != "t") {
      return where + "unexpected ph " + ph;
    }
  }
  if (!async_open.empty()) return "async " + async_open.begin()->first + " never ends";
  for (const auto& [id, n] : flow_s)
    if (n != 1 || flow_f[id] != 1) return "flow " + id + " has no single s/f pair";
  for (const auto& [id, n] : flow_f)
    if (!flow_s.count(id)) return "flow " + id + " ends without a start";
  return {};
}

}  // namespace ebt::test
