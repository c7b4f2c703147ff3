#include "unwind/offline_unwinder.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <tuple>

#include "unwind/unwind_table.h"

namespace ebt::unwind {
namespace {

constexpr size_t kMaxLayouts = 64;

// Mappings and tables name the same object by build-id, else by path (the
// vDSO: its Mapping has no build-id, its table has this machine's).
std::string object_key(const std::vector<uint8_t>& build_id, const std::string& path) {
  if (path == "[vdso]" || build_id.empty()) return "path:" + path;
  std::string k = "id:";
  char b[3];
  for (uint8_t c : build_id) {
    std::snprintf(b, sizeof b, "%02x", c);
    k += b;
  }
  return k;
}

bool overlap(const Mapping& a, const Mapping& b) { return a.start < b.end && b.start < a.end; }

// Which of two overlapping mappings held the range at `t`: the latest recorded
// at or before t, else (all recorded later: the process was first described
// after its first samples) the earliest.
bool preferred(const Mapping& a, size_t ia, const Mapping& b, size_t ib, uint64_t t) {
  bool a_before = a.time_ns <= t, b_before = b.time_ns <= t;
  if (a_before != b_before) return a_before;
  if (a.time_ns != b.time_ns) return a_before ? a.time_ns > b.time_ns : a.time_ns < b.time_ns;
  return ia > ib;
}

}  // namespace

struct OfflineUnwinder::Table {
  UnwindTable table;
  std::vector<LoadSegment> segments;
  int usable = -1;  // -1: not checked yet; 0: unusable (why says why); 1: rebuilt fine once
  std::string why;
};

namespace {

// The mappings in force at `t`: all of them unless some overlap (an exec
// replaced the address space during the recording); then a mapping is left
// out when an overlapping one is preferred at `t`. In order of preference,
// a mapping survives unless it meets the union of all more preferred ones:
// O(n log n), not a test of every pair.
std::vector<const Mapping*> mappings_at(const std::vector<Mapping>& maps, bool overlapping, uint64_t t) {
  std::vector<const Mapping*> chosen;
  if (!overlapping) {
    for (const auto& m : maps) chosen.push_back(&m);
    return chosen;
  }
  std::vector<size_t> order(maps.size());
  for (size_t i = 0; i < order.size(); i++) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return preferred(maps[a], a, maps[b], b, t); });
  std::map<uint64_t, uint64_t> taken;  // disjoint [start, end) of every more preferred mapping
  std::vector<char> keep(maps.size(), 0);
  for (size_t i : order) {
    const Mapping& m = maps[i];
    if (m.start >= m.end) {
      keep[i] = 1;
      continue;
    }
    auto next = taken.lower_bound(m.end);
    bool hit = next != taken.begin() && std::prev(next)->second > m.start;
    keep[i] = !hit;
    // Merge [start, end) into the union.
    uint64_t s = m.start, e = m.end;
    auto it = taken.upper_bound(s);
    if (it != taken.begin() && std::prev(it)->second >= s) --it;
    while (it != taken.end() && it->first <= e) {
      s = std::min(s, it->first);
      e = std::max(e, it->second);
      it = taken.erase(it);
    }
    taken.emplace(s, e);
  }
  for (size_t i = 0; i < maps.size(); i++)
    if (keep[i]) chosen.push_back(&maps[i]);
  return chosen;
}

// Descriptors the layouts may hold (one per reported object): a capture with
// thousands of tables must not run the process out of them.
size_t max_open_tables() {
  struct rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) != 0 || r.rlim_cur == RLIM_INFINITY) return 512;
  return std::max<size_t>(64, r.rlim_cur / 2);
}

}  // namespace

OfflineUnwinder::OfflineUnwinder() = default;
OfflineUnwinder::~OfflineUnwinder() = default;

void OfflineUnwinder::add(const Mapping& m) {
  maps_[m.pid].push_back(m);
  overlapping_.erase(m.pid);  // recomputed on the next unwind of the pid
  epochs_.erase(m.pid);
}

bool OfflineUnwinder::overlapping(uint32_t pid) {
  auto [it, inserted] = overlapping_.try_emplace(pid, false);
  if (!inserted) return it->second;
  // Sorted by start, two distinct mappings overlap iff one starts before the
  // furthest end seen so far (identical duplicates do not count).
  const auto& v = maps_[pid];
  std::vector<const Mapping*> by_start;
  for (const auto& m : v)
    if (m.start < m.end) by_start.push_back(&m);
  std::sort(by_start.begin(), by_start.end(), [](const Mapping* a, const Mapping* b) {
    return std::tie(a->start, a->end, a->file_offset, a->path, a->build_id) <
           std::tie(b->start, b->end, b->file_offset, b->path, b->build_id);
  });
  const Mapping* reach = nullptr;  // the mapping with the furthest end so far
  for (const Mapping* m : by_start) {
    if (reach && m->start < reach->end &&
        !(reach->start == m->start && reach->end == m->end && reach->file_offset == m->file_offset &&
          reach->path == m->path && reach->build_id == m->build_id)) {
      it->second = true;
      break;
    }
    if (!reach || m->end > reach->end) reach = m;
  }
  return it->second;
}

