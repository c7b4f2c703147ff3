// Errors that travel to the CLI, which prints them once and maps them to exit codes.
#pragma once

#include <stdexcept>
#include <string>

namespace ebt {

// Documented exit codes (docs/cli.md): scripts rely on these.
enum ExitCode : int {
  kExitOk = 0,
  kExitRuntime = 1,   // the operation failed: no privileges, BPF load failed, I/O error
  kExitBadInput = 2,  // usage error, unknown option, corrupt/foreign capture, missing pid
};

// Something the user gave us is wrong: options, a pid, a file. Exit code 2.
class BadInput : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The operation could not be carried out on this machine. Exit code 1.
class RuntimeFailure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace ebt
