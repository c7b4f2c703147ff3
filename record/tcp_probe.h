// TCP connection lifecycle (--tcp): bpf/tcp.bpf.c on sock:inet_sock_set_state,
// tcp:tcp_retransmit_skb, tcp:tcp_send_reset, tcp:tcp_receive_reset and the
// exits of accept()/accept4(). Each event becomes a TcpEvent; docs/tcp.md.
#pragma once

#include <memory>

#include "record/probe.h"
#include "record/record_options.h"

namespace ebt::record {

std::unique_ptr<Probe> make_tcp_probe(const RecordOptions& options);

}  // namespace ebt::record
