// Process helpers for the L7 end-to-end tests: free ports, child processes with
// timeouts, waiting for a port / a file, and the recorder as a child.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace ebt::test {

namespace fs = std::filesystem;

inline uint16_t free_port() {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) throw std::runtime_error("bind");
  socklen_t len = sizeof a;
  getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  close(s);
  return ntohs(a.sin_port);
}

inline int connect_loopback(uint16_t port) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(s);
    return -1;
  }
  return s;
}

inline bool wait_until(const std::function<bool()>& ok, double timeout_s) {
  auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (std::chrono::steady_clock::now() < end) {
    if (ok()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return ok();
}

inline bool wait_port(uint16_t port, double timeout_s) {
  return wait_until([&] {
    int s = connect_loopback(port);
    if (s < 0) return false;
    close(s);
    return true;
  }, timeout_s);
}

// A child process; killed (SIGKILL) and reaped on destruction if still running.
class Child {
 public:
  Child() = default;
  Child(const std::vector<std::string>& argv, const std::string& out_path = "/dev/null") {
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("fork");
    if (pid_ == 0) {
      int fd = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
      }
      int null = open("/dev/null", O_RDONLY);
      if (null >= 0) dup2(null, 0);
      std::vector<char*> args;
      for (const auto& s : argv) args.push_back(const_cast<char*>(s.c_str()));
      args.push_back(nullptr);
      execvp(args[0], args.data());
      _exit(127);
    }
  }
  Child(Child&& o) noexcept : pid_(o.pid_), status_(o.status_) { o.pid_ = -1; }
  Child& operator=(Child&& o) noexcept {
    std::swap(pid_, o.pid_);
    std::swap(status_, o.status_);
    return *this;
  }
  ~Child() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  pid_t pid() const { return pid_; }
  // Sends `sig` (0: none) and waits up to timeout_s; returns the wait status or -1.
  int stop(int sig, double timeout_s) {
    if (pid_ <= 0) return status_;
    if (sig) kill(pid_, sig);
    bool done = wait_until([&] {
      int st = 0;
      if (waitpid(pid_, &st, WNOHANG) == pid_) {
        status_ = st;
        pid_ = -1;
        return true;
      }
      return false;
    }, timeout_s);
    if (!done) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
      return -1;
    }
    return status_;
  }

 private:
  pid_t pid_ = -1;
  int status_ = -1;
};

inline std::string read_file(const fs::path& p) {
  FILE* f = fopen(p.c_str(), "rb");
  if (!f) return {};
  std::string s;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
  fclose(f);
  return s;
}

inline fs::path make_temp_dir(const std::string& tag) {
  std::string tmpl = (fs::temp_directory_path() / (tag + "-XXXXXX")).string();
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back(0);
  if (!mkdtemp(buf.data())) throw std::runtime_error("mkdtemp");
  return buf.data();
}

#ifdef EBT_EBTRACE_BIN
// `ebtrace record --l7 --no-cpu` of `target_args` (plus any option there) as a
// child; ready once the recorder wrote its ready file.
class Recording {
 public:
  Recording(const fs::path& dir, const std::vector<std::string>& target_args)
      : cap_(dir / "cap.ebt"), command_(std::find(target_args.begin(), target_args.end(), "--") != target_args.end()) {
    fs::path ready = dir / "ready";
    std::vector<std::string> argv = {EBT_EBTRACE_BIN, "record", "--l7", "--no-cpu", "-o", cap_.string(),
                                     "--ready-file", ready.string()};
    argv.insert(argv.end(), target_args.begin(), target_args.end());
    log_ = dir / "record.log";
    rec_ = Child(argv, log_.string());
    if (!wait_until([&] { return fs::exists(ready); }, 60))
      throw std::runtime_error("recorder not ready: " + read_file(log_));
  }
  // Stops the recorder (SIGINT) and returns its exit status. With `-- CMD` the
  // recorder stops by itself when CMD exits: waited for, never interrupted (a
  // loaded machine may take longer than any fixed delay to run CMD).
  int stop() {
    if (command_) return rec_.stop(0, 120);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // let the ring buffer drain
    return rec_.stop(SIGINT, 60);
  }
  const fs::path& capture() const { return cap_; }
  std::string log() const { return read_file(log_); }

 private:
  fs::path cap_;
  bool command_;
  fs::path log_;
  Child rec_;
};

#endif

}  // namespace ebt::test
