// Everything `ebtrace record` can be asked to do. cli/record_cmd.cpp fills it;
// the Recorder and the probe families read it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ebt::record {

// Which packets --skb follows (all must match; unset: any).
struct SkbFilter {
  uint32_t netns = 0;            // --skb-netns: network namespace inode number
  uint8_t l4_protocol = 0;       // --skb-proto: IPPROTO_*
  uint16_t port = 0;             // --skb-port: source or destination
  std::vector<uint8_t> addr;     // --skb-host: 4 or 16 bytes, network order
  bool stacks = false;           // --skb-stack: kernel stack at every hop (default: drops only)
};

// Which connections --tcp keeps (all must match; unset: any).
struct TcpFilter {
  uint16_t port = 0;             // --port: local or remote
  std::vector<uint8_t> addr;     // --host: local or remote address, 4 or 16 bytes, network order
};

struct RecordOptions {
  // Targets (perf's names). Nothing given: all processes (-a).
  bool all = false;                   // -a/--all-cpus
  std::vector<uint32_t> pids;         // -p/--pid (followed: their children too)
  std::vector<uint32_t> tids;         // --tid
  std::string comm;                   // --comm (exact, first 15 bytes)
  std::vector<std::string> command;   // -- CMD ARGS... (started, followed, waited for)
  std::string cgroup;                 // --cgroup PATH: only tasks in this cgroup v2 subtree (in-kernel)
  std::string container;              // --container NAME|ID-PREFIX: its cgroup, as --cgroup

  double duration_s = 0;              // -d/--duration; 0: until Ctrl-C / CMD exits
  std::string output = "capture.ebt"; // -o/--output ("-": standard output; CMD's output then goes to stderr)
  uint64_t buffer_bytes = 8ull << 20; // --buffer-size (rounded up to a power of two)
  bool verbose = false;               // -v: libbpf debug output, verifier log
  bool embed = true;                  // --no-embed clears: no symbol tables in the capture
  bool embed_all_symbols = false;     // --embed-all-symbols: every function symbol, not only the hit ones
  std::string ready_file;             // --ready-file: created once the probes are attached

  // On-CPU sampling (record/profile_probe.*).
  bool cpu = true;                    // --no-cpu clears
  uint32_t frequency_hz = 99;         // -F/--freq
  bool idle = false;                  // --idle: also sample the idle task (pid 0, "swapper")
  // --call-graph fp|dwarf[,SIZE] (perf's meaning). fp: record/profile_probe.*;
  // dwarf: record/dwarf_probe.* (user registers + SIZE bytes of stack, unwound here).
  bool call_graph_dwarf = false;
  uint32_t dwarf_stack_bytes = 8192;  // SIZE, a multiple of 8, at most EBT_DWARF_MAX_STACK
  // fp mode: bytes of user stack copied with the registers per sample / switch
  // for leaf repair (record/leaf_repair.h); --leaf-stack-bytes, 0 turns it off.
  uint32_t leaf_stack_bytes = 512;
  // --keep-stack-bytes: store the raw stacks and the objects' CFI instead of
  // unwinding here; report unwinds offline (perf's model).
  bool keep_stack_bytes = false;
  // --lua: LuaJIT frames with each dwarf sample (record/lua_recorder.*, bpf/lua.bpf.h).
  // Auto-enabled when a target runs LuaJIT; needs call_graph_dwarf.
  bool lua = false;

  // Continuous recording (docs/record.md "Continuous recording"). Every file
  // is self-contained; symbols are embedded as they are first needed.
  uint64_t switch_bytes = 0;          // --switch-output=SIZE: a new file after SIZE bytes
  double switch_seconds = 0;          // --switch-output=TIME: a new file every TIME
  bool switch_signal = false;         // --switch-output=signal: a new file on SIGUSR2
  uint32_t switch_max_files = 0;      // --switch-max-files N: delete the oldest beyond N
  uint64_t max_size = 0;              // --max-size SIZE: the files together stay within SIZE
  double flight_seconds = 0;          // --flight-recorder DURATION: keep the last DURATION in memory
  std::vector<std::string> triggers;  // --trigger EXPR: dump the flight recorder when EXPR holds
  double trigger_window_s = 5;        // --trigger-window: the sliding window EXPR is measured over
  double trigger_after_s = 5;         // --trigger-after: also record this long after a firing

  // What the user typed, for SessionInfo.
  std::vector<std::string> command_line;
  std::string options_text;

  // Other probe families add their options below (and a line in probe_registry.cpp).

  // Off-CPU intervals (record/offcpu_probe.*).
  bool off_cpu = false;               // --off-cpu
  uint64_t off_cpu_min_us = 100;      // --off-cpu-min: shorter intervals are only counted
  bool off_cpu_waker = false;         // --off-cpu-waker: also the waker's stack
  uint32_t off_cpu_tasks = 16384;     // --off-cpu-tasks: threads tracked at once (BPF map size)

  // Syscall payloads (record/syscall_probe.*). Nothing of the payload is kept
  // unless asked: --payload-bytes or --l7.
  bool syscalls = false;              // --syscalls (implied by --l7 / --payload-bytes)
  uint32_t payload_bytes = 0;         // --payload-bytes N (--l7: 4096)
  bool all_fds = false;               // --all-fds: not only sockets
  uint16_t port = 0;                  // --port: local or remote port; 0 = any

  // Packet hops (record/skb_probe.*).
  bool skb_hops = false;              // --skb
  SkbFilter skb;

  // TCP connection lifecycle (record/tcp_probe.*).
  bool tcp = false;                   // --tcp
  TcpFilter tcp_filter;               // --port / --host with --tcp
};

}  // namespace ebt::record
