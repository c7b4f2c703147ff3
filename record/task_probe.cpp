#include "record/task_probe.h"

#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>
#include <thread>
#include <vector>

#include "common/error.h"
#include "record/bpf_util.h"
#include "task.skel.h"

namespace ebt::record {
namespace {

class TaskProbe : public Probe {
 public:
  TaskProbe(TaskObserver& o, bool mmap_events) : observer_(o), mmap_events_(mmap_events) {}
  ~TaskProbe() override {
    detach();
    task_bpf__destroy(skel_);
  }
  std::string name() const override { return "task"; }
  std::vector<uint16_t> event_kinds() const override { return {EBT_EV_TASK, EBT_EV_MMAP}; }

  void load(const SharedMaps& maps, const TargetFilter& filter) override {
    skel_ = task_bpf__open();
    if (!skel_) throw RuntimeFailure("task: cannot open the BPF object: " + std::string(strerror(errno)));
    reuse_shared_maps(skel_->obj, maps);
    set_bpf_filter(skel_->rodata->ebt_filter, filter);
    bpf_call_or_throw("task", "loading the BPF programs", [&] { return task_bpf__load(skel_); });
  }

  void attach() override {
    // `wanted`: the mmap hooks only feed mapping tracking, which is off when no
    // recorded family produces user addresses.
    struct {
      bpf_program* prog;
      bpf_link** link;
      const char* hook;
      bool wanted;
      bool required;
    } hooks[] = {
        {skel_->progs.ebt_task_newtask, &skel_->links.ebt_task_newtask, "raw_tp task_newtask", true, true},
        {skel_->progs.ebt_exec, &skel_->links.ebt_exec, "raw_tp sched_process_exec", true, true},
        {skel_->progs.ebt_exit, &skel_->links.ebt_exit, "raw_tp sched_process_exit", true, true},
        {skel_->progs.ebt_rename, &skel_->links.ebt_rename, "raw_tp task_rename", true, false},
        {skel_->progs.ebt_enter_mmap, &skel_->links.ebt_enter_mmap, "syscalls:sys_enter_mmap", mmap_events_, false},
        {skel_->progs.ebt_exit_mmap, &skel_->links.ebt_exit_mmap, "syscalls:sys_exit_mmap", mmap_events_, false},
    };
    for (auto& h : hooks) {
      if (!h.wanted) continue;
      *h.link = bpf_program__attach(h.prog);
      if (!*h.link && h.required)
        throw RuntimeFailure(std::string("task: attaching to ") + h.hook + " failed: " + strerror(errno));
      if (!*h.link)
        std::fprintf(stderr, "ebtrace: warning: %s unavailable (%s); %s\n", h.hook, strerror(errno),
                     "libraries loaded later are found at the next sample instead");
    }
  }

  void detach() override {
    if (!skel_) return;
    // Each tracepoint link waits for an RCU grace period when destroyed: do
    // them side by side.
    std::vector<std::thread> threads;
    for (bpf_link** l : {&skel_->links.ebt_task_newtask, &skel_->links.ebt_exec, &skel_->links.ebt_exit,
                         &skel_->links.ebt_rename, &skel_->links.ebt_enter_mmap, &skel_->links.ebt_exit_mmap}) {
      if (!*l) continue;
      threads.emplace_back([link = *l] { bpf_link__destroy(link); });
      *l = nullptr;
    }
    for (auto& t : threads) t.join();
  }

  void handle(const ebt_event_header& h, std::span<const uint8_t> event, RecordContext&) override {
    if (h.kind == EBT_EV_MMAP) {
      if (event.size() < sizeof(ebt_mmap_event)) return;
      ebt_mmap_event e;
      std::memcpy(&e, event.data(), sizeof e);
      observer_.on_exec_mmap(h.pid, e.addr, e.len, h.time_ns);
      return;
    }
    if (event.size() < sizeof(ebt_task_event)) return;
    ebt_task_event e;
    std::memcpy(&e, event.data(), sizeof e);
    char comm[EBT_TASK_COMM_LEN + 1] = {};
    std::memcpy(comm, e.comm, EBT_TASK_COMM_LEN);
    switch (e.op) {
      case EBT_TASK_FORK:
        observer_.on_fork(h.pid, e.parent_pid, comm, h.time_ns);
        if (e.ns_pid && e.ns_pid != h.pid) observer_.on_ns_pid(h.pid, e.ns_pid);
        break;
      case EBT_TASK_CLONE: observer_.on_thread(h.pid, h.tid, comm, h.time_ns); break;
      case EBT_TASK_EXEC: observer_.on_exec(h.pid, h.tid, comm, h.time_ns); break;
      case EBT_TASK_EXIT: observer_.on_exit(h.pid, h.tid, e.exit_code, h.time_ns); break;
      case EBT_TASK_COMM: observer_.on_comm(h.pid, h.tid, comm, h.time_ns); break;
      default: break;
    }
  }

 private:
  TaskObserver& observer_;
  const bool mmap_events_;
  task_bpf* skel_ = nullptr;
};

}  // namespace

std::unique_ptr<Probe> make_task_probe(TaskObserver& observer, bool mmap_events) {
  return std::make_unique<TaskProbe>(observer, mmap_events);
}

}  // namespace ebt::record
