#include "record/syscall_probe.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <unordered_map>

#include "common/error.h"
#include "format/writer.h"
#include "record/bpf_util.h"
#include "record/file_scope.h"
#include "syscalls.skel.h"

namespace ebt::record {
namespace {

constexpr int kAfInet = 2;
constexpr int kAfInet6 = 10;

class SyscallProbe : public Probe {
 public:
  explicit SyscallProbe(const RecordOptions& o)
      : payload_bytes_(o.payload_bytes), all_fds_(o.all_fds), port_(o.port) {
    if (payload_bytes_ > EBT_SYSCALL_MAX_PAYLOAD)
      throw BadInput("--payload-bytes: at most " + std::to_string(EBT_SYSCALL_MAX_PAYLOAD));
  }
  ~SyscallProbe() override {
    detach();
    syscalls_bpf__destroy(skel_);
  }

  std::string name() const override { return "syscalls"; }
  std::vector<uint16_t> event_kinds() const override { return {EBT_EV_SYSCALL, EBT_EV_SOCKET}; }

  void load(const SharedMaps& maps, const TargetFilter& filter) override {
    skel_ = syscalls_bpf__open();
    if (!skel_) throw RuntimeFailure("syscalls: cannot open the BPF object: " + std::string(strerror(errno)));
    reuse_shared_maps(skel_->obj, maps);
    set_bpf_filter(skel_->rodata->ebt_filter, filter);
    skel_->rodata->payload_bytes = payload_bytes_;
    skel_->rodata->sockets_only = all_fds_ ? 0 : 1;
    skel_->rodata->port_filter = port_;
    int ncpu = libbpf_num_possible_cpus();
    if (ncpu <= 0) throw RuntimeFailure("syscalls: cannot count the possible CPUs");
    bpf_map__set_max_entries(skel_->maps.sc_scratch, uint32_t(ncpu));
    bpf_call_or_throw("syscalls", "loading the BPF programs (tracepoint/syscalls/sys_{enter,exit}_*; they need "
                      "kernel 6.2 at the earliest: task storage and the bpf_rdonly_cast kfunc in tracepoints)",
                      [&] { return syscalls_bpf__load(skel_); });
  }

  void attach() override {
    bpf_program* prog;
    bpf_object__for_each_program(prog, skel_->obj) links_.attach("syscalls", prog);
  }

  void detach() override { links_.detach(); }

  void handle(const ebt_event_header& h, std::span<const uint8_t> event, RecordContext& ctx) override {
    if (h.kind == EBT_EV_SOCKET) return handle_socket(h, event, ctx);
    if (event.size() < sizeof(ebt_syscall_event)) {
      malformed_++;
      return;
    }
    ebt_syscall_event e;
    std::memcpy(&e, event.data(), sizeof e);
    if (sizeof e + e.payload_len > event.size() || e.payload_len > EBT_SYSCALL_MAX_PAYLOAD ||
        e.syscall > EBT_SC_RECVMSG || e.enter_ns > h.time_ns) {
      malformed_++;
      return;
    }
    if (!ctx.tid_wanted(h.tid)) return;
    ctx.note_task(h.pid, h.tid, nullptr, h.time_ns);
    // A member handed to the writer with take(): it swaps the event into its
    // batch slot and gives back a recycled one whose payload vector keeps its
    // capacity, so the payload is copied once here and nothing is allocated
    // per event (hundreds of thousands a second under redis-benchmark).
    SyscallEvent& out = out_;
    out.enter_ns = e.enter_ns;
    out.exit_ns = h.time_ns;
    out.pid = h.pid;
    out.tid = h.tid;
    out.kind = static_cast<SyscallKind>(e.syscall);
    out.fd = e.fd;
    out.ret = e.ret;
    out.socket_id = e.socket_id;
    // Each capture file describes its sockets (--switch-output, flight recorder).
    if (auto it = sockets_.find(e.socket_id);
        it != sockets_.end() && sockets_in_file_.first_in_file(e.socket_id, ctx.file_generation()))
      ctx.writer().add(it->second.info);
    const uint8_t* p = event.data() + sizeof e;
    out.payload.assign(p, p + e.payload_len);
    ctx.writer().take(out);
    events_++;
    payload_total_ += e.payload_len;
    if (h.flags & EBT_SC_FLAG_PAYLOAD_FAULT) faults_++;
  }

  std::string summary() const override {
    std::string s = std::to_string(events_) + " syscalls on " + std::to_string(sockets_.size()) + " sockets";
    if (payload_bytes_) s += " (" + std::to_string(payload_total_) + " payload bytes)";
    if (faults_) s += ", " + std::to_string(faults_) + " unreadable buffers";
    if (malformed_) s += ", " + std::to_string(malformed_) + " malformed";
    return s;
  }

 private:
  void handle_socket(const ebt_event_header& h, std::span<const uint8_t> event, RecordContext& ctx) {
    if (event.size() < sizeof(ebt_socket_event)) {
      malformed_++;
      return;
    }
    ebt_socket_event e;
    std::memcpy(&e, event.data(), sizeof e);
    auto [it, fresh] = sockets_.try_emplace(e.socket_id, Socket{e.remote_port != 0, {}});
    if (!fresh) {
      if (it->second.peer || e.remote_port == 0) return;  // nothing new
      it->second.peer = true;
    }
    SocketInfo& s = it->second.info;
    s.id = e.socket_id;
    s.pid = h.pid;
    s.fd = e.fd;
    s.family = e.family;
    s.protocol = e.protocol;
    size_t n = e.family == kAfInet ? 4 : e.family == kAfInet6 ? 16 : 0;
    s.local_addr.assign(e.local_addr, e.local_addr + n);
    s.remote_addr.assign(e.remote_addr, e.remote_addr + n);
    s.local_port = e.local_port;
    s.remote_port = e.remote_port;
    s.time_ns = h.time_ns;
    s.netns = e.netns;
    sockets_in_file_.first_in_file(e.socket_id, ctx.file_generation());
    ctx.writer().add(s);
  }

  uint32_t payload_bytes_;
  bool all_fds_;
  uint16_t port_;
  syscalls_bpf* skel_ = nullptr;
  ProgramLinks links_;
  struct Socket {
    bool peer;        // written with a peer address
    SocketInfo info;  // as last written
  };
  std::unordered_map<uint64_t, Socket> sockets_;
  PerFileSet<uint64_t> sockets_in_file_;
  SyscallEvent out_;
  uint64_t events_ = 0;
  uint64_t payload_total_ = 0;
  uint64_t faults_ = 0;
  uint64_t malformed_ = 0;
};

}  // namespace

std::unique_ptr<Probe> make_syscall_probe(const RecordOptions& options) {
  return std::make_unique<SyscallProbe>(options);
}

}  // namespace ebt::record
