#include "report/context.h"

#include <algorithm>
#include <cstdio>

#include "common/wall_clock.h"
#include "report/lua_splice.h"
#include "unwind/offline_unwinder.h"

namespace ebt::report {

FrameTable::FrameTable() { frames_.push_back({"", "", "", FrameType::kMarker, false}); }

uint32_t FrameTable::intern(const symbolize::SymFrame& f) {
  std::string key;
  key.reserve(f.name.size() + f.module.size() + 3);
  key += static_cast<char>('0' + static_cast<int>(f.type));
  key += f.module;
  key += '\0';
  key += f.name;
  auto [it, inserted] = ids_.emplace(std::move(key), static_cast<uint32_t>(frames_.size()));
  if (inserted) frames_.push_back({f.name, f.module, f.file, f.type, f.resolved});
  return it->second;
}

uint32_t FrameTable::intern(const std::string& name, FrameType type, const std::string& module) {
  return intern(symbolize::SymFrame{name, module, "", 0, type, true});
}

ReportContext::ReportContext(symbolize::SymbolizerOptions options) : symbolizer(std::move(options)) {}

const std::string& ReportContext::string(uint32_t id) const {
  static const std::string kEmpty;
  auto it = strings.find(id);
  return it == strings.end() ? kEmpty : it->second;
}

void ReportContext::note_comm(uint32_t pid, uint32_t tid, const std::string& comm, uint64_t time_ns) {
  if (comm.empty()) return;
  auto& v = comms_[tid];
  CommChange c{time_ns, comm, frames.intern(comm, FrameType::kProcess)};
  auto pos = std::upper_bound(v.begin(), v.end(), time_ns,
                              [](uint64_t t, const CommChange& x) { return t < x.time_ns; });
  v.insert(pos, std::move(c));
}

std::string ReportContext::comm_of(uint32_t pid, uint32_t tid, uint64_t time_ns) const {
  for (uint32_t id : {tid, pid}) {
    auto it = comms_.find(id);
    if (it == comms_.end() || it->second.empty()) continue;
    const auto& v = it->second;
    auto pos = std::upper_bound(v.begin(), v.end(), time_ns,
                                [](uint64_t t, const CommChange& x) { return t < x.time_ns; });
    // Before the first known name: that first name is the best we have.
    return pos == v.begin() ? v.front().comm : (pos - 1)->comm;
  }
  if (auto p = processes.find(pid); p != processes.end() && !p->second.comm.empty()) {
    return p->second.comm;
  }
  return "[pid " + std::to_string(pid) + "]";
}

uint32_t ReportContext::comm_frame(uint32_t pid, uint32_t tid, uint64_t time_ns) {
  for (uint32_t id : {tid, pid}) {
    auto it = comms_.find(id);
    if (it == comms_.end() || it->second.empty()) continue;
    const auto& v = it->second;
    if (v.size() == 1) return v.front().frame_id;
    auto pos = std::upper_bound(v.begin(), v.end(), time_ns,
                                [](uint64_t t, const CommChange& x) { return t < x.time_ns; });
    return pos == v.begin() ? v.front().frame_id : (pos - 1)->frame_id;
  }
  auto [it, inserted] = process_comm_ids_.try_emplace(pid, 0);
  if (inserted) it->second = frames.intern(comm_of(pid, tid, time_ns), FrameType::kProcess);
  return it->second;
}

const std::vector<uint32_t>& ReportContext::symbolized_stack(const StackRef& ref) {
  StackKey key{ref.pid, symbolizer.generation(ref.pid, ref.time_ns), ref.stack_id, ref.aux_id};
  auto it = symbolized_.find(key);
  if (it != symbolized_.end()) return it->second;
  std::vector<uint32_t> ids;
  std::vector<FrameSite> sites;
  bool sited = false;  // sites hold one entry per frame of ids
  auto s = stacks.find(ref.stack_id);
  if (ref.aux_id != 0) {  // a Lua stack (CpuSample::lua_stack_id): spliced in place of the VM's frames
    auto l = lua_stacks.find(ref.aux_id);
    static const LuaStack no_lua;
    ids = splice_lua(*this, ref.pid, ref.time_ns, ref.stack_id, l == lua_stacks.end() ? no_lua : l->second);
  } else if (s != stacks.end() && symbolized_frames_ + s->second.size() > kMaxSymbolizedFrames) {
    // A crafted capture can make each (pid, stack) pair cost a long stack:
    // past the budget, stacks are shown as this marker instead.
    ids.push_back(frames.intern("[not symbolized: more than 64 Mi frames in this report (limit)]",
                                FrameType::kMarker));
  } else if (s == stacks.end()) {
    ids.push_back(frames.intern(ref.stack_id == 0 ? "[no stack]" : "[unknown stack]", FrameType::kMarker));
  } else {
    const auto& raw = s->second;
    for (size_t i = 0; i < raw.size(); ++i) {
      // The first frame of each kind run is an interrupted PC, the rest return addresses.
      bool ret = i > 0 && raw[i - 1].kind == raw[i].kind;
      for (const auto& f : symbolizer.resolve(ref.pid, ref.time_ns, raw[i], ret)) {
        auto [slot, inserted] = frame_ids_.try_emplace(&f, 0);
        if (inserted) slot->second = frames.intern(f);
        ids.push_back(slot->second);
        if (keep_sites) {
          bool kernel = raw[i].kind == FrameKind::kKernel;
          const Mapping* m = kernel ? nullptr : symbolizer.mapping_of(ref.pid, ref.time_ns, raw[i].address);
          uint64_t address = ret && raw[i].address > 0 ? raw[i].address - 1 : raw[i].address;
          sites.push_back(FrameSite{m, address, f.line, static_cast<uint32_t>(i), kernel});
        }
      }
    }
    sited = keep_sites;
  }
  std::vector<uint32_t> before;
  if (sited && !transforms_.empty()) before = ids;
  for (const auto& t : transforms_) t(ref, ids, *this);
  if (sited && (transforms_.empty() || before == ids)) sites_.emplace(key, std::move(sites));
  symbolized_frames_ += ids.size();
  return symbolized_.emplace(key, std::move(ids)).first->second;
}

const std::vector<FrameSite>* ReportContext::stack_sites(const StackRef& ref) {
  StackKey key{ref.pid, symbolizer.generation(ref.pid, ref.time_ns), ref.stack_id, ref.aux_id};
  auto it = sites_.find(key);
  return it == sites_.end() ? nullptr : &it->second;
}

uint64_t ReportContext::start_ns() const {
  if (session.start_ns != 0) return session.start_ns;
  return first_sample_ns == UINT64_MAX ? 0 : first_sample_ns;
}

uint64_t ReportContext::end_ns() const {
  if (end && end->end_ns != 0) return end->end_ns;
  return std::max(last_sample_ns, start_ns());
}

uint64_t ReportContext::to_realtime(uint64_t monotonic_ns) const {
  return wall_clock_ns(monotonic_ns, session.clock_monotonic_ns, session.clock_realtime_ns);
}

std::string wall_clock_utc(uint64_t realtime_ns) {
  if (realtime_ns == 0) return "?";
  return format_wall_clock(realtime_ns, 3, WallClockStyle::kText);
}

void ContextBuilder::on(const SessionEnd& e) { c_.end = e; }

void ContextBuilder::on(const ProcessInfo& pi) {
  ProcessEntry& e = c_.processes[pi.pid];
  e.pid = pi.pid;
  e.ppid = pi.ppid;
  if (!pi.comm.empty()) e.comm = pi.comm;
  if (!pi.exe.empty()) e.exe = pi.exe;
  if (!pi.cmdline.empty()) e.cmdline = pi.cmdline;
  if (!pi.nspid.empty()) e.nspid = pi.nspid;
  if (!pi.cgroup_path.empty()) e.cgroup_path = pi.cgroup_path;
  if (pi.cgroup_id != 0) e.cgroup_id = pi.cgroup_id;
  if (pi.start_ns != 0) e.start_ns = pi.start_ns;
  c_.note_comm(pi.pid, pi.pid, pi.comm, pi.time_ns);
}

void ContextBuilder::on(const CgroupInfo& g) { c_.cgroups[g.path] = g; }

void ContextBuilder::on(const ThreadInfo& t) { c_.note_comm(t.pid, t.tid, t.comm, t.time_ns); }

void ContextBuilder::on(const ProcessExit& x) {
  if (x.pid == x.tid) {
    if (auto it = c_.processes.find(x.pid); it != c_.processes.end()) it->second.exit_ns = x.time_ns;
  }
}

void ContextBuilder::on(const Mapping& m) { c_.symbolizer.add(m); }
void ContextBuilder::on(const StringEntry& s) { c_.strings[s.id] = s.value; }
void ContextBuilder::on(const Stack& s) { c_.stacks[s.id] = s.frames; }
void ContextBuilder::on(const LuaProto& l) { c_.lua.add(l); }
void ContextBuilder::on(const SymbolTable& t) { c_.symbolizer.add(t); }
void ContextBuilder::on(const KernelSymbols& k) { c_.symbolizer.add(k); }

void ContextBuilder::on(const CpuSample& s) {
  c_.samples_seen++;
  if (s.lua_stack_id) c_.lua_samples++;
  c_.first_sample_ns = std::min(c_.first_sample_ns, s.time_ns);
  c_.last_sample_ns = std::max(c_.last_sample_ns, s.time_ns);
}

CpuSample ContextBuilder::sample_of(const StackSnapshot& s) {
  c_.raw_stacks++;
  user_.clear();
  if (s.ip) {
    if (unwinder_) {
      if (unwinder_->unwind(s, &user_, 127).to_end) c_.raw_stacks_to_end++;
    } else {
      user_.push_back(s.ip);
    }
  }
  std::vector<Frame> frames;
  if (s.kernel_stack_id)
    if (auto k = c_.stacks.find(s.kernel_stack_id); k != c_.stacks.end()) frames = k->second;
  for (uint64_t a : user_) frames.push_back({a, FrameKind::kUser});
  uint32_t id = 0;
  if (!frames.empty()) {
    std::string key;
    key.reserve(frames.size() * 9);
    for (const Frame& f : frames) {
      key.append(reinterpret_cast<const char*>(&f.address), sizeof f.address);
      key += char(f.kind);
    }
    auto [it, inserted] = local_stacks_.try_emplace(key, uint32_t(kFirstLocalStackId + local_stacks_.size()));
    if (inserted) c_.stacks[it->second] = std::move(frames);
    id = it->second;
  }
  CpuSample sample{s.time_ns, s.pid, s.tid, s.cpu, id, s.lua_stack_id};
  on(sample);
  return sample;
}

void ContextBuilder::on(const LostEvents& l) {
  c_.lost += l.count;
  c_.lost_by_source[l.source] += l.count;
}

uint64_t context_kinds() {
  using format::RecordKind;
  uint64_t m = 0;
  for (RecordKind k : {RecordKind::kSession, RecordKind::kSessionEnd, RecordKind::kProcess, RecordKind::kThread,
                       RecordKind::kProcessExit, RecordKind::kMapping, RecordKind::kString, RecordKind::kStack,
                       RecordKind::kLuaProto, RecordKind::kSymbolTable, RecordKind::kKernelSymbols,
                       RecordKind::kLostEvents, RecordKind::kLuaVm, RecordKind::kLuaStack, RecordKind::kLuaTrace,
                       RecordKind::kCgroup})
    m |= format::kind_bit(k);
  return m;
}

}  // namespace ebt::report
