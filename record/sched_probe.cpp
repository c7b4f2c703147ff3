#include "record/sched_probe.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "common/error.h"
#include "format/writer.h"
#include "record/bpf_util.h"
#include "record/proc_reader.h"
#include "record/sched_cgroups.h"
#include "sched.skel.h"

namespace ebt::record {
namespace {

constexpr uint64_t kFlushNs = 1'000'000'000;  // the kernel tables are read about once a second
constexpr uint32_t kTasks = 16384;            // threads tracked at once (map sizes)
constexpr size_t kMaxCgroups = 512;           // cgroups sampled (the rest: counted, not sampled)

bool thread_alive(uint32_t pid, uint32_t tid) {
  return access(("/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid)).c_str(), F_OK) == 0;
}

// A thread's name now ("" once it is gone): threads renamed after they were
// created (prctl) are named as they are, not as at their first switch.
std::string thread_comm(uint32_t pid, uint32_t tid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/comm");
  std::string s;
  std::getline(in, s);
  return s;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Every (key, value) of a BPF hash map: batched, a syscall per 256 entries
// (two per entry by bpf_map_get_next_key + lookup: with -a there are hundreds
// of histograms, read every second, and each syscall costs microseconds on a
// VM), else, on a kernel without batch lookups, one entry at a time.
template <typename K, typename V>
std::vector<std::pair<K, V>> read_map(int fd) {
  std::vector<std::pair<K, V>> out;
  std::vector<K> keys(256);
  std::vector<V> values(256);
  uint64_t token = 0;  // a hash map's batch position: a bucket index (__u32)
  bool first = true;
  for (;;) {
    uint32_t n = uint32_t(keys.size());
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    int err = bpf_map_lookup_batch(fd, first ? nullptr : &token, &token, keys.data(), values.data(), &n, &opts);
    int e = err ? errno : 0;
    if (err && e != ENOENT && e != ENOSPC) {
      if (!first) break;  // the map changed under us: what was read is what there is this time
      out.clear();
      K key{}, next{};
      K* prev = nullptr;
      while (bpf_map_get_next_key(fd, prev, &next) == 0) {
        V v{};
        if (bpf_map_lookup_elem(fd, &next, &v) == 0) out.emplace_back(next, v);
        key = next;
        prev = &key;
        if (out.size() > 1'000'000) break;  // cannot happen with the map sizes set; never loop forever
      }
      return out;
    }
    if (e == ENOSPC && n == 0) {  // one bucket holds more entries than the buffers
      if (keys.size() >= 65536) break;
      keys.resize(keys.size() * 2);
      values.resize(values.size() * 2);
      continue;
    }
    first = false;
    for (uint32_t i = 0; i < n && i < keys.size(); i++) out.emplace_back(keys[i], values[i]);
    if (e == ENOENT) break;  // the end of the map
  }
  return out;
}

struct RqKeyLess {
  bool operator()(const ebt_rq_key& a, const ebt_rq_key& b) const {
    return std::tie(a.pid, a.tid, a.cpu) < std::tie(b.pid, b.tid, b.cpu);
  }
};
struct PreemptKeyLess {
  bool operator()(const ebt_preempt_key& a, const ebt_preempt_key& b) const {
    return std::tie(a.pid, a.tid, a.by_pid, a.by_tid) < std::tie(b.pid, b.tid, b.by_pid, b.by_tid);
  }
};
struct SwitchKeyLess {
  bool operator()(const ebt_cgswitch_key& a, const ebt_cgswitch_key& b) const {
    return std::tie(a.cpu, a.prev_cgroup, a.next_cgroup) < std::tie(b.cpu, b.prev_cgroup, b.next_cgroup);
  }
};

class SchedProbe : public Probe {
 public:
  explicit SchedProbe(const RecordOptions&) : names_(layout_) {}
  ~SchedProbe() override {
    detach();
    sched_bpf__destroy(skel_);
  }

  std::string name() const override { return "sched"; }
  std::vector<uint16_t> event_kinds() const override { return {}; }  // everything is read from maps

  void load(const SharedMaps& maps, const TargetFilter& filter) override {
    targets_fd_ = maps.targets_fd;
    by_pid_ = filter.by_pid;
    tids_ = filter.tids;
    layout_ = detect_cpu_cgroup_layout();
    skel_ = sched_bpf__open();
    if (!skel_) throw RuntimeFailure("sched: cannot open the BPF object: " + std::string(strerror(errno)));
    reuse_shared_maps(skel_->obj, maps);
    set_bpf_filter(skel_->rodata->ebt_filter, filter);
    skel_->rodata->cgroup_v1_cpu = layout_.hierarchy == CgroupHierarchy::kV1Cpu ? 1 : 0;
    skel_->rodata->by_tid = tids_.empty() ? 0 : 1;
    bpf_map__set_max_entries(skel_->maps.sched_tids, std::max<uint32_t>(1, uint32_t(tids_.size())));
    bpf_map__set_max_entries(skel_->maps.sched_start, kTasks);
    bpf_map__set_max_entries(skel_->maps.sched_rq, kTasks);
    bpf_map__set_max_entries(skel_->maps.sched_preempt, kTasks);
    bpf_call_or_throw("sched", "loading the BPF programs (tp_btf/sched_switch, sched_wakeup, sched_wakeup_new)",
                      [&] { return sched_bpf__load(skel_); });
    uint8_t one = 1;
    for (uint32_t tid : tids_) bpf_map_update_elem(bpf_map__fd(skel_->maps.sched_tids), &tid, &one, BPF_ANY);
  }

  void attach() override {
    // The switch hook first: a wake-up stamp is never left without the hook that consumes it.
    links_.attach("sched", skel_->progs.ebt_sched_switch);
    links_.attach("sched", skel_->progs.ebt_sched_wakeup);
    links_.attach("sched", skel_->progs.ebt_sched_wakeup_new);
    last_ns_ = monotonic_ns();
    // The start sample of the targets' cgroups (written with the first flush).
    if (by_pid_) {
      uint32_t key = 0, next = 0;
      uint32_t* prev = nullptr;
      while (bpf_map_get_next_key(targets_fd_, prev, &next) == 0) {
        note_pid(next);
        key = next;
        prev = &key;
      }
    }
    start_samples_ = sample_cgroups(last_ns_);
  }

  void detach() override { links_.detach(); }

  void handle(const ebt_event_header&, std::span<const uint8_t>, RecordContext&) override {}

  void tick(RecordContext& ctx) override {
    uint64_t now = monotonic_ns();
    if (now - last_ns_ >= kFlushNs) flush(ctx, now);
  }
  void before_file_close(RecordContext& ctx) override { flush(ctx, monotonic_ns()); }
  void finish(RecordContext& ctx) override {
    if (skel_) flush(ctx, monotonic_ns());
  }

  std::string summary() const override {
    std::string s = std::to_string(switch_ins_) + " run-queue waits (" + std::to_string(threads_.size()) +
                    " threads), " + std::to_string(preemptions_) + " preemptions, " + std::to_string(switches_) +
                    " switches (" + std::to_string(cross_) + " across cgroups), " +
                    std::to_string(cgroups_.size()) + " cgroups";
    if (layout_.hierarchy == CgroupHierarchy::kV1Cpu) s += " (cpu controller: cgroup v1 at " + layout_.mount + ")";
    else if (layout_.hierarchy == CgroupHierarchy::kV2) s += " (cgroup v2 at " + layout_.mount + ")";
    if (!layout_.cpu_controller) s += "; throttling unknown: " + layout_.why_not;
    if (cgroups_dropped_) s += "; " + std::to_string(cgroups_dropped_) + " more cgroups not sampled";
    return s;
  }

 private:
  // The cgroup of a recorded process in the cpu controller's hierarchy.
  void note_pid(uint32_t pid) {
    if (pid == 0 || layout_.hierarchy == CgroupHierarchy::kUnknown) return;
    std::string path = cgroup_path_in(read_text("/proc/" + std::to_string(pid) + "/cgroup"), layout_.hierarchy);
    if (path.empty()) return;
    auto it = cgroups_.find(path);
    if (it == cgroups_.end()) {
      if (cgroups_.size() >= kMaxCgroups) {
        cgroups_dropped_++;
        return;
      }
      it = cgroups_.emplace(path, Cgroup{names_.id_of(path), {}}).first;
    }
    it->second.pids.insert(pid);
  }

  // Describes a thread in the capture once (its process too); `fallback`: the
  // name the kernel saw, for a thread already gone.
  // `kernel`: the name the kernel saw, `current` when it is the latest (else
  // /proc first: a thread renamed after its first switch-in).
  void name_thread(RecordContext& ctx, uint32_t pid, uint32_t tid, const std::string& kernel, bool current) {
    if (!threads_.insert({pid, tid}).second) return;
    std::string comm = current ? kernel : thread_comm(pid, tid);
    if (comm.empty()) comm = current ? thread_comm(pid, tid) : kernel;
    ctx.note_task(pid, tid, comm.empty() ? nullptr : comm.c_str(), monotonic_ns());  // read from the tables now
  }

  std::vector<CgroupCpuSample> sample_cgroups(uint64_t now) {
    std::vector<CgroupCpuSample> out;
    for (auto& [path, cg] : cgroups_) {
      CgroupCpuSample s;
      s.time_ns = now;
      s.cgroup_id = cg.id;
      s.path = path;
      read_cpu_bandwidth(layout_, path, s);
      s.pids.assign(cg.pids.begin(), cg.pids.end());
      cg.pids.clear();
      out.push_back(std::move(s));
    }
    return out;
  }

  void flush(RecordContext& ctx, uint64_t now) {
    if (!skel_) return;
    format::CaptureWriter& w = ctx.writer();
    if (ctx.file_generation() != generation_) {  // a new file: describe the threads again in it
      generation_ = ctx.file_generation();
      threads_.clear();
    }
    for (auto& s : start_samples_) w.add(s);
    start_samples_.clear();
    const uint64_t start = last_ns_;
    last_ns_ = now;
    std::set<uint32_t> pids;
    // Entries of threads gone are looked for every fifth read only (one
    // access() per idle entry: with -a most entries are idle at any second),
    // each thread once per read.
    const bool sweep = ++flushes_ % 5 == 0;
    std::map<std::pair<uint32_t, uint32_t>, bool> alive;
    auto gone = [&](uint32_t pid, uint32_t tid) {
      if (!sweep) return false;
      auto [it, fresh] = alive.try_emplace({pid, tid}, true);
      if (fresh) it->second = thread_alive(pid, tid);
      return !it->second;
    };

    // Run-queue latency: what each histogram gained since the last read.
    int rq_fd = bpf_map__fd(skel_->maps.sched_rq);
    auto rq = read_map<ebt_rq_key, ebt_rq_hist>(rq_fd);
    // A thread's name as of its latest switch-in on any CPU.
    std::map<std::pair<uint32_t, uint32_t>, const ebt_rq_hist*> latest;
    for (const auto& [k, h] : rq) {
      auto& l = latest[{k.pid, k.tid}];
      if (!l || h.last_ns > l->last_ns) l = &h;
    }
    for (const auto& [k, h] : rq) {
      ebt_rq_hist& base = rq_seen_[k];
      RunqLatency row;
      row.start_ns = start;
      row.end_ns = now;
      row.pid = k.pid;
      row.tid = k.tid;
      row.cpu = k.cpu;
      for (uint32_t s = 0; s < EBT_RQ_SLOTS; s++) {
        if (h.slots[s] <= base.slots[s]) continue;
        row.slots.push_back(uint16_t(s));
        row.slot_counts.push_back(h.slots[s] - base.slots[s]);
        row.count += h.slots[s] - base.slots[s];
      }
      if (row.count == 0) {
        // Unchanged for a whole read interval: a thread that is gone will not
        // change again; drop its table entry (its counts are all written).
        if (gone(k.pid, k.tid)) {
          bpf_map_delete_elem(rq_fd, &k);
          rq_seen_.erase(k);
        }
        continue;
      }
      row.total_ns = h.total_ns - base.total_ns;
      row.max_ns = h.max_ns > base.max_ns ? h.max_ns : 0;
      base = h;
      if (!ctx.tid_wanted(k.tid)) continue;
      char comm[EBT_TASK_COMM_LEN + 1] = {};
      std::memcpy(comm, latest[{k.pid, k.tid}]->comm, EBT_TASK_COMM_LEN);
      name_thread(ctx, k.pid, k.tid, comm, /*current=*/true);
      pids.insert(k.pid);
      switch_ins_ += row.count;
      w.add(row);
    }

    // Preemptions.
    int pr_fd = bpf_map__fd(skel_->maps.sched_preempt);
    for (const auto& [k, v] : read_map<ebt_preempt_key, ebt_preempt_val>(pr_fd)) {
      uint64_t& base = preempt_seen_[k];
      if (v.count <= base) {
        if (gone(k.pid, k.tid)) {
          bpf_map_delete_elem(pr_fd, &k);
          preempt_seen_.erase(k);
        }
        continue;
      }
      Preemption row;
      row.start_ns = start;
      row.end_ns = now;
      row.pid = k.pid;
      row.tid = k.tid;
      row.by_pid = k.by_pid;
      row.by_tid = k.by_tid;
      char comm[EBT_TASK_COMM_LEN + 1] = {};
      std::memcpy(comm, v.by_comm, EBT_TASK_COMM_LEN);
      row.by_comm = comm;
      row.count = v.count - base;
      base = v.count;
      if (!ctx.tid_wanted(k.tid)) continue;
      name_thread(ctx, k.pid, k.tid, "", false);
      if (k.by_tid) name_thread(ctx, k.by_pid, k.by_tid, comm, false);
      pids.insert(k.pid);
      preemptions_ += row.count;
      w.add(row);
    }

    // Cgroup switches per CPU.
    std::set<uint64_t> ids;
    for (const auto& [k, n] : read_cgroup_switches()) {
      uint64_t& base = switch_seen_[k];
      if (n <= base) continue;
      CgroupSwitch row;
      row.start_ns = start;
      row.end_ns = now;
      row.cpu = k.cpu;
      row.prev_cgroup = k.prev_cgroup;
      row.next_cgroup = k.next_cgroup;
      row.count = n - base;
      base = n;
      switches_ += row.count;
      if (k.prev_cgroup != k.next_cgroup) cross_ += row.count;
      ids.insert(k.prev_cgroup);
      ids.insert(k.next_cgroup);
      w.add(row);
    }

    // The cgroups: of the processes seen, and those the switches name.
    for (uint32_t pid : pids) note_pid(pid);
    bool rescanned = false;
    for (uint64_t id : ids) {
      if (named_ids_.count(id)) continue;
      std::string path = names_.path_of(id, !rescanned);
      rescanned = true;
      if (path.empty()) continue;  // gone before it could be named: the report shows the id
      named_ids_.insert(id);
      if (!cgroups_.count(path)) {
        if (cgroups_.size() >= kMaxCgroups) {
          cgroups_dropped_++;
          continue;
        }
        cgroups_.emplace(path, Cgroup{id, {}});
      }
    }
    for (auto& s : sample_cgroups(now)) w.add(s);
  }

  // The switches per (cpu, prev cgroup, next cgroup) so far: sched_cgswitch
  // plus each CPU's run of switches within one cgroup not yet added to it
  // (bpf/sched.bpf.c count_cgroup_switch). The runs are read before and after
  // the table: a CPU whose run's seq moved in between (or is odd) was moving a
  // run into the table meanwhile, and adding its run now could count switches
  // twice or under another cgroup, so everything is read again. After a few
  // tries such a CPU's current run is left out of this read (its switches come
  // with a later one: the counts are totals since the start).
  std::map<ebt_cgswitch_key, uint64_t, SwitchKeyLess> read_cgroup_switches() {
    const int table_fd = bpf_map__fd(skel_->maps.sched_cgswitch);
    const int runs_fd = bpf_map__fd(skel_->maps.sched_cgrun);
    const int ncpu = libbpf_num_possible_cpus();
    std::vector<ebt_cgrun> before(ncpu > 0 ? ncpu : 1), after(before.size());
    const uint32_t zero = 0;
    for (int attempt = 0;; attempt++) {
      bool runs_read = ncpu > 0 && bpf_map_lookup_elem(runs_fd, &zero, before.data()) == 0;
      std::map<ebt_cgswitch_key, uint64_t, SwitchKeyLess> out;
      for (const auto& [k, n] : read_map<ebt_cgswitch_key, uint64_t>(table_fd)) out[k] = n;
      runs_read = runs_read && bpf_map_lookup_elem(runs_fd, &zero, after.data()) == 0;
      bool stable = runs_read;
      for (size_t c = 0; stable && c < after.size(); c++)
        stable = before[c].seq == after[c].seq && (after[c].seq & 1) == 0;
      if (!stable && attempt < 3) continue;
      for (size_t c = 0; runs_read && c < after.size(); c++) {
        if (before[c].seq != after[c].seq || (after[c].seq & 1) || after[c].count == 0) continue;
        ebt_cgswitch_key k{};
        k.cpu = uint32_t(c);
        k.prev_cgroup = k.next_cgroup = after[c].cgroup;
        out[k] += after[c].count;
      }
      return out;
    }
  }

  struct Cgroup {
    uint64_t id = 0;
    std::set<uint32_t> pids;  // recorded processes seen in it since the last sample
  };

  CpuCgroupLayout layout_;
  CgroupNames names_;
  sched_bpf* skel_ = nullptr;
  ProgramLinks links_;
  int targets_fd_ = -1;
  bool by_pid_ = false;
  std::vector<uint32_t> tids_;
  uint64_t last_ns_ = 0;
  uint64_t generation_ = 0;
  uint64_t flushes_ = 0;
  std::vector<CgroupCpuSample> start_samples_;
  std::map<ebt_rq_key, ebt_rq_hist, RqKeyLess> rq_seen_;
  std::map<ebt_preempt_key, uint64_t, PreemptKeyLess> preempt_seen_;
  std::map<ebt_cgswitch_key, uint64_t, SwitchKeyLess> switch_seen_;
  std::map<std::string, Cgroup> cgroups_;
  std::set<uint64_t> named_ids_;
  std::set<std::pair<uint32_t, uint32_t>> threads_;  // described in the capture
  uint64_t switch_ins_ = 0, preemptions_ = 0, switches_ = 0, cross_ = 0, cgroups_dropped_ = 0;
};

}  // namespace

std::unique_ptr<Probe> make_sched_probe(const RecordOptions& options) { return std::make_unique<SchedProbe>(options); }

}  // namespace ebt::record
