// Sample filtering and stack aggregation shared by every stack-shaped output
// (folded, flame graph, text report; off-CPU reports feed their own samples).
// Streaming: StackAggregator keeps one small entry per distinct (thread, stack,
// mapping generation, markers) as events arrive, and symbolizes each once at
// the end, so memory follows distinct stacks, not events.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <unordered_map>

#include "report/context.h"
#include "report/flat_map.h"

namespace ebt::report {

// One weighted stack event: an on-CPU sample (weight 1), or anything a
// family turns into a stack with a weight (off-CPU nanoseconds...).
struct Sample {
  uint64_t time_ns = 0;
  uint32_t pid = 0;
  uint32_t tid = 0;
  uint32_t cpu = 0;
  uint32_t stack_id = 0;
  uint64_t weight = 1;
  uint32_t leaf_marker = 0;  // FrameTable id appended above the leaf (0: none)
  uint32_t root_marker = 0;  // FrameTable id inserted below the root, after comm (0: none)
  uint32_t aux_id = 0;       // StackRef::aux_id (e.g. a Lua stack), 0: none
};

struct Filter {
  std::set<uint32_t> pids;        // empty: all
  std::set<uint32_t> tids;        // empty: all
  std::set<std::string> comms;    // empty: all; matches the thread or process comm
  std::vector<std::string> containers;  // --container: empty: all (report/containers.h container_matches)
  std::optional<double> time_begin_s;  // seconds relative to ReportContext::start_ns()
  std::optional<double> time_end_s;
  bool no_kernel = false;
  bool no_inline = false;
};

// "START,END" in seconds relative to capture start, either side optional ("1.5,",
// ",3", "1,2.5"). Throws BadInput on anything else.
void parse_time_range(const std::string& text, Filter& filter);
// "1,2,3" -> {1,2,3}; throws BadInput naming `what` on non-numbers.
std::set<uint32_t> parse_id_list(const std::string& text, const char* what);
std::set<std::string> parse_name_list(const std::string& text);

struct AggregatedStack {
  uint32_t pid = 0;
  std::vector<uint32_t> frames;  // root first; frames[0] is the comm (kProcess) frame
  uint64_t weight = 0;
  uint64_t count = 0;            // events behind the weight
};

struct StackAggregate {
  std::vector<AggregatedStack> stacks;  // sorted by (folded names, pid): deterministic
  uint64_t total_weight = 0;
  uint64_t total_count = 0;
  std::string unit = "samples";  // what weight counts ("samples", "ns")
};

// Whether an event of (pid, tid) at `time_ns` passes the pid/tid/comm/time part
// of `filter` (comm: the thread's name then, or its process's).
bool passes(ReportContext& ctx, const Filter& filter, uint32_t pid, uint32_t tid, uint64_t time_ns);

// Filters samples as they come and sums them per distinct (pid, tid, stack,
// generation, markers, comm); finish() symbolizes each once and merges equal
// frame paths.
class StackAggregator {
 public:
  explicit StackAggregator(Filter filter = {}) : filter_(std::move(filter)) {}
  // `weight_scale` multiplies weights at finish() (on-CPU samples counted as ns).
  void add(ReportContext& ctx, const Sample& s);
  StackAggregate finish(ReportContext& ctx, uint64_t weight_scale = 1) const;
  // finish() with every group's weight replaced by its event count.
  StackAggregate finish_counts(ReportContext& ctx) const;
  bool empty() const { return groups_.empty(); }
  size_t groups() const { return groups_.size(); }

  struct GroupKey {
    uint32_t pid, tid, stack_id, generation, leaf_marker, root_marker, comm, aux_id;
    bool operator==(const GroupKey&) const = default;
  };
  struct GroupKeyHash {
    size_t operator()(const GroupKey& k) const {
      size_t h = 0;
      for (uint32_t v : {k.pid, k.tid, k.stack_id, k.generation, k.leaf_marker, k.root_marker, k.comm, k.aux_id})
        h = h * 1000003u ^ v;
      return h;
    }
  };
  struct Group {
    uint64_t first_time = 0;  // symbolized at the time of its first event
    uint64_t weight = 0;
    uint64_t count = 0;
  };
  // Every group as summed (unsymbolized, unordered): for exports that keep
  // threads and addresses apart (pprof, speedscope).
  template <class F>
  void for_each_group(F&& f) const {
    for (const auto& [key, g] : groups_) f(key, g);
  }
  const Filter& filter() const { return filter_; }
  // Adds another aggregator's groups (on + off CPU in one graph).
  void merge(const StackAggregator& other, uint64_t other_weight_scale = 1);

 private:
  StackAggregate build(ReportContext& ctx, bool counts, uint64_t scale) const;
  Filter filter_;
  std::unordered_map<GroupKey, Group, GroupKeyHash> groups_;
  // The per-sample lookup in front of groups_ (whose order the exports keep):
  // a FlatMap of pointers to its nodes, which stay put when it grows. A copy
  // or move of the aggregator starts with an empty one (its pointers are the
  // other's).
  struct Index {
    FlatMap<GroupKey, Group*, GroupKeyHash> map;
    Index() = default;
    Index(const Index&) {}
    Index& operator=(const Index&) {
      map = {};
      return *this;
    }
  };
  Index index_;
};

// The whole of `samples` through a StackAggregator.
StackAggregate aggregate(ReportContext& ctx, const std::vector<Sample>& samples, const Filter& filter);

// The name a frame has in folded output and flame graphs: FlameGraph suffixes
// _[k] kernel, _[i] inline, _[j] JIT; ';' and newlines replaced.
std::string folded_name(const FrameInfo& frame);

// StackAggregator's deterministic order: folded names frame by frame
// (`names[id]` is frame id's folded name), a prefix before its extensions,
// then pid. The second form names every frame of `ctx` first.
void sort_stacks(std::vector<AggregatedStack>& stacks, const std::vector<std::string>& names);
void sort_stacks(const ReportContext& ctx, std::vector<AggregatedStack>& stacks);

}  // namespace ebt::report
