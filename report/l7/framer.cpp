#include "report/l7/framer.h"

#include <algorithm>
#include <cstring>

namespace ebt::report::l7 {

void Framer::feed(size_t chunk_id, std::span<const uint8_t> captured, uint64_t length) {
  chunk_ = chunk_id;
  desync_ = false;  // every syscall is a chance to find a message start again
  size_t i = 0;
  const size_t n = captured.size();
  while (i < n && !desync_) {
    if (until_close_) {
      cur_.bytes += n - i;
      i = n;
      break;
    }
    if (skip_ > 0) {
      uint64_t m = std::min<uint64_t>(skip_, n - i);
      if (skip_head_.size() < keep_) {
        size_t k = std::min<size_t>(keep_ - skip_head_.size(), m);
        skip_head_.append(reinterpret_cast<const char*>(captured.data() + i), k);
      }
      if (in_message_) cur_.bytes += m;
      skip_ -= m;
      i += m;
      if (skip_ == 0) {
        std::string head = std::move(skip_head_);
        skip_head_.clear();
        on_skipped(head, true);
      }
      continue;
    }
    if (exact_ > 0) {
      if (line_bytes_ == 0) line_start_chunk_ = chunk_;
      size_t take = std::min<size_t>(exact_ - line_.size(), n - i);
      line_.append(reinterpret_cast<const char*>(captured.data() + i), take);
      line_bytes_ += take;
      i += take;
      if (line_.size() < exact_) break;
      exact_ = 0;
      std::string copy = std::move(line_);
      line_.clear();
      pending_line_bytes_ = line_bytes_;
      line_bytes_ = 0;
      line_counted_ = false;
      on_exact(copy);
      if (in_message_ && !line_counted_) cur_.bytes += pending_line_bytes_;
      line_counted_ = true;
      pending_line_bytes_ = 0;
      continue;
    }
    // Line mode.
    if (line_bytes_ == 0) line_start_chunk_ = chunk_;
    const uint8_t* start = captured.data() + i;
    const uint8_t* nl = static_cast<const uint8_t*>(std::memchr(start, '\n', n - i));
    size_t take = nl ? static_cast<size_t>(nl - start) + 1 : n - i;
    if (line_.size() < kMaxLine)
      line_.append(reinterpret_cast<const char*>(start),
                   std::min(take, kMaxLine - line_.size()));
    line_bytes_ += take;
    i += take;
    if (!nl) break;
    std::string_view line(line_);
    if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    pending_line_bytes_ = line_bytes_;
    line_counted_ = false;
    std::string copy(line);
    line_.clear();
    line_bytes_ = 0;
    on_line(copy);
    if (in_message_ && !line_counted_) cur_.bytes += pending_line_bytes_;
    line_counted_ = true;
    pending_line_bytes_ = 0;
  }
  if (!desync_ && length > n) consume_gap(length - n);
}

void Framer::consume_gap(uint64_t n) {
  if (until_close_) {
    cur_.bytes += n;
    return;
  }
  if (skip_ > 0) {
    uint64_t m = std::min(n, skip_);
    if (in_message_) cur_.bytes += m;
    skip_ -= m;
    n -= m;
    if (skip_ == 0) {
      std::string head = std::move(skip_head_);
      skip_head_.clear();
      on_skipped(head, head.size() >= keep_);
    }
  }
  if (n > 0 && !desync_) {
    if (skip_ == 0 && exact_ == 0 && !line_.empty()) {
      std::string_view partial(line_);
      if (!partial.empty() && partial.back() == '\r') partial.remove_suffix(1);
      std::string copy(partial);
      on_partial_line(copy);
      if (desync_) return;
    }
    if (in_message_) cur_.bytes += n;
    lose_sync();
  }
}

void Framer::close() {
  if (in_message_ && until_close_) {
    until_close_ = false;
    finish_message();
  }
  on_close();
}

std::vector<Message> Framer::take() {
  std::vector<Message> out;
  out.swap(done_);
  return out;
}

void Framer::begin_message() {
  in_message_ = true;
  cur_ = Message{};
  if (!line_counted_) {
    cur_.first_chunk = line_start_chunk_;
    cur_.bytes = pending_line_bytes_;
    line_counted_ = true;
  } else {
    cur_.first_chunk = chunk_;
  }
}

void Framer::skip(uint64_t n, size_t keep) {
  skip_ = n;
  keep_ = keep;
  skip_head_.clear();
  if (n == 0) on_skipped({}, true);
}

void Framer::skip_until_close() { until_close_ = true; }

void Framer::read_exact(size_t n) {
  exact_ = std::min(n, kMaxLine);
  line_.clear();
  line_bytes_ = 0;
}

void Framer::abort_message() {
  in_message_ = false;
  line_counted_ = true;
  cur_ = Message{};
}

void Framer::finish_message() {
  if (!line_counted_) {
    cur_.bytes += pending_line_bytes_;
    line_counted_ = true;
  }
  cur_.last_chunk = chunk_;
  in_message_ = false;
  until_close_ = false;
  if (!cur_.truncated) resyncing_ = false;
  done_.push_back(std::move(cur_));
  cur_ = Message{};
}

void Framer::lose_sync() {
  if (in_message_) {
    cur_.truncated = true;
    finish_message();
  }
  Message gap;
  gap.gap = true;
  gap.first_chunk = gap.last_chunk = chunk_;
  // One marker per syscall is enough: it stands for the rest of it.
  if (done_.empty() || !done_.back().gap || done_.back().first_chunk != chunk_)
    done_.push_back(std::move(gap));
  desync_ = true;
  resyncing_ = true;
  skip_ = 0;
  until_close_ = false;
  skip_head_.clear();
  line_.clear();
  line_bytes_ = 0;
  exact_ = 0;
  reset();
}

}  // namespace ebt::report::l7
