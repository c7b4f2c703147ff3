// The shared, read-only part of a report: what the capture says about the
// world (session, processes and threads, stacks, strings, losses) and the
// symbolizer with its caches. Built once while the capture is read and lent to
// every report family (report/family.h); families keep their own state.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "format/reader.h"
#include "format/records.h"
#include "symbolize/frame.h"
#include "symbolize/lua_names.h"
#include "symbolize/symbolizer.h"

namespace ebt::unwind { class OfflineUnwinder; }

namespace ebt::report {

using symbolize::FrameType;

struct ContainerIndex;  // report/containers.cpp

// One distinct frame (type, module, name); outputs refer to frames by id.
struct FrameInfo {
  std::string name;    // demangled, or [module+0x..]
  std::string module;
  std::string file;    // source file when known (first seen)
  FrameType type = FrameType::kUser;
  bool resolved = true;
};

// Interns frames; id 0 is reserved for "no frame".
class FrameTable {
 public:
  FrameTable();
  uint32_t intern(const symbolize::SymFrame& frame);
  uint32_t intern(const std::string& name, FrameType type, const std::string& module = "");
  const FrameInfo& operator[](uint32_t id) const { return frames_[id]; }
  size_t size() const { return frames_.size(); }

 private:
  std::vector<FrameInfo> frames_;
  std::unordered_map<std::string, uint32_t> ids_;
};

struct ProcessEntry {
  uint32_t pid = 0;
  uint32_t ppid = 0;
  std::string comm;
  std::string exe;
  std::vector<std::string> cmdline;
  std::vector<uint32_t> nspid;  // NSpid chain, outermost first (a container's pid is the last)
  std::string cgroup_path;      // e.g. /system.slice/docker-<id>.scope ("" if unknown)
  uint64_t cgroup_id = 0;       // bpf_get_current_cgroup_id() of its tasks (0: unknown)
  uint64_t start_ns = 0;
  uint64_t exit_ns = 0;
};

// Which stack to symbolize: a captured stack of a process at a time (the
// mappings valid then). `aux_id` is a second, report-defined id that a stack
// transformation may use (e.g. an interned Lua stack spliced into the native
// one); it is part of the cache key. 0: none.
struct StackRef {
  uint32_t pid = 0;
  uint64_t time_ns = 0;
  uint32_t stack_id = 0;
  uint32_t aux_id = 0;
};

// Where one frame of a symbolized stack came from, for exports that keep
// addresses and lines (pprof locations). Frames resolved from one captured
// address (an inline chain, innermost first) share `call`.
struct FrameSite {
  const Mapping* mapping = nullptr;  // the capture's mapping of the address (nullptr: kernel / unknown)
  uint64_t address = 0;              // the captured address; a return address minus 1 (inside its call)
  uint32_t line = 0;                 // source line, 0 if unknown
  uint32_t call = 0;                 // index of the captured frame in its stack
  bool kernel = false;
};

class ReportContext {
 public:
  explicit ReportContext(symbolize::SymbolizerOptions options = {});

  // ---- tables, filled by ContextBuilder while the capture is read ----
  SessionInfo session;
  std::optional<SessionEnd> end;
  std::vector<std::string> warnings;  // one line per damage found while reading
  bool corrupted = false;             // damage beyond a truncated tail (exit code 2)
  uint64_t lost = 0;
  std::map<LossSource, uint64_t> lost_by_source;
  // --keep-stack-bytes captures: raw user stacks unwound while loading.
  uint64_t raw_stacks = 0, raw_stacks_to_end = 0;
  std::map<uint32_t, ProcessEntry> processes;
  // Cgroups with the container identity the recorder harvested, by path
  // (report/containers.h gives a process's container).
  std::map<std::string, CgroupInfo> cgroups;
  std::unordered_map<uint32_t, std::vector<Frame>> stacks;  // by stack id
  std::unordered_map<uint32_t, std::string> strings;        // by string id
  symbolize::Symbolizer symbolizer;
  FrameTable frames;
  // --lua captures: names for Lua frames and the Lua stacks, spliced into the
  // native stack of a sample whose StackRef::aux_id is a Lua stack id
  // (report/lua_splice.h).
  symbolize::LuaNamer lua;
  std::unordered_map<uint32_t, LuaStack> lua_stacks;
  uint64_t lua_samples = 0;  // samples with a Lua stack
  bool lua_only = false;  // report --lua-only: Lua frames (and C:name) instead of the spliced stack
  // Time span of the on-CPU samples seen (for start_ns()/end_ns()).
  uint64_t first_sample_ns = UINT64_MAX;
  uint64_t last_sample_ns = 0;
  uint64_t samples_seen = 0;  // on-CPU samples (raw stacks included) in the capture

  // String table lookup: "" for an unknown id.
  const std::string& string(uint32_t id) const;

  // Records comm names over time (exec renames, thread names).
  void note_comm(uint32_t pid, uint32_t tid, const std::string& comm, uint64_t time_ns);
  // Thread comm at a time (latest rename at or before it), else the process comm,
  // else "[pid N]".
  std::string comm_of(uint32_t pid, uint32_t tid, uint64_t time_ns) const;
  // The same as an interned kProcess frame id (fast: no string copies).
  uint32_t comm_frame(uint32_t pid, uint32_t tid, uint64_t time_ns);

