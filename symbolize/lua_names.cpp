#include "symbolize/lua_names.h"

#include <cstdio>
#include <cstring>

namespace ebt::symbolize {
namespace {

// Bytecode operand A's mode, by opcode name (LuaJIT's lj_bc.h): "base" (A is
// the base of a range of slots) or "dst" (A is written); others do not matter.
enum class ModeA { kOther, kBase, kDst };

ModeA mode_a(const std::string& op) {
  static const char* const base[] = {"KNIL",   "TSETM",  "CALLM", "CALL",  "CALLMT", "CALLT",  "ITERC",
                                     "ITERN",  "VARG",   "ISNEXT", "RETM", "FORI",   "JFORI",  "FORL",
                                     "IFORL",  "JFORL",  "ITERL", "IITERL", "JITERL"};
  static const char* const dst[] = {"MOV",   "NOT",   "UNM",   "LEN",   "ADDVN",  "SUBVN", "MULVN", "DIVVN",
                                    "MODVN", "ADDNV", "SUBNV", "MULNV", "DIVNV",  "MODNV", "ADDVV", "SUBVV",
                                    "MULVV", "DIVVV", "MODVV", "POW",   "CAT",    "KSTR",  "KCDATA", "KSHORT",
                                    "KNUM",  "KPRI",  "UGET",  "FNEW",  "TNEW",   "TDUP",  "GGET",  "TGETV",
                                    "TGETS", "TGETB", "TGETR"};
  for (const char* b : base)
    if (op == b) return ModeA::kBase;
  for (const char* d : dst)
    if (op == d) return ModeA::kDst;
  return ModeA::kOther;
}

struct Proto {
  const LuaProto& p;
  uint32_t numline() const { return p.last_line >= p.first_line ? p.last_line - p.first_line : 0; }
  // Instruction `pos`, if inside the blob.
  bool ins(uint32_t pos, uint32_t* out) const {
    uint64_t at = uint64_t(p.bc_offset) + uint64_t(pos) * 4;
    if (pos >= p.size_bc || at + 4 > p.blob.size()) return false;
    std::memcpy(out, p.blob.data() + at, 4);
    return true;
  }
  // debug_framepc: the instruction before the one pc points at.
  std::optional<uint32_t> pos_of(uint64_t pc) const {
    uint64_t bc = p.address + p.bc_offset;
    if (pc < bc + 4 || (pc - bc) % 4 != 0) return std::nullopt;
    uint64_t pos = (pc - bc) / 4 - 1;
    if (pos > p.size_bc) return std::nullopt;
    return uint32_t(pos);
  }
  std::optional<uint32_t> line(uint32_t pos) const {  // lj_debug_line
    if (!p.lineinfo_offset || pos > p.size_bc) return std::nullopt;
    if (pos == p.size_bc) return p.first_line + numline();
    if (pos == 0) return p.first_line;
    uint32_t i = pos - 1, n = numline(), width = n < 256 ? 1 : n < 65536 ? 2 : 4;
    uint64_t at = uint64_t(p.lineinfo_offset) + uint64_t(i) * width;
    if (at + width > p.blob.size()) return std::nullopt;
    uint32_t v = 0;
    std::memcpy(&v, p.blob.data() + at, width);  // little-endian
    return p.first_line + v;
  }
  std::string kgc(uint32_t index) const {
    for (const auto& k : p.kgc_strings)
      if (k.index == index) return k.text;
    return {};
  }
  bool uleb(size_t* at, uint32_t* v) const {
    *v = 0;
    for (int shift = 0; shift < 35; shift += 7) {
      if (*at >= p.blob.size()) return false;
      uint8_t b = p.blob[(*at)++];
      *v |= uint32_t(b & 0x7f) << shift;
      if (!(b & 0x80)) return true;
    }
    return false;
  }
  bool cstr(size_t* at, std::string* s) const {
    size_t e = *at;
    while (e < p.blob.size() && p.blob[e]) e++;
    if (e >= p.blob.size()) return false;
    s->assign(reinterpret_cast<const char*>(p.blob.data() + *at), e - *at);
    *at = e + 1;
    return true;
  }
  // debug_varname: the local in `slot` live at `pos`.
  std::string varname(uint32_t pos, uint32_t slot) const {
    static const char* const builtin[] = {"(for index)", "(for limit)", "(for step)",
                                          "(for generator)", "(for state)", "(for control)"};
    if (!p.varinfo_offset) return {};
    size_t at = p.varinfo_offset;
    uint32_t lastpc = 0;
    for (int guard = 0; guard < 65536 && at < p.blob.size(); guard++) {
      uint8_t vn = p.blob[at];
      std::string name;
      if (vn < 7) {
        if (vn == 0) break;
        name = builtin[vn - 1];
        at++;
      } else if (!cstr(&at, &name)) {
        break;
      }
      uint32_t d1, d2;
      if (!uleb(&at, &d1)) break;
      uint32_t startpc = lastpc + d1;
      lastpc = startpc;
      if (startpc > pos) break;
      if (!uleb(&at, &d2)) break;
      if (pos < startpc + d2 && slot-- == 0) return name;
    }
    return {};
  }
  std::string uvname(uint32_t idx) const {
    if (!p.uvinfo_offset) return {};
    size_t at = p.uvinfo_offset;
    std::string s;
    for (uint32_t i = 0; i <= idx; i++)
      if (!cstr(&at, &s)) return {};
    return s;
  }
};

}  // namespace

void LuaNamer::add(const LuaVm& vm) {
  auto [it, fresh] = vms_.try_emplace(vm.pid, vm);
  if (fresh) return;
  // The final copy carries counters, not the names (same VM).
  std::vector<std::string> ff = std::move(it->second.ff_names), bc = std::move(it->second.bc_names);
  it->second = vm;
  if (it->second.ff_names.empty()) it->second.ff_names = std::move(ff);
  if (it->second.bc_names.empty()) it->second.bc_names = std::move(bc);
}
void LuaNamer::add(const LuaProto& proto) { protos_[proto.id] = proto; }
void LuaNamer::add(const LuaTrace& trace) { traces_[trace.id] = trace; }

const LuaVm* LuaNamer::vm(uint32_t pid) const {
  auto it = vms_.find(pid);
  return it == vms_.end() ? nullptr : &it->second;
}

std::optional<uint32_t> LuaNamer::line_of(const LuaProto& proto, uint64_t pc) {
  Proto p{proto};
  auto pos = p.pos_of(pc);
  if (!pos) return std::nullopt;
  return p.line(*pos);
}

std::string LuaNamer::callee_name(const LuaProto& caller, uint64_t pc, const std::vector<std::string>& bc_names) {
  Proto p{caller};
  auto at = p.pos_of(pc);
  uint32_t ins;
  if (!at || !p.ins(*at, &ins) || (ins & 0xff) >= bc_names.size()) return {};
  const std::string& op = bc_names[ins & 0xff];
  if (op != "CALL" && op != "CALLM" && op != "CALLT" && op != "CALLMT" && op != "ITERC" && op != "ITERN")
    return {};  // a metamethod, or not a call
  uint32_t slot = (ins >> 8) & 0xff;
  if (op == "ITERC") {
    if (slot < 3) return {};
    slot -= 3;
  }
  uint32_t pos = *at;
  // lj_debug_slotname: who filled `slot` before the call.
  for (int guard = 0; guard < 256; guard++) {
    std::string local = p.varname(pos, slot);
    if (!local.empty()) return local;
    bool restart = false;
    while (!restart && pos > 1) {
      --pos;
      if (!p.ins(pos, &ins) || (ins & 0xff) >= bc_names.size()) return {};
      const std::string& o = bc_names[ins & 0xff];
      uint32_t ra = (ins >> 8) & 0xff, d = ins >> 16, c = (ins >> 16) & 0xff;
      ModeA m = mode_a(o);
      if (m == ModeA::kBase) {
        if (slot >= ra && (o != "KNIL" || slot <= d)) return {};
      } else if (m == ModeA::kDst && ra == slot) {
        if (o == "MOV") {
          slot = d;
          restart = true;
        } else if (o == "GGET") {
          return p.kgc(d);
        } else if (o == "TGETS") {
          return p.kgc(c);
        } else if (o == "UGET") {
          return p.uvname(d);
        } else {
          return {};
        }
      }
    }
    if (!restart) return {};
  }
  return {};
}

std::vector<LuaLabel> LuaNamer::label(uint32_t pid, const LuaStack& stack) const {
  std::vector<LuaLabel> out;
  const LuaVm* v = vm(pid);
  static const std::vector<std::string> none;
  const std::vector<std::string>& bc_names = v ? v->bc_names : none;
  const LuaTrace* trace = nullptr;
  if (stack.trace_id)
    if (auto t = traces_.find(stack.trace_id); t != traces_.end()) trace = &t->second;

  auto pseudo = [&](std::string name) {
    LuaLabel l;
    l.kind = LuaLabel::Kind::kPseudo;
    l.name = std::move(name);
    out.push_back(std::move(l));
  };
  if (stack.vmstate >= 0) pseudo("[trace " + std::to_string(stack.vmstate) + "]");
  else if (stack.vmstate == -3) pseudo("[GC]");
  else if (stack.vmstate <= -5 && stack.vmstate >= -7) pseudo("[JIT compiler]");

  const auto& fr = stack.frames;
  for (size_t i = 0; i < fr.size(); i++) {
    const LuaFrame& f = fr[i];
    LuaLabel l;
    switch (f.kind) {
      case LuaFrameKind::kLua: {
        l.kind = LuaLabel::Kind::kLua;
        auto pit = protos_.find(f.proto_id);
        if (pit == protos_.end() || (pit->second.chunk.empty() && pit->second.blob.empty())) {
          char b[48];
          std::snprintf(b, sizeof b, "[lua proto 0x%llx]", static_cast<unsigned long long>(f.address));
          l.name = b;
          break;
        }
        const LuaProto& pt = pit->second;
        std::optional<uint32_t> line;
        if (f.pc) line = line_of(pt, f.pc);
        if (!line && i == 0 && trace && trace->start_proto_id == f.proto_id && trace->start_pc)
          line = line_of(pt, trace->start_pc + 4);
        if (!line) line = pt.first_line;
        l.file = pt.chunk;
        l.line = *line;
        l.name = pt.chunk + ":" + std::to_string(*line);
        if (i + 1 < fr.size() && (f.link_type & 3) != 1 && (f.link_type == 0 || f.link_type == 4 || f.link_type == 3)) {
          const LuaFrame& c = fr[i + 1];
          if (c.kind == LuaFrameKind::kLua && c.pc && !c.resumed)
            if (auto cit = protos_.find(c.proto_id); cit != protos_.end()) {
              std::string n = callee_name(cit->second, c.pc, bc_names);
              if (!n.empty()) l.name += " " + n;
            }
        }
        break;
      }
      case LuaFrameKind::kFast: {
        l.kind = LuaLabel::Kind::kFast;
        std::string n = v && f.address < v->ff_names.size() ? v->ff_names[f.address] : "";
        l.name = "builtin#" + (n.empty() ? std::to_string(f.address) : n);
        break;
      }
      case LuaFrameKind::kC:
        l.kind = LuaLabel::Kind::kC;
        l.address = f.address;
        break;
    }
    l.resume_end = i + 1 < fr.size() && fr[i + 1].resumed;
    l.segment_end = f.link_type == 1 || f.link_type == 5 || l.resume_end;
    out.push_back(std::move(l));
  }
  return out;
}

}  // namespace ebt::symbolize
