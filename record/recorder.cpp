#include "record/recorder.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <utility>
#include <fstream>
#include <thread>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "common/error.h"
#include "format/writer.h"
#include "record/bpf_util.h"
#include "record/objects.h"
#include "record/probe_registry.h"
#include "record/proc_reader.h"
#include "record/symbol_harvest.h"
#include "record/task_probe.h"
#include "unwind/unwind_table.h"

namespace ebt::record {

// ---------------------------------------------------------------- environment

void check_privileges() {
  if (geteuid() == 0) return;
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  if (syscall(SYS_capget, &hdr, data) == 0) {
    auto has = [&](int cap) { return (data[cap / 32].effective >> (cap % 32)) & 1; };
    constexpr int kCapPerfmon = 38, kCapBpf = 39;
    if (has(kCapBpf) && has(kCapPerfmon)) return;
  }
  throw RuntimeFailure("ebtrace record needs root (CAP_BPF and CAP_PERFMON); run it with sudo");
}

void ensure_tracefs() {
  constexpr long kTracefsMagic = 0x74726163;
  struct statfs fs {};
  if (statfs("/sys/kernel/tracing", &fs) == 0 && fs.f_type == kTracefsMagic) return;
  // An old-style debugfs mount also gives libbpf the tracepoint ids.
  if (access("/sys/kernel/debug/tracing/events", F_OK) == 0) return;
  if (mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, nullptr) != 0) {
    throw RuntimeFailure(std::string("tracefs is not mounted and mounting it failed (") + strerror(errno) +
                         "); mount it with: mount -t tracefs tracefs /sys/kernel/tracing");
  }
}

namespace {

std::string read_first_line(const char* path) {
  std::ifstream in(path);
  std::string s;
  std::getline(in, s);
  return s;
}

// Resolves CMD like execvp would, to report "command not found" before starting.
bool command_exists(const std::string& cmd) {
  if (cmd.find('/') != std::string::npos) return access(cmd.c_str(), X_OK) == 0;
  const char* path = getenv("PATH");
  std::string p = path ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t pos = 0;
  while (pos <= p.size()) {
    size_t colon = p.find(':', pos);
    if (colon == std::string::npos) colon = p.size();
    std::string dir = p.substr(pos, colon - pos);
    if (dir.empty()) dir = ".";
    std::string full = dir + "/" + cmd;
    struct stat st {};
    if (stat(full.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(full.c_str(), X_OK) == 0) return true;
    pos = colon + 1;
  }
  return false;
}

uint64_t round_up_pow2(uint64_t v) {
  uint64_t p = 4096;
  while (p < v) p <<= 1;
  return p;
}

struct VecHash {
  size_t operator()(const std::vector<uint64_t>& v) const {
    uint64_t h = 1469598103934665603ull;
    for (uint64_t x : v) {
      h ^= x;
      h *= 1099511628211ull;
      h ^= h >> 29;
    }
    return h;
  }
};

LossSource loss_source(int reason) {
  switch (reason) {
    case EBT_LOST_RINGBUF: return LossSource::kRingBuffer;
    case EBT_LOST_STACK: return LossSource::kStack;
    case EBT_LOST_OFFCPU: return LossSource::kOffCpu;
    case EBT_LOST_SYSCALL: return LossSource::kSyscall;
    case EBT_LOST_SKB: return LossSource::kSkb;
    default: return LossSource::kOther;
  }
}

std::string human_mb(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MB", bytes / 1e6);
  return buf;
}

}  // namespace

// ---------------------------------------------------------------- the recorder

class Recorder::Impl : public RecordContext, public TaskObserver {
 public:
  explicit Impl(RecordOptions o) : opts_(std::move(o)) {}

  ~Impl() override {
    probes_.clear();  // links and programs first, then the maps they use
    if (rb_) ring_buffer__free(rb_);
    for (int fd : {maps_.events_fd, maps_.lost_fd, maps_.targets_fd})
      if (fd >= 0) close(fd);
    if (go_fd_ >= 0) close(go_fd_);
    if (exec_err_fd_ >= 0) close(exec_err_fd_);
    if (child_ > 0 && !child_done_) {
      kill(child_, SIGKILL);
      waitpid(child_, nullptr, 0);
    }
  }

