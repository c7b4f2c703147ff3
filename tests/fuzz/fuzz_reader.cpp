// Fuzz target 1: the capture reader over raw bytes: open (header, trailer,
// index or scan), every record decoded and delivered, the embedded schema,
// and the schema-driven JSON dump (`ebtrace info` / `ebtrace dump`).
#include <cstdio>

#include "common/error.h"
#include "format/reader.h"

namespace {

struct Everything : ebt::format::RecordVisitor {
  size_t n = 0;
  void on(const ebt::SessionEnd&) override { ++n; }
  void on(const ebt::ProcessInfo& v) override { n += v.comm.size(); }
  void on(const ebt::ThreadInfo&) override { ++n; }
  void on(const ebt::ProcessExit&) override { ++n; }
  void on(const ebt::Mapping& v) override { n += v.path.size(); }
  void on(const ebt::StringEntry& v) override { n += v.value.size(); }
  void on(const ebt::Stack& v) override { n += v.frames.size(); }
  void on(const ebt::LuaProto&) override { ++n; }
  void on(const ebt::SymbolTable& v) override { n += v.symbols.size(); }
  void on(const ebt::KernelSymbols& v) override { n += v.symbols.size(); }
  void on(const ebt::CpuSample&) override { ++n; }
  void on(const ebt::OffCpuInterval&) override { ++n; }
  void on(const ebt::SkbHop&) override { ++n; }
  void on(const ebt::SocketInfo&) override { ++n; }
  void on(const ebt::SyscallEvent& v) override { n += v.payload.size(); }
  void on(const ebt::LostEvents&) override { ++n; }
  void on(const ebt::UnwindTable& v) override { n += v.chunks.size(); }
  void on(const ebt::StackSnapshot& v) override { n += v.stack.size(); }
  void on_unknown(uint16_t) override { ++n; }
};

}  // namespace

// Every input is opened and read whole; then, chosen by the input (so that each
// execution stays cheap and the fuzzer still reaches both), either a filtered
// read or the embedded schema and `dump`'s JSON (a third pass over the data).
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static std::FILE* null = std::fopen("/dev/null", "w");
  try {
    ebt::format::CaptureReader reader("fuzz.ebt", data, size);
    Everything v;
    reader.read(v);
    if (data[size / 2] & 1) {
      // A time window and a kind selection take the index/header filtering paths.
      ebt::format::ReadOptions o;
      o.time_begin_ns = uint64_t(size % 4) * 1'000'000'000;
      o.time_end_ns = o.time_begin_ns + 2'000'000'000;
      o.kinds = ebt::format::kind_bit(ebt::format::RecordKind::kCpuSamples) |
                ebt::format::kind_bit(ebt::format::RecordKind::kStack);
      ebt::format::ReadStats stats;
      o.stats = &stats;
      reader.read(v, o);
    } else {
      reader.embedded_kind_names();
      reader.dump_json(null);
    }
    for (const auto& d : reader.damage()) v.n += describe(d).size();
  } catch (const ebt::BadInput&) {
  }
  return 0;
}
