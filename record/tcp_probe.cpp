#include "record/tcp_probe.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/error.h"
#include "format/writer.h"
#include "record/bpf_util.h"
#include "tcp.skel.h"

namespace ebt::record {
namespace {

constexpr uint8_t kTcpClose = 7;
// Connections of unknown owner held while filtering by process (-p, --comm),
// until accept() names it. Beyond this many, one is dropped unwritten (counted).
constexpr size_t kMaxHeld = 16384;

// socket inode -> pid of a process holding it, from /proc/*/fd: owners of the
// connections that were open before the recording (their connect/accept is past).
std::unordered_map<uint64_t, uint32_t> scan_socket_owners() {
  std::unordered_map<uint64_t, uint32_t> owners;
  DIR* proc = opendir("/proc");
  if (!proc) return owners;
  while (dirent* p = readdir(proc)) {
    char* end = nullptr;
    unsigned long pid = std::strtoul(p->d_name, &end, 10);
    if (!pid || *end) continue;
    std::string fds = std::string("/proc/") + p->d_name + "/fd";
    DIR* d = opendir(fds.c_str());
    if (!d) continue;
    while (dirent* f = readdir(d)) {
      if (f->d_name[0] == '.') continue;
      char link[64];
      ssize_t n = readlinkat(dirfd(d), f->d_name, link, sizeof link - 1);
      if (n <= 0) continue;
      link[n] = 0;
      unsigned long long ino = 0;
      if (std::sscanf(link, "socket:[%llu]", &ino) == 1) owners.emplace(ino, uint32_t(pid));
    }
    closedir(d);
  }
  closedir(proc);
  return owners;
}

std::string proc_comm(uint32_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
  std::string s;
  std::getline(in, s);
  return s;
}

class TcpProbe : public Probe {
 public:
  explicit TcpProbe(const RecordOptions& o) : f_(o.tcp_filter) {}
  ~TcpProbe() override {
    detach();
    tcp_bpf__destroy(skel_);
  }

  std::string name() const override { return "tcp"; }
  std::vector<uint16_t> event_kinds() const override { return {EBT_EV_TCP}; }

  void load(const SharedMaps& maps, const TargetFilter& filter) override {
    targets_fd_ = maps.targets_fd;
    by_pid_ = filter.by_pid;
    comm_ = filter.comm;
    skel_ = tcp_bpf__open();
    if (!skel_) throw RuntimeFailure("tcp: cannot open the BPF object: " + std::string(strerror(errno)));
    reuse_shared_maps(skel_->obj, maps);
    auto* ro = skel_->rodata;
    // --cgroup / --container: the socket's cgroup decides (bpf/tcp.bpf.c
    // sock_wanted), not the task a transition runs in (softirq, timers).
    TargetFilter task_filter = filter;
    task_filter.by_cgroup = false;
    if (filter.by_cgroup && filter.cgroup_id == 0)
      throw RuntimeFailure("tcp: --cgroup: the cgroup's id is not known: cannot filter sockets by it");
    set_bpf_filter(ro->ebt_filter, task_filter);
    ro->filter_cgroup_id = filter.by_cgroup ? filter.cgroup_id : 0;
    ro->filter_port = f_.port;
    ro->filter_addr_len = uint8_t(f_.addr.size());
    for (size_t i = 0; i < f_.addr.size() && i < 16; i++) const_cast<uint8_t&>(ro->filter_addr[i]) = f_.addr[i];
    bpf_call_or_throw("tcp",
                      "loading the BPF programs (tp_btf sock:inet_sock_set_state, tcp:tcp_retransmit_skb, "
                      "tcp:tcp_send_reset, tcp:tcp_receive_reset; syscalls:sys_exit_accept/accept4)",
                      [&] { return tcp_bpf__load(skel_); });
  }

  void attach() override {
    bpf_program* prog;
    bpf_object__for_each_program(prog, skel_->obj) links_.attach("tcp", prog);
    // After attaching: a socket opened from now on is seen at its connect or
    // accept; those already open are in /proc now.
    proc_owners_ = scan_socket_owners();
  }

  void detach() override { links_.detach(); }