  RecordSummary run(const std::atomic<bool>* stop);

  // RecordContext
  format::CaptureWriter& writer() override { return *writer_; }
  uint32_t intern_stack(uint32_t pid, std::span<const uint64_t> kernel, std::span<const uint64_t> user) override;
  void note_stack_snapshot(uint32_t pid, uint64_t ip, std::span<const uint8_t> stack) override;
  void note_task(uint32_t pid, uint32_t tid, const char* comm) override;
  uint32_t intern_string(const std::string& s) override;
  bool tid_wanted(uint32_t tid) const override { return tids_.empty() || tids_.count(tid); }

  // TaskObserver
  void on_fork(uint32_t pid, uint32_t ppid, const char* comm, uint64_t t) override;
  void on_thread(uint32_t pid, uint32_t tid, const char* comm, uint64_t t) override;
  void on_exec(uint32_t pid, uint32_t tid, const char* comm, uint64_t t) override;
  void on_exit(uint32_t pid, uint32_t tid, int32_t code, uint64_t t) override;
  void on_comm(uint32_t pid, uint32_t tid, const char* comm, uint64_t t) override;
  void on_exec_mmap(uint32_t pid, uint64_t addr, uint64_t len, uint64_t t) override;

 private:
  struct MapEntry {
    ProcMapping m;
    ObjectFile* obj = nullptr;
  };
  struct Proc {
    bool described = false;  // ProcessInfo + mappings written
    bool exited = false;
    uint32_t ppid = 0;
    std::string comm;
    std::vector<MapEntry> maps;
    uint64_t last_maps_read_ns = 0;
  };

  void validate_targets();
  void create_shared_maps();
  void start_command();
  void release_command();
  SessionInfo make_session() const;
  void scan_proc();
  Proc& proc(uint32_t pid) { return procs_[pid]; }
  void describe(uint32_t pid, Proc& p, const char* comm, uint64_t t);
  void refresh_maps(uint32_t pid, Proc& p, uint64_t t);
  void write_mapping(uint32_t pid, const ProcMapping& m, ObjectFile* obj, uint64_t t);
  const MapEntry* find_map(const Proc& p, uint64_t addr) const;
  // The mapping holding a user address (rereading the mappings once if none
  // does); its object's symbols are harvested for the address.
  const MapEntry* note_user_address(uint32_t pid, Proc& p, uint64_t addr);
  void note_hit(const MapEntry* e, uint64_t addr);
  void write_unwind_tables();
  void handle_event(const void* data, size_t size);
  static int ring_callback(void* ctx, void* data, size_t size);
  void rethrow_callback_error();
  void poll_loop(const std::atomic<bool>* stop);
  void write_lost();
  uint64_t write_symbols();
  bool child_running();
  bool targets_alive() const;

  RecordOptions opts_;
  TargetFilter filter_;
  std::set<uint32_t> tids_;
  std::vector<uint32_t> target_pids_;
  SharedMaps maps_;
  ring_buffer* rb_ = nullptr;
  std::exception_ptr callback_error_;
  std::vector<std::unique_ptr<Probe>> probes_;
  std::unordered_map<uint16_t, Probe*> dispatch_;
  std::unique_ptr<format::CaptureWriter> writer_;

  std::unordered_map<uint32_t, Proc> procs_;
  std::unordered_map<uint32_t, std::string> threads_;  // tid -> comm written
  std::unordered_map<std::vector<uint64_t>, uint32_t, VecHash> stacks_;
  std::unordered_set<uint64_t> pid_stacks_;  // pid << 32 | stack id, addresses noted
  std::set<uint64_t> kernel_addrs_;
  std::unordered_map<std::string, uint32_t> strings_;
  ObjectCache objects_;
  bool vdso_unwind_ = false;  // a raw stack went through the vDSO: embed its CFI
  int64_t boot_minus_mono_ = 0;
  std::unordered_set<uint32_t> described_;  // pids with a ProcessInfo
  uint64_t bad_events_ = 0;

