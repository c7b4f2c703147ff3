#include "report/lua_splice.h"

#include "report/profile.h"

namespace ebt::report {

std::vector<uint32_t> splice_lua(Profile& p, uint32_t pid, uint64_t time_ns, uint32_t native_stack_id,
                                 const LuaStack& lua) {
  // Lua segments, innermost first; C functions are left to their native frames.
  // A segment may be empty (a VM activation that only ran a C function, such as
  // lua_cpcall's): its VM frame is then replaced by nothing.
  std::vector<std::vector<uint32_t>> segs(1);
  auto labels = p.lua.label(pid, lua);
  for (const auto& l : labels) {
    if (l.kind != symbolize::LuaLabel::Kind::kC)
      segs.back().push_back(p.frames.intern(symbolize::SymFrame{l.name, "", l.file, l.line, FrameType::kLua, true}));
    if (l.segment_end) segs.emplace_back();
  }
  if (labels.empty() || labels.back().segment_end) segs.pop_back();  // nothing after the last cut

  const LuaVm* vm = p.lua.vm(pid);
  auto in_vm = [&](const Frame& f) {
    return vm && f.kind == FrameKind::kUser && f.address >= vm->interp_start && f.address < vm->interp_end;
  };
  std::vector<uint32_t> out;
  size_t next = 0;
  auto put_segment = [&] {
    if (next < segs.size()) {
      out.insert(out.end(), segs[next].begin(), segs[next].end());
      next++;
      return true;
    }
    return false;
  };
  static const std::vector<Frame> none;
  auto st = p.stacks.find(native_stack_id);
  const std::vector<Frame>& raw = st == p.stacks.end() ? none : st->second;
  for (size_t i = 0; i < raw.size(); ++i) {
    bool ret = i > 0 && raw[i - 1].kind == raw[i].kind;
    if (in_vm(raw[i]) && put_segment()) continue;
    const auto& names = p.symbolizer.resolve(pid, time_ns, raw[i], ret);
    // JIT-compiled code (anonymous memory, no file): it runs inside a VM frame,
    // which follows it, or which the recorder's unwinder jumped over (traces have
    // no CFI: it resumes at the VM's C frame, in the VM's caller).
    if (raw[i].kind == FrameKind::kUser && next < segs.size() && !names.empty() && !names.front().resolved &&
        (names.front().module.empty() || names.front().module == "anon")) {
      if (!(i + 1 < raw.size() && in_vm(raw[i + 1]))) put_segment();
      continue;
    }
    for (const auto& f : names) out.push_back(p.frames.intern(f));
  }
  // Segments no VM frame was found for (native unwinding stopped early, or no
  // native user stack): on top of the outermost frame we have.
  while (put_segment()) {
  }
  return out;
}

}  // namespace ebt::report
