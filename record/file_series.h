// The files of a continuous recording (--switch-output, flight-recorder dumps):
// their names and their retention (--switch-max-files, --max-size).
#pragma once

#include <cstdint>
#include <deque>
#include <string>

namespace ebt::record {

class FileSeries {
 public:
  // `output`: -o; with a '%' it is a strftime(3) pattern (local time, like perf's
  // names), else each file is OUTPUT.YYYYmmddHHMMSScc (perf's --switch-output
  // names). 0 disables a bound.
  FileSeries(std::string output, uint32_t max_files, uint64_t max_bytes)
      : output_(std::move(output)), max_files_(max_files), max_bytes_(max_bytes) {}

  // A new file's name for a file starting at CLOCK_REALTIME `realtime_ns`
  // (made unique among this recording's files).
  std::string name_for(uint64_t realtime_ns);
  // Before a new file is created: deletes the oldest files so that with the
  // new one there are at most max_files.
  void make_room_for_one();
  // A file is complete: it counts toward the bounds.
  void completed(const std::string& path, uint64_t bytes);
  // While the current file grows: deletes the oldest complete files so that
  // they plus `current_bytes` (plus one block of headroom) stay within max_bytes.
  void enforce_size(uint64_t current_bytes);
  // The size at which the current file must be switched for max_bytes to hold
  // (0: no such limit).
  uint64_t size_limit() const { return max_bytes_ / 2; }
  uint64_t deleted() const { return deleted_; }

 private:
  struct Done {
    std::string path;
    uint64_t bytes;
  };
  void delete_oldest();

  std::string output_;
  uint32_t max_files_;
  uint64_t max_bytes_;
  std::deque<Done> done_;
  uint64_t done_bytes_ = 0;
  uint64_t deleted_ = 0;
  std::string last_name_;
  uint32_t same_name_ = 0;
};

}  // namespace ebt::record
