// Shared by the fuzz targets: the input as a file (the reader maps a path),
// and the only exceptions a hostile capture may raise.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>

namespace ebt::fuzz {

// One anonymous file, rewritten for every input; its /proc/self/fd path is
// what the reader opens.
class InputFile {
 public:
  InputFile() : fd_(memfd_create("ebtrace-fuzz-input", MFD_CLOEXEC)) {
    if (fd_ < 0) std::abort();
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  const std::string& set(const uint8_t* data, size_t size) {
    if (ftruncate(fd_, 0) != 0) std::abort();
    size_t done = 0;
    while (done < size) {
      ssize_t n = pwrite(fd_, data + done, size - done, off_t(done));
      if (n <= 0) std::abort();
      done += size_t(n);
    }
    return path_;
  }

 private:
  int fd_;
  std::string path_;
};

}  // namespace ebt::fuzz
