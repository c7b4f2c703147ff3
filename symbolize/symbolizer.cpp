#include "symbolize/symbolizer.h"

#include <elfutils/debuginfod.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "symbolize/demangle.h"
#include "symbolize/dwarf_object.h"
#include "symbolize/embedded_table.h"

namespace ebt::symbolize {

const char* frame_type_name(FrameType type) {
  switch (type) {
    case FrameType::kUser: return "user";
    case FrameType::kKernel: return "kernel";
    case FrameType::kInline: return "inline";
    case FrameType::kLua: return "lua";
    case FrameType::kJit: return "jit";
    case FrameType::kMarker: return "marker";
    case FrameType::kProcess: return "process";
  }
  return "user";
}

const char* symbol_source_name(SymbolSource source) {
  switch (source) {
    case SymbolSource::kNone: return "none";
    case SymbolSource::kEmbedded: return "embedded";
    case SymbolSource::kLocalFile: return "local file";
    case SymbolSource::kDebugDir: return "debug directory";
    case SymbolSource::kSymfs: return "symfs";
    case SymbolSource::kDebuginfod: return "debuginfod";
  }
  return "none";
}

std::string hex_build_id(const std::vector<uint8_t>& id) {
  static const char* kDigits = "0123456789abcdef";
  std::string s;
  s.reserve(id.size() * 2);
  for (uint8_t b : id) {
    s += kDigits[b >> 4];
    s += kDigits[b & 15];
  }
  return s;
}

namespace {

std::string object_key(const std::vector<uint8_t>& build_id, const std::string& path) {
  return build_id.empty() ? "path:" + path : hex_build_id(build_id);
}

// "[vdso]" -> "vdso", "/usr/lib/libc.so.6" -> "libc.so.6", "" -> "anon".
std::string module_name(const std::string& path) {
  if (path.empty()) return "anon";
  if (path.front() == '[' && path.back() == ']') return path.substr(1, path.size() - 2);
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string hex_addr(uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%" PRIx64, v);
  return buf;
}

bool exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

// "ns::f(int) const" -> "ns::f"; template arguments are kept.
std::string without_parameters(const std::string& name) {
  int depth = 0;
  for (size_t i = 0; i < name.size(); ++i) {
    if (name[i] == '<') ++depth;
    else if (name[i] == '>') --depth;
    else if (name[i] == '(' && depth == 0 && i > 0) return name.substr(0, i);
  }
  return name;
}

bool ends_with_name(const std::string& full, const std::string& tail) {
  if (tail.empty() || tail.size() > full.size()) return false;
  if (full.compare(full.size() - tail.size(), tail.size(), tail) != 0) return false;
  return full.size() == tail.size() || full[full.size() - tail.size() - 1] == ':';
}

// Whether a DWARF function name (linkage or plain) and a symbol name denote the
// same function: "burn_b" vs "burn_b", "foo" vs "_ZL3foov", "_ZN2ns1fEv" vs itself.
bool same_function(const std::string& dwarf_name, const std::string& symbol) {
  if (dwarf_name == symbol) return true;
  std::string a = without_parameters(demangle(dwarf_name));
  std::string b = without_parameters(demangle(symbol));
  return a == b || ends_with_name(a, b) || ends_with_name(b, a);
}

}  // namespace

struct Symbolizer::PidMaps {
  std::vector<Mapping> maps;  // in record order
  std::vector<uint64_t> conflict_times;  // sorted
  bool analyzed = false;
  // Lookup index (built on first use): map indices by start address, and the
  // largest end among the first i of them.
  std::vector<uint32_t> by_start;
  std::vector<uint64_t> max_end;
  bool indexed = false;
  std::unordered_map<const Mapping*, const Mapping*> base_of;  // vaddr_from_load_bias
};

namespace {

// Work bounds for hostile captures (docs/security.md): overlap pairs examined
// per process before every mapping time is taken as a generation boundary
// (finer generations are always correct, only cached less), and mappings
// examined per address lookup.
constexpr uint64_t kMaxOverlapPairs = 1u << 22;
constexpr size_t kMaxMappingScan = 4096;

}  // namespace

struct Symbolizer::Object {
  std::string key;
  std::string path;
  std::string module;
  std::vector<uint8_t> build_id;
  std::unique_ptr<EmbeddedObject> embedded;
  std::unique_ptr<DwarfObject> file;
  SymbolSource file_source = SymbolSource::kNone;
  bool located = false;
  std::vector<std::string> rejected;
  std::unordered_map<uint64_t, std::vector<SymFrame>> cache;  // (offset << 1 | return) -> frames
};

Symbolizer::Symbolizer(SymbolizerOptions options) : options_(std::move(options)) {}

Symbolizer::~Symbolizer() {
  if (debuginfod_ != nullptr) debuginfod_end(static_cast<debuginfod_client*>(debuginfod_));
}

void Symbolizer::add(const Mapping& mapping) {
  auto& pm = maps_[mapping.pid];
  if (!pm) pm = std::make_unique<PidMaps>();
  pm->maps.push_back(mapping);  // may move earlier mappings: drop pointers to them
  pm->analyzed = false;
  pm->indexed = false;
  pm->base_of.clear();
  object_of_mapping_.clear();
}

void Symbolizer::add(const SymbolTable& table) {
  std::string key = object_key(table.build_id, table.path);
  auto it = objects_.find(key);
  if (it != objects_.end()) {
    Object& o = *it->second;
    if (!o.embedded) {
      o.embedded = std::make_unique<EmbeddedObject>(table);
    } else {  // a later batch of the same object's symbols
      SymbolTable merged = o.embedded->table();
      merge_symbol_tables(merged, table);
      o.embedded = std::make_unique<EmbeddedObject>(std::move(merged));
    }
    o.cache.clear();
    return;
  }
  auto [pending, inserted] = pending_tables_.emplace(key, table);
  if (!inserted) merge_symbol_tables(pending->second, table);
}

void Symbolizer::add(const KernelSymbols& symbols) {
  kernel_.insert(kernel_.end(), symbols.symbols.begin(), symbols.symbols.end());
  kernel_sorted_ = false;
  kernel_cache_.clear();
}

void Symbolizer::add(const LuaProto& proto) {
  lua_[{proto.pid, proto.address}] = proto;
  lua_cache_.erase({proto.pid, proto.address});
}

uint32_t Symbolizer::generation(uint32_t pid, uint64_t time_ns) {
  auto it = maps_.find(pid);
  if (it == maps_.end()) return 0;
  PidMaps& pm = *it->second;
  if (!pm.analyzed) {
    std::vector<const Mapping*> by_start;
    for (const auto& m : pm.maps) by_start.push_back(&m);
    std::sort(by_start.begin(), by_start.end(),
              [](const Mapping* a, const Mapping* b) { return a->start < b->start; });
    pm.conflict_times.clear();
    uint64_t pairs = 0;
    for (size_t i = 0; i < by_start.size() && pairs <= kMaxOverlapPairs; ++i) {
      for (size_t j = i + 1; j < by_start.size() && by_start[j]->start < by_start[i]->end; ++j) {
        if (++pairs > kMaxOverlapPairs) break;
        const Mapping& a = *by_start[i];
        const Mapping& b = *by_start[j];
        bool same = a.path == b.path && a.build_id == b.build_id &&
                    a.start - a.file_offset == b.start - b.file_offset;
        if (!same && a.time_ns != b.time_ns) {
          pm.conflict_times.push_back(std::max(a.time_ns, b.time_ns));
        }
      }
    }
    if (pairs > kMaxOverlapPairs) {
      // Too many overlaps to pair up (only a crafted capture has them): every
      // mapping time starts a generation.
      pm.conflict_times.clear();
      for (const auto& m : pm.maps) pm.conflict_times.push_back(m.time_ns);
    }
    std::sort(pm.conflict_times.begin(), pm.conflict_times.end());
    pm.conflict_times.erase(std::unique(pm.conflict_times.begin(), pm.conflict_times.end()),
                            pm.conflict_times.end());
    pm.analyzed = true;
  }
  return static_cast<uint32_t>(
      std::upper_bound(pm.conflict_times.begin(), pm.conflict_times.end(), time_ns) -
      pm.conflict_times.begin());
}

const Mapping* Symbolizer::find_mapping(uint32_t pid, uint64_t time_ns, uint64_t address) {
  auto it = maps_.find(pid);
  if (it == maps_.end()) return nullptr;
  PidMaps& pm = *it->second;
  if (!pm.indexed) {
    pm.by_start.resize(pm.maps.size());
    for (size_t i = 0; i < pm.maps.size(); ++i) pm.by_start[i] = static_cast<uint32_t>(i);
    std::stable_sort(pm.by_start.begin(), pm.by_start.end(),
                     [&](uint32_t a, uint32_t b) { return pm.maps[a].start < pm.maps[b].start; });
    pm.max_end.resize(pm.maps.size());
    uint64_t e = 0;
    for (size_t i = 0; i < pm.by_start.size(); ++i) pm.max_end[i] = e = std::max(e, pm.maps[pm.by_start[i]].end);
    pm.indexed = true;
  }
  const Mapping* valid = nullptr;   // latest recorded at or before the sample
  const Mapping* latest = nullptr;  // fallback: latest that contains the address
  // Candidates start at or below the address; walking down stops where no
  // earlier mapping reaches it (or after kMaxMappingScan: crafted overlaps).
  size_t i = std::upper_bound(pm.by_start.begin(), pm.by_start.end(), address,
                              [&](uint64_t a, uint32_t m) { return a < pm.maps[m].start; }) -
             pm.by_start.begin();
  for (size_t scanned = 0; i > 0 && pm.max_end[i - 1] > address && scanned < kMaxMappingScan; --i, ++scanned) {
    const Mapping& m = pm.maps[pm.by_start[i - 1]];
    if (address < m.start || address >= m.end) continue;
    // Ties go to the mapping recorded last (the highest index), as in record order.
    auto later = [&](const Mapping* than) {
      return than == nullptr || m.time_ns > than->time_ns || (m.time_ns == than->time_ns && &m > than);
    };
    if (m.time_ns <= time_ns && later(valid)) valid = &m;
    if (later(latest)) latest = &m;
  }
  return valid != nullptr ? valid : latest;
}

Symbolizer::Object& Symbolizer::object_for(const Mapping& mapping) {
  auto [cached, inserted] = object_of_mapping_.try_emplace(&mapping, nullptr);
  if (!inserted) return *cached->second;
  Object*& slot = cached->second;
  std::string key = object_key(mapping.build_id, mapping.path);
  auto it = objects_.find(key);
  if (it != objects_.end()) return *(slot = it->second.get());
  auto obj = std::make_unique<Object>();
  obj->key = key;
  obj->path = mapping.path;
  obj->module = module_name(mapping.path);
  obj->build_id = mapping.build_id;
  if (auto t = pending_tables_.find(key); t != pending_tables_.end()) {
    obj->embedded = std::make_unique<EmbeddedObject>(std::move(t->second));
    pending_tables_.erase(t);
  }
  slot = obj.get();
  return *objects_.emplace(key, std::move(obj)).first->second;
}

void Symbolizer::locate_files(Object& o) {
  o.located = true;
  struct Candidate {
    std::string path;
    SymbolSource source;
    bool allow_unverified;
  };
  std::vector<Candidate> candidates;
  const bool absolute = !o.path.empty() && o.path.front() == '/';
  std::string id = hex_build_id(o.build_id);
  std::string id_rel = id.size() > 2 ? ".build-id/" + id.substr(0, 2) + "/" + id.substr(2) : "";
  if (options_.local_files && absolute) candidates.push_back({o.path, SymbolSource::kLocalFile, false});
  for (const auto& dir : options_.symfs) {
    if (absolute) candidates.push_back({dir + o.path, SymbolSource::kSymfs, true});
    if (!id_rel.empty()) {
      candidates.push_back({dir + "/" + id_rel + ".debug", SymbolSource::kSymfs, false});
      candidates.push_back({dir + "/" + id_rel, SymbolSource::kSymfs, false});
    }
  }
  for (const auto& dir : options_.debug_dirs) {
    if (!id_rel.empty()) candidates.push_back({dir + "/" + id_rel + ".debug", SymbolSource::kDebugDir, false});
    if (absolute) {
      candidates.push_back({dir + o.path + ".debug", SymbolSource::kDebugDir, false});
      candidates.push_back({dir + o.path, SymbolSource::kDebugDir, false});
    }
  }

  std::unique_ptr<DwarfObject> fallback;  // symbols without DWARF
  SymbolSource fallback_source = SymbolSource::kNone;
  auto consider = [&](const std::string& path, SymbolSource source, bool allow_unverified) {
    if (!exists(path)) return false;
    std::string why;
    auto obj = DwarfObject::open(path, o.build_id, allow_unverified, &why);
    if (!obj) {
      o.rejected.push_back(why);
      return false;
    }
    if (obj->has_dwarf()) {
      o.file = std::move(obj);
      o.file_source = source;
      return true;
    }
    if (!fallback) {
      fallback = std::move(obj);
      fallback_source = source;
    }
    return false;
  };
  for (const auto& c : candidates) {
    if (consider(c.path, c.source, c.allow_unverified)) return;
  }
  if (options_.debuginfod && !debuginfod_down_ && !o.build_id.empty() &&
      std::getenv("DEBUGINFOD_URLS") != nullptr) {
    if (debuginfod_ == nullptr) debuginfod_ = debuginfod_begin();
    if (debuginfod_ != nullptr) {
      char* path = nullptr;
      int fd = debuginfod_find_debuginfo(static_cast<debuginfod_client*>(debuginfod_),
                                         o.build_id.data(), static_cast<int>(o.build_id.size()),
                                         &path);
      if (fd >= 0) {
        ::close(fd);
        bool done = path != nullptr && consider(path, SymbolSource::kDebuginfod, false);
        std::free(path);
        if (done) return;
      } else {
        o.rejected.push_back("debuginfod " + id + ": " + std::strerror(-fd));
        // Anything but "not found" (unreachable server, timeout) would repeat for
        // every object: ask no more in this run.
        if (fd != -ENOENT) debuginfod_down_ = true;
      }
    }
  }
  if (fallback) {
    o.file = std::move(fallback);
    o.file_source = fallback_source;
  }
}

std::optional<uint64_t> Symbolizer::vaddr_from_load_bias(const Mapping& mapping, uint64_t offset,
                                                         uint64_t first_load_vaddr) {
  // The object's first mapping (file offset 0) sits at its first PT_LOAD address
  // plus the load bias; every address of the object shares that bias.
  const uint64_t address = offset - mapping.file_offset + mapping.start;
  const Mapping* base = nullptr;
  if (auto it = maps_.find(mapping.pid); it != maps_.end()) {
    // Once per mapping (not per address): a scan over all the process's mappings.
    auto [slot, inserted] = it->second->base_of.try_emplace(&mapping, nullptr);
    if (inserted)
      for (const auto& m : it->second->maps) {
        if (m.file_offset != 0 || m.path != mapping.path || m.build_id != mapping.build_id) continue;
        if (m.start > mapping.start) continue;
        if (slot->second == nullptr || m.start > slot->second->start) slot->second = &m;
      }
    base = slot->second;
  }
  // Without it, assume the usual layout where file offsets equal distances from
  // the first segment (ld's default for text).
  if (base == nullptr) return first_load_vaddr + offset;
  return address - base->start + first_load_vaddr;
}

const std::vector<SymFrame>& Symbolizer::resolve_user(const Mapping* mapping, uint64_t address,
                                                       bool return_address, FrameType type) {
  if (mapping == nullptr) {
    auto& v = unknown_[type];
    if (v.empty()) v.push_back({"[unknown]", "", "", 0, type, false});
    return v;
  }
  Object& o = object_for(*mapping);
  const uint64_t offset = address - mapping->start + mapping->file_offset;
  const uint64_t cache_key = offset << 2 | (return_address ? 2 : 0) | (type == FrameType::kJit ? 1 : 0);
  if (auto c = o.cache.find(cache_key); c != o.cache.end()) return c->second;
  if (!o.located) locate_files(o);

  std::vector<SymFrame> frames;
  const uint64_t lookup = return_address && offset > 0 ? offset - 1 : offset;
  std::optional<uint64_t> vaddr;
  if (o.embedded && !o.embedded->table().segments.empty()) {
    vaddr = offset_to_vaddr(o.embedded->table().segments, lookup);
  } else if (o.file && o.file->segments_have_offsets()) {
    vaddr = offset_to_vaddr(o.file->segments(), lookup);
  } else if (o.file) {
    vaddr = vaddr_from_load_bias(*mapping, lookup, o.file->first_load_vaddr());
  }

  auto emit = [&](const std::vector<SourceFrame>& chain) {
    // chain: innermost first; all but the last are inlined into the next one.
    for (size_t i = 0; i < chain.size(); ++i) {
      bool outer = i + 1 == chain.size();
      if (!outer && !options_.inline_frames) continue;
      frames.push_back({demangle(chain[i].function), o.module, chain[i].file, chain[i].line,
                        outer ? type : FrameType::kInline, true});
    }
  };
  if (vaddr) {
    if (o.file && o.file->has_dwarf()) emit(o.file->lookup(*vaddr, options_.inline_frames));
    if (frames.empty() && o.embedded) {
      const SourceLocation* loc = o.embedded->location_at(*vaddr);
      if (loc == nullptr && return_address) loc = o.embedded->location_at(*vaddr + 1);
      const Symbol* sym = o.embedded->symbol_at(*vaddr);
      if (loc != nullptr) {
        std::vector<SourceFrame> chain = loc->frames;
        if (sym != nullptr) {
          // A chain that stops at an inlined function (harvested from the
          // abstract scopes) lacks the containing function: add it from the symbol.
          if (same_function(chain.back().function, sym->name)) chain.back().function = sym->name;
          else chain.push_back({sym->name, "", 0});
        }
        if (!chain.back().function.empty()) emit(chain);
      } else if (sym != nullptr) {
        emit({{sym->name, "", 0}});
      }
    }
    if (frames.empty() && o.file && !o.file->has_dwarf()) emit(o.file->lookup(*vaddr, false));
  }
  if (frames.empty()) {
    frames.push_back({"[" + o.module + "+" + hex_addr(offset) + "]", o.module, "", 0, type, false});
  }
  return o.cache.emplace(cache_key, std::move(frames)).first->second;
}

const std::vector<SymFrame>& Symbolizer::resolve_kernel(uint64_t address, bool return_address) {
  if (!kernel_sorted_) {
    std::stable_sort(kernel_.begin(), kernel_.end(),
                     [](const KernelSymbol& a, const KernelSymbol& b) { return a.address < b.address; });
    kernel_.erase(std::unique(kernel_.begin(), kernel_.end(),
                              [](const KernelSymbol& a, const KernelSymbol& b) {
                                return a.address == b.address && a.name == b.name;
                              }),
                  kernel_.end());
    kernel_sorted_ = true;
  }
  const uint64_t lookup = return_address && address > 0 ? address - 1 : address;
  auto [slot, inserted] = kernel_cache_.try_emplace(lookup);
  if (!inserted) return slot->second;
  auto it = std::upper_bound(kernel_.begin(), kernel_.end(), lookup,
                             [](uint64_t a, const KernelSymbol& s) { return a < s.address; });
  // The last symbol only bounds the one before it: its own end is unknown.
  if (it != kernel_.begin() && it != kernel_.end()) {
    const KernelSymbol& s = *(it - 1);
    std::string module = s.module.empty() ? "[kernel.kallsyms]" : "[" + s.module + "]";
    slot->second.push_back({s.name, module, "", 0, FrameType::kKernel, true});
  } else {
    slot->second.push_back({"[unknown]", "[kernel.kallsyms]", "", 0, FrameType::kKernel, false});
  }
  return slot->second;
}

const std::vector<SymFrame>& Symbolizer::resolve_lua(uint32_t pid, uint64_t address) {
  auto [slot, inserted] = lua_cache_.try_emplace({pid, address});
  if (!inserted) return slot->second;
  auto it = lua_.find({pid, address});
  if (it == lua_.end()) {
    slot->second.push_back({"[lua " + hex_addr(address) + "]", "lua", "", 0, FrameType::kLua, false});
    return slot->second;
  }
  const LuaProto& p = it->second;
  std::string chunk = !p.chunk.empty() && (p.chunk[0] == '@' || p.chunk[0] == '=') ? p.chunk.substr(1) : p.chunk;
  std::string name = !p.name.empty() ? p.name : chunk + ":" + std::to_string(p.first_line);
  slot->second.push_back({name, "lua", chunk, p.first_line, FrameType::kLua, true});
  return slot->second;
}

const std::vector<SymFrame>& Symbolizer::resolve(uint32_t pid, uint64_t time_ns, const Frame& frame,
                                                  bool return_address) {
  switch (frame.kind) {
    case FrameKind::kKernel:
      return resolve_kernel(frame.address, return_address);
    case FrameKind::kLua:
      return resolve_lua(pid, frame.address);
    case FrameKind::kJit:
    case FrameKind::kUser:
      break;
  }
  FrameType type = frame.kind == FrameKind::kJit ? FrameType::kJit : FrameType::kUser;
  return resolve_user(find_mapping(pid, time_ns, frame.address), frame.address, return_address, type);
}

void Symbolizer::symbolize_frame(uint32_t pid, uint64_t time_ns, const Frame& frame,
                                 bool return_address, std::vector<SymFrame>& out) {
  const auto& v = resolve(pid, time_ns, frame, return_address);
  out.insert(out.end(), v.begin(), v.end());
}

void Symbolizer::symbolize_stack(uint32_t pid, uint64_t time_ns, const std::vector<Frame>& frames,
                                 std::vector<SymFrame>& out) {
  for (size_t i = 0; i < frames.size(); ++i) {
    // The first frame of each kind run is an interrupted PC, the rest are return addresses.
    bool ret = i > 0 && frames[i - 1].kind == frames[i].kind;
    symbolize_frame(pid, time_ns, frames[i], ret, out);
  }
}

std::vector<ObjectReport> Symbolizer::objects() const {
  std::vector<ObjectReport> result;
  for (const auto& [key, o] : objects_) {
    ObjectReport r;
    r.path = o->path;
    r.build_id = hex_build_id(o->build_id);
    r.rejected = o->rejected;
    if (o->file && o->file->has_dwarf()) {
      r.names = o->file_source;
      r.file = o->file->path();
      r.dwarf = true;
    } else if (o->embedded) {
      r.names = SymbolSource::kEmbedded;
    } else if (o->file) {
      r.names = o->file_source;
      r.file = o->file->path();
    }
    result.push_back(std::move(r));
  }
  std::sort(result.begin(), result.end(),
            [](const ObjectReport& a, const ObjectReport& b) { return a.path < b.path; });
  return result;
}

}  // namespace ebt::symbolize
