// Reading /proc: process descriptions and executable mappings. Processes exit
// at any moment; every reader returns what it got (or nothing), never throws
// for a vanished process.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "format/records.h"

namespace ebt::record {

struct ProcMapping {
  uint64_t start = 0;
  uint64_t end = 0;
  uint64_t offset = 0;
  uint64_t inode = 0;
  std::string dev;    // "fe:01"
  std::string perms;  // "r-xp"
  std::string path;   // "" for anonymous, "[vdso]" etc. for special ones
  bool operator==(const ProcMapping&) const = default;
};

// ProcessInfo from /proc/PID/{stat,status,comm,exe,cmdline,cgroup}; nullopt when
// the process is gone. `mono_minus_boot_ns` converts the boottime-based start
// time to CLOCK_MONOTONIC.
std::optional<ProcessInfo> read_process_info(uint32_t pid, int64_t boot_minus_mono_ns);
// ProcessInfo::start_ns alone (one read of /proc/PID/stat): is PID still the
// process described earlier? nullopt when the process is gone.
std::optional<uint64_t> read_process_start(uint32_t pid, int64_t boot_minus_mono_ns);

// Executable mappings of /proc/PID/maps; nullopt when the process is gone.
std::optional<std::vector<ProcMapping>> read_exec_maps(uint32_t pid);

// Opens the file behind a file mapping of `pid` (read-only, close-on-exec):
// /proc/PID/map_files/START-END, else PATH under /proc/PID/root (a process in
// a container sees its own files; " (deleted)" stripped). -1 if neither opens.
int open_mapped_file(uint32_t pid, const ProcMapping& m);

std::vector<uint32_t> list_pids();
std::vector<uint32_t> list_tids(uint32_t pid);
std::string read_thread_comm(uint32_t pid, uint32_t tid);
// The thread group of a tid (Tgid: of /proc/TID/status), 0 if gone.
uint32_t tgid_of(uint32_t tid);
bool process_exists(uint32_t pid);

// CLOCK_BOOTTIME - CLOCK_MONOTONIC, now.
int64_t boot_minus_mono_ns();
uint64_t monotonic_ns();
// CPU time of the calling thread (cost accounting).
uint64_t thread_cpu_ns();

}  // namespace ebt::record
