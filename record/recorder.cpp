#include "record/recorder.h"

#include "record/leaf_repair.h"

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
#include <cinttypes>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <utility>
#include <fstream>
#include <deque>
#include <optional>
#include <thread>
#include <set>
#include <sys/mman.h>
#include <unordered_map>
#include <unordered_set>

#include "common/error.h"
#include "format/writer.h"
#include "record/bpf_util.h"
#include "record/embedder.h"
#include "record/interner.h"
#include "record/loss.h"
#include "record/objects.h"
#include "record/probe_registry.h"
#include "record/proc_reader.h"
#include "record/process_table.h"
#include "record/file_series.h"
#include "record/targets.h"
#include "record/task_probe.h"
#include "record/trigger.h"
#include "common/wall_clock.h"
#include "format/splice.h"

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

uint64_t round_up_pow2(uint64_t v) {
  uint64_t p = 4096;
  while (p < v) p <<= 1;
  return p;
}

std::string human_mb(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MB", bytes / 1e6);
  return buf;
}

// A monotonic instant of this recording as UTC wall-clock time (log lines,
// SessionInfo.trigger).
std::string utc_timestamp(uint64_t monotonic) {
  timespec mono{}, real{};
  clock_gettime(CLOCK_MONOTONIC, &mono);
  clock_gettime(CLOCK_REALTIME, &real);
  uint64_t m = uint64_t(mono.tv_sec) * 1000000000ull + uint64_t(mono.tv_nsec);
  uint64_t r = uint64_t(real.tv_sec) * 1000000000ull + uint64_t(real.tv_nsec);
  return format_wall_clock(wall_clock_ns(monotonic, m, r), 3, WallClockStyle::kIso);
}

std::string read_first_line(const char* path) {
  std::ifstream in(path);
  std::string s;
  std::getline(in, s);
  return s;
}

}  // namespace

// ---------------------------------------------------------------- the recorder

// Wires the parts together: targets and the command (record/targets.h), the
// probe families and the ring buffer (here), the process table
// (record/process_table.h), interning (record/interner.h), embedding
// (record/embedder.h) and loss accounting (record/loss.h).
class Recorder::Impl : public RecordContext {
 public:
  explicit Impl(RecordOptions o) : opts_(std::move(o)) {}

  ~Impl() override {
    file_.writer = nullptr;
    writer_.reset();  // (after a failure) what was written stays a valid prefix
    for (auto& seg : segments_) close(seg.fd);
    if (segment_fd_ >= 0) close(segment_fd_);
    probes_.clear();  // links and programs first, then the maps they use
    if (rb_) ring_buffer__free(rb_);
    for (int fd : {maps_.events_fd, maps_.lost_fd, maps_.targets_fd, maps_.cgroup_filter_fd})
      if (fd >= 0) close(fd);
  }

  RecordSummary run(const std::atomic<bool>* stop, std::atomic<bool>* user_signal);

  // RecordContext
  format::CaptureWriter& writer() override { return *file_.writer; }
  uint32_t intern_stack(uint32_t pid, std::span<const uint64_t> kernel, std::span<const uint64_t> user) override {
    return interner_->stack(pid, kernel, user);
  }
  void note_stack_snapshot(uint32_t pid, uint64_t ip, std::span<const uint8_t> stack) override {
    interner_->stack_snapshot(pid, ip, stack);
  }
  void note_task(uint32_t pid, uint32_t tid, const char* comm, uint64_t seen_ns) override {
    processes_->note_task(pid, tid, comm, seen_ns);
  }
  uint32_t intern_string(const std::string& s) override { return interner_->string(s); }
  bool tid_wanted(uint32_t tid) const override { return targets_.tid_wanted(tid); }
  void count_lost(uint32_t cpu, LossSource reason, uint64_t n) override { loss_.count(cpu, reason, n); }
  uint64_t file_generation() const override { return file_.generation; }

