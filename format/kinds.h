// The record kinds as the rest of ebtrace sees them: ordinals, C++ types, masks
// and names, all derived from the list at the end of format/records.h.
#pragma once

#include <cstdint>
#include <tuple>
#include <type_traits>

#include "format/records.h"

namespace ebt::format {

inline constexpr uint16_t kKnownKindCount = std::tuple_size_v<RecordTypes>;

// The C++ type of kind K (SessionInfo, CpuSample, ...).
template <RecordKind K>
using record_t = std::tuple_element_t<static_cast<size_t>(K), RecordTypes>;

namespace detail {
template <typename T, typename... U>
constexpr uint16_t index_of(std::tuple<U...>*) {
  uint16_t i = 0, found = UINT16_MAX;
  ((std::is_same_v<T, U> ? (found = i, ++i) : ++i), ...);
  return found;
}
}  // namespace detail

// The kind whose records are Ts (kind_of<CpuSample> == RecordKind::kCpuSamples).
template <typename T>
  requires(detail::index_of<T>(static_cast<RecordTypes*>(nullptr)) != UINT16_MAX)
inline constexpr RecordKind kind_of = static_cast<RecordKind>(detail::index_of<T>(static_cast<RecordTypes*>(nullptr)));

// Bit for a kind in ReadOptions::kinds and block kind masks (ordinals >= 63 share bit 63).
constexpr uint64_t kind_bit(uint16_t ordinal) { return uint64_t{1} << (ordinal < 63 ? ordinal : 63); }
constexpr uint64_t kind_bit(RecordKind k) { return kind_bit(static_cast<uint16_t>(k)); }
template <typename T>
inline constexpr uint64_t kind_bit_of = kind_bit(kind_of<T>);
inline constexpr uint64_t kAllKinds = ~uint64_t{0};

// The schema name of a known kind ("cpuSamples", "process", ...); "" if unknown.
const char* kind_name(uint16_t ordinal);
// The name of one event of a batch kind as `ebtrace dump` prints it ("cpuSample",
// "offCpuInterval", ...); "" for other kinds.
const char* event_name(uint16_t ordinal);

}  // namespace ebt::format
