// Packet hops through the kernel network stack (--skb): bpf/skb.bpf.c on raw
// tracepoints (device queue/transmit, receive, copy to a reader, drop/consume).
// Each hop becomes an SkbHop: the hook and device as strings, the packet's
// addresses and ports, the drop reason by name (from the kernel's BTF), and a
// kernel stack at drops (at every hop with --skb-stack).
#pragma once

#include <memory>

#include "record/probe.h"
#include "record/record_options.h"

namespace ebt::record {

std::unique_ptr<Probe> make_skb_probe(const RecordOptions& options);

}  // namespace ebt::record
