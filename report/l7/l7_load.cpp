#include "report/l7/l7_load.h"

#include "format/reader.h"

namespace ebt::report::l7 {
namespace {

class Collector : public format::RecordVisitor {
 public:
  explicit Collector(L7Input* in) : in_(in) {}
  void on(const SessionEnd& e) override { end_ns_ = e.end_ns; }
  void on(const ProcessInfo& p) override { in_->comms[p.pid] = p.comm; }
  void on(const SocketInfo& s) override {
    auto [it, fresh] = in_->sockets.try_emplace(s.id, s);
    // Keep the sighting that knows the peer (a socket seen before connect()).
    if (!fresh && it->second.remote_port == 0 && s.remote_port != 0) it->second = s;
  }
  void on(const SyscallEvent& e) override {
    last_ns_ = std::max(last_ns_, e.exit_ns);
    in_->events.push_back(e);
  }
  uint64_t end_ns_ = 0;
  uint64_t last_ns_ = 0;

 private:
  L7Input* in_;
};

}  // namespace

L7Input load_l7_input(const std::string& path, std::vector<std::string>* warnings) {
  format::CaptureReader reader(path);
  L7Input in;
  Collector c(&in);
  reader.read(c);
  in.begin_ns = reader.session().start_ns;
  in.end_ns = std::max(c.end_ns_, c.last_ns_);
  if (warnings)
    for (const auto& d : reader.damage())
      warnings->push_back("capture damaged at byte " + std::to_string(d.offset) + ": " + format::reason(d));
  return in;
}

}  // namespace ebt::report::l7
