#include "report/l7/resp.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <string>

namespace ebt::report::l7 {
namespace {

// Beyond these a stream is not RESP (or not one we can follow): resync.
constexpr int64_t kMaxBulk = int64_t{1} << 40;
constexpr int64_t kMaxCount = int64_t{1} << 32;
constexpr size_t kMaxDepth = 64;

bool parse_int(std::string_view s, int64_t* out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

std::string upper(std::string_view s) {
  std::string r(s.substr(0, Framer::kMaxField));
  for (char& c : r) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return r;
}

std::string first_word(std::string_view s) {
  size_t sp = s.find(' ');
  return std::string(s.substr(0, std::min(sp, Framer::kMaxField)));
}

}  // namespace

void RespFramer::reset() {
  remaining_.clear();
  element_ = 0;
}

void RespFramer::on_line(std::string_view line) {
  bool top = !in_message();
  if (top) {
    if (line.empty()) return;  // stray CRLF between messages
    static constexpr std::string_view kTypes = "*%~>|$!=-+:_,#(";
    if (!requests_ && kTypes.find(line[0]) == std::string_view::npos) return lose_sync();
    if (requests_ && !std::isalpha(static_cast<unsigned char>(line[0])) && line[0] != '*')
      return lose_sync();
    // After lost sync the next syscall may start inside a value ("key:12",
    // "v0001"): only a multi-bulk array is a sure request start.
    if (requests_ && resyncing() && line[0] != '*') return lose_sync();
    begin_message();
    element_ = 0;
  } else if (line.empty()) {
    return lose_sync();  // an empty line inside a value is not RESP
  }
  char t = line[0];
  std::string_view rest = line.substr(1);
  if (requests_ && top && t != '*') {
    // Inline command: words separated by spaces.
    size_t sp = line.find(' ');
    cur_.command = upper(line.substr(0, sp));
    if (sp != std::string_view::npos) {
      std::string_view args = line.substr(sp + 1);
      cur_.key = std::string(args.substr(0, std::min(args.find(' '), kMaxField)));
    }
    finish_message();
    return;
  }
  int64_t n = 0;
  switch (t) {
    case '*': case '%': case '~': case '>': case '|':
      if (!parse_int(rest, &n) || n > kMaxCount || remaining_.size() >= kMaxDepth) return lose_sync();
      if (t == '%' || t == '|') n *= 2;
      if (n <= 0) return value_done({}, false);
      remaining_.push_back(n);
      return;
    case '$': case '!': case '=':
      if (!parse_int(rest, &n) || n > kMaxBulk) return lose_sync();
      if (t == '!' && remaining_.empty()) {
        cur_.error = true;
      }
      if (n < 0) return value_done({}, false);
      skip(static_cast<uint64_t>(n) + 2, std::min<uint64_t>(n, kMaxField));
      return;
    case '-':
      if (remaining_.empty()) {
        cur_.error = true;
        cur_.error_text = first_word(rest);
      }
      return value_done({}, false);
    case '+': case ':': case '_': case ',': case '#': case '(':
      return value_done(rest, true);
    default:
      return lose_sync();
  }
}

void RespFramer::on_skipped(std::string_view head, bool complete) {
  if (cur_.error && cur_.error_text.empty() && remaining_.empty() && complete)
    cur_.error_text = first_word(head);
  value_done(head, true, complete);
}

void RespFramer::on_partial_line(std::string_view partial) {
  if (partial.empty() || in_message()) return;  // inside a value: lose_sync() marks it truncated
  char t = partial[0];
  if (requests_) {
    if (t == '*') begin_message();  // a request whose name is hidden
    return;
  }
  static constexpr std::string_view kTypes = "*%~>|$!=-+:_,#(";
  if (kTypes.find(t) == std::string_view::npos) return;
  begin_message();
  if (t == '-') {
    cur_.error = true;
    std::string_view rest = partial.substr(1);
    if (rest.find(' ') != std::string_view::npos) cur_.error_text = first_word(rest);
  }
}

void RespFramer::value_done(std::string_view bulk, bool has_bulk, bool complete) {
  if (requests_ && remaining_.size() == 1 && has_bulk) {
    // A name cut by a hole stays unknown rather than a wrong prefix ("SE").
    if (element_ == 0) cur_.command = complete ? upper(bulk) : std::string();
    else if (element_ == 1) cur_.key = std::string(bulk.substr(0, kMaxField));
  }
  if (remaining_.size() == 1) ++element_;
  while (!remaining_.empty()) {
    if (--remaining_.back() > 0) return;
    remaining_.pop_back();
  }
  finish_message();
}

bool looks_like_resp(std::span<const uint8_t> bytes, bool* request) {
  if (bytes.size() < 3) return false;
  std::string_view s(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  size_t eol = s.find("\r\n");
  if (eol == std::string_view::npos) return false;
  char t = s[0];
  std::string_view rest = s.substr(1, eol - 1);
  int64_t n = 0;
  switch (t) {
    case '*':
      *request = true;
      return parse_int(rest, &n);
    case '$':
      *request = false;
      return parse_int(rest, &n);
    case ':':
      *request = false;
      return parse_int(rest, &n);
    case '+': case '-':
      *request = false;
      return std::all_of(rest.begin(), rest.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
    default: {
      // Inline commands: only well-known ones, to not claim random text protocols.
      static const char* kInline[] = {"PING", "SET ", "GET ", "DEL ", "INCR ", "QUIT", "INFO",
                                      "EXISTS ", "EXPIRE ", "KEYS ", "HGET ", "HSET ", "LPUSH ",
                                      "RPUSH ", "LPOP ", "RPOP ", "SELECT ", "AUTH ", "MGET ",
                                      "MSET ", "FLUSHALL", "FLUSHDB", "DBSIZE", "HELLO "};
      std::string head = upper(s.substr(0, eol));
      for (const char* c : kInline) {
        std::string_view cv(c);
        if (head.rfind(cv, 0) == 0 || head == std::string(cv.substr(0, cv.find(' ')))) {
          *request = true;
          return true;
        }
      }
      return false;
    }
  }
}

}  // namespace ebt::report::l7
