// L7 request latency from syscall payload captures: analysis of all connections
// and the `ebtrace report --latency` tables (text, CSV, JSON).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "format/records.h"
#include "report/l7/connection.h"
#include "report/l7/proxy.h"

namespace ebt::report::l7 {

struct L7Input {
  uint64_t begin_ns = 0;  // recorded span (session start .. end / last event)
  uint64_t end_ns = 0;
  std::map<uint64_t, SocketInfo> sockets;  // by socket id
  std::vector<SyscallEvent> events;
  std::map<uint32_t, std::string> comms;   // pid -> comm
};

struct L7Analysis {
  uint64_t begin_ns = 0;
  uint64_t end_ns = 0;
  std::vector<Connection> connections;  // ordered by first activity
  std::map<uint64_t, SocketInfo> sockets;
  std::map<uint32_t, std::string> comms;
  uint64_t syscalls = 0;
  ProxyMatch proxy;  // inbound -> outbound requests of proxy processes
};

L7Analysis analyze_l7(L7Input input);

enum class GroupBy { kNone, kConn, kPid, kPeer, kContainer };
// kContainer: the container label of a connection's process (given by the
// caller: report/containers.h is not a dependency of this library).
using ContainerOf = std::function<std::string(uint32_t pid)>;
enum class TableFormat { kText, kCsv, kJson };

struct LatencyOptions {
  GroupBy by = GroupBy::kNone;
  TableFormat format = TableFormat::kText;
  bool show_payload = false;  // text: first bytes of unknown-protocol connections
  ContainerOf container;      // for GroupBy::kContainer
};

struct LatencyRow {
  std::string group;  // empty for GroupBy::kNone
  Protocol protocol = Protocol::kUnknown;
  Role role = Role::kUnknown;
  std::string request;  // Redis: command; HTTP: "METHOD /path"
  int status = 0;       // HTTP only
  uint64_t count = 0;
  uint64_t errors = 0;
  double per_second = 0;  // count over the recorded span
  uint64_t p50_ns = 0, p90_ns = 0, p99_ns = 0, p999_ns = 0, max_ns = 0;
};

// Nearest-rank percentile of an ascending vector (p in 0..100); 0 if empty.
uint64_t percentile(const std::vector<uint64_t>& sorted, double p);

std::vector<LatencyRow> latency_rows(const L7Analysis& a, GroupBy by, const ContainerOf& container = {});

// "1.2.3.4:80" / "[::1]:80" / "unix"; with_port=false drops the port.
std::string endpoint_name(uint16_t family, const std::vector<uint8_t>& addr, uint16_t port,
                          bool with_port = true);
// Printable ASCII as is, everything else escaped (\r \n \t \xNN).
std::string escape_bytes(const std::vector<uint8_t>& bytes);

void write_l7_latency(const L7Analysis& a, const LatencyOptions& opt, std::ostream& out);

}  // namespace ebt::report::l7