 private:
  void create_shared_maps();
  SessionInfo make_session() const;
  void handle_event(const void* data, size_t size);
  static int ring_callback(void* ctx, void* data, size_t size);
  void rethrow_callback_error();
  void poll_loop(const std::atomic<bool>* stop, std::atomic<bool>* user_signal);
  uint64_t samples() const;
  LeafRepairCounts leaf_repair_counts() const;

  // Files. One capture (the default), a rotated series (--switch-output), or
  // flight-recorder segments in memory (--flight-recorder): each file or
  // segment is a new generation, self-contained.
  void check_continuous_options();
  void open_file(const std::string& path, SessionInfo session);
  // Completes the current file (pending symbols, its losses, SessionEnd unless
  // `with_end` is false); returns its stats.
  format::WriteStats close_file(bool with_end);
  void switch_file();
  bool switch_due(uint64_t now) const;
  void next_segment(uint64_t now);
  void dump_flight_recorder(const std::string& why, uint64_t fire_ns);
  std::string file_line(const std::string& path, uint64_t samples, uint64_t lost, uint64_t bytes) const;
  // -v: where the recorder's CPU went while the file that just ended was
  // written (finding the cost of rotation: docs/record.md).
  std::string cost_line() const;
  struct CostMark {
    uint64_t process_cpu_ns = 0;
    Embedder::Cost embed;
    ProcessTable::Cost processes;
  };
  CostMark cost_mark() const;
  bool rotating() const { return series_ && !flight(); }
  bool flight() const { return opts_.flight_seconds > 0; }

  RecordOptions opts_;
  Targets targets_;
  Command command_;
  SharedMaps maps_;
  ring_buffer* rb_ = nullptr;
  std::exception_ptr callback_error_;
  // While polling: when to hand control back to the loop even if events keep
  // coming (a consumer slower than the producers would otherwise never leave
  // ring_buffer__consume, and -d, signals and file rotation would wait for it).
  // 0: no limit (the final drains after detaching).
  uint64_t yield_at_ns_ = 0;
  uint32_t events_since_check_ = 0;
  static constexpr int kYield = -EAGAIN;
  std::vector<std::unique_ptr<Probe>> probes_;
  std::unordered_map<uint16_t, Probe*> dispatch_;

  std::unique_ptr<format::CaptureWriter> writer_;
  CurrentFile file_;
  std::string file_path_;
  uint64_t file_start_ns_ = 0;
  uint64_t file_samples_at_start_ = 0;
  CostMark file_cost_at_start_;
  uint64_t symbol_bytes_ = 0;
  uint64_t bytes_written_ = 0;   // complete files (and dumps)
  uint64_t files_written_ = 0;
  std::optional<FileSeries> series_;
  struct Segment {  // a flight-recorder segment: a complete capture in a memory file
    int fd = -1;
    std::string path;
    uint64_t start_ns = 0, end_ns = 0;
    uint64_t samples = 0, lost = 0;
  };
  std::deque<Segment> segments_;
  int segment_fd_ = -1;
  uint64_t segment_ns_ = 0;
  std::optional<TriggerWindow> triggers_;
  struct PendingDump {
    std::string why;
    uint64_t fire_ns = 0;
    uint64_t due_ns = 0;
  };
  std::optional<PendingDump> pending_dump_;
  uint64_t lost_reported_ = 0;
  ObjectCache objects_;
  Hits hits_;
  std::unique_ptr<ProcessTable> processes_;
  std::unique_ptr<Interner> interner_;
  std::unique_ptr<Embedder> embedder_;
  LossAccounting loss_;
};

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
  maps_.cgroup_filter_fd = bpf_map_create(BPF_MAP_TYPE_CGROUP_ARRAY, "cgroup_filter", sizeof(uint32_t),
                                          sizeof(uint32_t), 1, &none);
  if (maps_.cgroup_filter_fd < 0)
    throw RuntimeFailure(std::string("cannot create the BPF cgroup filter map: ") + strerror(errno));
  if (targets_.filter.by_cgroup) {
    // --cgroup / --container: the map holds the cgroup itself (a reference),
    // bpf_current_task_under_cgroup() tests against it.
    int dir = open(targets_.cgroup_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    uint32_t zero = 0;
    int err = dir < 0 ? -errno : 0;
    if (dir >= 0 && bpf_map_update_elem(maps_.cgroup_filter_fd, &zero, &dir, BPF_ANY) != 0) err = -errno;
    if (dir >= 0) close(dir);
    if (err)
      throw RuntimeFailure("--cgroup: cannot put " + targets_.cgroup_dir + " into the BPF cgroup filter: " +
                           strerror(-err));
  }
  loss_ = LossAccounting(maps_.lost_fd);
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
  // libbpf has already moved past this record when a callback returns < 0.
  if (self->yield_at_ns_ && ++self->events_since_check_ % 256 == 0 && monotonic_ns() >= self->yield_at_ns_)
    return kYield;
  return 0;
}