  // ---- symbolized stacks: THE place where a stack becomes frames ----
  //
  // Symbolized frame ids of a stack, leaf first; cached per (pid, mapping
  // generation, stack id, aux id) so each distinct stack is symbolized (and
  // transformed) once and each address resolved once per object. An unknown
  // stack id yields one "[unknown stack]" frame.
  //
  // Call this after the whole capture is read (symbol tables and Lua protos
  // may come late in the file); families aggregate raw ids while reading and
  // symbolize in finish().
  const std::vector<uint32_t>& symbolized_stack(const StackRef& ref);
  const std::vector<uint32_t>& symbolized_stack(uint32_t pid, uint64_t time_ns, uint32_t stack_id) {
    return symbolized_stack(StackRef{pid, time_ns, stack_id, 0});
  }

  // A transformation of every symbolized stack, applied once per distinct
  // stack right after symbolization and before the result is cached, in the
  // order added. `frames` is leaf first and may be rewritten freely (intern
  // new frames with `ctx.frames.intern`). Lua frames are spliced just before,
  // at the same point (a non-zero `aux_id` is a Lua stack: report/lua_splice.h);
  // other interpreters or frame rewrites hook in here.
  // With keep_sites set before the first symbolized_stack(), the sites of
  // each frame, parallel to symbolized_stack(ref) (call it first); nullptr for
  // a stack whose frames are not one per captured address (Lua splicing, a
  // transformation that rewrote it, markers): exports then show its frames
  // without addresses.
  bool keep_sites = false;
  const std::vector<FrameSite>* stack_sites(const StackRef& ref);

  using StackTransform =
      std::function<void(const StackRef& ref, std::vector<uint32_t>& frames, ReportContext& ctx)>;
  void add_stack_transform(StackTransform transform) { transforms_.push_back(std::move(transform)); }

  // Time origin for --time and displays: session start, else the first sample.
  uint64_t start_ns() const;
  uint64_t end_ns() const;  // SessionEnd, else the last sample
  // Monotonic -> realtime ns through the session's clock pair (0 if unknown).
  uint64_t to_realtime(uint64_t monotonic_ns) const;

 public:
  // report/containers.h's index of processes' containers, built on first use.
  std::shared_ptr<ContainerIndex> container_index;

 private:
  struct CommChange {
    uint64_t time_ns;
    std::string comm;
    uint32_t frame_id;
  };
  std::unordered_map<uint32_t, std::vector<CommChange>> comms_;  // by tid
  struct StackKey {
    uint32_t pid, generation, stack_id, aux_id;
    bool operator==(const StackKey&) const = default;
  };
  struct StackKeyHash {
    size_t operator()(const StackKey& k) const {
      return (static_cast<size_t>(k.pid) * 0x9E3779B97F4A7C15ULL) ^ (static_cast<size_t>(k.generation) << 40) ^
             k.stack_id ^ (static_cast<size_t>(k.aux_id) << 20);
    }
  };
  std::unordered_map<StackKey, std::vector<uint32_t>, StackKeyHash> symbolized_;
  std::unordered_map<StackKey, std::vector<FrameSite>, StackKeyHash> sites_;  // keep_sites only
  // Frame ids held by symbolized_: bounded so that a small crafted capture (one
  // long stack shared by thousands of pids) cannot take gigabytes.
  static constexpr uint64_t kMaxSymbolizedFrames = 64ull << 20;
  uint64_t symbolized_frames_ = 0;
  std::unordered_map<const symbolize::SymFrame*, uint32_t> frame_ids_;  // symbolizer cache -> id
  std::unordered_map<uint32_t, uint32_t> process_comm_ids_;              // pid -> comm frame id
  std::vector<StackTransform> transforms_;
};

// "2026-11-22 10:00:00.123 UTC"; "?" for 0.
std::string wall_clock_utc(uint64_t realtime_ns);

// Fills a ReportContext's tables from decoded records. Raw user stacks
// (--keep-stack-bytes) are unwound into report-local stacks: on(StackSnapshot)
// returns the CpuSample they stand for, which the caller hands on like any
// sample.
class ContextBuilder : public format::RecordVisitor {
 public:
  explicit ContextBuilder(ReportContext& ctx) : c_(ctx) {}
  void on(const SessionEnd&) override;
  void on(const ProcessInfo&) override;
  void on(const ThreadInfo&) override;
  void on(const ProcessExit&) override;
  void on(const Mapping&) override;
  void on(const StringEntry&) override;
  void on(const Stack&) override;
  void on(const LuaProto&) override;
  void on(const LuaVm& v) override { c_.lua.add(v); }
  void on(const LuaStack& s) override { c_.lua_stacks[s.id] = s; }
  void on(const LuaTrace& t) override { c_.lua.add(t); }
  void on(const CgroupInfo& g) override;
  void on(const SymbolTable&) override;
  void on(const KernelSymbols&) override;
  void on(const CpuSample&) override;  // time span and count only
  void on(const LostEvents&) override;
  void on(const StackSnapshot& s) override { sample_of(s); }
  // A raw user stack: unwound with the unwinder given to set_unwinder() (which
  // must hold the capture's mappings and unwind tables already), else only its
  // ip is kept; the sample it becomes (also counted like a CpuSample).
  CpuSample sample_of(const StackSnapshot& s);
  void set_unwinder(unwind::OfflineUnwinder* unwinder) { unwinder_ = unwinder; }

 private:
  ReportContext& c_;
  unwind::OfflineUnwinder* unwinder_ = nullptr;
  // Stacks made here from snapshots get ids from kFirstLocalStackId up (the
  // recorder's ids are small and dense).
  static constexpr uint32_t kFirstLocalStackId = 0x80000000u;
  std::unordered_map<std::string, uint32_t> local_stacks_;  // frames (as bytes) -> id
  std::vector<uint64_t> user_;
};

// The record kinds ContextBuilder needs (always read).
uint64_t context_kinds();

}  // namespace ebt::report
