// Fuzz target 3: embedded unwind tables. The input is either a capture (its
// Mapping, UnwindTable and StackSnapshot records drive the offline unwinder
// exactly as `report` does), or, when it does not start with the capture
// magic, the bytes of an ELF file cut to the table's shape: materialised,
// reported to libdw and walked from a snapshot whose registers and stack come
// from the input too.
#include <unistd.h>

#include <cstring>

#include "common/error.h"
#include "format/block.h"
#include "format/reader.h"
#include "tests/fuzz/harness.h"
#include "unwind/offline_unwinder.h"
#include "unwind/unwind_table.h"

namespace ebt::fuzz {
namespace {

struct Collect : format::RecordVisitor {
  std::vector<Mapping> maps;
  std::vector<UnwindTable> tables;
  std::vector<StackSnapshot> snapshots;
  void on(const Mapping& m) override { maps.push_back(m); }
  void on(const UnwindTable& t) override { tables.push_back(t); }
  void on(const StackSnapshot& s) override {
    if (snapshots.size() < 32) snapshots.push_back(s);
  }
};

void from_capture(const std::string& path) {
  format::CaptureReader reader(path);
  Collect c;
  format::ReadOptions o;
  o.kinds = format::kind_bit(format::RecordKind::kMapping) | format::kind_bit(format::RecordKind::kUnwindTable) |
            format::kind_bit(format::RecordKind::kStackSnapshots);
  reader.read(c, o);
  unwind::OfflineUnwinder u;
  for (const auto& m : c.maps) u.add(m);
  for (auto& t : c.tables) u.add(std::move(t));
  std::vector<uint64_t> pcs;
  for (const auto& s : c.snapshots) {
    pcs.clear();
    u.unwind(s, &pcs, 127);
  }
  u.problems();
}

void from_elf(const uint8_t* data, size_t size) {
  UnwindTable t;
  t.path = "/fuzz/object";
  t.file_size = size;
  t.chunks.push_back({0, std::vector<uint8_t>(data, data + size)});
  std::string why;
  auto segments = unwind::load_segments(t);
  int fd = unwind::materialize(t, &why);
  if (fd >= 0) close(fd);
  // A process with the object mapped at 0x400000 and a snapshot taken from
  // the input's last bytes (registers) and the input itself (the stack).
  Mapping m;
  m.pid = 1;
  m.start = 0x400000;
  m.end = 0x400000 + std::max<uint64_t>(size, 4096);
  m.path = t.path;
  StackSnapshot s;
  s.pid = s.tid = 1;
  s.time_ns = 1;
  uint64_t regs[3] = {0x400000, 0x7ffff000, 0};
  if (size >= 24) std::memcpy(regs, data + size - 24, 24);
  s.ip = 0x400000 + regs[0] % std::max<uint64_t>(size, 1);
  s.sp = regs[1];
  s.bp = regs[2];
  s.stack.assign(data, data + std::min<size_t>(size, 512));
  unwind::OfflineUnwinder u;
  u.add(m);
  u.add(std::move(t));
  std::vector<uint64_t> pcs;
  u.unwind(s, &pcs, 127);
}

}  // namespace
}  // namespace ebt::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static ebt::fuzz::InputFile file;
  try {
    if (size >= 8 && std::memcmp(data, ebt::format::disk::kFileMagic, 8) == 0)
      ebt::fuzz::from_capture(file.set(data, size));
    else
      ebt::fuzz::from_elf(data, size);
  } catch (const ebt::BadInput&) {
  }
  return 0;
}
