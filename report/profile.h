// The loaded capture as report/ sees it: session, processes/threads, stacks,
// events, and symbolized frames interned in one table. Every output (text,
// folded, flame graph, off-CPU, L7...) starts from a Profile.
#pragma once

#include <cstdint>
#include <map>
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

// One weighted stack event: an on-CPU sample (weight 1), or anything a later
// report turns into a stack with a weight (off-CPU nanoseconds...).
struct Sample {
  uint64_t time_ns = 0;
  uint32_t pid = 0;
  uint32_t tid = 0;
  uint32_t cpu = 0;
  uint32_t stack_id = 0;
  uint64_t weight = 1;
  uint32_t leaf_marker = 0;  // FrameTable id appended above the leaf (0: none)
  uint32_t root_marker = 0;  // FrameTable id inserted below the root, after comm (0: none)
};

struct ProcessEntry {
  uint32_t pid = 0;
  uint32_t ppid = 0;
  std::string comm;
  std::string exe;
  std::vector<std::string> cmdline;
  std::vector<uint32_t> nspid;  // NSpid chain, outermost first (a container's pid is the last)
  uint64_t start_ns = 0;
  uint64_t exit_ns = 0;
};

class Profile {
 public:
  explicit Profile(symbolize::SymbolizerOptions options = {});

  SessionInfo session;
  std::optional<SessionEnd> end;
  std::vector<std::string> warnings;  // one line per damage found while reading
  bool corrupted = false;             // damage beyond a truncated tail (exit code 2)
  uint64_t lost = 0;
  std::map<LossSource, uint64_t> lost_by_source;
  // --keep-stack-bytes captures: raw user stacks unwound while loading.
  uint64_t raw_stacks = 0, raw_stacks_to_end = 0;
  std::map<uint32_t, ProcessEntry> processes;
  std::unordered_map<uint32_t, std::vector<Frame>> stacks;  // by stack id
  std::unordered_map<uint32_t, std::string> strings;        // by string id
  std::vector<Sample> samples;                               // on-CPU samples, file order
  std::vector<OffCpuInterval> off_cpu;                       // raw, for the off-CPU report
  std::vector<SkbHop> skb_hops;                              // raw, for the --skb report
  symbolize::Symbolizer symbolizer;
  FrameTable frames;
  // --lua captures: names for Lua frames, the Lua stacks, and the sample stack
  // ids that stand for a (native stack, Lua stack) pair (report/lua_splice.h).
  symbolize::LuaNamer lua;
  std::unordered_map<uint32_t, LuaStack> lua_stacks;
  uint64_t lua_samples = 0;
  bool lua_only = false;  // report --lua-only: Lua frames (and C:name) instead of the spliced stack
  uint32_t lua_stack_pair(uint32_t native_stack_id, uint32_t lua_stack_id);

  // Records comm names over time (exec renames, thread names).
  void note_comm(uint32_t pid, uint32_t tid, const std::string& comm, uint64_t time_ns);
  // Thread comm at a time (latest rename at or before it), else the process comm,
  // else "[pid N]".
  std::string comm_of(uint32_t pid, uint32_t tid, uint64_t time_ns) const;
  // The same as an interned kProcess frame id (fast: no string copies).
  uint32_t comm_frame(uint32_t pid, uint32_t tid, uint64_t time_ns);

  // Symbolized frame ids of a stack, leaf first; cached per (pid, mapping
  // generation, stack id) so each distinct stack is symbolized once. An unknown
  // stack id yields one "[unknown stack]" frame.
  const std::vector<uint32_t>& symbolized_stack(uint32_t pid, uint64_t time_ns, uint32_t stack_id);

  // Time origin for --time and displays: session start, else the first sample.
  uint64_t start_ns() const;
  uint64_t end_ns() const;  // SessionEnd, else the last sample
  // Monotonic -> realtime ns through the session's clock pair (0 if unknown).
  uint64_t to_realtime(uint64_t monotonic_ns) const;
  uint64_t first_sample_ns = UINT64_MAX;
  uint64_t last_sample_ns = 0;

 private:
  struct CommChange {
    uint64_t time_ns;
    std::string comm;
    uint32_t frame_id;
  };
  std::unordered_map<uint32_t, std::vector<CommChange>> comms_;  // by tid
  static constexpr uint32_t kFirstLuaPairId = 0xc0000000u;
  std::unordered_map<uint64_t, uint32_t> lua_pair_ids_;                      // (native, lua) -> id
  std::unordered_map<uint32_t, std::pair<uint32_t, uint32_t>> lua_pairs_;  // id -> (native, lua)
  struct StackKey {
    uint32_t pid, generation, stack_id;
    bool operator==(const StackKey&) const = default;
  };
  struct StackKeyHash {
    size_t operator()(const StackKey& k) const {
      return (static_cast<size_t>(k.pid) * 0x9E3779B97F4A7C15ULL) ^ (static_cast<size_t>(k.generation) << 40) ^
             k.stack_id;
    }
  };
  std::unordered_map<StackKey, std::vector<uint32_t>, StackKeyHash> symbolized_;
  std::unordered_map<const symbolize::SymFrame*, uint32_t> frame_ids_;  // symbolizer cache -> id
  std::unordered_map<uint32_t, uint32_t> process_comm_ids_;              // pid -> comm frame id
};

// "2026-11-22 10:00:00.123 UTC"; "?" for 0.
std::string wall_clock_utc(uint64_t realtime_ns);

// Feeds decoded records into a Profile; usable with CaptureReader or directly.
class ProfileBuilder : public format::RecordVisitor {
 public:
  explicit ProfileBuilder(Profile& profile) : p_(profile) {}
  void on(const SessionEnd&) override;
  void on(const ProcessInfo&) override;
  void on(const ThreadInfo&) override;
  void on(const ProcessExit&) override;
  void on(const Mapping&) override;
  void on(const StringEntry&) override;
  void on(const Stack&) override;
  void on(const LuaProto&) override;
  void on(const LuaVm& v) override { p_.lua.add(v); }
  void on(const LuaStack& s) override { p_.lua_stacks[s.id] = s; }
  void on(const LuaTrace& t) override { p_.lua.add(t); }
  void on(const SymbolTable&) override;
  void on(const KernelSymbols&) override;
  void on(const CpuSample&) override;
  void on(const OffCpuInterval&) override;
  void on(const SkbHop& h) override { p_.skb_hops.push_back(h); }
  void on(const LostEvents&) override;
  // A raw user stack (--keep-stack-bytes): unwound with the unwinder given to
  // set_unwinder() (which must hold the capture's mappings and unwind tables
  // already), else only its ip is kept; then counted like a CpuSample.
  void on(const StackSnapshot&) override;
  void set_unwinder(unwind::OfflineUnwinder* unwinder) { unwinder_ = unwinder; }

  // Snapshots seen, and how many unwound to their outermost frame.
  uint64_t snapshots = 0;
  uint64_t snapshots_to_end = 0;

 private:
  Profile& p_;
  unwind::OfflineUnwinder* unwinder_ = nullptr;
  // Stacks made here from snapshots get ids from kFirstLocalStackId up (the
  // recorder's ids are small and dense).
  static constexpr uint32_t kFirstLocalStackId = 0x80000000u;
  std::unordered_map<std::string, uint32_t> local_stacks_;  // frames (as bytes) -> id
  std::vector<uint64_t> user_;
};

}  // namespace ebt::report
