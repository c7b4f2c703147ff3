#include "report/trace_json.h"

#include <algorithm>
#include <charconv>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <ostream>
#include <sstream>

#include "report/utf8.h"

namespace ebt::report {

namespace {

std::string arg_json(const TraceArg& v) {
  struct V {
    std::string operator()(int64_t x) const { return std::to_string(x); }
    std::string operator()(uint64_t x) const { return std::to_string(x); }
    std::string operator()(double x) const {
      if (!std::isfinite(x)) return "null";
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.17g", x);
      return buf;
    }
    std::string operator()(bool x) const { return x ? "true" : "false"; }
    std::string operator()(const std::string& x) const { return json_quote(x); }
    std::string operator()(const std::vector<std::string>& xs) const {
      std::string o = "[";
      for (size_t i = 0; i < xs.size(); i++) {
        if (i) o += ',';
        o += json_quote(xs[i]);
      }
      return o + "]";
    }
  };
  return std::visit(V{}, v);
}

std::string args_json(const TraceArgs& args) {
  std::string o = "{";
  for (size_t i = 0; i < args.size(); i++) {
    if (i) o += ',';
    o += json_quote(args[i].first);
    o += ':';
    o += arg_json(args[i].second);
  }
  return o + "}";
}

}  // namespace

std::string TraceJson::ids(uint32_t pid, uint32_t tid) const {
  std::string o;
  append_ids(o, pid, tid);
  return o;
}

void TraceJson::append_ids(std::string& out, uint32_t pid, uint32_t tid) const {
  if (!groups_.empty())
    if (auto g = groups_.find(pid); g != groups_.end()) pid = g->second;
  out += "\"pid\":";
  append_decimal(out, pid);
  out += ",\"tid\":";
  append_decimal(out, tid);
}

void append_decimal(std::string& out, uint64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

void append_micros(std::string& out, uint64_t ns) {
  append_decimal(out, ns / 1000);
  uint64_t f = ns % 1000;
  const char frac[4] = {'.', char('0' + f / 100), char('0' + f / 10 % 10), char('0' + f % 10)};
  out.append(frac, 4);
}

std::string json_quote(std::string_view s) {
  std::string o;
  o.reserve(s.size() + 2);
  o += '"';
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '"') { o += "\\\""; i++; continue; }
    if (c == '\\') { o += "\\\\"; i++; continue; }
    if (c < 0x20) {
      switch (c) {
        case '\n': o += "\\n"; break;
        case '\t': o += "\\t"; break;
        case '\r': o += "\\r"; break;
        default: {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          o += buf;
        }
      }
      i++;
      continue;
    }
    size_t n = utf8_sequence_length(s, i);  // report/utf8.h: the same rule as valid_utf8()
    if (n == 0) {
      o += "\xef\xbf\xbd";  // U+FFFD
      i++;
      continue;
    }
    o.append(s.substr(i, n));
    i += n;
  }
  o += '"';
  return o;
}

namespace {

// Microseconds with three decimals; `negative` puts a sign in front.
std::string micros(uint64_t ns, bool negative) {
  std::string o;
  if (negative) o += '-';
  append_micros(o, ns);
  return o;
}

}  // namespace

std::string TraceJson::ts(uint64_t ns) const {
  std::string o;
  append_ts(o, ns);
  return o;
}

void TraceJson::append_ts(std::string& out, uint64_t ns) const {
  // Times before the origin are negative. The magnitude is computed unsigned:
  // negating INT64_MIN (a time 2^63 ns from the origin in a crafted capture)
  // is undefined behaviour.
  uint64_t delta = ns - origin_ns_;
  bool negative = static_cast<int64_t>(delta) < 0;
  if (negative) out += '-';
  append_micros(out, negative ? 0 - delta : delta);
}

void TraceJson::add(uint64_t ts_ns, std::string json) {
  events_.push_back({static_cast<int64_t>(ts_ns - origin_ns_), std::move(json)});
}

void TraceJson::begin_capture(uint64_t origin_ns, uint32_t id_base, std::string name_prefix) {
  origin_ns_ = origin_ns;
  id_base_ = id_base;
  name_prefix_ = std::move(name_prefix);
}

void TraceJson::set_process_name(uint32_t pid, std::string_view name) {
  process_names_[id(pid)] = name_prefix_ + std::string(name);
}

void TraceJson::set_thread_name(uint32_t pid, uint32_t tid, std::string_view name) {
  thread_names_[{id(pid), id(tid)}] = std::string(name);
}

