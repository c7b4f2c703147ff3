// The recorder's process table (record/process_table.h) fed task events the
// way the recorder hands them on, its capture read back by the report's
// context: which name each event gets. No BPF: a real child process stands in
// for the traced command, the events are made here.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "format/reader.h"
#include "format/writer.h"
#include "record/process_table.h"
#include "report/context.h"

namespace {

using namespace ebt;
using namespace ebt::record;
namespace fs = std::filesystem;

std::string comm_of_pid(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
  std::string s;
  std::getline(in, s);
  return s;
}

// A child that has exec'd `sleep` (its /proc comm is "sleep"), killed at the end.
class SleepChild {
 public:
  SleepChild() {
    pid_ = fork();
    if (pid_ == 0) {
      execl("/bin/sleep", "sleep", "30", static_cast<char*>(nullptr));
      _exit(127);
    }
    for (int i = 0; i < 500 && comm_of_pid(pid_) != "sleep"; i++) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ~SleepChild() {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  uint32_t pid() const { return uint32_t(pid_); }

 private:
  pid_t pid_ = -1;
};

SessionInfo test_session() {
  SessionInfo s;
  s.hostname = "t";
  return s;
}

// A process table writing into a capture of its own, read back by the
// report's context.
class TableCapture {
 public:
  TableCapture()
      : path_(fs::temp_directory_path() / ("ebt-process-table-" + std::to_string(getpid()) + ".ebt")),
        writer_(path_.string(), test_session()),
        file_{&writer_, 1},
        table_(file_, objects_, boot_minus_mono_ns()) {
    table_.track_mappings(false);
  }
  ~TableCapture() { fs::remove(path_); }
  ProcessTable& table() { return table_; }
  // Finishes the capture and reads it as `ebtrace report` does.
  const report::ReportContext& read() {
    SessionEnd end;
    end.end_ns = monotonic_ns();
    writer_.finish(end);
    report::ContextBuilder builder(ctx_);
    format::CaptureReader(path_.string()).read(builder);
    return ctx_;
  }

 private:
  fs::path path_;
  format::CaptureWriter writer_;
  CurrentFile file_;
  ObjectCache objects_;
  ProcessTable table_;
  report::ReportContext ctx_;
};

void pause_2ms() { std::this_thread::sleep_for(std::chrono::milliseconds(2)); }

// `ebtrace record -- CMD`: the command is forked from ebtrace and execs CMD.
// A sample of the child just before its exec carries the comm "ebtrace"; one
// taken just after it, before the recorder got to the exec event, carries the
// command's. Each must be named by the comm it carried: the recorder used to
// date thread names by when it handled them, so the post-exec sample fell after
// the "ebtrace" name and before the exec's description, and was named ebtrace.
TEST(ProcessTable, SampleAfterExecIsNamedByTheCommand) {
  SleepChild child;
  ASSERT_EQ(comm_of_pid(pid_t(child.pid())), "sleep");
  const uint32_t pid = child.pid();
  TableCapture c;
  // In the order the recorder handles them: the pre-exec sample at once,
  // then the exec event, after the first post-exec sample was taken.
  const uint64_t before_exec = monotonic_ns();
  c.table().note_task(pid, pid, "ebtrace", before_exec);
  pause_2ms();
  const uint64_t exec = monotonic_ns();
  pause_2ms();
  const uint64_t after_exec = monotonic_ns();
  pause_2ms();
  c.table().on_exec(pid, pid, "sleep", exec);
  c.table().note_task(pid, pid, "sleep", after_exec);
  const report::ReportContext& ctx = c.read();
  EXPECT_EQ(ctx.comm_of(pid, pid, before_exec), "ebtrace");
  EXPECT_EQ(ctx.comm_of(pid, pid, exec), "sleep") << "from the exec event on";
  EXPECT_EQ(ctx.comm_of(pid, pid, after_exec), "sleep");
  EXPECT_EQ(ctx.comm_of(pid, pid, monotonic_ns()), "sleep");
}

// A thread renamed (prctl PR_SET_NAME) is named by its new name from the
// rename event on, also for events taken before the recorder handled it.
TEST(ProcessTable, RenameHoldsFromItsEvent) {
  SleepChild child;
  const uint32_t pid = child.pid();
  TableCapture c;
  const uint32_t tid = pid + 1'000'000;  // a thread of it (never read from /proc)
  const uint64_t first = monotonic_ns();
  c.table().note_task(pid, tid, "worker", first);
  pause_2ms();
  const uint64_t rename = monotonic_ns();
  pause_2ms();
  const uint64_t after = monotonic_ns();
  pause_2ms();
  c.table().on_comm(pid, tid, "io-loop", rename);
  c.table().note_task(pid, tid, "io-loop", after);
  const report::ReportContext& ctx = c.read();
  EXPECT_EQ(ctx.comm_of(pid, tid, first), "worker");
  EXPECT_EQ(ctx.comm_of(pid, tid, rename), "io-loop");
  EXPECT_EQ(ctx.comm_of(pid, tid, after), "io-loop");
}

}  // namespace
