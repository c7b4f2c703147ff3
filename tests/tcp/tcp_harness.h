// Shared by the --tcp tests: two network namespaces joined by a veth pair
// (created here, nothing leaves them) and a recording started and stopped
// around the traffic.
#pragma once

#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/cli/cli_harness.h"
#include "tests/offcpu/mini_json.h"

namespace ebt::test {

// Namespaces <tag>a and <tag>b, veth <tag>va (10.<n>.0.1) <-> <tag>vb (10.<n>.0.2).
class VethPair {
 public:
  VethPair() {
    int n = 150 + int(getpid() % 50);
    tag_ = "ebtt" + std::to_string(getpid() % 100000);
    a_ = "10." + std::to_string(n) + ".0.1";
    b_ = "10." + std::to_string(n) + ".0.2";
    sh("ip netns add " + ns_a() + " && ip netns add " + ns_b() + " && ip link add " + tag_ + "va netns " + ns_a() +
       " type veth peer name " + tag_ + "vb netns " + ns_b() + " && ip -n " + ns_a() + " addr add " + a_ +
       "/24 dev " + tag_ + "va && ip -n " + ns_b() + " addr add " + b_ + "/24 dev " + tag_ + "vb && ip -n " +
       ns_a() + " link set " + tag_ + "va up && ip -n " + ns_b() + " link set " + tag_ + "vb up && ip -n " + ns_a() +
       " link set lo up && ip -n " + ns_b() + " link set lo up");
  }
  // fd00:<n>::1 in a, fd00:<n>::2 in b (no duplicate address detection: usable at once).
  void add_ipv6() {
    sh("ip -n " + ns_a() + " -6 addr add " + v6_a() + "/64 dev " + tag_ + "va nodad && ip -n " + ns_b() +
       " -6 addr add " + v6_b() + "/64 dev " + tag_ + "vb nodad");
  }
  std::string v6_a() const { return "fd00:" + a_.substr(3, a_.find('.', 3) - 3) + "::1"; }
  std::string v6_b() const { return "fd00:" + a_.substr(3, a_.find('.', 3) - 3) + "::2"; }
  ~VethPair() { run({"sh", "-c", "ip netns del " + ns_a() + "; ip netns del " + ns_b()}, timeout(20)); }
  std::string ns_a() const { return tag_ + "a"; }
  std::string ns_b() const { return tag_ + "b"; }
  const std::string& addr_a() const { return a_; }
  const std::string& addr_b() const { return b_; }
  std::vector<std::string> in(const std::string& ns, const std::vector<std::string>& argv) const {
    std::vector<std::string> v{"ip", "netns", "exec", ns};
    v.insert(v.end(), argv.begin(), argv.end());
    return v;
  }

 private:
  static void sh(const std::string& cmd) {
    RunResult r = run({"sh", "-c", cmd}, timeout(30));
    if (r.exit_code != 0) throw std::runtime_error("setup failed: " + cmd + "\n" + r.describe());
  }
  std::string tag_, a_, b_;
};

// `ebtrace record ARGS` until stop(): started, ready (probes attached), stopped with SIGINT.
class TcpRecording {
 public:
  TcpRecording(const TempDir& dir, std::vector<std::string> args, const std::string& name = "tcp.ebt")
      : cap_(dir / name) {
    fs::path ready = dir / (name + ".ready");
    std::vector<std::string> argv{ebtrace_bin(), "record", "-o", cap_.string(), "--ready-file", ready.string()};
    argv.insert(argv.end(), args.begin(), args.end());
    proc_ = std::make_unique<Proc>(argv, timeout(120));
    for (int i = 0; i < 1500 && !fs::exists(ready); i++) {
      if (proc_->poll()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ready_ = fs::exists(ready);
  }
  bool ready() const { return ready_; }
  std::string why_not_ready() { return proc_->wait(5).describe(); }
  const fs::path& capture() const { return cap_; }
  void stop() {
    proc_->signal(SIGINT);
    RunResult done = proc_->wait(60);
    EXPECT_EQ(done.exit_code, 0) << done.describe();
    summary_ = done.err;
  }
  const std::string& summary() const { return summary_; }
  // report --tcp ARGS --format json
  Json report_json(std::vector<std::string> extra = {}) const {
    std::vector<std::string> argv{ebtrace_bin(), "report", cap_.string(), "--tcp", "--format", "json"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    RunResult r = run(argv, timeout(60));
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    return JsonParser::parse(r.out);
  }
  std::string report_text(std::vector<std::string> extra = {}) const {
    std::vector<std::string> argv{ebtrace_bin(), "report", cap_.string(), "--tcp"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return run(argv, timeout(60)).out;
  }

 private:
  fs::path cap_;
  std::unique_ptr<Proc> proc_;
  bool ready_ = false;
  std::string summary_;
};

inline void wait_for_file(const fs::path& p, double seconds) {
  auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (!fs::exists(p) && std::chrono::steady_clock::now() < end)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

}  // namespace ebt::test
