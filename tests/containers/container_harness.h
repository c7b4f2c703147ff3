// Test "containers" made without a container runtime: a cgroup each (in
// whatever layout this machine has: cgroup v2 at /sys/fs/cgroup, or hybrid
// with v2 at /sys/fs/cgroup/unified, plus the name=systemd v1 hierarchy when
// there is one) and new pid + mount + uts + net namespaces (unshare), running
// tests/containers/burn.c workloads once the test says go. Everything made is
// removed again, also when a test fails: processes killed, cgroups removed
// (and leftovers of an earlier, killed run of the same tests).
#pragma once

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/cli/cli_harness.h"

namespace ebt::test {

struct TestCgroupLayout {
  std::string v2;       // mount of the cgroup v2 root ("" : none)
  std::string systemd;  // the name=systemd v1 hierarchy ("" : none)
  std::string cpu;      // the v1 cpu controller's hierarchy ("" : none, or cpu is on v2)
  bool hybrid = false;
};

inline TestCgroupLayout test_cgroup_layout() {
  auto magic = [](const char* p) {
    struct statfs fs {};
    return statfs(p, &fs) == 0 ? long(fs.f_type) : 0L;
  };
  TestCgroupLayout l;
  if (magic("/sys/fs/cgroup") == 0x63677270) {
    l.v2 = "/sys/fs/cgroup";
  } else if (magic("/sys/fs/cgroup/unified") == 0x63677270) {
    l.v2 = "/sys/fs/cgroup/unified";
    l.hybrid = true;
  }
  if (magic("/sys/fs/cgroup/systemd") == 0x27e0eb) l.systemd = "/sys/fs/cgroup/systemd";
  // Where --sched takes its cgroups from on hybrid hosts (docs/sched.md): the
  // test containers join it too, as a runtime's containers do.
  for (const char* cpu : {"/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct"})
    if (l.v2 != "/sys/fs/cgroup" && magic(cpu) == 0x27e0eb && access((std::string(cpu) + "/cpu.shares").c_str(), F_OK) == 0) {
      l.cpu = cpu;
      break;
    }
  return l;
}

inline std::vector<uint32_t> pids_in(const std::string& cgroup_dir) {
  std::vector<uint32_t> out;
  std::istringstream in(read_text(cgroup_dir + "/cgroup.procs"));
  uint32_t p;
  while (in >> p) out.push_back(p);
  return out;
}

// Kills every process below `dir` and removes the cgroups, deepest first.
inline void remove_cgroup_tree(const std::string& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return;
  for (int round = 0; round < 100; ++round) {
    bool any = false;
    for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec))
      if (it->is_directory(ec))
        for (uint32_t p : pids_in(it->path().string())) {
          kill(pid_t(p), SIGKILL);
          any = true;
        }
    for (uint32_t p : pids_in(dir)) {
      kill(pid_t(p), SIGKILL);
      any = true;
    }
    if (!any) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::vector<fs::path> dirs;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec))
    if (it->is_directory(ec)) dirs.push_back(it->path());
  std::sort(dirs.begin(), dirs.end(), [](const fs::path& a, const fs::path& b) { return a.string().size() > b.string().size(); });
  for (const auto& d : dirs) ::rmdir(d.c_str());
  ::rmdir(dir.c_str());
}

// The test's own cgroup subtree: <v2>/ebtrace-test-PID (and the same below
// name=systemd on hybrid/v1 hosts).
class TestCgroups {
 public:
  TestCgroups() : layout_(test_cgroup_layout()) {
    // Leftovers of a killed run of these tests (their owner is gone).
    for (const std::string& root : {layout_.v2, layout_.systemd, layout_.cpu}) {
      if (root.empty()) continue;
      std::error_code ec;
      for (const auto& e : fs::directory_iterator(root, ec)) {
        std::string n = e.path().filename().string();
        if (n.rfind("ebtrace-test-", 0) != 0) continue;
        pid_t owner = pid_t(std::atoi(n.c_str() + 13));
        if (owner > 0 && kill(owner, 0) != 0) remove_cgroup_tree(e.path().string());
      }
    }
    name_ = "ebtrace-test-" + std::to_string(getpid());
    for (const std::string& root : {layout_.v2, layout_.systemd, layout_.cpu})
      if (!root.empty()) fs::create_directories(root + "/" + name_);
  }
  ~TestCgroups() {
    for (const std::string& root : {layout_.v2, layout_.systemd, layout_.cpu})
      if (!root.empty()) remove_cgroup_tree(root + "/" + name_);
  }
  TestCgroups(const TestCgroups&) = delete;
  TestCgroups& operator=(const TestCgroups&) = delete;

  const TestCgroupLayout& layout() const { return layout_; }
  // The cgroup path (as /proc/PID/cgroup prints it) of `rel` below the test's subtree.
  std::string path(const std::string& rel) const { return "/" + name_ + (rel.empty() ? "" : "/" + rel); }
  std::string v2_dir(const std::string& rel) const { return layout_.v2 + path(rel); }
  std::string systemd_dir(const std::string& rel) const { return layout_.systemd.empty() ? "" : layout_.systemd + path(rel); }
  std::string cpu_dir(const std::string& rel) const { return layout_.cpu.empty() ? "" : layout_.cpu + path(rel); }
  void make(const std::string& rel) const {
    if (!layout_.v2.empty()) fs::create_directories(v2_dir(rel));
    if (!layout_.systemd.empty()) fs::create_directories(systemd_dir(rel));
    if (!layout_.cpu.empty()) fs::create_directories(cpu_dir(rel));
  }

