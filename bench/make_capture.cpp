// Writes the synthetic on-CPU capture of bench/synthetic_capture.h, or reads
// a capture with a visitor that only counts (the floor any report stands on):
//   make_capture [--samples N] [--stacks S] --out PATH
//   make_capture --read PATH
// (scripts/bench-report-scale.sh).
#include <cstdio>
#include <cstdlib>
#include <string>

#include "bench/synthetic_capture.h"
#include "format/reader.h"

int main(int argc, char** argv) {
  size_t n = 10'000'000;
  uint32_t nstacks = 3000;
  std::string path, read;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--samples") n = std::strtoull(argv[i + 1], nullptr, 10);
    else if (a == "--stacks") nstacks = std::strtoul(argv[i + 1], nullptr, 10);
    else if (a == "--out") path = argv[i + 1];
    else if (a == "--read") read = argv[i + 1];
    else path.clear(), argc = 0;
  }
  if (!read.empty()) {
    struct Count : ebt::format::RecordVisitor {
      uint64_t samples = 0, check = 0;
      void on(const ebt::CpuSample& s) override {
        samples++;
        check += s.stack_id ^ s.tid;
      }
    } c;
    ebt::format::CaptureReader(read).read(c);
    std::printf("samples %llu checksum %llu\n", static_cast<unsigned long long>(c.samples),
                static_cast<unsigned long long>(c.check));
    return 0;
  }
  if (path.empty() || n == 0 || nstacks == 0) {
    std::fprintf(stderr, "usage: make_capture [--samples N] [--stacks S] --out PATH\n");
    return 2;
  }
  ebt::bench::SyntheticWorkload w(n, nstacks);
  w.write(path);
  return 0;
}
