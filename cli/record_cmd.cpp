// `ebtrace record`: perf-record-like options -> record::RecordOptions -> Recorder.
#include <arpa/inet.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>

#include "bpf/events.h"
#include "cli/commands.h"
#include "common/error.h"
#include "record/lua_vm.h"
#include "record/preflight.h"
#include "record/recorder.h"

namespace ebt::cli {
namespace {

std::atomic<bool> g_stop{false};
std::atomic<bool> g_user_signal{false};

void on_stop_signal(int) { g_stop.store(true); }
void on_user_signal(int) { g_user_signal.store(true); }

std::vector<uint32_t> parse_id_list(const std::vector<std::string>& items, const char* what) {
  std::vector<uint32_t> out;
  for (const auto& item : items) {
    std::stringstream ss(item);
    std::string part;
    while (std::getline(ss, part, ',')) {
      if (part.empty()) continue;
      char* end = nullptr;
      errno = 0;
      unsigned long v = std::strtoul(part.c_str(), &end, 10);
      if (*end != 0 || errno || v == 0 || v > 0xffffffffUL || part[0] == '-')
        throw BadInput(std::string("invalid ") + what + ": " + part);
      out.push_back(uint32_t(v));
    }
  }
  return out;
}

uint64_t parse_size(const std::string& s, const char* option = "--buffer-size") {
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  std::string unit = end ? end : "";
  uint64_t mult = 1;
  if (unit == "" || unit == "B") mult = 1;
  else if (unit == "K" || unit == "k" || unit == "KiB" || unit == "KB") mult = 1ull << 10;
  else if (unit == "M" || unit == "m" || unit == "MiB" || unit == "MB") mult = 1ull << 20;
  else if (unit == "G" || unit == "g" || unit == "GiB" || unit == "GB") mult = 1ull << 30;
  else throw BadInput(std::string("invalid ") + option + ": " + s + " (e.g. 8M, 512K)");
  if (!(v > 0)) throw BadInput(std::string("invalid ") + option + ": " + s);
  return uint64_t(v * double(mult));
}

// perf's time thresholds: a number with s (the default), m, h or d; also ms.
double parse_duration(const std::string& s, const char* option) {
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  std::string unit = end ? end : "";
  double mult = 0;
  if (unit == "" || unit == "s") mult = 1;
  else if (unit == "ms") mult = 1e-3;
  else if (unit == "m") mult = 60;
  else if (unit == "h") mult = 3600;
  else if (unit == "d") mult = 86400;
  if (end == s.c_str() || mult == 0 || !(v > 0) || !std::isfinite(v))
    throw BadInput(std::string("invalid ") + option + ": " + s + " (e.g. 30s, 500ms, 5m, 1h)");
  return v * mult;
}

// --switch-output[=signal|SIZE|TIME], perf's meanings: SIZE ends in B/K/M/G,
// TIME in s/m/h/d.
void parse_switch_output(const std::string& v, record::RecordOptions& o) {
  if (v.empty() || v == "signal") {
    o.switch_signal = true;
    return;
  }
  char last = v.back();
  if (last == 'B' || last == 'K' || last == 'M' || last == 'G' || last == 'k' || last == 'g') {
    o.switch_bytes = parse_size(v, "--switch-output");
    return;
  }
  if (last == 's' || last == 'm' || last == 'h' || last == 'd') {
    o.switch_seconds = parse_duration(v, "--switch-output");
    return;
  }
  throw BadInput("invalid --switch-output: " + v + " (signal, a size such as 100M, or a time such as 30s)");
}

struct RecordArgs {
  record::RecordOptions opts;
  std::vector<std::string> pids, tids;
  std::string buffer_size;
  uint64_t mmap_pages = 0;
  bool no_embed = false, no_cpu = false;
  bool l7 = false;  // --l7 preset (syscall payloads)
  std::string call_graph;  // --call-graph fp|dwarf[,SIZE]
  std::optional<uint32_t> leaf_bytes;  // --leaf-stack-bytes
  bool lua = false, no_lua = false;
  std::string skb_netns, skb_proto, skb_host;
  std::string tcp_host;  // --host (with --tcp)
  std::string switch_output, max_size, flight, trigger_window, trigger_after;
  bool check = false;  // --check: kernel preflight only (record/preflight.h)
};

// --skb-netns: an inode number, or a path to a namespace file (/proc/PID/ns/net,
// /run/netns/NAME).
uint32_t parse_netns(const std::string& v) {
  char* end = nullptr;
  errno = 0;
  unsigned long long n = std::strtoull(v.c_str(), &end, 10);
  if (!v.empty() && *end == 0 && !errno && n > 0 && n <= UINT32_MAX) return uint32_t(n);
  struct stat st;
  if (stat(v.c_str(), &st) != 0)
    throw BadInput("--skb-netns " + v + ": not an inode number or a namespace file (" + strerror(errno) + ")");
  return uint32_t(st.st_ino);
}

uint8_t parse_l4(const std::string& v) {
  if (v == "tcp") return 6;
  if (v == "udp") return 17;
  if (v == "icmp") return 1;
  if (v == "icmpv6" || v == "icmp6") return 58;
  char* end = nullptr;
  unsigned long n = std::strtoul(v.c_str(), &end, 10);
  if (v.empty() || *end != 0 || n == 0 || n > 255)
    throw BadInput("invalid --skb-proto: " + v + " (tcp, udp, icmp, icmpv6 or a protocol number)");
  return uint8_t(n);
}

std::vector<uint8_t> parse_host(const std::string& v, const char* option = "--skb-host") {
  uint8_t b[16];
  if (inet_pton(AF_INET, v.c_str(), b) == 1) return {b, b + 4};
  if (inet_pton(AF_INET6, v.c_str(), b) == 1) return {b, b + 16};
  throw BadInput(std::string("invalid ") + option + ": " + v + " (an IPv4 or IPv6 address)");
}

// --call-graph fp|dwarf[,SIZE], perf's meaning: SIZE bytes of user stack per
// sample (default 8192, at most EBT_DWARF_MAX_STACK), rounded up to 8.
void parse_call_graph(const std::string& v, record::RecordOptions& o) {
  std::string mode = v.substr(0, v.find(','));
  std::string size = v.find(',') == std::string::npos ? "" : v.substr(v.find(',') + 1);
  if (mode == "fp" && size.empty()) {
    o.call_graph_dwarf = false;
    return;
  }
  if (mode != "dwarf") throw BadInput("invalid --call-graph: " + v + " (fp, dwarf or dwarf,SIZE)");
  o.call_graph_dwarf = true;
  if (size.empty()) return;
  char* end = nullptr;
  errno = 0;
  unsigned long long n = std::strtoull(size.c_str(), &end, 10);
  if (*end != 0 || errno || size[0] == '-' || n == 0 || n > 65528)
    throw BadInput("invalid --call-graph dwarf size: " + size + " (1..65528 bytes)");
  o.dwarf_stack_bytes = uint32_t((n + 7) / 8 * 8);
}

// No option is silently ignored (issue 14): an option given where nothing it
// could act on is recorded fails with one line naming the combination.
// tests/record/record_options_test.cpp enumerates these.
void refuse_ineffective(CLI::App& rec, const RecordArgs& a, const record::RecordOptions& o) {
  auto given = [&](const char* name) { return rec.get_option(name)->count() > 0; };
  auto refuse = [](const std::string& what) { throw BadInput(what); };
  const bool stacks = o.cpu || o.off_cpu;
  if (given("--off-cpu-min") && !o.off_cpu) refuse("--off-cpu-min has no effect without --off-cpu");
  if (given("--off-cpu-tasks") && !o.off_cpu) refuse("--off-cpu-tasks has no effect without --off-cpu");
  if (o.idle && !o.cpu) refuse("--idle samples the idle task on-CPU: it has no effect without on-CPU sampling (-F HZ)");
  if (given("--freq") && !o.cpu) refuse("-F/--freq has no effect with --no-cpu");
  if (!a.call_graph.empty() && !stacks)
    refuse("--call-graph has no effect without on-CPU sampling or --off-cpu (no user stacks are recorded)");
  if (a.leaf_bytes && !stacks)
    refuse("--leaf-stack-bytes has no effect without on-CPU sampling or --off-cpu (no user stacks are recorded)");
  if (o.keep_stack_bytes && !o.cpu)
    refuse("--keep-stack-bytes keeps on-CPU stack copies: it has no effect without on-CPU sampling (-F HZ)");
  if (o.embed_all_symbols && a.no_embed) refuse("--embed-all-symbols and --no-embed exclude each other");
  if (!a.buffer_size.empty() && a.mmap_pages) refuse("--buffer-size and -m/--mmap-pages both size the ring buffer: give one");
  if (given("--trigger-window") && o.triggers.empty()) refuse("--trigger-window has no effect without --trigger");
  if (given("--trigger-after") && o.triggers.empty()) refuse("--trigger-after has no effect without --trigger");
}

}  // namespace

void add_record_command(CLI::App& app, RunFn& run) {
  auto args = std::make_shared<RecordArgs>();
  auto* sub = app.add_subcommand("record", "Record on-CPU stacks (and more) into a capture file");
  sub->footer(
      "TARGETS: all processes unless -p/--tid/--comm/-- CMD is given.\n"
      "Stop with Ctrl-C (the capture is finalized), -d SECONDS, or when CMD exits.\n"
      "Needs root (CAP_BPF and CAP_PERFMON). The capture embeds the symbols it needs\n"
      "(--no-embed: report then needs --symfs or debuginfod). Idle CPU time (the\n"
      "swapper task) is not sampled unless --idle is given.\n"
      "EXAMPLES:\n"
      "  ebtrace record -F 99 -a -d 10            # whole system, 10 s, capture.ebt\n"
      "  ebtrace record -p 1234,1235 -o app.ebt   # some processes until Ctrl-C\n"
      "  ebtrace record -F 999 -- ./myprog arg    # a command and its children\n"
      "  ebtrace record --call-graph dwarf -p 42  # whole stacks without frame pointers\n"
      "  ebtrace record --container web -d 10     # one container (name, hostname or id prefix)");
  auto& o = args->opts;
  sub->add_flag("-a,--all-cpus", o.all, "Record all processes on all CPUs (the default without -p/--tid/COMMAND; with a COMMAND: everything while it runs, like perf)");
  sub->add_option("-p,--pid", args->pids, "Record these processes (and the children they start): PID[,PID...]");
  sub->add_option("--tid", args->tids, "Record these threads only: TID[,TID...]");
  sub->add_option("--comm", o.comm, "Record only tasks with this exact comm (15 bytes)");
  sub->add_option("--cgroup", o.cgroup,
                  "Record only tasks in this cgroup and its descendants, filtered in the kernel (on-CPU, "
                  "--off-cpu, --syscalls, --lua; --tcp: sockets created in it, passive opens by their "
                  "listener's cgroup; not --skb or --sched): a cgroup v2 directory or a path relative to the cgroup v2 "
                  "root, e.g. /system.slice/docker-<id>.scope (docs/containers.md)")
      ->type_name("PATH");
  sub->add_option("--container", o.container,
                  "Record only this running container (its cgroup, as --cgroup): its name, hostname or a "
                  "prefix of its id (docker, containerd, CRI-O, podman, systemd-nspawn, or a cgroup with "
                  "its own namespaces)")
      ->type_name("NAME|ID");
  sub->add_option("-F,--freq", o.frequency_hz, "Sampling frequency in Hz (default 99)");
  sub->add_option("-d,--duration", o.duration_s, "Stop after SECONDS (fractions allowed)");
  sub->add_option("-o,--output", o.output,
                  "Capture file to write (default capture.ebt; - streams it to stdout, e.g. over ssh)");
  sub->add_option("--buffer-size", args->buffer_size, "BPF ring buffer size, e.g. 8M (default 8M)");
  sub->add_option("-m,--mmap-pages", args->mmap_pages, "perf compatibility: ring buffer of PAGES x 4 KiB per CPU");
  sub->add_flag("--no-embed", args->no_embed, "Do not embed symbol tables and kernel symbols in the capture");
  sub->add_flag("--embed-all-symbols", o.embed_all_symbols,
                "Embed every function symbol of the hit objects (default: only those naming the sampled addresses)");
  sub->add_flag("--no-cpu", args->no_cpu, "No on-CPU sampling (only other enabled probe families)");
  sub->add_flag("--syscalls", o.syscalls,
                "Record read/write/readv/writev/sendto/recvfrom/sendmsg/recvmsg on sockets");
  sub->add_option("--payload-bytes", o.payload_bytes,
                  "With --syscalls: keep the first N bytes each syscall transferred (max 16384; "
                  "each event is as long as the bytes it keeps; payloads can hold secrets)");
  sub->add_flag("--l7", args->l7, "Preset for L7 latency: --syscalls on sockets, --payload-bytes 4096 (unless given)");
  sub->add_flag("--all-fds", o.all_fds, "With --syscalls: all file descriptors, not only sockets");
  sub->add_option("--port", o.port,
                  "With --syscalls: only sockets with this local or remote port; with --tcp: only connections "
                  "with this local or remote port");
  sub->add_flag("--tcp", o.tcp,
                "Record TCP connections: every state change, retransmits, resets, bytes/segments/RTT at close, "
                "the owning process (docs/tcp.md); alone, no on-CPU sampling: add -F HZ for both");
  sub->add_flag("--sched", o.sched,
                "Record scheduler latency (docs/sched.md): run-queue latency per thread and CPU, preemptions "
                "and who preempted, switches between cgroups per CPU, CPU throttling (cpu.stat) of the recorded "
                "cgroups; alone, no on-CPU sampling: add -F HZ for both");
  sub->add_option("--host", args->tcp_host, "With --tcp: only connections from or to this IPv4/IPv6 address");
  sub->add_option("--call-graph", args->call_graph,
                  "How user stacks are unwound: fp (frame pointers, the default) or dwarf[,SIZE] "
                  "(copy SIZE bytes of user stack per sample, default 8192, unwound by the recorder "
                  "with the objects' CFI: whole stacks without frame pointers)");
  sub->add_option("--leaf-stack-bytes", args->leaf_bytes,
                  "fp mode: bytes of user stack copied per sample and per switch to restore the caller of a "
                  "leaf function without a frame (libc wrappers, memcpy) from its CFI (default 512, at most "
                  "1024; 0 turns leaf repair off)");
  sub->add_flag("--keep-stack-bytes", o.keep_stack_bytes,
                "With --call-graph dwarf (implied): store the raw user stacks and the CFI of the objects "
                "they pass through instead of unwinding while recording; report unwinds offline (perf's "
                "model: less recorder CPU, much larger captures)");
  sub->add_flag("--lua", args->lua,
                "LuaJIT frames in the on-CPU stacks and, with --off-cpu, in the off-CPU ones (implies "
                "--call-graph dwarf); on by default when a target runs LuaJIT");
  sub->add_flag("--no-lua", args->no_lua, "No LuaJIT frames, even when a target runs LuaJIT");
  sub->add_flag("--skb", o.skb_hops,
                "Record packet hops through the kernel network stack (device queue/xmit, receive, copy to "
                "a reader, drop with reason, consume); alone, no on-CPU sampling: add -F HZ for both");
  sub->add_option("--skb-netns", args->skb_netns,
                  "With --skb: only packets in this network namespace (inode number or /proc/PID/ns/net, "
                  "/run/netns/NAME)");
  sub->add_option("--skb-proto", args->skb_proto, "With --skb: only tcp, udp, icmp, icmpv6 (or a protocol number)");
  sub->add_option("--skb-host", args->skb_host, "With --skb: only packets from or to this IPv4/IPv6 address");
  sub->add_option("--skb-port", o.skb.port, "With --skb: only TCP/UDP packets from or to this port");
  sub->add_flag("--skb-stack", o.skb.stacks, "With --skb: a kernel stack at every hop (default: at drops only)");
  sub->add_flag("--idle", o.idle, "Also sample the idle task (pid 0, shown as swapper)");
  sub->add_flag("--off-cpu", o.off_cpu,
                "Record off-CPU intervals (sched_switch): where threads blocked and for how long. "
                "Alone, no on-CPU sampling; add -F HZ for both");
  sub->add_option("--off-cpu-min", o.off_cpu_min_us,
                  "With --off-cpu: keep intervals of at least USECS (default 100); shorter ones are only counted");
  sub->add_flag("--off-cpu-waker", o.off_cpu_waker, "With --off-cpu: also record the waker's stack");
  sub->add_option("--off-cpu-tasks", o.off_cpu_tasks,
                  "With --off-cpu: threads tracked at once (kernel map size, default 16384)");
  sub->add_option("--switch-output", args->switch_output,
                  "Continuous recording: close the capture and start a new one (OUTPUT.YYYYmmddHHMMSScc, "
                  "or -o with strftime %-fields) on SIGUSR2 (signal, the default), after SIZE bytes (e.g. 100M) "
                  "or every TIME (e.g. 30s, 5m, 1h)")
      ->expected(0, 1);
  sub->add_option("--switch-max-files", o.switch_max_files,
                  "With --switch-output or --flight-recorder: keep at most N files (the oldest are deleted)");
  sub->add_option("--max-size", args->max_size,
                  "The recording's files together stay within SIZE (e.g. 1G): the oldest are deleted, a file "
                  "is switched at SIZE/2");
  sub->add_option("--flight-recorder", args->flight,
                  "Keep the last DURATION (e.g. 30s) of events in memory; write them to a file on SIGUSR2 or "
                  "when a --trigger fires, then go on");
  sub->add_option("--trigger", o.triggers,
                  "With --flight-recorder: write the window when EXPR holds over --trigger-window: cpu>PERCENT% "
                  "(CPU of the recorded tasks, % of one CPU) or offcpu>DURATION (blocked time, needs --off-cpu)");
  sub->add_option("--trigger-window", args->trigger_window, "Sliding window a --trigger is measured over (default 5s)");
  sub->add_option("--trigger-after", args->trigger_after,
                  "Also record this long after a --trigger fires, before writing (default 5s)");
  sub->add_flag("-v,--verbose", o.verbose, "Show libbpf debug output and the BPF verifier log");
  sub->add_flag("--check", args->check,
                "Record nothing: check that this kernel and these privileges can run what the other "
                "options ask for (BTF, tracefs, ring buffer, perf events, every probe family loaded "
                "for real); one line per capability, exit 1 if a needed one is missing");
  sub->add_option("--ready-file", o.ready_file, "Create FILE once the probes are attached")->group("");
  sub->add_option("command", o.command, "Command to start and record (after --)");

  sub->callback([args, &run, &app] {
    run = [args, &app]() -> int {
      auto& a = *args;
      record::RecordOptions opts = a.opts;
      opts.pids = parse_id_list(a.pids, "pid");
      opts.tids = parse_id_list(a.tids, "tid");
      opts.embed = !a.no_embed;
      opts.cpu = !a.no_cpu;
      if (opts.off_cpu_waker) opts.off_cpu = true;
      if (!a.skb_netns.empty()) opts.skb.netns = parse_netns(a.skb_netns);
      if (!a.skb_proto.empty()) opts.skb.l4_protocol = parse_l4(a.skb_proto);
      if (!a.skb_host.empty()) opts.skb.addr = parse_host(a.skb_host);
      if (!a.skb_netns.empty() || !a.skb_proto.empty() || !a.skb_host.empty() || opts.skb.port || opts.skb.stacks)
        opts.skb_hops = true;
      if (!a.tcp_host.empty()) {
        if (!opts.tcp) throw BadInput("--host filters --tcp connections: it needs --tcp");
        opts.tcp_filter.addr = parse_host(a.tcp_host, "--host");
      }
      if (opts.tcp) {
        if (!opts.tids.empty())
          throw BadInput("--tcp records connections of processes: --tid cannot select them (use -p)");
        opts.tcp_filter.port = opts.port;
      }
      if ((opts.off_cpu || opts.skb_hops || opts.tcp || opts.sched) &&
          app.get_subcommand("record")->get_option("--freq")->count() == 0)
        opts.cpu = false;  // --off-cpu / --skb alone: no perf_event sampling
      if (opts.off_cpu && opts.off_cpu_tasks == 0) throw BadInput("--off-cpu-tasks must be at least 1");
      if (a.l7) {
        opts.syscalls = true;
        if (opts.payload_bytes == 0) opts.payload_bytes = 4096;  // a pipelined batch fits: docs/l7.md
      }
      // --port alone selects syscalls; with --tcp it filters the connections.
      if (opts.payload_bytes > 0 || opts.all_fds || (opts.port != 0 && !opts.tcp)) opts.syscalls = true;
      if (!a.buffer_size.empty()) opts.buffer_bytes = parse_size(a.buffer_size);
      if (!a.call_graph.empty()) parse_call_graph(a.call_graph, opts);
      if (opts.keep_stack_bytes) {
        if (!a.call_graph.empty() && !opts.call_graph_dwarf)
          throw BadInput("--keep-stack-bytes keeps DWARF stack copies: it needs --call-graph dwarf, not " +
                         a.call_graph);
        opts.call_graph_dwarf = true;
      }
      // --lua (docs/lua.md): the Lua walk runs in the dwarf sampler and, with
      // --off-cpu, at each switch-out.
      const bool fp_asked = !a.call_graph.empty() && !opts.call_graph_dwarf;
      const bool lua_can = opts.cpu || opts.off_cpu;
      if (a.lua && a.no_lua) throw BadInput("--lua and --no-lua exclude each other");
      if (a.lua) {
        if (fp_asked) throw BadInput("--lua needs --call-graph dwarf: frame pointers cannot cross the LuaJIT VM");
        if (!lua_can)
          throw BadInput("--lua adds Lua frames to on-CPU samples and off-CPU intervals: it needs -F or --off-cpu");
        opts.lua = opts.call_graph_dwarf = true;
      } else if (!a.no_lua && lua_can && !fp_asked) {
        if (opts.call_graph_dwarf) {
          opts.lua = true;  // costs nothing for processes without a VM
        } else if (record::lua_in_targets(opts)) {
          opts.lua = opts.call_graph_dwarf = true;
          std::fprintf(stderr, "ebtrace: a target runs LuaJIT: recording Lua frames with --call-graph dwarf "
                               "(--no-lua or --call-graph fp turn this off)\n");
        }
      }
      if (a.leaf_bytes) {
        if (opts.call_graph_dwarf)
          throw BadInput("--leaf-stack-bytes repairs frame-pointer stacks: it has no effect with --call-graph dwarf");
        if (*a.leaf_bytes > EBT_LEAF_MAX_STACK)
          throw BadInput("invalid --leaf-stack-bytes: " + std::to_string(*a.leaf_bytes) + " (0.." +
                         std::to_string(EBT_LEAF_MAX_STACK) + ")");
        opts.leaf_stack_bytes = (*a.leaf_bytes + 7) / 8 * 8;
      }
      refuse_ineffective(*app.get_subcommand("record"), a, opts);
      if (opts.off_cpu && opts.call_graph_dwarf) {
        if (opts.keep_stack_bytes)
          throw BadInput("--keep-stack-bytes with --off-cpu: raw off-CPU stacks cannot be stored yet "
                         "(off-CPU stacks are unwound while recording; drop --keep-stack-bytes)");
        if (opts.dwarf_stack_bytes > EBT_OFFCPU_MAX_STACK)
          throw BadInput("--off-cpu --call-graph dwarf," + std::to_string(opts.dwarf_stack_bytes) +
                         ": off-CPU stack copies are at most " + std::to_string(EBT_OFFCPU_MAX_STACK) + " bytes");
      }
      if (a.mmap_pages) {
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        opts.buffer_bytes = a.mmap_pages * 4096ull * uint64_t(ncpu > 0 ? ncpu : 1);
      }
      if (opts.frequency_hz == 0) throw BadInput("-F/--freq must be at least 1");
      auto* rec = app.get_subcommand("record");
      if (rec->get_option("--switch-output")->count() > 0) parse_switch_output(a.switch_output, opts);
      if (!a.max_size.empty()) opts.max_size = parse_size(a.max_size, "--max-size");
      if (!a.flight.empty()) opts.flight_seconds = parse_duration(a.flight, "--flight-recorder");
      if (!a.trigger_window.empty()) opts.trigger_window_s = parse_duration(a.trigger_window, "--trigger-window");
      if (!a.trigger_after.empty()) {
        opts.trigger_after_s = a.trigger_after == "0" ? 0 : parse_duration(a.trigger_after, "--trigger-after");
      }
      if (a.check) {
        bool ready = true;
        for (const auto& line : record::check_kernel(opts)) {
          std::printf("%s\n", record::format_check_line(line).c_str());
          ready = ready && (line.ok || !line.needed);
        }
        return ready ? kExitOk : kExitRuntime;
      }
      if (opts.output == "-") {
        // Streamed (ssh host ebtrace record ... -o - > capture.ebt): the file is
        // written front to back, so a pipe works; a terminal would get binary junk.
        if (isatty(STDOUT_FILENO)) throw BadInput("-o -: standard output is a terminal; redirect it to a file or a pipe");
      }
      {
        std::ifstream in("/proc/self/cmdline", std::ios::binary);
        std::string arg;
        while (std::getline(in, arg, '\0')) opts.command_line.push_back(arg);
      }
      std::string text;
      for (auto* opt : app.get_subcommand("record")->get_options()) {
        if (opt->count() == 0 || opt->get_name() == "--help") continue;
        if (!text.empty()) text += " ";
        text += opt->get_name() + "=" + opt->as<std::string>();
      }
      opts.options_text = text;

      g_stop.store(false);
      struct sigaction sa {};
      sa.sa_handler = on_stop_signal;
      sigemptyset(&sa.sa_mask);
      sa.sa_flags = 0;  // no SA_RESTART: the poll wakes up with EINTR
      sigaction(SIGINT, &sa, nullptr);
      sigaction(SIGTERM, &sa, nullptr);
      signal(SIGPIPE, SIG_IGN);
      g_user_signal.store(false);
      if (opts.switch_signal || opts.flight_seconds > 0) {
        sa.sa_handler = on_user_signal;  // switch the file / dump the flight recorder
        sigaction(SIGUSR2, &sa, nullptr);
      }

      record::Recorder recorder(std::move(opts));
      record::RecordSummary s = recorder.run(&g_stop, &g_user_signal);
      std::fprintf(stderr, "%s\n", s.line.c_str());
      return kExitOk;
    };
  });
}

}  // namespace ebt::cli
