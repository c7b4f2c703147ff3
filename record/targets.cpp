#include "record/targets.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "common/error.h"
#include "record/proc_reader.h"

namespace ebt::record {
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

}  // namespace

Targets resolve_targets(RecordOptions& o) {
  Targets t;
  for (uint32_t pid : o.pids) {
    uint32_t tgid = pid && process_exists(pid) ? tgid_of(pid) : 0;
    if (tgid == 0) throw BadInput("no such process: " + std::to_string(pid));
    t.pids.push_back(tgid);  // a thread id stands for its process, as with perf -p
  }
  for (uint32_t tid : o.tids) {
    uint32_t tgid = tid ? tgid_of(tid) : 0;
    if (tgid == 0) throw BadInput("no such thread: " + std::to_string(tid));
    t.tids.insert(tid);
    t.pids.push_back(tgid);
  }
  if (!o.command.empty() && !command_exists(o.command[0])) throw BadInput("command not found: " + o.command[0]);
  if (o.comm.size() >= EBT_TASK_COMM_LEN) o.comm.resize(EBT_TASK_COMM_LEN - 1);  // the kernel keeps 15 bytes, like perf --comm
  if (o.frequency_hz == 0) throw BadInput("-F/--freq must be at least 1 Hz");
  if (o.cpu) {
    std::string max = read_first_line("/proc/sys/kernel/perf_event_max_sample_rate");
    if (!max.empty() && o.frequency_hz > std::strtoul(max.c_str(), nullptr, 10))
      throw BadInput("-F " + std::to_string(o.frequency_hz) + ": above the maximum sampling rate of " + max +
                     " Hz (/proc/sys/kernel/perf_event_max_sample_rate)");
  }
  if (o.duration_s < 0 || std::isnan(o.duration_s)) throw BadInput("-d/--duration must be positive");
  if (o.all && (!o.pids.empty() || !o.tids.empty()))
    throw BadInput("-a/--all-cpus with -p/--tid: give either all processes or the ones to record");
  resolve_cgroup_target(o, t);  // --cgroup / --container (record/containers.cpp)
  // Like perf record -a -- CMD: everything, for as long as CMD runs (with
  // --cgroup: the cgroup, for as long as CMD runs).
  t.filter.by_pid = !o.pids.empty() || !o.tids.empty() || (!o.command.empty() && !o.all && t.cgroup.empty());
  t.filter.all = !t.filter.by_pid;
  t.filter.tids = o.tids;
  t.filter.comm = o.comm;
  return t;
}

Command::~Command() {
  if (go_fd_ >= 0) close(go_fd_);
  if (exec_err_fd_ >= 0) close(exec_err_fd_);
  if (pid_ > 0 && !done_) {
    kill(pid_, SIGKILL);
    while (waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
}

void Command::start(const std::vector<std::string>& argv, bool stdout_to_stderr) {
  int go[2], err[2];
  if (pipe2(go, O_CLOEXEC) != 0) throw RuntimeFailure(std::string("pipe: ") + strerror(errno));
  if (pipe2(err, O_CLOEXEC) != 0) {
    close(go[0]);
    close(go[1]);
    throw RuntimeFailure(std::string("pipe: ") + strerror(errno));
  }
  std::vector<std::string> args = argv;
  name_ = args[0];
  pid_ = fork();
  if (pid_ < 0) throw RuntimeFailure(std::string("fork: ") + strerror(errno));
  if (pid_ == 0) {
    close(go[1]);
    close(err[0]);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGUSR2, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);  // an ignored signal would stay ignored across exec
    if (stdout_to_stderr) dup2(STDERR_FILENO, STDOUT_FILENO);
    char c;
    // EOF without a byte: the recorder gave up before attaching.
    if (read(go[0], &c, 1) != 1) _exit(127);
    std::vector<char*> cargv;
    for (auto& a : args) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    execvp(cargv[0], cargv.data());
    int e = errno;
    (void)!write(err[1], &e, sizeof e);
    _exit(127);
  }
  close(go[0]);
  close(err[1]);
  go_fd_ = go[1];
  exec_err_fd_ = err[0];
}

void Command::release() {
  if (go_fd_ < 0) return;
  char c = 1;
  (void)!write(go_fd_, &c, 1);
  close(go_fd_);
  go_fd_ = -1;
  int e = 0;
  ssize_t n;
  do {  // blocks until exec (CLOEXEC: EOF) or failure
    n = read(exec_err_fd_, &e, sizeof e);
  } while (n < 0 && errno == EINTR);
  close(exec_err_fd_);
  exec_err_fd_ = -1;
  if (n == sizeof e) {
    while (waitpid(pid_, &status_, 0) < 0 && errno == EINTR) {
    }
    done_ = true;
    if (e == ENOENT) throw BadInput("command not found: " + name_);
    throw BadInput("cannot execute " + name_ + ": " + strerror(e));
  }
}

bool Command::running() {
  if (pid_ <= 0 || done_) return false;
  int st = 0;
  pid_t r = waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    done_ = true;
    status_ = st;
    return false;
  }
  return true;
}

void Command::terminate() {
  if (!running()) return;
  kill(pid_, SIGTERM);
  // A second Ctrl-C interrupts waitpid (our handlers have no SA_RESTART): keep
  // waiting, or the workload outlives the recording as an unreaped orphan.
  while (waitpid(pid_, &status_, 0) < 0 && errno == EINTR) {
  }
  done_ = true;
}

std::optional<int> Command::exit_code() const {
  if (pid_ <= 0 || !done_) return std::nullopt;
  return WIFEXITED(status_) ? WEXITSTATUS(status_) : 128 + WTERMSIG(status_);
}

}  // namespace ebt::record
