// Sample filtering and stack aggregation shared by every stack-shaped output
// (folded, flame graph, text report; off-CPU reports feed their own samples).
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "report/profile.h"

namespace ebt::report {

struct Filter {
  std::set<uint32_t> pids;        // empty: all
  std::set<uint32_t> tids;        // empty: all
  std::set<std::string> comms;    // empty: all; matches the thread or process comm
  std::optional<double> time_begin_s;  // seconds relative to Profile::start_ns()
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

// Filters `samples`, symbolizes each distinct (pid, generation, stack) once and
// sums weights per resulting frame path.
StackAggregate aggregate(Profile& profile, const std::vector<Sample>& samples, const Filter& filter);

// The name a frame has in folded output and flame graphs: FlameGraph suffixes
// _[k] kernel, _[i] inline, _[j] JIT; ';' and newlines replaced.
std::string folded_name(const FrameInfo& frame);

}  // namespace ebt::report
