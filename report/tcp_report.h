// TCP connections (record --tcp) rebuilt from their events: one TcpConnection
// per socket cookie, in time order; the connection table, the grouped views
// (--by peer|port|pid), handshake and lifetime percentiles (report --tcp) and
// the connections as tracks on the --trace timeline. docs/tcp.md.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "format/records.h"
#include "report/context.h"
#include "report/offcpu_latency.h"
#include "report/trace_json.h"

namespace ebt::report {

enum class TcpRole : uint8_t { kUnknown, kClient, kServer };
const char* tcp_role_name(TcpRole r);
// "ESTABLISHED", ... (Linux TCP_* numbers), "STATE_N" otherwise.
std::string tcp_state_name(uint8_t state);

struct TcpConnection {
  uint64_t cookie = 0;
  uint32_t pid = 0;  // owner; 0: not known
  uint32_t tid = 0;
  bool owner_from_proc = false;  // found in /proc by the recorder (open before the recording)
  std::string comm;
  // The owner's container (report/containers.h container_or_unknown): its
  // label ("[host]", "[unknown]" when the owner is not known) and full id.
  std::string container = "[unknown]";
  std::string container_id;
  bool in_container = false;
  TcpRole role = TcpRole::kUnknown;
  std::vector<uint8_t> local_addr, remote_addr;
  uint16_t local_port = 0, remote_port = 0;
  uint32_t netns = 0;
  uint64_t socket_id = 0;
  uint64_t open_ns = 0;         // SYN_SENT (client) / SYN_RECV (server); 0: before the recording
  uint64_t established_ns = 0;  // 0: never (refused) or before the recording
  uint64_t teardown_ns = 0;     // first FIN (FIN_WAIT1 / CLOSE_WAIT) or reset; 0: none
  uint64_t close_ns = 0;        // the CLOSE transition; 0: still open at the end
  uint64_t first_ns = 0, last_ns = 0;  // its first and last events
  std::optional<uint64_t> handshake_ns;  // client: SYN_SENT -> ESTABLISHED; server: SYN-ACK -> ACK (the first RTT)
  bool open_before = false;  // no opening transition: already open when the recording began
  bool open_at_end = false;  // no CLOSE: still open when it ended
  // The socket's counters at its last event that had them (the CLOSE, unless open at the end).
  bool has_stats = false;
  uint64_t bytes_tx = 0, bytes_rx = 0, bytes_retrans = 0;
  uint32_t segs_out = 0, segs_in = 0, retransmits = 0;
  uint64_t srtt_ns = 0;
  uint64_t retransmit_events = 0, resets_sent = 0, resets_received = 0;
  std::string closed_first;  // "local", "remote", "local reset", "remote reset", "" (not closed / unknown)
  std::string outcome;       // "closed", "refused", "failed", "reset", "open"
  std::vector<std::pair<uint64_t, uint8_t>> states;  // (time, new state), in time order
  std::vector<std::pair<uint64_t, TcpEventType>> marks;  // retransmits and resets, in time order

  std::string local() const;   // "10.0.0.1:34510", "[::1]:80"
  std::string remote() const;
  uint64_t duration_ns() const;  // open (or first event) -> close (or last event)
};

struct TcpGroupRow {
  std::string key;
  uint64_t connections = 0, bytes_tx = 0, bytes_rx = 0, retransmits = 0, resets = 0, refused = 0;
  DurationStats handshake, lifetime;
};

struct TcpReport {
  std::vector<TcpConnection> connections;  // by open time
  uint64_t clients = 0, servers = 0, unknown_role = 0, refused = 0, reset = 0, open_before = 0, open_at_end = 0;
  DurationStats client_handshake, server_handshake, lifetime;  // lifetime: connections seen open and closed
  std::string by;                   // "", "peer", "port", "pid", "container"
  std::vector<TcpGroupRow> groups;  // --by, most connections first
  uint64_t lost = 0;                // events lost while recording (connections may be incomplete)
  std::string container_filter;     // --container as given ("" : none)
  uint64_t left_out = 0;            // connections of other containers left out by it
  uint64_t left_out_unknown = 0;    // ... of them, connections whose owner is not known
};

// Builds the connections from the capture's TcpEvents (any order).
class TcpConnections {
 public:
  void add(const TcpEvent& e);
  bool empty() const { return by_cookie_.empty(); }
  // `end_ns`: the recording's end (open-at-end connections last until then).
  std::vector<TcpConnection> build(const ReportContext& ctx, uint64_t end_ns) const;

 private:
  std::map<uint64_t, std::vector<TcpEvent>> by_cookie_;
};

TcpReport tcp_report(std::vector<TcpConnection> connections, const std::string& by, uint64_t lost);

void write_tcp_text(const TcpReport& r, size_t top, std::ostream& out);
void write_tcp_csv(const TcpReport& r, std::ostream& out);
void write_tcp_json(const TcpReport& r, std::ostream& out);
// One track per connection (handshake, established, teardown slices; resets
// and retransmits as instants); returns the connections shown.
size_t add_tcp_to_trace(TraceJson& trace, const std::vector<TcpConnection>& connections, uint64_t end_ns);

}  // namespace ebt::report