  pid_t child_ = -1;
  bool child_done_ = false;
  int child_status_ = 0;
  int go_fd_ = -1;       // write end: the child execs when it reads a byte
  int exec_err_fd_ = -1;  // read end: errno of a failed execvp, EOF on success
};

void Recorder::Impl::validate_targets() {
  for (uint32_t pid : opts_.pids) {
    uint32_t tgid = pid && process_exists(pid) ? tgid_of(pid) : 0;
    if (tgid == 0) throw BadInput("no such process: " + std::to_string(pid));
    target_pids_.push_back(tgid);  // a thread id stands for its process, as with perf -p
  }
  for (uint32_t tid : opts_.tids) {
    uint32_t tgid = tid ? tgid_of(tid) : 0;
    if (tgid == 0) throw BadInput("no such thread: " + std::to_string(tid));
    tids_.insert(tid);
    target_pids_.push_back(tgid);
  }
  if (!opts_.command.empty() && !command_exists(opts_.command[0]))
    throw BadInput("command not found: " + opts_.command[0]);
  if (opts_.comm.size() >= EBT_TASK_COMM_LEN)
    opts_.comm.resize(EBT_TASK_COMM_LEN - 1);  // the kernel keeps 15 bytes, like perf --comm
  if (opts_.frequency_hz == 0) throw BadInput("-F/--freq must be at least 1 Hz");
  if (opts_.cpu) {
    std::string max = read_first_line("/proc/sys/kernel/perf_event_max_sample_rate");
    if (!max.empty() && opts_.frequency_hz > std::strtoul(max.c_str(), nullptr, 10))
      throw BadInput("-F " + std::to_string(opts_.frequency_hz) + ": above the maximum sampling rate of " + max +
                     " Hz (/proc/sys/kernel/perf_event_max_sample_rate)");
  }
  if (opts_.duration_s < 0 || std::isnan(opts_.duration_s)) throw BadInput("-d/--duration must be positive");
  filter_.by_pid = !opts_.pids.empty() || !opts_.tids.empty() || !opts_.command.empty();
  filter_.all = !filter_.by_pid;
  filter_.tids = opts_.tids;
  filter_.comm = opts_.comm;
}

void Recorder::Impl::create_shared_maps() {
  uint64_t rb_size = round_up_pow2(opts_.buffer_bytes);
  if (rb_size > (1ull << 30)) throw BadInput("--buffer-size: at most 1 GiB");
  LIBBPF_OPTS(bpf_map_create_opts, none);
  maps_.events_fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "events", 0, 0, uint32_t(rb_size), &none);
  if (maps_.events_fd < 0)
    throw RuntimeFailure(std::string("cannot create the BPF ring buffer (") + strerror(errno) +
                         "); does this kernel support BPF (CONFIG_BPF_SYSCALL, ringbuf: 5.8+)?");
  maps_.lost_fd = bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, "lost", sizeof(uint32_t), sizeof(uint64_t),
                                 EBT_LOST_MAX, &none);
  maps_.targets_fd = bpf_map_create(BPF_MAP_TYPE_HASH, "targets", sizeof(uint32_t), sizeof(uint8_t),
                                    EBT_MAX_TARGETS, &none);
  if (maps_.lost_fd < 0 || maps_.targets_fd < 0)
    throw RuntimeFailure(std::string("cannot create the shared BPF maps: ") + strerror(errno));
}

void Recorder::Impl::start_command() {
  int go[2], err[2];
  if (pipe2(go, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0)
    throw RuntimeFailure(std::string("pipe: ") + strerror(errno));
  std::vector<std::string> args = opts_.command;
  child_ = fork();
  if (child_ < 0) throw RuntimeFailure(std::string("fork: ") + strerror(errno));
  if (child_ == 0) {
    close(go[1]);
    close(err[0]);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);  // an ignored signal would stay ignored across exec
    // The capture streams to stdout (-o -): the command's output goes to stderr.
    if (opts_.output == "-") dup2(STDERR_FILENO, STDOUT_FILENO);
    char c;
    // EOF without a byte: the recorder gave up before attaching.
    if (read(go[0], &c, 1) != 1) _exit(127);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    int e = errno;
    (void)!write(err[1], &e, sizeof e);
    _exit(127);
  }
  close(go[0]);
  close(err[1]);
  go_fd_ = go[1];
  exec_err_fd_ = err[0];
  target_pids_.push_back(uint32_t(child_));
  Proc& p = proc(uint32_t(child_));
  p.comm = args[0].substr(args[0].rfind('/') == std::string::npos ? 0 : args[0].rfind('/') + 1);
}

