// Command and target control: which tasks are recorded (-p, --tid, --comm, -a)
// and the command started with `-- CMD`.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "record/probe.h"
#include "record/record_options.h"

namespace ebt::record {

struct Targets {
  TargetFilter filter;
  std::set<uint32_t> tids;     // --tid: the user-space part of the filter
  std::vector<uint32_t> pids;  // tgids for the BPF `targets` map (the command's is added when started)
  std::string cgroup;          // --cgroup / --container: cgroup v2 path whose subtree is recorded ("" : any)
  std::string cgroup_dir;      // ... its directory (its fd goes into the BPF cgroup filter)

  bool tid_wanted(uint32_t tid) const { return tids.empty() || tids.count(tid); }
};

// Checks the target and rate options (BadInput: unknown pid or tid, command not
// found, -F above the kernel's maximum, negative -d) and clips --comm to the 15
// bytes the kernel keeps.
Targets resolve_targets(RecordOptions& options);

// --cgroup / --container (record/containers.cpp): the cgroup v2 subtree to
// record (t.cgroup, t.cgroup_dir, t.filter.by_cgroup); BadInput for an unknown
// or ambiguous one and for options it cannot filter.
void resolve_cgroup_target(const RecordOptions& options, Targets& t);

// `-- CMD`: forked before the probes attach, held until release() so that its
// exec is recorded, waited for at the end. Killed if the recorder gives up.
class Command {
 public:
  Command() = default;
  ~Command();
  Command(const Command&) = delete;
  Command& operator=(const Command&) = delete;

  // Forks; the child waits for release() before exec. With `stdout_to_stderr`
  // (the capture streams to standard output) its output goes to stderr.
  void start(const std::vector<std::string>& argv, bool stdout_to_stderr);
  // Lets the child exec; BadInput if the exec failed (not found, not executable).
  void release();
  bool started() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  bool running();
  // Stopped by -d or a signal: like perf, end the workload (SIGTERM) and wait.
  void terminate();
  // Its exit status (128 + signal when killed) once it has ended.
  std::optional<int> exit_code() const;

 private:
  std::string name_;
  pid_t pid_ = -1;
  bool done_ = false;
  int status_ = 0;
  int go_fd_ = -1;        // write end: the child execs when it reads a byte
  int exec_err_fd_ = -1;  // read end: errno of a failed execvp, EOF on success
};

}  // namespace ebt::record
