#include "record/bpf_util.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <cstdarg>
#include <cstdio>
#include <deque>
#include <fstream>
#include <mutex>
#include <sstream>

#include "common/error.h"

namespace ebt::record {
namespace {

bool g_verbose = false;
std::mutex g_log_mutex;
std::deque<std::string> g_log;  // last libbpf warnings, for error messages

int libbpf_print(enum libbpf_print_level level, const char* fmt, va_list args) {
  if (g_verbose) return vfprintf(stderr, fmt, args);
  if (level == LIBBPF_DEBUG) return 0;
  char buf[1024];
  vsnprintf(buf, sizeof buf, fmt, args);
  std::string line(buf);
  while (!line.empty() && line.back() == '\n') line.pop_back();
  std::lock_guard lock(g_log_mutex);
  g_log.push_back(line);
  if (g_log.size() > 4) g_log.pop_front();
  return 0;
}

void reuse_one(bpf_object* obj, const char* name, int fd) {
  bpf_map* map = bpf_object__find_map_by_name(obj, name);
  if (!map || fd < 0) return;
  bpf_map_info info{};
  uint32_t len = sizeof info;
  if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0)
    throw RuntimeFailure(std::string("cannot query shared BPF map ") + name + ": " + strerror(errno));
  bpf_map__set_max_entries(map, info.max_entries);
  int err = bpf_map__reuse_fd(map, fd);
  if (err)
    throw RuntimeFailure(std::string("cannot share BPF map ") + name + ": " + strerror(-err));
}

}  // namespace

void reuse_shared_maps(bpf_object* obj, const SharedMaps& maps) {
  reuse_one(obj, "events", maps.events_fd);
  reuse_one(obj, "lost", maps.lost_fd);
  reuse_one(obj, "targets", maps.targets_fd);
  reuse_one(obj, "cgroup_filter", maps.cgroup_filter_fd);
}

ebt_filter make_bpf_filter(const TargetFilter& filter) {
  ebt_filter f{};
  f.by_pid = filter.by_pid ? 1 : 0;
  f.by_cgroup = filter.by_cgroup ? 1 : 0;
  if (!filter.comm.empty()) {
    f.by_comm = 1;
    std::strncpy(f.comm, filter.comm.c_str(), EBT_TASK_COMM_LEN - 1);
  }
  return f;
}

void bpf_call_or_throw(const std::string& family, const std::string& what,
                       const std::function<int()>& fn) {
  {
    std::lock_guard lock(g_log_mutex);
    g_log.clear();
  }
  errno = 0;
  int err = fn();
  if (err >= 0) return;
  int e = err == -1 && errno ? errno : -err;
  std::string msg = family + ": " + what + " failed: " + strerror(e);
  std::string last = libbpf_last_messages();
  if (!last.empty()) msg += " (libbpf: " + last + ")";
  if (!g_verbose) msg += "; rerun with -v for the libbpf log and verifier output";
  throw RuntimeFailure(msg);
}

void set_libbpf_verbose(bool verbose) {
  g_verbose = verbose;
  libbpf_set_print(libbpf_print);
}

std::string libbpf_last_messages() {
  std::lock_guard lock(g_log_mutex);
  std::string out;
  for (const auto& l : g_log) {
    if (l.empty()) continue;
    if (!out.empty()) out += " / ";
    out += l;
  }
  return out;
}

std::vector<int> online_cpus() {
  std::ifstream in("/sys/devices/system/cpu/online");
  std::string spec;
  std::getline(in, spec);
  std::vector<int> cpus;
  std::stringstream ss(spec);
  std::string part;
  while (std::getline(ss, part, ',')) {
    if (part.empty()) continue;
    auto dash = part.find('-');
    int a = std::stoi(part.substr(0, dash));
    int b = dash == std::string::npos ? a : std::stoi(part.substr(dash + 1));
    for (int c = a; c <= b; c++) cpus.push_back(c);
  }
  if (cpus.empty()) throw RuntimeFailure("cannot read the online CPUs from /sys/devices/system/cpu/online");
  return cpus;
}

void ProgramLinks::attach(const std::string& family, bpf_program* program) {
  bpf_link* link = bpf_program__attach(program);
  if (!link) {
    int e = errno;
    throw RuntimeFailure(family + ": attaching " + bpf_program__section_name(program) + " failed: " + strerror(e));
  }
  links_.push_back(link);
}

void ProgramLinks::detach() {
  for (auto* l : links_) bpf_link__destroy(l);
  links_.clear();
}

void CpuClockAttachment::attach(const std::string& family, bpf_program* program, uint32_t frequency_hz) {
  for (int cpu : online_cpus()) {
    perf_event_attr attr{};
    attr.size = sizeof attr;
    attr.type = PERF_TYPE_SOFTWARE;
    attr.config = PERF_COUNT_SW_CPU_CLOCK;
    attr.freq = 1;  // the kernel turns this into a fixed period for hrtimer events
    attr.sample_freq = frequency_hz;
    int fd = static_cast<int>(syscall(__NR_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC));
    if (fd < 0) {
      if (errno == ENODEV) continue;  // the CPU went offline meanwhile
      if (errno == EINVAL)
        throw RuntimeFailure(family + ": perf_event_open(cpu-clock, -F " + std::to_string(frequency_hz) +
                             ") failed: " + strerror(errno) +
                             " (frequency above /proc/sys/kernel/perf_event_max_sample_rate?)");
      throw RuntimeFailure(family + ": perf_event_open(cpu-clock) on CPU " + std::to_string(cpu) +
                           " failed: " + strerror(errno));
    }
    bpf_link* link = bpf_program__attach_perf_event(program, fd);
    if (!link) {
      int e = errno;
      close(fd);
      throw RuntimeFailure(family + ": attaching to the perf event of CPU " + std::to_string(cpu) +
                           " failed: " + strerror(e));
    }
    links_.push_back(link);  // the link now owns fd: bpf_link__destroy() closes it
  }
}

void CpuClockAttachment::detach() {
  // Never close the perf event fds here as well: libbpf already did, and detach
  // runs beside the symbol harvest, which may have been handed the same fd numbers.
  for (auto* l : links_) bpf_link__destroy(l);
  links_.clear();
}

}  // namespace ebt::record
