// The recorder core: loads the enabled probe families against one set of shared
// maps, drains the ring buffer into a capture, tracks processes and mappings,
// and at the end embeds what report needs elsewhere (symbols, kernel symbols).
//
//   RecordOptions o; o.command = {"./busy"}; o.output = "x.ebt";
//   RecordSummary s = Recorder(o).run();
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "record/record_options.h"

namespace ebt::record {

struct RecordSummary {
  uint64_t samples = 0;
  uint64_t processes = 0;      // processes described in the capture
  uint64_t lost = 0;
  uint64_t bytes_written = 0;
  uint64_t symbol_bytes = 0;   // uncompressed bytes of embedded symbol records (approx.)
  uint64_t files = 0;          // capture files written (rotation, flight-recorder dumps)
  int command_exit_code = -1;  // -- CMD: its exit status (128+signal when killed)
  std::string line;            // "[ ebtrace record: ... ]"
};

class Recorder {
 public:
  explicit Recorder(RecordOptions options);
  ~Recorder();
  Recorder(const Recorder&) = delete;
  Recorder& operator=(const Recorder&) = delete;

  // Records until the duration elapses, the command exits, or `stop` becomes
  // true (set it from a signal handler). `user_signal` (SIGUSR2) switches to a
  // new file (--switch-output=signal) or dumps the flight recorder; it is
  // cleared when taken. Throws BadInput (unknown pid, command not found) or
  // RuntimeFailure (privileges, BPF, I/O).
  RecordSummary run(const std::atomic<bool>* stop = nullptr, std::atomic<bool>* user_signal = nullptr);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// Throws RuntimeFailure unless this process may load BPF programs and open perf
// events (root, or CAP_BPF + CAP_PERFMON).
void check_privileges();
// Mounts tracefs at /sys/kernel/tracing unless some tracefs is already there.
void ensure_tracefs();

}  // namespace ebt::record