void Recorder::Impl::rethrow_callback_error() {
  if (callback_error_) std::rethrow_exception(std::exchange(callback_error_, nullptr));
}

void Recorder::Impl::handle_event(const void* data, size_t size) {
  ebt_event_header h;
  if (size < sizeof h) {
    loss_.count(0, LossSource::kOther);
    return;
  }
  std::memcpy(&h, data, sizeof h);
  if (h.size < sizeof h || h.size > size) {
    loss_.count(0, LossSource::kOther);
    return;
  }
  if (triggers_) {
    if (h.kind == EBT_EV_CPU_SAMPLE || h.kind == EBT_EV_CPU_SAMPLE_DWARF) {
      if (targets_.tid_wanted(h.tid)) triggers_->on_sample(h.time_ns);
    } else if (h.kind == EBT_EV_OFFCPU && h.size >= sizeof(ebt_offcpu_event)) {
      ebt_offcpu_event e;
      std::memcpy(&e, data, sizeof e);
      if (targets_.tid_wanted(h.tid) && h.time_ns > e.start_ns) triggers_->on_off_cpu(h.time_ns, h.time_ns - e.start_ns);
    }
  }
  auto it = dispatch_.find(h.kind);
  if (it == dispatch_.end()) {
    loss_.count(0, LossSource::kOther);
    return;
  }
  it->second->handle(h, {static_cast<const uint8_t*>(data), h.size}, *this);
}

static bool targets_alive(int targets_fd) {
  uint32_t key;
  // bpf/task.bpf.c removes a target when its last thread exits.
  if (bpf_map_get_next_key(targets_fd, nullptr, &key) == 0) return true;
  return errno != ENOENT;
}

void Recorder::Impl::poll_loop(const std::atomic<bool>* stop, std::atomic<bool>* user_signal) {
  using Clock = std::chrono::steady_clock;
  auto deadline = opts_.duration_s > 0
                      ? Clock::now() + std::chrono::microseconds(int64_t(opts_.duration_s * 1e6))
                      : Clock::time_point::max();
  bool has_child = command_.started();
  while (!(stop && stop->load())) {
    yield_at_ns_ = monotonic_ns() + 200'000'000;
    int n = ring_buffer__poll(rb_, 100);
    // The programs wake us only when the ring fills up (ebt_ringbuf_wakeup_flags):
    // a poll that timed out still has events to take.
    if (n == 0) n = ring_buffer__consume(rb_);
    yield_at_ns_ = 0;
    rethrow_callback_error();
    if (n == kYield) n = 0;  // more to take: first the deadline, signals, rotation
    if (n < 0 && n != -EINTR) throw RuntimeFailure(std::string("reading the ring buffer: ") + strerror(-n));
    for (auto& p : probes_) p->tick(*this);
    file_.writer->tick();
    uint64_t now = monotonic_ns();
    bool signalled = user_signal && user_signal->exchange(false);
    if (rotating()) {
      if (switch_due(now) || (signalled && opts_.switch_signal)) switch_file();
      series_->enforce_size(file_.writer->stats().bytes_written);
    }
    if (flight()) {
      if (const TriggerSpec* t = triggers_ ? triggers_->check(now) : nullptr; t && !pending_dump_) {
        char v[32];
        std::snprintf(v, sizeof v, t->metric == TriggerSpec::Metric::kCpuPercent ? "%.1f%%" : "%.0f ms",
                      t->metric == TriggerSpec::Metric::kCpuPercent ? triggers_->value(*t, now)
                                                                    : triggers_->value(*t, now) / 1e6);
        pending_dump_ = PendingDump{t->text + " (" + v + ")", now, now + uint64_t(opts_.trigger_after_s * 1e9)};
        std::fprintf(stderr, "[ ebtrace record: %s: trigger %s fired; writing in %.1f s ]\n",
                     utc_timestamp(now).c_str(), pending_dump_->why.c_str(), opts_.trigger_after_s);
      }
      if (signalled && !pending_dump_) pending_dump_ = PendingDump{"SIGUSR2", now, now};
      if (pending_dump_ && now >= pending_dump_->due_ns) {
        PendingDump d = *pending_dump_;
        pending_dump_.reset();
        dump_flight_recorder(d.why, d.fire_ns);
      } else if (now - file_start_ns_ >= segment_ns_) {
        next_segment(now);
      }
    }
    if (Clock::now() >= deadline) break;
    if (has_child && !command_.running()) break;
    if (!has_child && targets_.filter.by_pid && !targets_alive(maps_.targets_fd)) break;  // like perf -p: all gone
  }
}

