#include "report/profile.h"

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

Profile::Profile(symbolize::SymbolizerOptions options) : symbolizer(std::move(options)) {}

void Profile::note_comm(uint32_t pid, uint32_t tid, const std::string& comm, uint64_t time_ns) {
  if (comm.empty()) return;
  auto& v = comms_[tid];
  CommChange c{time_ns, comm, frames.intern(comm, FrameType::kProcess)};
  auto pos = std::upper_bound(v.begin(), v.end(), time_ns,
                              [](uint64_t t, const CommChange& x) { return t < x.time_ns; });
  v.insert(pos, std::move(c));
}

std::string Profile::comm_of(uint32_t pid, uint32_t tid, uint64_t time_ns) const {
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

uint32_t Profile::comm_frame(uint32_t pid, uint32_t tid, uint64_t time_ns) {
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

const std::vector<uint32_t>& Profile::symbolized_stack(uint32_t pid, uint64_t time_ns,
                                                       uint32_t stack_id) {
  StackKey key{pid, symbolizer.generation(pid, time_ns), stack_id};
  auto it = symbolized_.find(key);
  if (it != symbolized_.end()) return it->second;
  std::vector<uint32_t> ids;
  auto s = stacks.find(stack_id);
  if (auto pair = lua_pairs_.find(stack_id); pair != lua_pairs_.end()) {
    auto l = lua_stacks.find(pair->second.second);
    static const LuaStack no_lua;
    ids = splice_lua(*this, pid, time_ns, pair->second.first, l == lua_stacks.end() ? no_lua : l->second);
  } else if (s == stacks.end()) {
    ids.push_back(frames.intern(stack_id == 0 ? "[no stack]" : "[unknown stack]", FrameType::kMarker));
  } else {
    const auto& raw = s->second;
    for (size_t i = 0; i < raw.size(); ++i) {
      // The first frame of each kind run is an interrupted PC, the rest return addresses.
      bool ret = i > 0 && raw[i - 1].kind == raw[i].kind;
      for (const auto& f : symbolizer.resolve(pid, time_ns, raw[i], ret)) {
        auto [slot, inserted] = frame_ids_.try_emplace(&f, 0);
        if (inserted) slot->second = frames.intern(f);
        ids.push_back(slot->second);
      }
    }
  }
  return symbolized_.emplace(key, std::move(ids)).first->second;
}

uint32_t Profile::lua_stack_pair(uint32_t native_stack_id, uint32_t lua_stack_id) {
  auto [it, inserted] = lua_pair_ids_.try_emplace(uint64_t(native_stack_id) << 32 | lua_stack_id,
                                                  uint32_t(kFirstLuaPairId + lua_pair_ids_.size()));
  if (inserted) lua_pairs_[it->second] = {native_stack_id, lua_stack_id};
  return it->second;
}

uint64_t Profile::start_ns() const {
  if (session.start_ns != 0) return session.start_ns;
  return first_sample_ns == UINT64_MAX ? 0 : first_sample_ns;
}

uint64_t Profile::end_ns() const {
  if (end && end->end_ns != 0) return end->end_ns;
  return std::max(last_sample_ns, start_ns());
}

uint64_t Profile::to_realtime(uint64_t monotonic_ns) const {
  return wall_clock_ns(monotonic_ns, session.clock_monotonic_ns, session.clock_realtime_ns);
}

std::string wall_clock_utc(uint64_t realtime_ns) {
  if (realtime_ns == 0) return "?";
  return format_wall_clock(realtime_ns, 3, WallClockStyle::kText);
}

void ProfileBuilder::on(const SessionEnd& e) { p_.end = e; }

void ProfileBuilder::on(const ProcessInfo& pi) {
  ProcessEntry& e = p_.processes[pi.pid];
  e.pid = pi.pid;
  e.ppid = pi.ppid;
  if (!pi.comm.empty()) e.comm = pi.comm;
  if (!pi.exe.empty()) e.exe = pi.exe;
  if (!pi.cmdline.empty()) e.cmdline = pi.cmdline;
  if (!pi.nspid.empty()) e.nspid = pi.nspid;
  if (pi.start_ns != 0) e.start_ns = pi.start_ns;
  p_.note_comm(pi.pid, pi.pid, pi.comm, pi.time_ns);
}

void ProfileBuilder::on(const ThreadInfo& t) { p_.note_comm(t.pid, t.tid, t.comm, t.time_ns); }

void ProfileBuilder::on(const ProcessExit& x) {
  if (x.pid == x.tid) {
    if (auto it = p_.processes.find(x.pid); it != p_.processes.end()) it->second.exit_ns = x.time_ns;
  }
}

void ProfileBuilder::on(const Mapping& m) { p_.symbolizer.add(m); }
void ProfileBuilder::on(const StringEntry& s) { p_.strings[s.id] = s.value; }
void ProfileBuilder::on(const Stack& s) { p_.stacks[s.id] = s.frames; }
void ProfileBuilder::on(const LuaProto& l) { p_.lua.add(l); }
void ProfileBuilder::on(const SymbolTable& t) { p_.symbolizer.add(t); }
void ProfileBuilder::on(const KernelSymbols& k) { p_.symbolizer.add(k); }

void ProfileBuilder::on(const CpuSample& s) {
  uint32_t stack = s.stack_id;
  if (s.lua_stack_id) {  // spliced when symbolized
    stack = p_.lua_stack_pair(s.stack_id, s.lua_stack_id);
    p_.lua_samples++;
  }
  p_.samples.push_back({s.time_ns, s.pid, s.tid, s.cpu, stack, 1, 0, 0});
  p_.first_sample_ns = std::min(p_.first_sample_ns, s.time_ns);
  p_.last_sample_ns = std::max(p_.last_sample_ns, s.time_ns);
}

void ProfileBuilder::on(const StackSnapshot& s) {
  snapshots++;
  user_.clear();
  if (s.ip) {
    if (unwinder_) {
      if (unwinder_->unwind(s, &user_, 127).to_end) snapshots_to_end++;
    } else {
      user_.push_back(s.ip);
    }
  }
  std::vector<Frame> frames;
  if (s.kernel_stack_id)
    if (auto k = p_.stacks.find(s.kernel_stack_id); k != p_.stacks.end()) frames = k->second;
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
    if (inserted) p_.stacks[it->second] = std::move(frames);
    id = it->second;
  }
  on(CpuSample{s.time_ns, s.pid, s.tid, s.cpu, id, s.lua_stack_id});
}

void ProfileBuilder::on(const OffCpuInterval& o) { p_.off_cpu.push_back(o); }

void ProfileBuilder::on(const LostEvents& l) {
  p_.lost += l.count;
  p_.lost_by_source[l.source] += l.count;
}

}  // namespace ebt::report