void Recorder::Impl::release_command() {
  if (go_fd_ < 0) return;
  char c = 1;
  (void)!write(go_fd_, &c, 1);
  close(go_fd_);
  go_fd_ = -1;
  int e = 0;
  ssize_t n = read(exec_err_fd_, &e, sizeof e);  // blocks until exec (CLOEXEC: EOF) or failure
  close(exec_err_fd_);
  exec_err_fd_ = -1;
  if (n == sizeof e) {
    waitpid(child_, &child_status_, 0);
    child_done_ = true;
    if (e == ENOENT) throw BadInput("command not found: " + opts_.command[0]);
    throw BadInput("cannot execute " + opts_.command[0] + ": " + strerror(e));
  }
}

bool Recorder::Impl::targets_alive() const {
  uint32_t key;
  // bpf/task.bpf.c removes a target when its last thread exits.
  if (bpf_map_get_next_key(maps_.targets_fd, nullptr, &key) == 0) return true;
  return errno != ENOENT;
}

bool Recorder::Impl::child_running() {
  if (child_ <= 0 || child_done_) return false;
  int st = 0;
  pid_t r = waitpid(child_, &st, WNOHANG);
  if (r == child_) {
    child_done_ = true;
    child_status_ = st;
    return false;
  }
  return true;
}

SessionInfo Recorder::Impl::make_session() const {
  SessionInfo s;
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  s.hostname = host;
  utsname u{};
  uname(&u);
  s.kernel_release = u.release;
  s.machine = u.machine;
  s.boot_id = read_first_line("/proc/sys/kernel/random/boot_id");
  timespec mono{}, real{};
  clock_gettime(CLOCK_MONOTONIC, &mono);
  clock_gettime(CLOCK_REALTIME, &real);
  s.clock_monotonic_ns = uint64_t(mono.tv_sec) * 1000000000ull + mono.tv_nsec;
  s.clock_realtime_ns = uint64_t(real.tv_sec) * 1000000000ull + real.tv_nsec;
  s.start_ns = s.clock_monotonic_ns;
  s.cpu_count = uint32_t(libbpf_num_possible_cpus());
  s.command_line = opts_.command_line;
  s.options = opts_.options_text;
  s.ebtrace_version = EBTRACE_VERSION;
  s.sample_frequency_hz = opts_.cpu ? opts_.frequency_hz : 0;
  return s;
}

// ------------------------------------------------------------- process table

void Recorder::Impl::write_mapping(uint32_t pid, const ProcMapping& m, ObjectFile* obj, uint64_t t) {
  Mapping rec;
  rec.pid = pid;
  rec.start = m.start;
  rec.end = m.end;
  rec.file_offset = m.offset;
  rec.path = m.path.empty() ? "//anon" : m.path;
  if (obj) rec.build_id = obj->build_id;
  rec.time_ns = t;
  writer_->add(rec);
}

void Recorder::Impl::refresh_maps(uint32_t pid, Proc& p, uint64_t t) {
  p.last_maps_read_ns = monotonic_ns();
  auto maps = read_exec_maps(pid);
  if (!maps) return;  // gone: keep what we knew
  std::vector<MapEntry> next;
  next.reserve(maps->size());
  for (auto& m : *maps) {
    const MapEntry* old = nullptr;
    for (const auto& e : p.maps)
      if (e.m == m) old = &e;
    if (old && p.described) {
      next.push_back(*old);
      continue;
    }
    MapEntry e{m, objects_.get(pid, m)};
    if (p.described) write_mapping(pid, e.m, e.obj, t);
    next.push_back(std::move(e));
  }
  p.maps = std::move(next);
}

void Recorder::Impl::describe(uint32_t pid, Proc& p, const char* comm, uint64_t t) {
  auto info = read_process_info(pid, boot_minus_mono_);
  if (info) {
    p.comm = info->comm;
    p.ppid = info->ppid;
    refresh_maps(pid, p, t);
  } else {
    // Gone before we could look: describe it with what the events told us
    // (and the mappings inherited from its parent, if any).
    info = ProcessInfo{};
    info->pid = pid;
    info->ppid = p.ppid;
    info->comm = comm && *comm ? comm : p.comm;
    info->time_ns = t;
  }
  writer_->add(*info);
  p.described = true;
  described_.insert(pid);
  for (const auto& e : p.maps) write_mapping(pid, e.m, e.obj, t);
}