// ------------------------------------------------------------------- files

void Recorder::Impl::check_continuous_options() {
  bool switching = opts_.switch_bytes || opts_.switch_seconds > 0 || opts_.switch_signal;
  if (opts_.flight_seconds < 0 || opts_.switch_seconds < 0 || std::isnan(opts_.flight_seconds))
    throw BadInput("--switch-output / --flight-recorder: durations must be positive");
  if (!opts_.triggers.empty() && !flight())
    throw BadInput("--trigger writes the flight recorder's window: it needs --flight-recorder DURATION");
  if (flight() && switching)
    throw BadInput("--flight-recorder and --switch-output exclude each other (the flight recorder writes a file "
                   "per trigger or SIGUSR2)");
  if (opts_.switch_max_files && !switching && !flight())
    throw BadInput("--switch-max-files needs --switch-output or --flight-recorder");
  if ((switching || flight() || opts_.max_size) && opts_.output == "-")
    throw BadInput("-o -: a single stream cannot be rotated; give a file name or pattern");
  if (opts_.max_size && opts_.switch_bytes && opts_.switch_bytes > opts_.max_size / 2)
    throw BadInput("--switch-output " + std::to_string(opts_.switch_bytes) + " bytes: at most half of --max-size, "
                   "so that the files fit within it");
  if (opts_.max_size && opts_.max_size < (4u << 20))
    throw BadInput("--max-size: at least 4M (two files of a block or more each)");
  if (opts_.trigger_window_s <= 0 || opts_.trigger_after_s < 0)
    throw BadInput("--trigger-window must be positive and --trigger-after not negative");
  std::vector<TriggerSpec> specs;
  for (const auto& t : opts_.triggers) specs.push_back(parse_trigger(t, opts_));
  if (!specs.empty()) triggers_.emplace(std::move(specs), opts_.trigger_window_s, opts_.frequency_hz);
  if (switching || flight() || opts_.max_size) series_.emplace(opts_.output, opts_.switch_max_files, opts_.max_size);
  if (flight()) segment_ns_ = uint64_t(std::clamp(opts_.flight_seconds / 4, 0.5, 10.0) * 1e9);
}

void Recorder::Impl::open_file(const std::string& path, SessionInfo session) {
  format::WriterOptions wo;
  // Symbols and tables as they are first needed, in batches: into each block
  // the symbols its stacks need, before it is sealed. A file cut by a rotation,
  // a SIGKILL or a full disk keeps the names of every complete block.
  wo.before_cut = [this] {
    if (file_.writer) symbol_bytes_ += embedder_->write_pending();
  };
  writer_ = std::make_unique<format::CaptureWriter>(path, session, std::move(wo));
  file_path_ = path;
  file_ = CurrentFile{writer_.get(), file_.generation + 1};
  file_start_ns_ = monotonic_ns();
  file_samples_at_start_ = samples();
  file_cost_at_start_ = cost_mark();
  if (file_.generation > 1) {
    processes_->on_new_file();
    interner_->on_new_file();
    embedder_->on_new_file();
    objects_.retain_only(processes_->objects_in_use());
  }
}