  void handle(const ebt_event_header& h, std::span<const uint8_t> event, RecordContext& ctx) override {
    if (event.size() < sizeof(ebt_tcp_event)) {
      malformed_++;
      return;
    }
    ebt_tcp_event e;
    std::memcpy(&e, event.data(), sizeof e);
    if (e.type >= EBT_TCP_TYPE_COUNT || (e.family != 4 && e.family != 6)) {
      malformed_++;
      return;
    }
    TcpEvent out;
    out.time_ns = h.time_ns;
    out.type = static_cast<TcpEventType>(e.type);
    out.cookie = e.cookie;
    out.old_state = e.old_state;
    out.new_state = e.new_state;
    size_t n = e.family == 4 ? 4 : 16;
    out.local_addr.assign(e.saddr, e.saddr + n);
    out.remote_addr.assign(e.daddr, e.daddr + n);
    out.local_port = e.sport;
    out.remote_port = e.dport;
    out.netns = e.netns;
    out.socket_id = e.socket_ino;
    if (h.flags & EBT_TCP_F_STATS) {
      out.has_stats = true;
      out.bytes_sent = e.bytes_sent;
      out.bytes_received = e.bytes_received;
      out.bytes_retrans = e.bytes_retrans;
      out.segs_out = e.segs_out;
      out.segs_in = e.segs_in;
      out.srtt_ns = e.srtt_ns;
      out.retransmits = e.retransmits;
    }
    std::string comm;
    if (h.flags & EBT_TCP_F_OWNER) {
      out.pid = h.pid;
      out.tid = h.tid;
      char c[EBT_TASK_COMM_LEN + 1] = {};
      std::memcpy(c, e.comm, EBT_TASK_COMM_LEN);
      comm = c;
    } else if (e.socket_ino) {
      auto it = proc_owners_.find(e.socket_ino);
      if (it != proc_owners_.end()) {
        out.pid = out.tid = it->second;
        out.owner_from_proc = true;
        comm = proc_comm(it->second);
      }
    }
    const bool closes = out.type == TcpEventType::kState && out.new_state == kTcpClose;

    if (out.type == TcpEventType::kAccept && (h.flags & EBT_TCP_F_UNWANTED)) {
      held_.erase(out.cookie);  // accepted by a process the filters drop
      filtered_++;
      return;
    }
    if (filtering() && out.pid == 0) {
      // Not attributable yet (a passive open before its accept()): held until
      // accept() says who owns it.
      if (closes) {
        held_.erase(out.cookie);
        unattributed_++;
        return;
      }
      if (held_.size() >= kMaxHeld && !held_.count(out.cookie)) {
        held_.erase(held_.begin());
        unattributed_++;
      }
      held_[out.cookie].push_back(std::move(out));
      return;
    }
    if (filtering() && out.owner_from_proc && !owner_wanted(out.pid, comm)) {
      filtered_++;
      return;
    }
    if (out.pid) ctx.note_task(out.pid, out.tid, comm.empty() ? nullptr : comm.c_str(), out.time_ns);
    auto held = held_.find(out.cookie);
    if (held != held_.end()) {
      for (auto& ev : held->second) {
        ev.pid = out.pid;
        ev.tid = out.tid;
        write(ev, ctx);
      }
      held_.erase(held);
    }
    write(out, ctx);
  }

  void finish(RecordContext&) override {
    unattributed_ += held_.size();
    held_.clear();
  }

  std::string summary() const override {
    std::string s = std::to_string(events_) + " TCP events (" + std::to_string(closes_) + " closes)";
    if (unattributed_) s += ", " + std::to_string(unattributed_) + " connections without a known owner left out (-p/--comm)";
    if (malformed_) s += ", " + std::to_string(malformed_) + " malformed";
    return s;
  }

 private:
  bool filtering() const { return by_pid_ || !comm_.empty(); }
  bool owner_wanted(uint32_t pid, const std::string& comm) const {
    if (by_pid_) {
      uint8_t v = 0;
      if (targets_fd_ < 0 || bpf_map_lookup_elem(targets_fd_, &pid, &v) != 0) return false;
    }
    return comm_.empty() || comm.substr(0, EBT_TASK_COMM_LEN - 1) == comm_.substr(0, EBT_TASK_COMM_LEN - 1);
  }
  void write(const TcpEvent& ev, RecordContext& ctx) {
    ctx.writer().add(ev);
    events_++;
    if (ev.type == TcpEventType::kState && ev.new_state == kTcpClose) closes_++;
  }

  TcpFilter f_;
  tcp_bpf* skel_ = nullptr;
  ProgramLinks links_;
  int targets_fd_ = -1;
  bool by_pid_ = false;
  std::string comm_;
  std::unordered_map<uint64_t, uint32_t> proc_owners_;
  std::unordered_map<uint64_t, std::vector<TcpEvent>> held_;
  uint64_t events_ = 0, closes_ = 0, malformed_ = 0, unattributed_ = 0, filtered_ = 0;
};

}  // namespace

std::unique_ptr<Probe> make_tcp_probe(const RecordOptions& options) { return std::make_unique<TcpProbe>(options); }

}  // namespace ebt::record