void Recorder::Impl::note_task(uint32_t pid, uint32_t tid, const char* comm) {
  Proc& p = proc(pid);
  if (!p.described) describe(pid, p, pid == tid ? comm : nullptr, monotonic_ns());
  auto it = threads_.find(tid);
  if (it == threads_.end() || (comm && it->second != comm)) {
    ThreadInfo ti;
    ti.pid = pid;
    ti.tid = tid;
    ti.comm = comm ? comm : "";
    ti.time_ns = monotonic_ns();
    writer_->add(ti);
    threads_[tid] = ti.comm;
  }
}

void Recorder::Impl::on_fork(uint32_t pid, uint32_t ppid, const char* comm, uint64_t t) {
  Proc& child = proc(pid);
  child = Proc{};
  child.ppid = ppid;
  child.comm = comm;
  // Same address space as the parent until it execs: inherit what we know, so
  // a child that exits before we read its /proc still resolves.
  if (auto it = procs_.find(ppid); it != procs_.end()) child.maps = it->second.maps;
}

void Recorder::Impl::on_thread(uint32_t pid, uint32_t tid, const char* comm, uint64_t t) {}

void Recorder::Impl::on_exec(uint32_t pid, uint32_t tid, const char* comm, uint64_t t) {
  Proc& p = proc(pid);
  uint32_t ppid = p.ppid;
  p = Proc{};
  p.ppid = ppid;
  p.comm = comm;
  threads_.erase(tid);
  // Read now: a short command may be gone by its first sample's turn.
  describe(pid, p, comm, t);
}

void Recorder::Impl::on_exit(uint32_t pid, uint32_t tid, int32_t code, uint64_t t) {
  threads_.erase(tid);
  auto it = procs_.find(pid);
  if (it == procs_.end() || !it->second.described) return;
  ProcessExit e;
  e.pid = pid;
  e.tid = tid;
  e.exit_code = code;
  e.time_ns = t;
  writer_->add(e);
  if (pid == tid) it->second.exited = true;
}

void Recorder::Impl::on_comm(uint32_t pid, uint32_t tid, const char* comm, uint64_t t) {
  auto it = threads_.find(tid);
  if (it == threads_.end()) return;  // written with its new name when first seen
  note_task(pid, tid, comm);
}

void Recorder::Impl::on_exec_mmap(uint32_t pid, uint64_t addr, uint64_t len, uint64_t t) {
  auto it = procs_.find(pid);
  if (it == procs_.end() || !it->second.described) return;  // read in full when first seen
  refresh_maps(pid, it->second, t);
}

const Recorder::Impl::MapEntry* Recorder::Impl::find_map(const Proc& p, uint64_t addr) const {
  // p.maps is in /proc/PID/maps order: sorted by address.
  auto it = std::upper_bound(p.maps.begin(), p.maps.end(), addr,
                             [](uint64_t a, const MapEntry& e) { return a < e.m.start; });
  if (it == p.maps.begin()) return nullptr;
  --it;
  return addr < it->m.end ? &*it : nullptr;
}

const Recorder::Impl::MapEntry* Recorder::Impl::note_user_address(uint32_t pid, Proc& p, uint64_t addr) {
  const MapEntry* e = find_map(p, addr);
  if (!e && !p.exited && monotonic_ns() - p.last_maps_read_ns > 1000000) {
    // Outside every known mapping: something was mapped we did not hear about.
    refresh_maps(pid, p, monotonic_ns());
    e = find_map(p, addr);
  }
  note_hit(e, addr);
  return e;
}

void Recorder::Impl::note_hit(const MapEntry* e, uint64_t addr) {
  if (!e || !e->obj) return;
  uint64_t vaddr;
  if (e->obj->offset_to_vaddr(addr - e->m.start + e->m.offset, &vaddr)) e->obj->hits.insert(vaddr);
}

