#include "report/l7/l7_load.h"

#include "format/reader.h"

namespace ebt::report::l7 {

void L7Collector::on(const SocketInfo& s) {
  auto [it, fresh] = in_.sockets.try_emplace(s.id, s);
  // Keep the sighting that knows the peer (a socket seen before connect()).
  if (!fresh && it->second.remote_port == 0 && s.remote_port != 0) it->second = s;
}

void L7Collector::on(const SyscallEvent& e) {
  last_ns_ = std::max(last_ns_, e.exit_ns);
  in_.events.push_back(e);
}

L7Input L7Collector::take(uint64_t session_start_ns) {
  in_.begin_ns = session_start_ns;
  in_.end_ns = std::max(end_ns_, last_ns_);
  return std::move(in_);
}

L7Input load_l7_input(const std::string& path, std::vector<std::string>* warnings) {
  format::CaptureReader reader(path);
  L7Collector c;
  reader.read(c);
  L7Input in = c.take(reader.session().start_ns);
  if (warnings)
    for (const auto& d : reader.damage())
      warnings->push_back("capture damaged at byte " + std::to_string(d.offset) + ": " + format::reason(d));
  return in;
}

}  // namespace ebt::report::l7
