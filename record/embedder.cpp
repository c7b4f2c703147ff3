#include "record/embedder.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iterator>

#include "format/writer.h"
#include "record/proc_reader.h"
#include "record/symbol_harvest.h"
#include "unwind/unwind_table.h"

namespace ebt::record {
namespace {

// Uncompressed size of a symbol record, roughly (the summary line's figure).
uint64_t approximate_bytes(const SymbolTable& t) {
  uint64_t n = t.path.size() + t.build_id.size() + t.segments.size() * 24;
  for (const auto& s : t.symbols) n += s.name.size() + 16;
  for (const auto& l : t.locations)
    for (const auto& f : l.frames) n += f.file.size() + f.function.size() + 16;
  return n;
}

uint64_t approximate_bytes(const KernelSymbols& k) {
  uint64_t n = 0;
  for (const auto& s : k.symbols) n += s.name.size() + s.module.size() + 16;
  return n;
}

}  // namespace

void Embedder::on_new_file() {
  embedded_.clear();
  unwind_written_.clear();
  vdso_written_ = false;
  kernel_embedded_.clear();
  // What the previous file needed is not needed by this one until its own
  // stacks note it again.
  for (const auto& obj : objects_.objects()) {
    obj->hits.clear();
    obj->unwind_table = false;
  }
  hits_ = Hits{};
  harvester_.on_new_file();
}

void Embedder::write_unwind_tables() {
  format::CaptureWriter& w = *file_.writer;
  auto add = [&](int fd, const std::string& path, const std::vector<uint8_t>& build_id) {
    std::string why;
    if (auto t = unwind::extract_unwind_table(fd, path, build_id, &why)) {
      w.add(*t);
    } else {
      std::fprintf(stderr, "ebtrace: warning: no unwind table for %s (%s): its frames end offline unwinding\n",
                   path.c_str(), why.c_str());
    }
  };
  for (const auto& obj : objects_.objects()) {
    if (!obj->unwind_table || unwind_written_.count(obj.get())) continue;
    unwind_written_.insert(obj.get());
    add(obj->fd, obj->path, obj->build_id);
  }
  if (hits_.vdso_unwind && !vdso_written_ && !vdso_file().empty()) {
    vdso_written_ = true;
    int fd = open(vdso_file().c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      std::vector<uint8_t> build_id;
      std::vector<LoadSegment> segments;
      read_elf_identity(fd, &build_id, &segments);
      add(fd, "[vdso]", build_id);
      close(fd);
    }
  }
}

uint64_t Embedder::write_pending() {
  uint64_t start = thread_cpu_ns();
  struct Charge {  // every return counts
    Cost& cost;
    uint64_t start;
    ~Charge() { cost.ns += thread_cpu_ns() - start; }
  } charge{cost_, start};
  if (generation_ != file_.generation) {
    generation_ = file_.generation;
    embedded_.clear();
    unwind_written_.clear();
    vdso_written_ = false;
    kernel_embedded_.clear();
  }
  write_unwind_tables();  // needed to unwind at all: embedded even with --no-embed
  if (!symbols_) return 0;
  format::CaptureWriter& w = *file_.writer;
  uint64_t bytes = 0;
  for (const auto& obj : objects_.objects()) {
    if (obj->hits.empty() || obj->build_id.empty()) continue;
    auto [done, first] = embedded_.try_emplace(obj.get());
    // Per hit, not a merge over everything written so far: that grows with the
    // file and runs at every block cut (quadratic at high sample rates).
    std::set<uint64_t> fresh;
    for (uint64_t a : obj->hits)
      if (!done->second.contains(a)) fresh.insert(fresh.end(), a);
    obj->hits.clear();
    if (fresh.empty()) continue;
    // Every symbol once per file with --embed-all-symbols; the later batches
    // add the lines of their new addresses (and the symbols naming them).
    SymbolTable t = harvester_.build(*obj, fresh, all_symbols_ && first);
    bytes += approximate_bytes(t);
    w.add(t);
    cost_.tables++;
    done->second.insert(fresh.begin(), fresh.end());
  }
  std::set<uint64_t> kernel;
  for (uint64_t a : hits_.kernel)
    if (!kernel_embedded_.contains(a)) kernel.insert(kernel.end(), a);
  hits_.kernel.clear();
  if (!kernel.empty()) {
    KernelSymbols ks = build_kernel_symbols(kernel);
    kernel_embedded_.insert(kernel.begin(), kernel.end());
    if (!ks.symbols.empty()) {
      bytes += approximate_bytes(ks);
      w.add(ks);
    }
  }
  return bytes;
}

}  // namespace ebt::record