format::WriteStats Recorder::Impl::close_file(bool with_end) {
  symbol_bytes_ += embedder_->write_pending();
  SessionEnd end;
  end.lost = loss_.write(*writer_, monotonic_ns());
  end.end_ns = monotonic_ns();
  end.samples = samples() - file_samples_at_start_;
  end.leaf_repair = leaf_repair_counts();
  format::WriteStats ws;
  if (with_end) ws = writer_->finish(end);
  file_.writer = nullptr;  // (no symbols from the writer's last cut: all are in)
  writer_.reset();  // without finish(): complete (index, trailer) without a SessionEnd
  return ws;
}

std::string Recorder::Impl::file_line(const std::string& path, uint64_t samples, uint64_t lost, uint64_t bytes) const {
  return "[ ebtrace record: " + utc_timestamp(monotonic_ns()) + ": wrote " + path + ": " + std::to_string(samples) +
         " samples, " + std::to_string(lost) + " lost, " + human_mb(bytes) + " ]";
}

Recorder::Impl::CostMark Recorder::Impl::cost_mark() const {
  CostMark m;
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  m.process_cpu_ns = uint64_t(t.tv_sec) * 1000000000ull + uint64_t(t.tv_nsec);
  if (embedder_) m.embed = embedder_->cost();
  if (processes_) m.processes = processes_->cost();
  return m;
}

std::string Recorder::Impl::cost_line() const {
  CostMark now = cost_mark();
  const CostMark& was = file_cost_at_start_;
  const auto& h = now.embed.harvest;
  const auto& hw = was.embed.harvest;
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "[ ebtrace record: cost of %s: recorder CPU %.0f ms; embedding %.0f ms (%" PRIu64
                " symbol tables, %" PRIu64 " addresses, %" PRIu64 " looked up in DWARF, %" PRIu64
                " DWARF opened, %" PRIu64 " units indexed, %" PRIu64 " cache evictions); processes %.0f ms (%" PRIu64
                " described, %" PRIu64 " read from /proc, %" PRIu64 " maps read) ]",
                file_path_.c_str(), (now.process_cpu_ns - was.process_cpu_ns) / 1e6, (now.embed.ns - was.embed.ns) / 1e6,
                now.embed.tables - was.embed.tables, h.addresses - hw.addresses, h.located - hw.located,
                h.dwarf_opened - hw.dwarf_opened, h.cus_indexed - hw.cus_indexed, h.evictions - hw.evictions,
                (now.processes.ns - was.processes.ns) / 1e6, now.processes.described - was.processes.described,
                now.processes.proc_reads - was.processes.proc_reads, now.processes.maps_reads - was.processes.maps_reads);
  return buf;
}

bool Recorder::Impl::switch_due(uint64_t now) const {
  uint64_t limit = opts_.switch_bytes;
  if (series_->size_limit() && (!limit || series_->size_limit() < limit)) limit = series_->size_limit();
  if (limit && file_.writer->stats().bytes_written >= limit) return true;
  return opts_.switch_seconds > 0 && now - file_start_ns_ >= uint64_t(opts_.switch_seconds * 1e9);
}

void Recorder::Impl::switch_file() {
  for (auto& p : probes_) p->before_file_close(*this);
  uint64_t samples_in_file = samples() - file_samples_at_start_;
  std::string done = file_path_;
  std::string cost;
  format::WriteStats ws = close_file(true);
  if (opts_.verbose) cost = cost_line();
  bytes_written_ += ws.bytes_written;
  files_written_++;
  // Lost events of this file are in it; the line says how many.
  uint64_t lost_before = loss_.total();
  std::fprintf(stderr, "%s\n", file_line(done, samples_in_file, lost_before - lost_reported_, ws.bytes_written).c_str());
  lost_reported_ = lost_before;
  if (!cost.empty()) std::fprintf(stderr, "%s\n", cost.c_str());
  series_->completed(done, ws.bytes_written);
  series_->make_room_for_one();
  timespec real{};
  clock_gettime(CLOCK_REALTIME, &real);
  open_file(series_->name_for(uint64_t(real.tv_sec) * 1000000000ull + uint64_t(real.tv_nsec)), make_session());
}

