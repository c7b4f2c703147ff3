// Cap'n Proto packing (https://capnproto.org/encoding.html#packing) of the
// writer's messages, a word at a time. The output is byte for byte what
// capnp::writePackedMessage() writes (tests/format/packer_test.cpp holds it to
// that), only faster on what --l7 captures are made of: payload bytes in runs
// of words without zero bytes, which capnp's packer tests byte by byte.
// Internal to format/.
#pragma once

#include <cstddef>
#include <cstdint>

#include <capnp/message.h>

namespace ebt::format {

// At most this many bytes for `words` words of input (a 0xff tag, 8 bytes and a
// run count per word, at worst).
constexpr size_t packed_bound(size_t words) { return words * 10; }

// Packs `words` 8-byte words from `in` (no alignment needed) into `out`, which
// has room for packed_bound(words) bytes; returns the bytes written. Runs stop
// at the end of the input, as capnp's packer's do at the end of each write().
size_t pack_words(const uint8_t* in, size_t words, uint8_t* out);

// The bytes of the whole message as capnp::writePackedMessage() writes them
// (segment table, then each segment, each packed on its own) and the bound
// for them.
size_t packed_message_bound(kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>> segments);
size_t pack_message(kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>> segments, uint8_t* out);

}  // namespace ebt::format