void TraceJson::set_process_sort_index(uint32_t pid, int64_t index) { process_sort_[id(pid)] = index; }

void TraceJson::set_thread_sort_index(uint32_t pid, uint32_t tid, int64_t index) {
  thread_sort_[{id(pid), id(tid)}] = index;
}

void TraceJson::set_other(std::string_view key, std::string_view value) {
  for (auto& kv : other_) {
    if (kv.first == key) {
      kv.second = std::string(value);
      return;
    }
  }
  other_.emplace_back(std::string(key), std::string(value));
}

void TraceJson::slice(uint32_t pid, uint32_t tid, uint64_t ts_ns, uint64_t dur_ns,
                      std::string_view name, std::string_view cat, TraceArgs args) {
  std::string j = "{\"name\":" + json_quote(name) + ",\"cat\":" + json_quote(cat) +
                  ",\"ph\":\"X\",\"ts\":" + ts(ts_ns) + ",\"dur\":" + micros(dur_ns, false) +
                  "," + ids(id(pid), id(tid));
  if (!args.empty()) j += ",\"args\":" + args_json(args);
  add(ts_ns, j + "}");
}

void TraceJson::instant(uint32_t pid, uint32_t tid, uint64_t ts_ns, std::string_view name,
                        std::string_view cat, TraceArgs args) {
  std::string j = "{\"name\":" + json_quote(name) + ",\"cat\":" + json_quote(cat) +
                  ",\"ph\":\"i\",\"s\":\"t\",\"ts\":" + ts(ts_ns) + "," + ids(id(pid), id(tid));
  if (!args.empty()) j += ",\"args\":" + args_json(args);
  add(ts_ns, j + "}");
}

void TraceJson::async_span(uint32_t pid, uint64_t id, uint64_t ts_ns, uint64_t dur_ns, std::string_view name,
                           std::string_view cat, TraceArgs args) {
  std::string common = "\"name\":" + json_quote(name) + ",\"cat\":" + json_quote(cat) + ",\"id\":" +
                       std::to_string(id) + "," + ids(this->id(pid), this->id(pid));
  std::string b = "{" + common + ",\"ph\":\"b\",\"ts\":" + ts(ts_ns);
  if (!args.empty()) b += ",\"args\":" + args_json(args);
  add(ts_ns, b + "}");
  add(ts_ns + dur_ns, "{" + common + ",\"ph\":\"e\",\"ts\":" + ts(ts_ns + dur_ns) + "}");
}

void TraceJson::counter(uint32_t pid, uint64_t ts_ns, std::string_view name, double value) {
  add(ts_ns, "{\"name\":" + json_quote(name) + ",\"ph\":\"C\",\"ts\":" + ts(ts_ns) + "," +
                 ids(id(pid), id(pid)) + ",\"args\":{" + json_quote(name) + ":" + arg_json(value) + "}}");
}

uint64_t TraceJson::flow(uint32_t from_pid, uint32_t from_tid, uint64_t from_ts_ns,
                         uint32_t to_pid, uint32_t to_tid, uint64_t to_ts_ns,
                         std::string_view name, std::string_view cat) {
  uint64_t id = next_flow_id_++;
  std::string common = "\"name\":" + json_quote(name) + ",\"cat\":" + json_quote(cat) +
                       ",\"id\":" + std::to_string(id);
  add(from_ts_ns, "{" + common + ",\"ph\":\"s\",\"ts\":" + ts(from_ts_ns) + "," +
                      ids(this->id(from_pid), this->id(from_tid)) + "}");
  add(to_ts_ns, "{" + common + ",\"ph\":\"f\",\"bp\":\"e\",\"ts\":" + ts(to_ts_ns) + "," +
                    ids(this->id(to_pid), this->id(to_tid)) + "}");
  return id;
}