void Recorder::Impl::next_segment(uint64_t now) {
  // Complete the current segment and keep it; start the next one.
  for (auto& p : probes_) p->before_file_close(*this);
  Segment seg;
  seg.fd = segment_fd_;
  seg.path = file_path_;
  seg.start_ns = file_start_ns_;
  seg.samples = samples() - file_samples_at_start_;
  uint64_t lost_before = loss_.total();
  close_file(false);
  seg.lost = loss_.total() - lost_before;
  seg.end_ns = now;
  segments_.push_back(seg);
  // Keep what a dump may need: the last DURATION (from the pending firing, if any).
  uint64_t keep_from = (pending_dump_ ? pending_dump_->fire_ns : now);
  keep_from = keep_from > uint64_t(opts_.flight_seconds * 1e9) ? keep_from - uint64_t(opts_.flight_seconds * 1e9) : 0;
  while (!segments_.empty() && segments_.front().end_ns < keep_from) {
    close(segments_.front().fd);
    segments_.pop_front();
  }
  segment_fd_ = memfd_create("ebtrace-flight", MFD_CLOEXEC);
  if (segment_fd_ < 0) throw RuntimeFailure(std::string("memfd_create: ") + strerror(errno));
  open_file("/proc/self/fd/" + std::to_string(segment_fd_), make_session());
}

void Recorder::Impl::dump_flight_recorder(const std::string& why, uint64_t fire_ns) {
  uint64_t now = monotonic_ns();
  // The segment being written ends the dump: complete it with a SessionEnd
  // that counts the whole dump.
  uint64_t from = fire_ns > uint64_t(opts_.flight_seconds * 1e9) ? fire_ns - uint64_t(opts_.flight_seconds * 1e9) : 0;
  while (!segments_.empty() && segments_.front().end_ns < from) {
    close(segments_.front().fd);
    segments_.pop_front();
  }
  for (auto& p : probes_) p->before_file_close(*this);
  uint64_t samples_total = samples() - file_samples_at_start_, lost_total = 0;
  for (const auto& seg : segments_) {
    samples_total += seg.samples;
    lost_total += seg.lost;
  }
  symbol_bytes_ += embedder_->write_pending();
  SessionEnd end;
  lost_total += loss_.write(*writer_, now);
  end.end_ns = now;
  end.samples = samples_total;
  end.lost = lost_total;
  writer_->finish(end);
  file_.writer = nullptr;
  writer_.reset();
  Segment last;
  last.fd = segment_fd_;
  last.path = file_path_;
  last.start_ns = file_start_ns_;
  segments_.push_back(last);
  segment_fd_ = -1;

  // The head: schema and a session that names the trigger and starts with the
  // oldest segment.
  SessionInfo session = make_session();
  session.start_ns = segments_.front().start_ns;
  session.trigger = why + " at " + utc_timestamp(fire_ns);
  int head_fd = memfd_create("ebtrace-head", MFD_CLOEXEC);
  if (head_fd < 0) throw RuntimeFailure(std::string("memfd_create: ") + strerror(errno));
  std::string head = "/proc/self/fd/" + std::to_string(head_fd);
  format::CaptureWriter(head, session).finish(SessionEnd{});  // header, schema, session (and an ignored end)
  std::vector<std::string> parts;
  for (const auto& seg : segments_) parts.push_back(seg.path);
  timespec real{};
  clock_gettime(CLOCK_REALTIME, &real);
  uint64_t start_real = uint64_t(real.tv_sec) * 1000000000ull + uint64_t(real.tv_nsec) - (now - segments_.front().start_ns);
  series_->make_room_for_one();
  std::string path = series_->name_for(start_real);
  uint64_t bytes;
  try {
    bytes = format::splice_captures(head, parts, path);
  } catch (...) {
    close(head_fd);
    throw;
  }
  close(head_fd);
  for (auto& seg : segments_) close(seg.fd);
  segments_.clear();  // dumped: a later dump does not repeat these events
  series_->completed(path, bytes);
  bytes_written_ += bytes;
  files_written_++;
  std::fprintf(stderr, "%s\n", file_line(path + " (" + why + ")", samples_total, lost_total, bytes).c_str());
  segment_fd_ = memfd_create("ebtrace-flight", MFD_CLOEXEC);
  if (segment_fd_ < 0) throw RuntimeFailure(std::string("memfd_create: ") + strerror(errno));
  open_file("/proc/self/fd/" + std::to_string(segment_fd_), make_session());
}

