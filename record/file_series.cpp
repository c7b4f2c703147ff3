#include "record/file_series.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace ebt::record {

// Headroom for the block the writer may add between two size checks.
constexpr uint64_t kBlockHeadroom = 1u << 20;

std::string FileSeries::name_for(uint64_t realtime_ns) {
  time_t secs = time_t(realtime_ns / 1000000000ull);
  struct tm tm {};
  localtime_r(&secs, &tm);
  char buf[4096];
  std::string name;
  if (output_.find('%') != std::string::npos) {
    size_t n = strftime(buf, sizeof buf, output_.c_str(), &tm);
    name = n ? std::string(buf, n) : output_;
  } else {
    strftime(buf, sizeof buf, "%Y%m%d%H%M%S", &tm);
    char cs[8];
    std::snprintf(cs, sizeof cs, "%02u", unsigned(realtime_ns / 10000000ull % 100));
    name = output_ + "." + buf + cs;
  }
  // Two files in the same hundredth of a second (or a pattern without
  // seconds): keep both.
  if (name == last_name_) return name + "-" + std::to_string(++same_name_);
  last_name_ = name;
  same_name_ = 0;
  return name;
}

void FileSeries::delete_oldest() {
  const Done& d = done_.front();
  if (unlink(d.path.c_str()) != 0 && errno != ENOENT)
    std::fprintf(stderr, "ebtrace: warning: cannot delete %s: %s\n", d.path.c_str(), strerror(errno));
  done_bytes_ -= d.bytes;
  deleted_++;
  done_.pop_front();
}

void FileSeries::make_room_for_one() {
  while (max_files_ && !done_.empty() && done_.size() + 1 > max_files_) delete_oldest();
}

void FileSeries::completed(const std::string& path, uint64_t bytes) {
  done_.push_back({path, bytes});
  done_bytes_ += bytes;
  enforce_size(0);
}

void FileSeries::enforce_size(uint64_t current_bytes) {
  while (max_bytes_ && !done_.empty() && done_bytes_ + current_bytes + kBlockHeadroom > max_bytes_) delete_oldest();
}

}  // namespace ebt::record