void OfflineUnwinder::add(UnwindTable table) {
  auto t = std::make_unique<Table>();
  std::string key = object_key(table.build_id, table.path);
  t->segments = load_segments(table);
  t->table = std::move(table);
  tables_[key] = std::move(t);
}

std::string OfflineUnwinder::layout_key(const std::vector<const Mapping*>& chosen) const {
  std::string k;
  char buf[64];
  for (const Mapping* m : chosen) {
    std::snprintf(buf, sizeof buf, "%llx-%llx@%llx ", (unsigned long long)m->start, (unsigned long long)m->end,
                  (unsigned long long)m->file_offset);
    k += buf;
    k += object_key(m->build_id, m->path);
    k += '\n';
  }
  return k;
}

OfflineUnwinder::Layout& OfflineUnwinder::layout_for(uint32_t pid, uint64_t time_ns) {
  static const std::vector<Mapping> kNone;
  auto it = maps_.find(pid);
  const std::vector<Mapping>& maps = it == maps_.end() ? kNone : it->second;
  // Which mappings are in force depends only on which were recorded by
  // time_ns: one layout key per such epoch, computed once.
  auto& ep = epochs_[pid];
  if (ep.times.empty() && !maps.empty()) {
    for (const auto& m : maps) ep.times.push_back(m.time_ns);
    std::sort(ep.times.begin(), ep.times.end());
    ep.times.erase(std::unique(ep.times.begin(), ep.times.end()), ep.times.end());
  }
  size_t epoch = std::upper_bound(ep.times.begin(), ep.times.end(), time_ns) - ep.times.begin();
  if (auto known = ep.layouts.find(epoch); known != ep.layouts.end()) return *known->second;
  std::vector<const Mapping*> chosen = mappings_at(maps, overlapping(pid), time_ns);
  const std::string key = layout_key(chosen);
  auto evict = [&] {
    layouts_.clear();
    for (auto& [p, e] : epochs_) e.layouts.clear();
    open_tables_ = 0;
  };
  if (!layouts_.count(key) && layouts_.size() >= kMaxLayouts) {
    // Each layout holds a descriptor per object: bound them (system-wide
    // captures have hundreds of processes); evicted ones are rebuilt on demand.
    evict();
  }
  auto& l = layouts_[key];
  if (!l) {
    if (open_tables_ + chosen.size() > max_open_tables()) evict();  // frees every other layout's descriptors
    auto& fresh_layout = layouts_[key];
    fresh_layout = std::make_unique<Layout>();
    Layout& nl = *fresh_layout;
    SnapshotWalker* w = &nl.walker;
    w->begin_modules();
    std::set<std::string> reported;
    for (const Mapping* m : chosen) {
      if (m->path == "//anon") {  // anonymous executable memory: JIT code
        w->add_code_range(m->start, m->end);
        continue;
      }
      std::string okey = object_key(m->build_id, m->path);
      if (reported.count(okey)) continue;
      auto t = tables_.find(okey);
      if (t == tables_.end()) {
        nl.gaps.push_back({m->start, m->end, m->path + ": no unwind table in the capture"});
        continue;
      }
      Table& tb = *t->second;
      if (tb.usable == 0) {
        nl.gaps.push_back({m->start, m->end, m->path + ": unusable unwind table (" + tb.why + ")"});
        continue;
      }
      auto bias = load_bias(tb.segments, m->start, m->file_offset);
      if (!bias) continue;  // another mapping of the object gives it
      if (open_tables_ >= max_open_tables()) {
        nl.gaps.push_back({m->start, m->end, m->path + ": too many objects in one process"});
        continue;
      }
      // A fresh rebuilt file per layout, owned by libdw: no descriptor stays
      // open for a table no layout uses.
      int fd = materialize(tb.table, &tb.why);
      tb.usable = fd >= 0;
      if (fd < 0) {
        nl.gaps.push_back({m->start, m->end, m->path + ": unusable unwind table (" + tb.why + ")"});
        continue;
      }
      if (w->add_module(m->path, m->path, fd, *bias)) {
        reported.insert(okey);
        open_tables_++;
      }
    }
    w->end_modules(pid);
    epochs_[pid].layouts[epoch] = &nl;
    return nl;
  }
  ep.layouts[epoch] = l.get();
  return *l;
}

WalkResult OfflineUnwinder::unwind(const StackSnapshot& s, std::vector<uint64_t>* out, size_t max_frames) {
  Layout& l = layout_for(s.pid, s.time_ns);
  size_t start = out->size();
  WalkResult r = l.walker.walk(s.tid, {s.ip, s.sp, s.bp}, s.stack, out, max_frames);
  if (!r.to_end && out->size() > start) {
    uint64_t pc = out->back() - (out->size() - start > 1 ? 1 : 0);
    for (const auto& g : l.gaps)
      if (pc >= g.start && pc < g.end) problems_.insert(g.problem);
  }
  return r;
}

std::vector<std::string> OfflineUnwinder::problems() const { return {problems_.begin(), problems_.end()}; }

}  // namespace ebt::unwind
