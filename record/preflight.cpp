#include "record/preflight.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <exception>
#include <functional>

#include "bpf/events.h"
#include "common/error.h"
#include "record/bpf_util.h"
#include "record/probe_registry.h"
#include "record/recorder.h"
#include "record/task_probe.h"

namespace ebt::record {
namespace {

// The task family needs an observer; a check never runs it.
class NoTasks : public TaskObserver {
 public:
  void on_fork(uint32_t, uint32_t, const char*, uint64_t) override {}
  void on_thread(uint32_t, uint32_t, const char*, uint64_t) override {}
  void on_exec(uint32_t, uint32_t, const char*, uint64_t) override {}
  void on_exit(uint32_t, uint32_t, int32_t, uint64_t) override {}
  void on_comm(uint32_t, uint32_t, const char*, uint64_t) override {}
  void on_exec_mmap(uint32_t, uint64_t, uint64_t, uint64_t) override {}
};

// Runs `fn`; its exception message, if any, is the reason.
CheckLine probe_line(std::string what, bool needed, const std::function<std::string()>& fn) {
  CheckLine l;
  l.what = std::move(what);
  l.needed = needed;
  try {
    l.detail = fn();
    l.ok = true;
  } catch (const std::exception& e) {
    l.detail = e.what();
  }
  return l;
}

struct OwnedMaps {
  SharedMaps maps;
  ~OwnedMaps() {
    for (int fd : {maps.events_fd, maps.lost_fd, maps.targets_fd})
      if (fd >= 0) close(fd);
  }
};

// What each family is for, so a missing one names the options that need it.
std::string family_label(const std::string& name) {
  if (name == "profile") return "profile (on-CPU sampling, -F; --call-graph fp)";
  if (name == "profile-dwarf") return "profile-dwarf (--call-graph dwarf)";
  if (name == "offcpu") return "offcpu (--off-cpu)";
  if (name == "syscalls") return "syscalls (--l7, --syscalls, --payload-bytes; kernel 6.2+)";
  if (name == "skb") return "skb (--skb)";
  if (name == "tcp") return "tcp (--tcp; tp_btf)";
  if (name == "sched") return "sched (--sched)";
  return name;
}

}  // namespace

std::vector<CheckLine> check_kernel(const RecordOptions& options) {
  std::vector<CheckLine> lines;
  lines.push_back(probe_line("kernel", true, [] {
    utsname u{};
    uname(&u);
    return std::string(u.sysname) + " " + u.release + " " + u.machine;
  }));
  lines.push_back(probe_line("privileges (root, or CAP_BPF and CAP_PERFMON)", true, [] {
    check_privileges();
    return std::string(geteuid() == 0 ? "root" : "capabilities");
  }));
  const bool privileged = lines.back().ok;
  lines.push_back(probe_line("BTF (CONFIG_DEBUG_INFO_BTF, for CO-RE)", true, [] {
    if (access("/sys/kernel/btf/vmlinux", R_OK) != 0)
      throw RuntimeFailure(std::string("/sys/kernel/btf/vmlinux: ") + strerror(errno) +
                           " (kernel built without CONFIG_DEBUG_INFO_BTF)");
    return std::string("/sys/kernel/btf/vmlinux");
  }));
  if (!privileged) return lines;  // every further check would only repeat EPERM

  lines.push_back(probe_line("tracefs", true, [] {
    ensure_tracefs();
    return std::string("mounted");
  }));
  OwnedMaps owned;
  lines.push_back(probe_line("BPF ring buffer (kernel 5.8+)", true, [&] {
    LIBBPF_OPTS(bpf_map_create_opts, none);
    SharedMaps& m = owned.maps;
    m.events_fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "events", 0, 0, 64 * 4096, &none);
    if (m.events_fd < 0) throw RuntimeFailure(std::string("cannot create one: ") + strerror(errno));
    m.lost_fd = bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, "lost", sizeof(uint32_t), sizeof(uint64_t),
                               EBT_LOST_MAX, &none);
    m.targets_fd = bpf_map_create(BPF_MAP_TYPE_HASH, "targets", sizeof(uint32_t), sizeof(uint8_t),
                                  EBT_MAX_TARGETS, &none);
    if (m.lost_fd < 0 || m.targets_fd < 0)
      throw RuntimeFailure(std::string("cannot create the shared maps: ") + strerror(errno));
    return std::string("created");
  }));
  const bool have_maps = lines.back().ok;
  lines.push_back(probe_line("perf cpu-clock events (on-CPU sampling)", options.cpu, [&] {
    perf_event_attr attr{};
    attr.size = sizeof attr;
    attr.type = PERF_TYPE_SOFTWARE;
    attr.config = PERF_COUNT_SW_CPU_CLOCK;
    attr.freq = 1;
    attr.sample_freq = options.frequency_hz;
    int cpu = sched_getcpu();
    int fd = int(syscall(SYS_perf_event_open, &attr, -1, cpu < 0 ? 0 : cpu, -1, PERF_FLAG_FD_CLOEXEC));
    if (fd < 0) {
      std::string why = strerror(errno);
      if (errno == EINVAL) why += " (-F above kernel.perf_event_max_sample_rate?)";
      throw RuntimeFailure("perf_event_open: " + why);
    }
    close(fd);
    return "-F " + std::to_string(options.frequency_hz);
  }));
  if (!have_maps) return lines;

  // The libbpf log goes into the error messages, not to the terminal.
  set_libbpf_verbose(options.verbose);
  NoTasks no_tasks;
  lines.push_back(probe_line("task (process tracking, always loaded)", true, [&] {
    make_task_probe(no_tasks)->load(owned.maps, TargetFilter{});
    return std::string("loads");
  }));
  std::vector<CheckLine> unneeded;
  for (const auto& fam : probe_families()) {
    bool needed = fam.enabled(options);
    CheckLine l = probe_line(family_label(fam.name), needed, [&] {
      fam.create(options)->load(owned.maps, TargetFilter{});
      return std::string("loads");
    });
    (needed ? lines : unneeded).push_back(std::move(l));
  }
  lines.insert(lines.end(), unneeded.begin(), unneeded.end());
  return lines;
}

std::string format_check_line(const CheckLine& l) {
  std::string s = l.ok ? "ok       " : (l.needed ? "MISSING  " : "missing  ");
  s += l.what + ": " + l.detail;
  if (!l.needed) s += " [not needed by these options]";
  return s;
}

}  // namespace ebt::record