TraceWriteResult TraceJson::write(std::ostream& out, uint64_t max_bytes) {
  TraceWriteResult r;
  std::vector<std::string> meta;
  for (const auto& [pid, name] : process_names_)
    if (!groups_.count(pid))  // a grouped process: its group's name
    meta.push_back("{\"name\":\"process_name\",\"ph\":\"M\",\"ts\":0," + ids(pid, pid) +
                   ",\"args\":{\"name\":" + json_quote(name) + "}}");
  for (const auto& [pid, idx] : process_sort_)
    meta.push_back("{\"name\":\"process_sort_index\",\"ph\":\"M\",\"ts\":0," + ids(pid, pid) +
                   ",\"args\":{\"sort_index\":" + std::to_string(idx) + "}}");
  for (const auto& [key, name] : thread_names_) {
    std::string shown = name;
    if (groups_.count(key.first)) {  // in a group: say which process the thread belongs to
      auto p = process_names_.find(key.first);
      shown += " (pid " + std::to_string(key.first) + (p != process_names_.end() ? " " + p->second : "") + ")";
    }
    meta.push_back("{\"name\":\"thread_name\",\"ph\":\"M\",\"ts\":0," + ids(key.first, key.second) +
                   ",\"args\":{\"name\":" + json_quote(shown) + "}}");
  }
  for (const auto& [key, idx] : thread_sort_)
    meta.push_back("{\"name\":\"thread_sort_index\",\"ph\":\"M\",\"ts\":0," + ids(key.first, key.second) +
                   ",\"args\":{\"sort_index\":" + std::to_string(idx) + "}}");
  std::string tail = "\n],\"displayTimeUnit\":\"ns\",\"otherData\":{";
  for (size_t i = 0; i < other_.size(); i++) {
    if (i) tail += ',';
    tail += json_quote(other_[i].first) + ':' + json_quote(other_[i].second);
  }
  tail += "}}\n";

  // What the buffered part takes; the sources share the rest of the limit.
  const std::string head = "{\"traceEvents\":[\n";
  uint64_t fixed = head.size() + tail.size();
  for (const auto& m : meta) fixed += m.size() + 2;
  for (const auto& e : events_) fixed += e.json.size() + 2;
  for (auto& s : sources_) {
    uint64_t budget = max_bytes == 0 ? 0 : max_bytes > fixed ? (max_bytes - fixed) / sources_.size() : 1;
    for (auto& n : s.source->fit(budget)) r.notes.push_back(std::move(n));
  }

  // One output buffer, handed to the stream a megabyte at a time.
  uint64_t bytes = 0;
  bool first = true;
  std::string buf;
  buf.reserve(1 << 20);
  auto flush = [&] {
    out.write(buf.data(), static_cast<std::streamsize>(buf.size()));
    bytes += buf.size();
    buf.clear();
  };
  auto emit = [&](const std::string& j) {
    if (!first) buf += ",\n";
    first = false;
    buf += j;
    if (buf.size() >= (1 << 20) - 4096) flush();
  };
  buf += head;
  for (const auto& m : meta) emit(m);

  std::vector<const Event*> order;
  order.reserve(events_.size());
  for (const auto& e : events_) order.push_back(&e);
  std::stable_sort(order.begin(), order.end(),
                   [](const Event* a, const Event* b) { return a->ts_key < b->ts_key; });
  // Merge the buffered events with every source's, by time (buffered first on ties).
  struct Pending {
    bool has = false;
    int64_t key = 0;
    std::string json;
  };
  std::vector<Pending> pending(sources_.size());
  auto pull = [&](size_t i) {
    uint64_t ns = 0;
    pending[i].has = sources_[i].source->next(&ns, &pending[i].json);
    pending[i].key = static_cast<int64_t>(ns - sources_[i].origin_ns);
  };
  for (size_t i = 0; i < sources_.size(); i++) pull(i);
  size_t next_buffered = 0;
  while (true) {
    int best = -1;
    for (size_t i = 0; i < pending.size(); i++)
      if (pending[i].has && (best < 0 || pending[i].key < pending[best].key)) best = static_cast<int>(i);
    bool buffered = next_buffered < order.size() &&
                    (best < 0 || order[next_buffered]->ts_key <= pending[best].key);
    if (buffered) {
      emit(order[next_buffered++]->json);
    } else if (best >= 0) {
      emit(pending[best].json);
      pull(best);
    } else {
      break;
    }
    r.events++;
  }
  buf += tail;
  flush();
  r.bytes = bytes;
  if (max_bytes && bytes > max_bytes) {
    char buf[200];
    std::snprintf(buf, sizeof buf,
                  "%.1f MiB, over --trace-max-size %.1f MiB (events other than on-CPU samples are never "
                  "merged): narrow it with --time START,END, --pid or --tid",
                  bytes / 1048576.0, max_bytes / 1048576.0);
    r.notes.push_back(buf);
  }
  return r;
}

std::string TraceJson::str() {
  std::ostringstream o;
  write(o);
  return o.str();
}

}  // namespace ebt::report