void Recorder::Impl::note_stack_snapshot(uint32_t pid, uint64_t ip, std::span<const uint8_t> stack) {
  Proc& p = proc(pid);
  auto needs_unwind_table = [&](const MapEntry* e) {
    if (!e) return;
    if (e->obj) e->obj->unwind_table = true;
    else if (e->m.path == "[vdso]") vdso_unwind_ = true;
  };
  needs_unwind_table(note_user_address(pid, p, ip));  // may reread the mappings for a new one
  // Every aligned word that points into an executable mapping may be a return
  // address: a superset of the frames report will find.
  for (size_t off = 0; off + 8 <= stack.size(); off += 8) {
    uint64_t w;
    std::memcpy(&w, stack.data() + off, 8);
    const MapEntry* e = find_map(p, w - 1);
    needs_unwind_table(e);
    note_hit(e, w - 1);
  }
}

uint32_t Recorder::Impl::intern_stack(uint32_t pid, std::span<const uint64_t> kernel,
                                      std::span<const uint64_t> user) {
  if (kernel.empty() && user.empty()) return 0;
  std::vector<uint64_t> key;
  key.reserve(kernel.size() + user.size() + 1);
  key.insert(key.end(), kernel.begin(), kernel.end());
  key.insert(key.end(), user.begin(), user.end());
  key.push_back(kernel.size());
  auto [it, inserted] = stacks_.try_emplace(std::move(key), uint32_t(stacks_.size() + 1));
  uint32_t id = it->second;
  if (inserted) {
    Stack s;
    s.id = id;
    s.frames.reserve(kernel.size() + user.size());
    for (uint64_t a : kernel) s.frames.push_back({a, FrameKind::kKernel});
    for (uint64_t a : user) s.frames.push_back({a, FrameKind::kUser});
    writer_->add(s);
    for (size_t i = 0; i < kernel.size(); i++) kernel_addrs_.insert(i ? kernel[i] - 1 : kernel[i]);
  }
  if (!user.empty() && pid_stacks_.insert(uint64_t(pid) << 32 | id).second) {
    Proc& p = proc(pid);
    // Return addresses point after the call: look up the call itself, the way
    // symbolize/ does, so the embedded locations match its lookups.
    for (size_t i = 0; i < user.size(); i++) note_user_address(pid, p, i ? user[i] - 1 : user[i]);
  }
  return id;
}

uint32_t Recorder::Impl::intern_string(const std::string& s) {
  auto [it, inserted] = strings_.try_emplace(s, uint32_t(strings_.size() + 1));
  if (inserted) writer_->add(StringEntry{it->second, s});
  return it->second;
}

void Recorder::Impl::scan_proc() {
  uint64_t t = monotonic_ns();
  std::vector<uint32_t> pids;
  if (filter_.by_pid) {
    for (uint32_t pid : target_pids_)
      if (int(pid) != child_) pids.push_back(pid);  // the command is described at its exec
  } else {
    pids = list_pids();
  }
  uint32_t self = uint32_t(getpid());
  for (uint32_t pid : pids) {
    if (pid == self) continue;
    Proc& p = proc(pid);
    if (p.described) continue;
    auto info = read_process_info(pid, boot_minus_mono_);
    if (!info) continue;  // exited meanwhile
    if (!filter_.comm.empty() && info->comm != filter_.comm) continue;
    describe(pid, p, info->comm.c_str(), t);
    for (uint32_t tid : list_tids(pid)) {
      if (!tid_wanted(tid)) continue;
      std::string c = read_thread_comm(pid, tid);
      if (c.empty()) continue;
      writer_->add(ThreadInfo{pid, tid, c, t});
      threads_[tid] = c;
    }
  }
}

// ------------------------------------------------------------------- draining

int Recorder::Impl::ring_callback(void* ctx, void* data, size_t size) {
  auto* self = static_cast<Impl*>(ctx);
  // Exceptions must not unwind through libbpf's C frames: park them, stop the
  // consumption, rethrow once ring_buffer__poll/consume has returned.
  try {
    self->handle_event(data, size);
  } catch (...) {
    self->callback_error_ = std::current_exception();
    return -ECANCELED;
  }
  return 0;
}

void Recorder::Impl::rethrow_callback_error() {
  if (callback_error_) std::rethrow_exception(std::exchange(callback_error_, nullptr));
}

