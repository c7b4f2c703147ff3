// Names from a capture (comms, symbols, paths) are arbitrary bytes; outputs
// whose format requires UTF-8 (pprof's proto3 strings, JSON, SVG/XML) pass
// them through this one function.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace ebt::report {

// Length of the valid UTF-8 sequence starting at s[i] (1-4), or 0 when the
// bytes there are not one (stray continuation byte, truncated or overlong
// sequence, surrogate, code point above U+10FFFF).
size_t utf8_sequence_length(std::string_view s, size_t i);

// `s` with every byte that does not start a valid UTF-8 sequence replaced by
// U+FFFD (one per byte, as `ebtrace dump` does); valid text comes back unchanged.
std::string valid_utf8(std::string_view s);

}  // namespace ebt::report
