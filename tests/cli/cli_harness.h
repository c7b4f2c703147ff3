// Helpers for tests that drive the real `ebtrace` binary (and the cpuburn
// sample) as separate processes: run with a timeout and a controlled
// environment, capture stdout/stderr, temp dirs, folded-stack parsing.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#ifndef EBT_EBTRACE_BIN
#error "EBT_EBTRACE_BIN must be defined by the build"
#endif
#ifndef EBT_CPUBURN_DIR
#error "EBT_CPUBURN_DIR must be defined by the build"
#endif

namespace ebt::test {

namespace fs = std::filesystem;

inline std::string ebtrace_bin() { return EBT_EBTRACE_BIN; }
inline std::string cpuburn_dir() { return EBT_CPUBURN_DIR; }

inline std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void write_text(const fs::path& p, const std::string& s) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << s;
}

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it.
class TempDir {
 public:
  explicit TempDir(const std::string& tag = "ebt-cli") {
    std::string base = std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp";
    std::string tmpl = base + "/" + tag + "-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back(0);
    if (!mkdtemp(buf.data())) throw std::runtime_error("mkdtemp " + tmpl + ": " + std::strerror(errno));
    path_ = buf.data();
    chmod(path_.c_str(), 0755);  // so a test can drop to nobody and still reach files here
  }
  // EBT_TEST_KEEP_TMP=1 keeps the directory (and says where) so that the
  // captures of a failing run can be read afterwards (ebtrace dump).
  ~TempDir() {
    if (const char* keep = std::getenv("EBT_TEST_KEEP_TMP"); keep && *keep && std::string(keep) != "0") {
      std::fprintf(stderr, "EBT_TEST_KEEP_TMP: kept %s\n", path_.c_str());
      return;
    }
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }
  std::string str() const { return path_.string(); }
  fs::path operator/(const std::string& s) const { return path_ / s; }

 private:
  fs::path path_;
};

struct RunOptions {
  double timeout_s = 60;
  std::string cwd;                       // empty: inherit
  bool clean_env = false;                // start from an empty environment (+ PATH)
  std::vector<std::string> env;          // "K=V" added on top
  std::string stdin_path = "/dev/null";
};

inline RunOptions timeout(double s) {
  RunOptions o;
  o.timeout_s = s;
  return o;
}

struct RunResult {
  int exit_code = -1;   // -1: killed by a signal or timed out
  int signal = 0;
  bool timed_out = false;
  std::string out, err;
  std::string describe() const {
    std::ostringstream os;
    os << "exit=" << exit_code << " signal=" << signal << (timed_out ? " TIMED OUT" : "")
       << "\n--- stdout (" << out.size() << " bytes) ---\n"
       << out.substr(0, 4000) << "\n--- stderr ---\n"
       << err.substr(0, 4000);
    return os.str();
  }
};

