// Turns captured addresses into named frames, offline.
//
// Per object (by build-id), sources in order: the symbol table embedded in the
// capture; the same path on this machine if its build-id matches; --symfs
// directories and the standard debug directories; debuginfod when enabled. A file
// with DWARF beats the embedded table (inline frames, file:line); a file whose
// build-id differs is never used. Unresolvable frames become [module+0xOFFSET]
// (or [unknown] without a mapping): never dropped, never misnamed.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "format/records.h"
#include "symbolize/frame.h"

namespace ebt::symbolize {

struct SymbolizerOptions {
  std::vector<std::string> symfs;                        // --symfs DIR (tried in order)
  std::vector<std::string> debug_dirs{"/usr/lib/debug"};  // standard debug directories
  bool local_files = true;  // look at the mapping's path on this machine (build-id checked)
  bool debuginfod = false;  // ask libdebuginfod (DEBUGINFOD_URLS) for debug files
  bool inline_frames = true;
};

// Where an object's names came from, for diagnostics (report -v, tests).
enum class SymbolSource : uint8_t { kNone, kEmbedded, kLocalFile, kDebugDir, kSymfs, kDebuginfod };
const char* symbol_source_name(SymbolSource source);

struct ObjectReport {
  std::string path;
  std::string build_id;       // hex
  SymbolSource names = SymbolSource::kNone;  // source of function names
  std::string file;           // the file used, when file-based
  bool dwarf = false;         // inline frames / file:line available
  std::vector<std::string> rejected;  // files looked at and refused, with the reason
};

std::string hex_build_id(const std::vector<uint8_t>& id);

class Symbolizer {
 public:
  explicit Symbolizer(SymbolizerOptions options = {});
  ~Symbolizer();
  Symbolizer(const Symbolizer&) = delete;
  Symbolizer& operator=(const Symbolizer&) = delete;

  void add(const Mapping& mapping);
  void add(const SymbolTable& table);
  void add(const KernelSymbols& symbols);  // may be called repeatedly; merged
  void add(const LuaProto& proto);

  // Mapping generation of `pid` at `time_ns`: changes only when a mapping recorded
  // later overlaps an earlier, different one (exec). Samples of one pid with the
  // same stack and generation symbolize identically, so callers cache on
  // (pid, generation, stack id).
  uint32_t generation(uint32_t pid, uint64_t time_ns);

  // Symbolizes a captured stack (leaf first) and appends to `out`, leaf first;
  // each address can expand to several frames (inline chains, innermost first).
  void symbolize_stack(uint32_t pid, uint64_t time_ns, const std::vector<Frame>& frames,
                       std::vector<SymFrame>& out);

  // One address. `return_address`: the address follows a call (every frame but the
  // first of its kind run), so lookups use address-1 to land inside the call.
  void symbolize_frame(uint32_t pid, uint64_t time_ns, const Frame& frame, bool return_address,
                       std::vector<SymFrame>& out);
  // Same, without copying: the frames stay valid (and at the same address) for the
  // Symbolizer's lifetime, so callers may key caches on their addresses (add all
  // records before resolving: adding kernel symbols or Lua protos later drops
  // their cached frames).
  const std::vector<SymFrame>& resolve(uint32_t pid, uint64_t time_ns, const Frame& frame,
                                       bool return_address);

  // The objects looked up so far, sorted by path.
  std::vector<ObjectReport> objects() const;

  // The recorded mapping of `pid` that held `address` at `time_ns` (the one
  // resolve() uses), nullptr if none. Valid for the Symbolizer's lifetime.
  const Mapping* mapping_of(uint32_t pid, uint64_t time_ns, uint64_t address) {
    return find_mapping(pid, time_ns, address);
  }

 private:
  struct Object;
  struct PidMaps;
  const Mapping* find_mapping(uint32_t pid, uint64_t time_ns, uint64_t address);
  Object& object_for(const Mapping& mapping);
  void locate_files(Object& object);
  std::optional<uint64_t> vaddr_from_load_bias(const Mapping& mapping, uint64_t offset,
                                               uint64_t first_load_vaddr);
  const std::vector<SymFrame>& resolve_user(const Mapping* mapping, uint64_t address,
                                            bool return_address, FrameType type);
  const std::vector<SymFrame>& resolve_kernel(uint64_t address, bool return_address);
  const std::vector<SymFrame>& resolve_lua(uint32_t pid, uint64_t address);

  SymbolizerOptions options_;
  std::unordered_map<uint32_t, std::unique_ptr<PidMaps>> maps_;
  std::map<std::string, std::unique_ptr<Object>> objects_;  // by object key
  std::unordered_map<const Mapping*, Object*> object_of_mapping_;
  std::unordered_map<std::string, SymbolTable> pending_tables_;  // by object key
  std::vector<KernelSymbol> kernel_;
  bool kernel_sorted_ = true;
  std::map<std::pair<uint32_t, uint64_t>, LuaProto> lua_;
  std::unordered_map<uint64_t, std::vector<SymFrame>> kernel_cache_;  // by lookup address
  std::map<std::pair<uint32_t, uint64_t>, std::vector<SymFrame>> lua_cache_;
  std::map<FrameType, std::vector<SymFrame>> unknown_;  // "[unknown]" per type
  void* debuginfod_ = nullptr;  // debuginfod_client*, created on first use
  bool debuginfod_down_ = false;  // a query failed other than "not found"
};

}  // namespace ebt::symbolize
