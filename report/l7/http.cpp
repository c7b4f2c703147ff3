#include "report/l7/http.h"

#include <cctype>
#include <charconv>
#include <string_view>

namespace ebt::report::l7 {
namespace {

constexpr std::string_view kMethods[] = {"GET",     "HEAD",  "POST",  "PUT",  "DELETE",
                                         "OPTIONS", "PATCH", "TRACE", "CONNECT"};

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

bool icontains(std::string_view hay, std::string_view needle) {
  if (needle.size() > hay.size()) return false;
  for (size_t i = 0; i + needle.size() <= hay.size(); ++i)
    if (iequals(hay.substr(i, needle.size()), needle)) return true;
  return false;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool is_method(std::string_view m) {
  for (auto k : kMethods)
    if (m == k) return true;
  return false;
}

}  // namespace

void HttpFramer::reset() {
  state_ = State::kStart;
  content_length_ = -1;
  http10_ = false;
  saw_connection_header_ = false;
}

void HttpFramer::on_line(std::string_view line) {
  switch (state_) {
    case State::kStart: {
      if (line.empty()) return;  // tolerated CRLF before a message
      size_t sp1 = line.find(' ');
      if (sp1 == std::string_view::npos) return lose_sync();
      std::string_view a = line.substr(0, sp1);
      std::string_view rest = line.substr(sp1 + 1);
      size_t sp2 = rest.find(' ');
      std::string_view b = rest.substr(0, sp2);
      if (requests_ ? !is_method(a) : a.rfind("HTTP/1.", 0) != 0) return lose_sync();
      // After lost sync (a body may continue here), only a whole request line.
      if (requests_ && resyncing() &&
          (sp2 == std::string_view::npos || rest.substr(sp2 + 1).rfind("HTTP/1.", 0) != 0))
        return lose_sync();
      begin_message();
      reset();
      if (requests_) {
        if (!is_method(a)) return lose_sync();
        cur_.method = std::string(a);
        std::string_view target = b.substr(0, b.find('?'));
        cur_.path = std::string(target.substr(0, kMaxField));
        std::string_view version = sp2 == std::string_view::npos ? "" : rest.substr(sp2 + 1);
        http10_ = version == "HTTP/1.0";
      } else {
        if (a.rfind("HTTP/1.", 0) != 0) return lose_sync();
        http10_ = a == "HTTP/1.0";
        int status = 0;
        auto [p, ec] = std::from_chars(b.data(), b.data() + b.size(), status);
        if (ec != std::errc()) return lose_sync();
        cur_.status = status;
      }
      cur_.keep_alive = !http10_;
      state_ = State::kHeaders;
      return;
    }
    case State::kHeaders: {
      if (line.empty()) return end_of_headers();
      size_t colon = line.find(':');
      if (colon == std::string_view::npos) return;  // tolerate junk header lines
      std::string_view name = trim(line.substr(0, colon));
      std::string_view value = trim(line.substr(colon + 1));
      if (iequals(name, "content-length")) {
        int64_t n = -1;
        auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
        if (ec == std::errc() && n >= 0) content_length_ = n;
      } else if (iequals(name, "transfer-encoding")) {
        if (icontains(value, "chunked")) cur_.chunked = true;
      } else if (iequals(name, "connection")) {
        if (icontains(value, "close")) cur_.keep_alive = false;
        if (icontains(value, "keep-alive")) cur_.keep_alive = true;
      }
      return;
    }
    case State::kChunkSize: {
      std::string_view hex = trim(line.substr(0, line.find(';')));
      uint64_t n = 0;
      auto [p, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), n, 16);
      if (ec != std::errc() || hex.empty() || n > (uint64_t{1} << 40)) return lose_sync();
      if (n == 0) {
        state_ = State::kTrailers;
        return;
      }
      cur_.body_bytes += n;
      state_ = State::kChunkData;
      return skip(n + 2);
    }
    case State::kTrailers:
      if (line.empty()) {
        state_ = State::kStart;
        finish_message();
      }
      return;
    case State::kBody:
    case State::kChunkData:
      return lose_sync();  // lines are not expected while skipping
  }
}

void HttpFramer::end_of_headers() {
  bool no_body = false;
  if (!requests_) {
    bool head = false;
    int s = cur_.status;
    bool interim = s >= 100 && s < 200 && s != 101;
    if (pending_methods && !pending_methods->empty() && !interim) {
      head = pending_methods->front() == "HEAD";
    }
    // 100 Continue and friends have no body; the matcher skips them.
    no_body = interim || head || s == 204 || s == 304;
  }
  if (no_body) {
    state_ = State::kStart;
    return finish_message();
  }
  if (cur_.chunked) {
    state_ = State::kChunkSize;
    return;
  }
  if (content_length_ > 0) {
    cur_.body_bytes = static_cast<uint64_t>(content_length_);
    state_ = State::kBody;
    return skip(static_cast<uint64_t>(content_length_));
  }
  if (content_length_ == 0 || requests_) {
    state_ = State::kStart;
    return finish_message();
  }
  // A response without length: the body runs until the connection closes.
  state_ = State::kBody;
  skip_until_close();
}

void HttpFramer::on_partial_line(std::string_view partial) {
  if (state_ != State::kStart || requests_) return;  // a request line cut short stays unnamed
  // "HTTP/1.1 404 Not Fo": the status is known although the headers are not.
  if (partial.rfind("HTTP/1.", 0) != 0) return;
  size_t sp = partial.find(' ');
  if (sp == std::string_view::npos || partial.size() < sp + 4) return;
  int status = 0;
  auto [p, ec] = std::from_chars(partial.data() + sp + 1, partial.data() + sp + 4, status);
  if (ec != std::errc() || p != partial.data() + sp + 4) return;
  begin_message();
  cur_.status = status;
}

void HttpFramer::on_skipped(std::string_view, bool) {
  if (state_ == State::kChunkData) {
    state_ = State::kChunkSize;
    return;
  }
  state_ = State::kStart;
  finish_message();
}

bool looks_like_http(std::span<const uint8_t> bytes, bool* request) {
  std::string_view s(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  if (s.rfind("HTTP/1.", 0) == 0) {
    *request = false;
    return true;
  }
  size_t sp = s.find(' ');
  if (sp == std::string_view::npos || sp > 8) return false;
  if (!is_method(s.substr(0, sp))) return false;
  *request = true;
  return true;
}

}  // namespace ebt::report::l7
