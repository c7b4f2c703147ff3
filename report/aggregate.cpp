#include "report/aggregate.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <unordered_map>

#include "common/error.h"
#include "report/containers.h"

namespace ebt::report {
namespace {

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t pos = text.find(sep, start);
    parts.push_back(text.substr(start, pos == std::string::npos ? std::string::npos : pos - start));
    if (pos == std::string::npos) break;
    start = pos + 1;
  }
  return parts;
}

std::optional<double> parse_seconds(const std::string& s, const std::string& whole) {
  if (s.empty()) return std::nullopt;
  double v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size() || !std::isfinite(v) || v < 0) {
    throw BadInput("--time '" + whole + "': '" + s +
                   "' is not a number of seconds (expected START,END relative to capture start)");
  }
  return v;
}

struct PathHash {
  size_t operator()(const std::pair<uint32_t, std::vector<uint32_t>>& k) const {
    size_t h = k.first;
    for (uint32_t v : k.second) h = h * 1000003u ^ v;
    return h;
  }
};

}  // namespace

void parse_time_range(const std::string& text, Filter& filter) {
  auto parts = split(text, ',');
  if (parts.size() != 2) {
    throw BadInput("--time '" + text + "': expected START,END in seconds relative to capture start");
  }
  filter.time_begin_s = parse_seconds(parts[0], text);
  filter.time_end_s = parse_seconds(parts[1], text);
  if (filter.time_begin_s && filter.time_end_s && *filter.time_end_s < *filter.time_begin_s) {
    throw BadInput("--time '" + text + "': END is before START");
  }
}

std::set<uint32_t> parse_id_list(const std::string& text, const char* what) {
  std::set<uint32_t> ids;
  for (const auto& part : split(text, ',')) {
    uint32_t v = 0;
    auto [ptr, ec] = std::from_chars(part.data(), part.data() + part.size(), v);
    if (part.empty() || ec != std::errc() || ptr != part.data() + part.size()) {
      throw BadInput(std::string(what) + " '" + text + "': '" + part + "' is not a number");
    }
    ids.insert(v);
  }
  return ids;
}

std::set<std::string> parse_name_list(const std::string& text) {
  std::set<std::string> names;
  for (const auto& part : split(text, ',')) {
    if (!part.empty()) names.insert(part);
  }
  return names;
}

std::string folded_name(const FrameInfo& frame) {
  std::string name = frame.name;
  for (char& c : name) {
    if (c == ';') c = ':';
    else if (c == '\n' || c == '\r') c = ' ';
  }
  switch (frame.type) {
    case FrameType::kKernel: return name + "_[k]";
    case FrameType::kInline: return name + "_[i]";
    case FrameType::kJit: return name + "_[j]";
    default: return name;
  }
}

bool passes(ReportContext& ctx, const Filter& filter, uint32_t pid, uint32_t tid, uint64_t time_ns) {
  if (filter.time_begin_s || filter.time_end_s) {
    // Session start (every recorder writes it), else the first sample so far.
    const uint64_t origin = ctx.start_ns();
    auto to_ns = [&](double s) { return origin + static_cast<uint64_t>(std::llround(s * 1e9)); };
    if (filter.time_begin_s && time_ns < to_ns(*filter.time_begin_s)) return false;
    if (filter.time_end_s && time_ns > to_ns(*filter.time_end_s)) return false;
  }
  if (!filter.pids.empty() && !filter.pids.count(pid)) return false;
  if (!filter.tids.empty() && !filter.tids.count(tid)) return false;
  if (!container_wanted(ctx, filter, pid)) return false;
  if (!filter.comms.empty()) {
    if (filter.comms.count(ctx.frames[ctx.comm_frame(pid, tid, time_ns)].name)) return true;
    auto p = ctx.processes.find(pid);
    return p != ctx.processes.end() && filter.comms.count(p->second.comm);
  }
  return true;
}

void StackAggregator::add(ReportContext& ctx, const Sample& s) {
  if (!passes(ctx, filter_, s.pid, s.tid, s.time_ns)) return;
  uint32_t comm = ctx.comm_frame(s.pid, s.tid, s.time_ns);
  GroupKey key{s.pid, s.tid, s.stack_id, ctx.symbolizer.generation(s.pid, s.time_ns),
               s.leaf_marker, s.root_marker, comm, s.aux_id};
  auto [slot, fresh] = index_.map.try_emplace(key);
  if (fresh) {
    auto [it, inserted] = groups_.try_emplace(key);
    if (inserted) it->second.first_time = s.time_ns;
    *slot = &it->second;
  }
  Group& g = **slot;
  g.weight += s.weight;
  g.count += 1;
}