void Recorder::Impl::handle_event(const void* data, size_t size) {
  ebt_event_header h;
  if (size < sizeof h) {
    bad_events_++;
    return;
  }
  std::memcpy(&h, data, sizeof h);
  if (h.size < sizeof h || h.size > size) {
    bad_events_++;
    return;
  }
  auto it = dispatch_.find(h.kind);
  if (it == dispatch_.end()) {
    bad_events_++;
    return;
  }
  it->second->handle(h, {static_cast<const uint8_t*>(data), h.size}, *this);
}

void Recorder::Impl::poll_loop(const std::atomic<bool>* stop) {
  using Clock = std::chrono::steady_clock;
  auto deadline = opts_.duration_s > 0
                      ? Clock::now() + std::chrono::microseconds(int64_t(opts_.duration_s * 1e6))
                      : Clock::time_point::max();
  bool has_child = child_ > 0;
  while (!(stop && stop->load())) {
    int n = ring_buffer__poll(rb_, 100);
    // The programs wake us only when the ring fills up (ebt_ringbuf_wakeup_flags):
    // a poll that timed out still has events to take.
    if (n == 0) n = ring_buffer__consume(rb_);
    rethrow_callback_error();
    if (n < 0 && n != -EINTR) throw RuntimeFailure(std::string("reading the ring buffer: ") + strerror(-n));
    writer_->tick();
    if (Clock::now() >= deadline) break;
    if (has_child && !child_running()) break;
    if (!has_child && filter_.by_pid && !targets_alive()) break;  // like perf -p: all gone
  }
}

void Recorder::Impl::write_lost() {
  int ncpu = libbpf_num_possible_cpus();
  std::vector<uint64_t> values(size_t(ncpu > 0 ? ncpu : 1));
  uint64_t t = monotonic_ns();
  for (uint32_t reason = 0; reason < EBT_LOST_MAX; reason++) {
    if (bpf_map_lookup_elem(maps_.lost_fd, &reason, values.data()) != 0) continue;
    for (int cpu = 0; cpu < ncpu; cpu++) {
      if (!values[cpu]) continue;
      writer_->add(LostEvents{t, uint32_t(cpu), loss_source(int(reason)), values[cpu]});
    }
  }
  if (bad_events_) writer_->add(LostEvents{t, 0, LossSource::kOther, bad_events_});
}

void Recorder::Impl::write_unwind_tables() {
  auto add = [&](int fd, const std::string& path, const std::vector<uint8_t>& build_id) {
    std::string why;
    if (auto t = unwind::extract_unwind_table(fd, path, build_id, &why)) {
      writer_->add(*t);
    } else {
      std::fprintf(stderr, "ebtrace: warning: no unwind table for %s (%s): its frames end offline unwinding\n",
                   path.c_str(), why.c_str());
    }
  };
  for (const auto& obj : objects_.objects())
    if (obj->unwind_table) add(obj->fd, obj->path, obj->build_id);
  if (vdso_unwind_ && !vdso_file().empty()) {
    int fd = open(vdso_file().c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      std::vector<uint8_t> build_id;
      std::vector<LoadSegment> segments;
      read_elf_identity(fd, &build_id, &segments);
      add(fd, "[vdso]", build_id);
      close(fd);
    }
  }
}

uint64_t Recorder::Impl::write_symbols() {
  uint64_t before = writer_->stats().bytes_uncompressed;
  for (const auto& obj : objects_.objects()) {
    if (obj->hits.empty() || obj->build_id.empty()) continue;
    writer_->add(build_symbol_table(*obj, opts_.embed_all_symbols));
  }
  if (!kernel_addrs_.empty()) {
    KernelSymbols ks = build_kernel_symbols(kernel_addrs_);
    if (!ks.symbols.empty()) writer_->add(ks);
  }
  writer_->flush();
  return writer_->stats().bytes_uncompressed - before;
}