// A started child process; output goes to files so nothing can block on a pipe.
class Proc {
 public:
  Proc(const std::vector<std::string>& argv, const RunOptions& o = {}) : opts_(o) {
    char tmpl[] = "/tmp/ebt-proc-XXXXXX";
    if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    out_path_ = dir_ + "/out";
    err_path_ = dir_ + "/err";
    std::vector<std::string> envs;
    if (o.clean_env) {
      envs.push_back("PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin");
      envs.push_back("LANG=C");
    } else {
      for (char** e = environ; *e; ++e) envs.emplace_back(*e);
    }
    for (const auto& e : o.env) envs.push_back(e);
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      setpgid(0, 0);
      int in = open(o.stdin_path.c_str(), O_RDONLY);
      int out = open(out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      int err = open(err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (in < 0 || out < 0 || err < 0) _exit(126);
      dup2(in, 0);
      dup2(out, 1);
      dup2(err, 2);
      if (!o.cwd.empty() && chdir(o.cwd.c_str()) != 0) _exit(126);
      std::vector<char*> av, ev;
      for (const auto& a : argv) av.push_back(const_cast<char*>(a.c_str()));
      av.push_back(nullptr);
      for (const auto& e : envs) ev.push_back(const_cast<char*>(e.c_str()));
      ev.push_back(nullptr);
      execvpe(av[0], av.data(), ev.data());
      dprintf(2, "exec %s: %s\n", av[0], std::strerror(errno));
      _exit(127);
    }
  }
  ~Proc() {
    if (pid_ > 0 && !done_) {
      kill(-pid_, SIGKILL);
      kill(pid_, SIGKILL);
      int st;
      waitpid(pid_, &st, 0);
    }
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  Proc(const Proc&) = delete;
  Proc& operator=(const Proc&) = delete;

  pid_t pid() const { return pid_; }
  std::string out_so_far() const { return read_text(out_path_); }
  std::string err_so_far() const { return read_text(err_path_); }
  void signal(int sig) { if (!done_) kill(pid_, sig); }

  // True once exited (non-blocking).
  bool poll() {
    if (done_) return true;
    int st;
    if (waitpid(pid_, &st, WNOHANG) == pid_) finish(st);
    return done_;
  }

  RunResult wait(double timeout_s = -1) {
    if (timeout_s < 0) timeout_s = opts_.timeout_s;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    while (!poll()) {
      if (std::chrono::steady_clock::now() > deadline) {
        result_.timed_out = true;
        kill(-pid_, SIGKILL);
        kill(pid_, SIGKILL);
        int st;
        waitpid(pid_, &st, 0);
        finish(st);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    result_.out = read_text(out_path_);
    result_.err = read_text(err_path_);
    return result_;
  }

  // Waits until `pred(stdout so far)` holds or the process exits / time runs out.
  template <class Pred>
  bool wait_for_output(Pred pred, double timeout_s) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    while (std::chrono::steady_clock::now() < deadline) {
      if (pred(out_so_far(), err_so_far())) return true;
      if (poll()) return pred(out_so_far(), err_so_far());
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

 private:
  void finish(int st) {
    done_ = true;
    if (WIFEXITED(st)) result_.exit_code = WEXITSTATUS(st);
    if (WIFSIGNALED(st)) result_.signal = WTERMSIG(st);
  }
  RunOptions opts_;
  std::string dir_, out_path_, err_path_;
  pid_t pid_ = -1;
  bool done_ = false;
  RunResult result_;
};

inline RunResult run(const std::vector<std::string>& argv, const RunOptions& o = {}) {
  Proc p(argv, o);
  return p.wait();
}

// Non-empty lines of a text.
inline std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> v;
  std::istringstream is(s);
  std::string l;
  while (std::getline(is, l))
    if (!l.empty()) v.push_back(l);
  return v;
}

// ---- folded stacks -------------------------------------------------------

struct FoldedStack {
  std::vector<std::string> frames;  // root first, as in the file
  uint64_t count = 0;
};

inline std::vector<FoldedStack> parse_folded(const std::string& text) {
  std::vector<FoldedStack> v;
  for (const auto& line : lines_of(text)) {
    auto sp = line.rfind(' ');
    if (sp == std::string::npos) continue;
    FoldedStack fs;
    fs.count = std::strtoull(line.c_str() + sp + 1, nullptr, 10);
    std::string stack = line.substr(0, sp);
    size_t start = 0;
    while (true) {
      size_t semi = stack.find(';', start);
      fs.frames.push_back(stack.substr(start, semi - start));
      if (semi == std::string::npos) break;
      start = semi + 1;
    }
    v.push_back(std::move(fs));
  }
  return v;
}

inline bool ends_with(const std::string& s, const std::string& suf) {
  return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}

// Frame name without a folded type suffix (_[k], _[i], _[j]).
inline std::string strip_suffix(const std::string& f) {
  for (const char* suf : {"_[k]", "_[i]", "_[j]", "_[l]"})
    if (ends_with(f, suf)) return f.substr(0, f.size() - std::strlen(suf));
  return f;
}

inline bool is_kernel_frame(const std::string& f) { return ends_with(f, "_[k]"); }
inline bool is_inline_frame(const std::string& f) { return ends_with(f, "_[i]"); }

// True when the frame names function `fn` (ignoring a parameter list, an
// offset and a type suffix): "ebt_sample::Matrix::multiply(ebt_sample::Matrix const&)"
// names "ebt_sample::Matrix::multiply".
inline bool frame_is(const std::string& frame, const std::string& fn) {
  std::string f = strip_suffix(frame);
  if (f.compare(0, fn.size(), fn) != 0) return false;
  if (f.size() == fn.size()) return true;
  char c = f[fn.size()];
  return c == '(' || c == '+' || c == ' ';
}

inline bool stack_has(const FoldedStack& s, const std::string& fn) {
  for (const auto& f : s.frames)
    if (frame_is(f, fn)) return true;
  return false;
}

inline uint64_t total_count(const std::vector<FoldedStack>& v) {
  uint64_t n = 0;
  for (const auto& s : v) n += s.count;
  return n;
}

}  // namespace ebt::test