 private:
  TestCgroupLayout layout_;
  std::string name_;
};

// One test container: cgroup `rel` of `cgroups`, hostname `hostname`, new pid,
// mount (own /proc), uts and net namespaces (with `own_net` false: the host's
// network, so that containers can talk over 127.0.0.1). Runs `burn wait GO`
// and then each of `workloads` (burn arguments) as its own process, all at once.
class TestContainer {
 public:
  TestContainer(const TestCgroups& cgroups, const std::string& rel, const std::string& hostname,
                const std::string& burn, const fs::path& go, const std::vector<std::string>& workloads,
                bool own_net = true)
      : cgroups_(cgroups), rel_(rel), hostname_(hostname) {
    cgroups.make(rel);
    std::string inner = "echo " + hostname + " > /proc/sys/kernel/hostname; " + burn + " wait " + go.string() + "; ";
    for (const auto& w : workloads) inner += burn + " " + w + " & ";
    inner += "wait";
    std::string join = "echo $$ > " + cgroups.v2_dir(rel) + "/cgroup.procs";
    if (!cgroups.systemd_dir(rel).empty()) join += " && echo $$ > " + cgroups.systemd_dir(rel) + "/cgroup.procs";
    if (!cgroups.cpu_dir(rel).empty()) join += " && echo $$ > " + cgroups.cpu_dir(rel) + "/cgroup.procs";
    proc_ = std::make_unique<Proc>(std::vector<std::string>{"sh", "-c", join + " && exec unshare --pid --fork "
                                                            "--mount-proc --uts " + (own_net ? "--net " : "") +
                                                            "--mount sh -c '" + inner + "'"},
                                   timeout(120));
  }
  // Waits until the workloads ran (the container's init exited), noting the
  // burn processes' host pid -> pid inside (NSpid) while they run.
  RunResult wait_done(double timeout_s = 120) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    while (!proc_->poll() && std::chrono::steady_clock::now() < deadline) {
      note_pids();
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return proc_->wait(1);
  }
  // wait_done() for several containers at once: their pids noted while all run.
  static std::vector<RunResult> wait_all(const std::vector<TestContainer*>& cs, double timeout_s = 120) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    bool running = true;
    while (running && std::chrono::steady_clock::now() < deadline) {
      running = false;
      for (auto* c : cs) {
        c->note_pids();
        running = running || !c->proc_->poll();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    std::vector<RunResult> out;
    for (auto* c : cs) out.push_back(c->proc_->wait(1));
    return out;
  }
  // Waits until the container's namespaces exist (its init runs `burn wait`).
  bool wait_started(double timeout_s = 30) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    while (std::chrono::steady_clock::now() < deadline) {
      note_pids();
      if (!inner_.empty()) return true;
      if (proc_->poll()) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
  // Host pid -> pid inside, of every process seen in its own pid namespace.
  const std::map<uint32_t, uint32_t>& inner_pids() const { return inner_; }
  std::set<uint32_t> host_pids() const {
    std::set<uint32_t> s;
    for (const auto& [h, i] : inner_) s.insert(h);
    return s;
  }
  uint64_t net_ns() const { return net_ns_; }
  std::string path() const { return cgroups_.path(rel_); }
  std::string v2_dir() const { return cgroups_.v2_dir(rel_); }
  const std::string& hostname() const { return hostname_; }
  std::string describe() { return proc_->err_so_far(); }

 private:
  void note_pids() {
    for (uint32_t p : pids_in(v2_dir())) {
      if (inner_.count(p)) continue;
      std::string status = read_text("/proc/" + std::to_string(p) + "/status");
      auto pos = status.find("\nNSpid:");
      if (pos == std::string::npos) continue;
      std::istringstream ls(status.substr(pos + 7, status.find('\n', pos + 1) - pos - 7));
      std::vector<uint32_t> chain;
      uint32_t v;
      while (ls >> v) chain.push_back(v);
      if (chain.size() < 2) continue;  // unshare itself: still in the host's pid namespace
      inner_[p] = chain.back();
      struct stat st {};
      if (!net_ns_ && stat(("/proc/" + std::to_string(p) + "/ns/net").c_str(), &st) == 0) net_ns_ = st.st_ino;
    }
  }
  const TestCgroups& cgroups_;
  std::string rel_, hostname_;
  std::unique_ptr<Proc> proc_;
  std::map<uint32_t, uint32_t> inner_;
  uint64_t net_ns_ = 0;
};

// `ebtrace record ARGS` until stop(): started, ready (probes attached), stopped with SIGINT.
class Recording {
 public:
  Recording(const fs::path& cap, std::vector<std::string> args) : cap_(cap) {
    fs::path ready = cap.string() + ".ready";
    std::vector<std::string> argv{ebtrace_bin(), "record", "-o", cap.string(), "--ready-file", ready.string()};
    argv.insert(argv.end(), args.begin(), args.end());
    proc_ = std::make_unique<Proc>(argv, timeout(180));
    for (int i = 0; i < 3000 && !fs::exists(ready); i++) {
      if (proc_->poll()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ready_ = fs::exists(ready);
  }
  bool ready() const { return ready_; }
  RunResult stop() {
    proc_->signal(SIGINT);
    return proc_->wait(120);
  }

 private:
  fs::path cap_;
  std::unique_ptr<Proc> proc_;
  bool ready_ = false;
};

}  // namespace ebt::test