RecordSummary Recorder::Impl::run(const std::atomic<bool>* stop) {
  validate_targets();
  check_privileges();
  ensure_tracefs();
  rlimit unlimited{RLIM_INFINITY, RLIM_INFINITY};
  setrlimit(RLIMIT_MEMLOCK, &unlimited);  // kernels before 5.11 charge BPF maps here
  set_libbpf_verbose(opts_.verbose);
  // Line info for the embedded tables comes from local files only: never make
  // the recorder wait on a debuginfod server (libdwfl would honour this).
  unsetenv("DEBUGINFOD_URLS");
  boot_minus_mono_ = boot_minus_mono_ns();

  create_shared_maps();
  if (!opts_.command.empty()) start_command();
  uint8_t one = 1;
  for (uint32_t pid : target_pids_) bpf_map_update_elem(maps_.targets_fd, &pid, &one, BPF_ANY);

  probes_.push_back(make_task_probe(*this));
  for (const auto& fam : probe_families())
    if (fam.enabled(opts_)) probes_.push_back(fam.create(opts_));
  for (auto& p : probes_) {
    p->load(maps_, filter_);
    for (uint16_t k : p->event_kinds()) dispatch_[k] = p.get();
  }
  for (auto& p : probes_) p->attach();
  rb_ = ring_buffer__new(maps_.events_fd, ring_callback, this, nullptr);
  if (!rb_) throw RuntimeFailure(std::string("cannot map the BPF ring buffer: ") + strerror(errno));

  writer_ = std::make_unique<format::CaptureWriter>(opts_.output, make_session());
  scan_proc();
  if (!opts_.ready_file.empty()) {
    std::ofstream ready(opts_.ready_file);
    ready << getpid() << "\n";
  }
  release_command();

  poll_loop(stop);

  // Detaching a tracepoint waits for an RCU grace period (~60 ms here, per
  // link): do it on the side while the capture is completed. Families' detach()
  // only destroys links, so it does not race with handle()/finish().
  struct Joiner {
    std::vector<std::thread> threads;
    ~Joiner() {  // also when an exception leaves early: never destroy a joinable thread
      for (auto& t : threads)
        if (t.joinable()) t.join();
    }
  } detachers;
  for (auto& p : probes_) detachers.threads.emplace_back([probe = p.get()] { probe->detach(); });
  ring_buffer__consume(rb_);
  rethrow_callback_error();
  if (child_ > 0 && child_running()) {
    kill(child_, SIGTERM);  // stopped by -d or a signal: like perf, end the workload
    waitpid(child_, &child_status_, 0);
    child_done_ = true;
  }
  for (auto& p : probes_) p->finish(*this);
  write_lost();
  write_unwind_tables();  // needed to unwind at all: embedded even with --no-embed
  uint64_t symbol_bytes = opts_.embed ? write_symbols() : 0;
  for (auto& t : detachers.threads) t.join();

  SessionEnd end;
  end.end_ns = monotonic_ns();
  for (auto& p : probes_) end.samples += p->samples();
  uint64_t lost = bad_events_;
  for (auto& p : probes_) lost += p->lost();
  {
    int ncpu = libbpf_num_possible_cpus();
    std::vector<uint64_t> values(size_t(ncpu > 0 ? ncpu : 1));
    for (uint32_t reason = 0; reason < EBT_LOST_MAX; reason++)
      if (bpf_map_lookup_elem(maps_.lost_fd, &reason, values.data()) == 0)
        for (int cpu = 0; cpu < ncpu; cpu++) lost += values[cpu];
  }
  end.lost = lost;
  format::WriteStats ws = writer_->finish(end);

  RecordSummary s;
  s.samples = end.samples;
  s.processes = described_.size();
  s.lost = lost;
  s.bytes_written = ws.bytes_written;
  s.symbol_bytes = symbol_bytes;
  if (child_ > 0 && child_done_) {
    s.command_exit_code = WIFEXITED(child_status_) ? WEXITSTATUS(child_status_)
                                                    : 128 + WTERMSIG(child_status_);
  }
  std::string extra;
  for (auto& p : probes_) {
    std::string x = p->summary();
    if (!x.empty()) extra += ", " + x;
  }
  s.line = "[ ebtrace record: " + std::to_string(s.samples) + " samples" + extra + ", " +
           std::to_string(s.processes) + " processes, " + std::to_string(s.lost) + " lost, " +
           human_mb(s.bytes_written) + " written to " + (opts_.output == "-" ? std::string("standard output") : opts_.output) + " (" + human_mb(symbol_bytes) +
           " symbols) ]";
  return s;
}

Recorder::Recorder(RecordOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Recorder::~Recorder() = default;
RecordSummary Recorder::run(const std::atomic<bool>* stop) { return impl_->run(stop); }

}  // namespace ebt::record
