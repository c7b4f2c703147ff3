#include "record/interner.h"

#include <cstring>

#include "format/writer.h"

namespace ebt::record {

size_t Interner::VecHash::operator()(const std::vector<uint64_t>& v) const {
  uint64_t h = 1469598103934665603ull;
  for (uint64_t x : v) {
    h ^= x;
    h *= 1099511628211ull;
    h ^= h >> 29;
  }
  return h;
}

void Interner::note_hit(const ProcessTable::MapEntry* e, uint64_t addr) {
  if (!e || !e->obj) return;
  uint64_t vaddr;
  if (e->obj->offset_to_vaddr(addr - e->m.start + e->m.offset, &vaddr)) e->obj->hits.insert(vaddr);
}

uint32_t Interner::stack(uint32_t pid, std::span<const uint64_t> kernel, std::span<const uint64_t> user) {
  if (kernel.empty() && user.empty()) return 0;
  key_.clear();
  key_.insert(key_.end(), kernel.begin(), kernel.end());
  key_.insert(key_.end(), user.begin(), user.end());
  key_.push_back(kernel.size());
  auto it = stacks_.find(key_);
  if (it == stacks_.end()) it = stacks_.emplace(key_, Entry<uint32_t>{next_stack_++, 0}).first;
  it->second.used_in = file_.generation;
  uint32_t id = it->second.id;
  if (stacks_in_file_.first_in_file(id, file_.generation)) {
    Stack s;
    s.id = id;
    s.frames.reserve(kernel.size() + user.size());
    for (uint64_t a : kernel) s.frames.push_back({a, FrameKind::kKernel});
    for (uint64_t a : user) s.frames.push_back({a, FrameKind::kUser});
    file_.writer->add(s);
    for (size_t i = 0; i < kernel.size(); i++) hits_.kernel.insert(i ? kernel[i] - 1 : kernel[i]);
  }
  if (!user.empty() && pid_stacks_in_file_.first_in_file(uint64_t(pid) << 32 | id, file_.generation)) {
    // Return addresses point after the call: look up the call itself, the way
    // symbolize/ does, so the embedded locations match its lookups.
    for (size_t i = 0; i < user.size(); i++) {
      uint64_t a = i ? user[i] - 1 : user[i];
      note_hit(processes_.user_mapping(pid, a), a);
    }
  }
  return id;
}

uint32_t Interner::string(const std::string& s) {
  auto [it, inserted] = strings_.try_emplace(s, Entry<uint32_t>{next_string_, 0});
  if (inserted) next_string_++;
  it->second.used_in = file_.generation;
  if (strings_in_file_.first_in_file(it->second.id, file_.generation))
    file_.writer->add(StringEntry{it->second.id, s});
  return it->second.id;
}

void Interner::stack_snapshot(uint32_t pid, uint64_t ip, std::span<const uint8_t> stack) {
  auto needs_unwind_table = [&](const ProcessTable::MapEntry* e) {
    if (!e) return;
    if (e->obj) e->obj->unwind_table = true;
    else if (e->m.path == "[vdso]") hits_.vdso_unwind = true;
  };
  const ProcessTable::MapEntry* at_ip = processes_.user_mapping(pid, ip);  // may reread the mappings
  note_hit(at_ip, ip);
  needs_unwind_table(at_ip);
  // Every aligned word that points into an executable mapping may be a return
  // address: a superset of the frames report will find.
  for (size_t off = 0; off + 8 <= stack.size(); off += 8) {
    uint64_t w;
    std::memcpy(&w, stack.data() + off, 8);
    const ProcessTable::MapEntry* e = processes_.find_mapping(pid, w - 1);
    needs_unwind_table(e);
    note_hit(e, w - 1);
  }
}

void Interner::on_new_file() {
  uint64_t keep_from = file_.generation > 1 ? file_.generation - 1 : 0;
  std::erase_if(stacks_, [&](const auto& kv) { return kv.second.used_in < keep_from; });
  std::erase_if(strings_, [&](const auto& kv) { return kv.second.used_in < keep_from; });
}

}  // namespace ebt::record