LeafRepairCounts Recorder::Impl::leaf_repair_counts() const {
  LeafRepairStats sum;
  for (auto& p : probes_)
    if (const LeafRepairStats* st = p->leaf_repair_stats()) sum.add(*st);
  return {sum.stacks, sum.repaired,   sum.frames_added, sum.intact,   sum.no_cfi,
          sum.unknown_object, sum.short_copy, sum.not_frame, sum.max_reach};
}

uint64_t Recorder::Impl::samples() const {
  uint64_t n = 0;
  for (auto& p : probes_) n += p->samples();
  return n;
}

RecordSummary Recorder::Impl::run(const std::atomic<bool>* stop, std::atomic<bool>* user_signal) {
  targets_ = resolve_targets(opts_);
  check_continuous_options();
  check_privileges();
  ensure_tracefs();
  rlimit unlimited{RLIM_INFINITY, RLIM_INFINITY};
  setrlimit(RLIMIT_MEMLOCK, &unlimited);  // kernels before 5.11 charge BPF maps here
  set_libbpf_verbose(opts_.verbose);
  // Line info for the embedded tables comes from local files only: never make
  // the recorder wait on a debuginfod server (libdwfl would honour this).
  unsetenv("DEBUGINFOD_URLS");
  processes_ = std::make_unique<ProcessTable>(file_, objects_, boot_minus_mono_ns());
  interner_ = std::make_unique<Interner>(file_, *processes_, hits_);
  embedder_ = std::make_unique<Embedder>(file_, objects_, hits_, opts_.embed, opts_.embed_all_symbols);

  create_shared_maps();
  const std::vector<uint32_t> attached_pids = targets_.pids;  // -p, before the command joins
  if (!opts_.command.empty()) {
    command_.start(opts_.command, opts_.output == "-");
    targets_.pids.push_back(uint32_t(command_.pid()));
    const std::string& c = opts_.command[0];
    processes_->expect_command(uint32_t(command_.pid()), c.substr(c.rfind('/') == std::string::npos ? 0 : c.rfind('/') + 1));
  }
  uint8_t one = 1;
  for (uint32_t pid : targets_.pids) bpf_map_update_elem(maps_.targets_fd, &pid, &one, BPF_ANY);

  // One list decides both whether mappings are tracked and which probes load,
  // so the two cannot disagree.
  std::vector<const ProbeFamily*> families;
  bool user_addresses = false;
  for (const auto& fam : probe_families())
    if (fam.enabled(opts_)) {
      families.push_back(&fam);
      user_addresses |= fam.user_addresses;
    }
  processes_->track_mappings(user_addresses);
  probes_.push_back(make_task_probe(*processes_, user_addresses));
  for (const ProbeFamily* fam : families) probes_.push_back(fam->create(opts_));
  for (auto& p : probes_) {
    p->load(maps_, targets_.filter);
    for (uint16_t k : p->event_kinds()) dispatch_[k] = p.get();
  }
  // Samples name kernel functions from kallsyms: read it before the probes run
  // rather than at the first block cut, inside the traced workload.
  if (opts_.embed && (opts_.cpu || opts_.off_cpu)) preload_kernel_symbols();
  for (auto& p : probes_) p->attach();
  rb_ = ring_buffer__new(maps_.events_fd, ring_callback, this, nullptr);
  if (!rb_) throw RuntimeFailure(std::string("cannot map the BPF ring buffer: ") + strerror(errno));

  if (flight()) {
    segment_fd_ = memfd_create("ebtrace-flight", MFD_CLOEXEC);
    if (segment_fd_ < 0) throw RuntimeFailure(std::string("memfd_create: ") + strerror(errno));
    open_file("/proc/self/fd/" + std::to_string(segment_fd_), make_session());
  } else if (series_) {
    timespec real{};
    clock_gettime(CLOCK_REALTIME, &real);
    open_file(series_->name_for(uint64_t(real.tv_sec) * 1000000000ull + uint64_t(real.tv_nsec)), make_session());
  } else {
    open_file(opts_.output, make_session());
  }
  processes_->scan(targets_, command_.started() ? uint32_t(command_.pid()) : 0);
  for (auto& p : probes_) p->start(*this, attached_pids);
  if (!opts_.ready_file.empty()) {
    std::ofstream ready(opts_.ready_file);
    ready << getpid() << "\n";
  }
  command_.release();

  poll_loop(stop, user_signal);

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
  command_.terminate();
  uint64_t symbol_bytes = embedder_->write_pending();  // the rest, while the links go
  for (auto& t : detachers.threads) t.join();
  // Nothing produces events any more: take the last ones, then the loss
  // counters are final and the capture's LostEvents add up to SessionEnd.lost.
  ring_buffer__consume(rb_);
  rethrow_callback_error();
  for (auto& p : probes_) p->finish(*this);
  symbol_bytes_ += symbol_bytes;

  std::string where = opts_.output == "-" ? std::string("standard output") : opts_.output;
  if (flight()) {
    // Not dumped: nothing is written (unless a firing is pending: its file is
    // written now, shorter than asked).
    if (pending_dump_) {
      dump_flight_recorder(pending_dump_->why + ", cut short by the end of the recording", pending_dump_->fire_ns);
      pending_dump_.reset();
    }
    close_file(false);
    where = std::to_string(files_written_) + " flight-recorder file" + (files_written_ == 1 ? "" : "s");
  } else if (series_) {
    uint64_t samples_in_file = samples() - file_samples_at_start_;
    std::string done = file_path_;
    format::WriteStats ws = close_file(true);
    bytes_written_ += ws.bytes_written;
    files_written_++;
    std::fprintf(stderr, "%s\n", file_line(done, samples_in_file, loss_.total() - lost_reported_, ws.bytes_written).c_str());
    if (opts_.verbose) std::fprintf(stderr, "%s\n", cost_line().c_str());
    series_->completed(done, ws.bytes_written);
    where = std::to_string(files_written_) + " files (" + opts_.output + "...)";
    if (series_->deleted()) where += ", " + std::to_string(series_->deleted()) + " deleted by retention";
  } else {
    bytes_written_ += close_file(true).bytes_written;
    if (opts_.verbose) std::fprintf(stderr, "%s\n", cost_line().c_str());
  }

  RecordSummary s;
  s.samples = samples();
  s.processes = processes_->processes();
  s.lost = loss_.total();
  s.bytes_written = bytes_written_;
  s.symbol_bytes = symbol_bytes_;
  s.files = files_written_;
  if (auto code = command_.exit_code()) s.command_exit_code = *code;
  std::string extra;
  for (auto& p : probes_) {
    std::string x = p->summary();
    if (!x.empty()) extra += ", " + x;
  }
  s.line = "[ ebtrace record: " + std::to_string(s.samples) + " samples" + extra + ", " +
           std::to_string(s.processes) + " processes, " + loss_.describe() + ", " + human_mb(s.bytes_written) +
           " written to " + where + " (" + human_mb(s.symbol_bytes) + " symbols) ]";
  return s;
}

Recorder::Recorder(RecordOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Recorder::~Recorder() = default;
RecordSummary Recorder::run(const std::atomic<bool>* stop, std::atomic<bool>* user_signal) {
  return impl_->run(stop, user_signal);
}

}  // namespace ebt::record
