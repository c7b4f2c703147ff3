#include "symbolize/demangle.h"

#include <cxxabi.h>

#include <cstdlib>

namespace ebt::symbolize {

// Longer names (only crafted ones: real mangled names stay far below) are
// shown mangled: the demangler's time and stack use grow with the input.
constexpr size_t kMaxMangledBytes = 4096;

std::string demangle(const std::string& name) {
  if (name.size() < 3 || name[0] != '_' || name[1] != 'Z' || name.size() > kMaxMangledBytes) return name;
  // Symbol versions (foo@@GLIBCXX_3.4) are not part of the mangled name.
  std::string mangled = name;
  std::string suffix;
  if (auto at = mangled.find('@'); at != std::string::npos) {
    suffix = mangled.substr(at);
    mangled.resize(at);
  }
  int status = 0;
  char* out = abi::__cxa_demangle(mangled.c_str(), nullptr, nullptr, &status);
  if (status != 0 || out == nullptr) {
    std::free(out);
    return name;
  }
  std::string result(out);
  std::free(out);
  return result + suffix;
}

}  // namespace ebt::symbolize
