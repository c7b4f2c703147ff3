// Syscall payloads: bpf/syscalls.bpf.c on the read/write-family syscall
// tracepoints. Each EBT_EV_SYSCALL becomes a SyscallEvent (with the first
// --payload-bytes bytes actually transferred); each EBT_EV_SOCKET a SocketInfo,
// written once per socket (again only if it gained a peer address).
#pragma once

#include <memory>

#include "record/probe.h"
#include "record/record_options.h"

namespace ebt::record {

std::unique_ptr<Probe> make_syscall_probe(const RecordOptions& options);

}  // namespace ebt::record
