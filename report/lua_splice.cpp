#include "report/lua_splice.h"

#include "report/context.h"

namespace ebt::report {
namespace {

bool anonymous(const symbolize::SymFrame& f) { return !f.resolved && (f.module.empty() || f.module == "anon"); }

// The name of a C function's entry address (outermost of an inline chain).
std::string c_name(ReportContext& p, uint32_t pid, uint64_t time_ns, uint64_t address) {
  const auto& names = p.symbolizer.resolve(pid, time_ns, Frame{address, FrameKind::kUser}, false);
  return names.empty() ? "[unknown]" : names.back().name;
}

// --lua-only: the Lua frames alone, C functions called from Lua as C:name; a
// native function the innermost VM activation called without a Lua frame of its
// own (an FFI call) as C:name on top.
template <typename InVm>
std::vector<uint32_t> lua_only_view(ReportContext& p, uint32_t pid, uint64_t time_ns, const std::vector<Frame>& raw,
                                    const std::vector<symbolize::LuaLabel>& labels, InVm in_vm) {
  using Kind = symbolize::LuaLabel::Kind;
  std::vector<uint32_t> out;
  auto c_frame = [&](const std::string& name) {
    return p.frames.intern(symbolize::SymFrame{"C:" + name, "", "", 0, FrameType::kUser, true});
  };
  bool leaf_is_c = false;
  for (const auto& l : labels)
    if (l.kind != Kind::kPseudo) {
      leaf_is_c = l.kind == Kind::kC;
      break;
    }
  if (!leaf_is_c) {
    // The native function the innermost VM or JIT frame called. An FFI call
    // goes through LuaJIT's own call machinery first (lj_ccall_func,
    // lj_vm_ffi_call: frames of the VM's object), so the function named is the
    // first one leafward of the VM frame outside the VM's object (usleep, not
    // lj_ccall_func); when all of them are LuaJIT's own (a C helper such as
    // lj_str_new), the one right above the VM frame.
    auto resolve = [&](size_t i) -> const symbolize::SymFrame& {
      return p.symbolizer.resolve(pid, time_ns, raw[i], i > 0 && raw[i - 1].kind == raw[i].kind).front();
    };
    auto vm_or_jit = [&](size_t i) {
      return in_vm(raw[i]) || (raw[i].kind == FrameKind::kUser && anonymous(resolve(i)));
    };
    size_t vm = 0;
    while (vm < raw.size() && !(raw[vm].kind == FrameKind::kUser && vm_or_jit(vm))) vm++;
    if (vm > 0 && vm < raw.size() && raw[vm - 1].kind == FrameKind::kUser) {
      const std::string vm_module = in_vm(raw[vm]) ? resolve(vm).module : std::string();
      size_t callee = vm - 1;
      for (size_t i = vm; i-- > 0 && raw[i].kind == FrameKind::kUser;) {
        if (vm_module.empty() || resolve(i).module != vm_module) {
          callee = i;
          break;
        }
      }
      const auto& names = p.symbolizer.resolve(pid, time_ns, raw[callee],
                                               callee > 0 && raw[callee - 1].kind == raw[callee].kind);
      if (!names.empty() && !anonymous(names.front())) out.push_back(c_frame(names.back().name));
    }
  }
  for (const auto& l : labels) {
    if (l.kind == Kind::kC) out.push_back(c_frame(c_name(p, pid, time_ns, l.address)));
    else out.push_back(p.frames.intern(symbolize::SymFrame{l.name, "", l.file, l.line, FrameType::kLua, true}));
  }
  return out;
}

}  // namespace

std::vector<uint32_t> splice_lua(ReportContext& p, uint32_t pid, uint64_t time_ns, uint32_t native_stack_id,
                                 const LuaStack& lua) {
  // Lua segments, innermost first; C functions are left to their native frames.
  // A segment may be empty (a VM activation that only ran a C function, such as
  // lua_cpcall's): its VM frame is then replaced by nothing.
  struct Segment {
    std::vector<uint32_t> ids;
    bool hop_after = false;  // the next segment resumed this one (coroutine.resume from Lua)
  };
  std::vector<Segment> segs(1);
  auto labels = p.lua.label(pid, lua);
  // The innermost VM activation is the JIT's own (trace exit or compiler in
  // lj_vm_cpcall, which runs no Lua function): its VM frame takes the
  // pseudo-frame alone, the Lua frames go to the activation below it.
  bool jit_own = lua.flags & LuaStack::kCFrameNoFrame;
  for (const auto& l : labels) {
    if (jit_own && l.kind != symbolize::LuaLabel::Kind::kPseudo) {
      segs.emplace_back();
      jit_own = false;
    }
    if (l.kind != symbolize::LuaLabel::Kind::kC)
      segs.back().ids.push_back(p.frames.intern(symbolize::SymFrame{l.name, "", l.file, l.line, FrameType::kLua, true}));
    if (l.segment_end) {
      segs.back().hop_after = l.resume_end;
      segs.emplace_back();
    }
  }
  if (labels.empty() || labels.back().segment_end) segs.pop_back();  // nothing after the last cut

  const LuaVm* vm = p.lua.vm(pid);
  auto in_vm = [&](const Frame& f) {
    return vm && f.kind == FrameKind::kUser && f.address >= vm->interp_start && f.address < vm->interp_end;
  };
  static const std::vector<Frame> none;
  auto st = p.stacks.find(native_stack_id);
  const std::vector<Frame>& raw = st == p.stacks.end() ? none : st->second;

  if (p.lua_only && !labels.empty()) return lua_only_view(p, pid, time_ns, raw, labels, in_vm);
  std::vector<uint32_t> out;
  size_t next = 0;
  bool next_from_vm = false;  // raw[i - 1] was a VM frame that took segment next - 1
  auto put_segment = [&] {
    if (next < segs.size()) {
      out.insert(out.end(), segs[next].ids.begin(), segs[next].ids.end());
      next++;
      return true;
    }
    return false;
  };
  for (size_t i = 0; i < raw.size(); ++i) {
    bool ret = i > 0 && raw[i - 1].kind == raw[i].kind;
    // A VM frame right under the VM frame that took a segment cut at a C entry
    // is the same activation: the VM's leaf helpers (vm_mod, vm_floor, ...) are
    // entered by `call`, and a new activation entered from C has a C frame
    // (lua_pcall) in between. Only a coroutine resumed from Lua (hop_after) runs
    // its activation right on its resumer's VM frame.
    if (in_vm(raw[i]) && i > 0 && in_vm(raw[i - 1]) && next > 0 && next_from_vm && !segs[next - 1].hop_after)
      continue;
    next_from_vm = false;
    if (in_vm(raw[i]) && put_segment()) {
      next_from_vm = true;
      continue;
    }
    const auto& names = p.symbolizer.resolve(pid, time_ns, raw[i], ret);
    // JIT-compiled code (anonymous memory, no file): it runs inside a VM frame,
    // which follows it, or which the recorder's unwinder jumped over (traces have
    // no CFI: it resumes at the VM's C frame, in the VM's caller).
    // With the VM's C frames known (record/lua_recorder.h) the unwinder goes
    // from the trace's code straight to its activation's caller: a VM frame
    // right below is then the resumer of a coroutine the trace runs in.
    // Without them (a guess from the stack), a VM frame right below may be
    // the trace's own activation, which takes the segment.
    if (raw[i].kind == FrameKind::kUser && next < segs.size() && !names.empty() && anonymous(names.front())) {
      if (!(i + 1 < raw.size() && in_vm(raw[i + 1]))) {
        // Skipped VM frames: this activation's, and those natively right below
        // it (a coroutine resumed from Lua runs on its resumer's VM frame).
        while (put_segment() && segs[next - 1].hop_after) {
        }
      } else if (segs[next].hop_after) {
        put_segment();
      }
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
