#include "unwind/offline_unwinder.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

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
  int fd = -2;  // the rebuilt file; -2: not built yet, -1: unusable
  std::string why;
  ~Table() {
    if (fd >= 0) close(fd);
  }
};

OfflineUnwinder::OfflineUnwinder() = default;
OfflineUnwinder::~OfflineUnwinder() = default;

void OfflineUnwinder::add(const Mapping& m) {
  auto& v = maps_[m.pid];
  bool& ov = overlapping_[m.pid];
  for (const auto& o : v)
    if (!ov && overlap(o, m) && !(o.start == m.start && o.end == m.end && o.file_offset == m.file_offset &&
                                  o.path == m.path && o.build_id == m.build_id))
      ov = true;
  v.push_back(m);
  last_.erase(m.pid);
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
  // The mappings in force at time_ns: all of them unless some overlap (an
  // exec replaced the address space during the recording).
  std::vector<const Mapping*> chosen;
  for (size_t i = 0; i < maps.size(); i++) {
    bool keep = true;
    if (overlapping_[pid])
      for (size_t j = 0; j < maps.size() && keep; j++)
        if (j != i && overlap(maps[i], maps[j]) && preferred(maps[j], j, maps[i], i, time_ns)) keep = false;
    if (keep) chosen.push_back(&maps[i]);
  }
  std::string key = layout_key(chosen);
  if (auto last = last_.find(pid); last != last_.end() && last->second.first == key) return *last->second.second;
  if (!layouts_.count(key) && layouts_.size() >= kMaxLayouts) {
    // Each layout holds a descriptor per object: bound them (system-wide
    // captures have hundreds of processes); evicted ones are rebuilt on demand.
    layouts_.clear();
    last_.clear();
  }
  auto& l = layouts_[key];
  if (!l) {
    l = std::make_unique<Layout>();
    SnapshotWalker* w = &l->walker;
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
        l->gaps.push_back({m->start, m->end, m->path + ": no unwind table in the capture"});
        continue;
      }
      Table& tb = *t->second;
      if (tb.fd == -2) tb.fd = materialize(tb.table, &tb.why);
      if (tb.fd < 0) {
        l->gaps.push_back({m->start, m->end, m->path + ": unusable unwind table (" + tb.why + ")"});
        continue;
      }
      auto bias = load_bias(tb.segments, m->start, m->file_offset);
      if (!bias) continue;  // another mapping of the object gives it
      int fd = dup(tb.fd);
      if (fd < 0) continue;
      if (w->add_module(m->path, m->path, fd, *bias)) reported.insert(okey);
    }
    w->end_modules(pid);
  }
  last_[pid] = {key, l.get()};
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
