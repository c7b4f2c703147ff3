// A real sshd (Debian's openssh-server) on a free loopback port with throwaway
// keys, for the scripts/ebtrace-remote.sh tests. Each instance is one "host";
// extra sshd_config lines (SetEnv PATH=...) make hosts differ.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/cli/cli_harness.h"

namespace ebt::test {

inline bool port_listening(int port) {
  return run({"sh", "-c", "ss -ltn | grep -q '127.0.0.1:" + std::to_string(port) + " '"}, timeout(10)).exit_code == 0;
}

inline int free_port(int from = 20000 + getpid() % 20000) {
  for (int p = from;; p++)
    if (run({"sh", "-c", "ss -ltn | grep -q ':" + std::to_string(p) + " '"}, timeout(10)).exit_code != 0) return p;
}

class LoopbackSshd {
 public:
  explicit LoopbackSshd(const fs::path& dir, const std::string& extra_config = "", int port = 0)
      : dir_(dir), port_(std::to_string(port ? port : free_port())) {
    fs::create_directories(dir_);
    run({"mkdir", "-p", "/run/sshd"}, timeout(10));  // privilege separation directory
    for (const char* k : {"hostkey", "userkey"})
      if (run({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", (dir_ / k).string()}, timeout(30)).exit_code != 0)
        throw std::runtime_error("ssh-keygen failed");
    fs::copy_file(dir_ / "userkey.pub", dir_ / "authorized_keys");
    write_text(dir_ / "sshd_config", "Port " + port_ + "\nListenAddress 127.0.0.1\nHostKey " +
                                         (dir_ / "hostkey").string() + "\nAuthorizedKeysFile " +
                                         (dir_ / "authorized_keys").string() +
                                         "\nPermitRootLogin prohibit-password\nPasswordAuthentication no\n"
                                         "KbdInteractiveAuthentication no\nStrictModes no\nUsePAM no\nPidFile " +
                                         (dir_ / "sshd.pid").string() + "\n" + extra_config);
    sshd_ = std::make_unique<Proc>(
        std::vector<std::string>{"/usr/sbin/sshd", "-D", "-e", "-f", (dir_ / "sshd_config").string()}, timeout(600));
    for (int i = 0; i < 200 && !port_listening(std::stoi(port_)); i++)
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  ~LoopbackSshd() {
    sshd_->signal(SIGTERM);
    sshd_->wait(10);
  }
  const std::string& port() const { return port_; }
  fs::path key() const { return dir_ / "userkey"; }
  // ssh options for the script: this port, this key, no host key prompts.
  std::vector<std::string> ssh_options() const {
    return {"-p", port_, "-i", key().string(), "-o", "StrictHostKeyChecking=no", "-o",
            "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"};
  }
  std::string log() { return sshd_->err_so_far(); }

 private:
  fs::path dir_;
  std::string port_;
  std::unique_ptr<Proc> sshd_;
};

}  // namespace ebt::test