void StackAggregator::merge(const StackAggregator& other, uint64_t scale) {
  for (const auto& [key, g] : other.groups_) {
    auto [it, inserted] = groups_.try_emplace(key, Group{g.first_time, 0, 0});
    it->second.weight += g.weight * scale;
    it->second.count += g.count;
  }
}

StackAggregate StackAggregator::finish(ReportContext& ctx, uint64_t scale) const { return build(ctx, false, scale); }
StackAggregate StackAggregator::finish_counts(ReportContext& ctx) const { return build(ctx, true, 1); }

StackAggregate aggregate(ReportContext& ctx, const std::vector<Sample>& samples, const Filter& filter) {
  StackAggregator a(filter);
  for (const Sample& s : samples) a.add(ctx, s);
  return a.finish(ctx);
}

StackAggregate StackAggregator::build(ReportContext& profile, bool counts, uint64_t scale) const {
  const Filter& filter = filter_;
  // 2. Symbolize each group once and merge equal frame paths.
  std::unordered_map<std::pair<uint32_t, std::vector<uint32_t>>, AggregatedStack, PathHash> paths;
  std::vector<uint32_t> path;
  StackAggregate result;
  for (const auto& [key, g0] : groups_) {
    Group g = g0;
    g.weight = counts ? g.count : g.weight * scale;
    const auto& leaf_first = profile.symbolized_stack(StackRef{key.pid, g.first_time, key.stack_id, key.aux_id});
    path.clear();
    path.push_back(key.comm);
    if (key.root_marker != 0) path.push_back(key.root_marker);
    for (auto it = leaf_first.rbegin(); it != leaf_first.rend(); ++it) {
      FrameType t = profile.frames[*it].type;
      if (filter.no_kernel && t == FrameType::kKernel) continue;
      if (filter.no_inline && t == FrameType::kInline) continue;
      path.push_back(*it);
    }
    if (key.leaf_marker != 0) path.push_back(key.leaf_marker);
    auto& agg = paths[{key.pid, path}];
    if (agg.frames.empty()) {
      agg.pid = key.pid;
      agg.frames = path;
    }
    agg.weight += g.weight;
    agg.count += g.count;
    result.total_weight += g.weight;
    result.total_count += g.count;
  }

  // 3. Deterministic order: by folded names (frame by frame), then pid.
  std::vector<std::string> names(profile.frames.size());
  std::vector<char> named(profile.frames.size(), 0);
  auto name_of = [&](uint32_t id) -> const std::string& {
    if (!named[id]) {
      names[id] = folded_name(profile.frames[id]);
      named[id] = 1;
    }
    return names[id];
  };
  result.stacks.reserve(paths.size());
  for (auto& [k, agg] : paths) {
    for (uint32_t id : agg.frames) name_of(id);
    result.stacks.push_back(std::move(agg));
  }
  sort_stacks(result.stacks, names);
  return result;
}

void sort_stacks(std::vector<AggregatedStack>& stacks, const std::vector<std::string>& names) {
  std::sort(stacks.begin(), stacks.end(), [&](const AggregatedStack& a, const AggregatedStack& b) {
    size_t n = std::min(a.frames.size(), b.frames.size());
    for (size_t i = 0; i < n; ++i) {
      if (a.frames[i] == b.frames[i]) continue;
      int c = names[a.frames[i]].compare(names[b.frames[i]]);
      if (c != 0) return c < 0;
    }
    if (a.frames.size() != b.frames.size()) return a.frames.size() < b.frames.size();
    return a.pid < b.pid;
  });
}

void sort_stacks(const ReportContext& ctx, std::vector<AggregatedStack>& stacks) {
  std::vector<std::string> names(ctx.frames.size());
  for (size_t i = 1; i < names.size(); ++i) names[i] = folded_name(ctx.frames[static_cast<uint32_t>(i)]);
  sort_stacks(stacks, names);
}

}  // namespace ebt::report
