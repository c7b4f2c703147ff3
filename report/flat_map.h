// An open-addressing hash map for the per-sample lookups of the report
// families (a sample's thread, stack and group), where std::unordered_map's
// prime modulo and node chasing cost more than the rest of the work done per
// sample: power-of-two slots, linear probing, keys and values stored inline.
// No erase. A pointer returned by try_emplace/find is valid until the next
// insertion (which may grow the table).
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace ebt::report {

// Mixes a 64-bit value into a well-spread hash (the low bits index the table).
inline uint64_t mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

// `Hash` returns a uint64_t; FlatMap mixes it (mix64), so a plain combination
// of the key's fields is enough.
template <class K, class V, class Hash>
class FlatMap {
 public:
  // The value of `k` and whether it was just inserted (then value-initialized).
  std::pair<V*, bool> try_emplace(const K& k) {
    if ((size_ + 1) * 2 > slots_.size()) grow();
    size_t i = index(k);
    while (slots_[i].used) {
      if (slots_[i].key == k) return {&slots_[i].value, false};
      i = (i + 1) & (slots_.size() - 1);
    }
    slots_[i].used = true;
    slots_[i].key = k;
    slots_[i].value = V{};
    size_++;
    return {&slots_[i].value, true};
  }
  V* find(const K& k) {
    if (slots_.empty()) return nullptr;
    for (size_t i = index(k); slots_[i].used; i = (i + 1) & (slots_.size() - 1))
      if (slots_[i].key == k) return &slots_[i].value;
    return nullptr;
  }
  template <class F>
  void for_each(F&& f) {
    for (auto& s : slots_)
      if (s.used) f(s.key, s.value);
  }
  size_t size() const { return size_; }

 private:
  struct Slot {
    K key{};
    V value{};
    bool used = false;
  };
  size_t index(const K& k) const { return static_cast<size_t>(mix64(Hash{}(k))) & (slots_.size() - 1); }
  void grow() {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(old.empty() ? 16 : old.size() * 2, Slot{});
    for (auto& s : old) {
      if (!s.used) continue;
      size_t i = index(s.key);
      while (slots_[i].used) i = (i + 1) & (slots_.size() - 1);
      slots_[i] = std::move(s);
    }
  }
  std::vector<Slot> slots_;
  size_t size_ = 0;
};

}  // namespace ebt::report
