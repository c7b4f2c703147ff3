// Builds a small real ELF at test time and reads facts about it with binutils
// (independently of the code under test).
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "format/records.h"

namespace ebt::test {

inline std::string run_output(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    char tmpl[] = "/tmp/ebt-symtest-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

// A PIE with a namespaced hot function, an always-inlined helper, and main.
inline const char* kTestSource = R"(
#include <cstdio>
#include <cstdlib>
namespace work {
__attribute__((noinline)) long hot_loop(long n) {
  long s = 0;
  for (long i = 0; i < n; ++i) s += i * 7 % 13;
  return s;
}
}  // namespace work
static inline __attribute__((always_inline)) long squared_sum(long n) {
  long s = 0;
  for (long i = 0; i < n; ++i) s += i * i + (i ^ 5);
  return s;
}
extern "C" __attribute__((noinline)) long outer_with_inline(long n) {
  return squared_sum(n) + 3;
}
int main(int argc, char** argv) {
  long n = argc > 1 ? std::atol(argv[1]) : 10;
  std::printf("%ld %ld\n", work::hot_loop(n), outer_with_inline(n));
  return 0;
}
)";

struct ElfSymbol {
  uint64_t address = 0;
  uint64_t size = 0;
};

struct TestElf {
  std::string path;
  std::vector<uint8_t> build_id;
  std::vector<LoadSegment> segments;
  std::map<std::string, ElfSymbol> symbols;  // mangled name -> symbol

  uint64_t offset_of(uint64_t vaddr) const {
    for (const auto& s : segments) {
      if (vaddr >= s.vaddr && vaddr < s.vaddr + s.file_size) return vaddr - s.vaddr + s.file_offset;
    }
    ADD_FAILURE() << "vaddr not in a segment";
    return 0;
  }
};

inline std::vector<uint8_t> parse_hex(const std::string& hex) {
  std::vector<uint8_t> v;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) v.push_back(std::stoi(hex.substr(i, 2), nullptr, 16));
  return v;
}

// Compiles kTestSource into dir/name (g++ -g -O2 -pie); fills facts via readelf/nm.
inline TestElf build_test_elf(const std::filesystem::path& dir, const std::string& name,
                              const std::string& extra_flags = "") {
  TestElf e;
  auto src = dir / (name + ".cpp");
  std::ofstream(src) << kTestSource;
  e.path = (dir / name).string();
  std::string cmd = "g++ -g -O2 -fPIE -pie -Wl,--build-id " + extra_flags + " -o " + e.path + " " +
                    src.string() + " 2>&1";
  std::string out = run_output(cmd);
  if (access(e.path.c_str(), X_OK) != 0) {
    ADD_FAILURE() << "compile failed: " << out;
    return e;
  }
  std::istringstream notes(run_output("readelf -n " + e.path));
  std::string line;
  while (std::getline(notes, line)) {
    auto pos = line.find("Build ID: ");
    if (pos != std::string::npos) e.build_id = parse_hex(line.substr(pos + 10));
  }
  std::istringstream phdrs(run_output("readelf -lW " + e.path));
  while (std::getline(phdrs, line)) {
    std::istringstream ls(line);
    std::string type, off, vaddr, paddr, filesz;
    ls >> type >> off >> vaddr >> paddr >> filesz;
    if (type == "LOAD") {
      e.segments.push_back({std::stoull(vaddr, nullptr, 16), std::stoull(off, nullptr, 16),
                            std::stoull(filesz, nullptr, 16)});
    }
  }
  std::istringstream syms(run_output("nm -S --defined-only " + e.path));
  while (std::getline(syms, line)) {
    std::istringstream ls(line);
    std::vector<std::string> t;
    for (std::string w; ls >> w;) t.push_back(w);
    if (t.size() == 4) e.symbols[t[3]] = {std::stoull(t[0], nullptr, 16), std::stoull(t[1], nullptr, 16)};
    if (t.size() == 3) e.symbols[t[2]] = {std::stoull(t[0], nullptr, 16), 0};
  }
  return e;
}

}  // namespace ebt::test
