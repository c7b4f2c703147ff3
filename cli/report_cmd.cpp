// `ebtrace report`: symbolize a capture offline and print a text summary, folded
// stacks, or an interactive SVG flame graph.
#include <cerrno>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>

#include "cli/capture_arg.h"
#include "cli/commands.h"
#include "common/error.h"
#include "report/aggregate.h"
#include "report/flamegraph_svg.h"
#include "report/folded.h"
#include "report/load.h"
#include "report/offcpu_latency.h"
#include "report/skb_report.h"
#include "report/offcpu_profile.h"
#include "report/offcpu_trace.h"
#include "report/text_report.h"
#include "report/l7/l7_load.h"
#include "report/l7/l7_trace.h"

namespace ebt::cli {
namespace {

struct ReportArgs {
  CaptureArg capture;
  bool folded = false;
  std::string output;
  std::string flamegraph;
  std::string title;
  size_t top = 30;
  std::string pids, tids, comms, time;
  bool no_kernel = false;
  bool no_inline = false;
  bool lua_only = false;  // --lua-only (docs/lua.md)
  std::vector<std::string> symfs;
  bool debuginfod = true;
  bool no_debuginfod = false;
  bool debuginfod_asked = false;  // --debuginfod given explicitly
  bool embedded_only = false;
  bool verbose = false;
  // off-CPU data and the timeline
  bool off_cpu = false;
  bool on_off = false;
  bool wakers = false;
  std::string weight;
  std::string trace;
  bool latency = false;
  bool skb = false;
  std::string format = "text";
  // L7 requests (syscall payload captures)
  std::string by;
  bool show_payload = false;
};

std::string describe_filters(const ReportArgs& a) {
  std::string s;
  auto add = [&](const std::string& part) { s += (s.empty() ? "" : " ") + part; };
  if (!a.pids.empty()) add("--pid " + a.pids);
  if (!a.tids.empty()) add("--tid " + a.tids);
  if (!a.comms.empty()) add("--comm " + a.comms);
  if (!a.time.empty()) add("--time " + a.time);
  if (a.no_kernel) add("--no-kernel");
  if (a.no_inline) add("--no-inline");
  if (a.lua_only) add("--lua-only");
  return s;
}

// Writes through a temporary file so a failed run never leaves half an output.
void write_file(const std::string& path, const std::string& content) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) throw RuntimeFailure("cannot write " + path + ": " + std::strerror(errno));
    f << content;
    f.flush();
    if (!f) throw RuntimeFailure("cannot write " + path + ": " + std::strerror(errno));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw RuntimeFailure("cannot write " + path + ": " + std::strerror(errno));
  }
}

int run_report(const ReportArgs& a) {
  std::string input;
  if (a.capture.positional.empty() && a.capture.input.empty()) {
    input = "capture.ebt";  // like perf's perf.data
  } else {
    input = a.capture.path("report");
  }
  report::Filter filter;
  if (!a.pids.empty()) filter.pids = report::parse_id_list(a.pids, "--pid");
  if (!a.tids.empty()) filter.tids = report::parse_id_list(a.tids, "--tid");
  if (!a.comms.empty()) filter.comms = report::parse_name_list(a.comms);
  if (!a.time.empty())  // 03:10,03:20: wall-clock (UTC) times
    report::parse_time_range(a.time.find(':') == std::string::npos
                                 ? a.time
                                 : format::wall_time_range(a.time, format::CaptureReader(input).session()),
                             filter);
  filter.no_kernel = a.no_kernel;
  filter.no_inline = a.no_inline;

  symbolize::SymbolizerOptions sym;
  sym.symfs = a.symfs;
  sym.inline_frames = !a.no_inline;
  sym.debuginfod = a.debuginfod && !a.no_debuginfod && std::getenv("DEBUGINFOD_URLS") != nullptr &&
                   *std::getenv("DEBUGINFOD_URLS") != '\0';
#ifdef EBTRACE_STATIC_BUILD
  // The static binary has no debuginfod client (packaging/static/no_debuginfod.c).
  if (a.debuginfod_asked)
    throw BadInput("--debuginfod: this static ebtrace has no debuginfod client; use the packaged ebtrace, or --symfs");
  if (sym.debuginfod)
    std::fprintf(stderr, "ebtrace report: DEBUGINFOD_URLS is ignored: this static ebtrace has no debuginfod "
                         "client (symbols come from the capture, local files and --symfs)\n");
  sym.debuginfod = false;
#endif
  if (a.embedded_only) {  // golden tests: names from the capture alone
    sym.symfs.clear();
    sym.debug_dirs.clear();
    sym.local_files = sym.debuginfod = false;
  }

  // EBTRACE_TIMING=1: phase times on stderr (benchmarks).
  const bool timing = std::getenv("EBTRACE_TIMING") != nullptr;
  auto t0 = std::chrono::steady_clock::now();
  std::clock_t c0 = std::clock();
  auto phase = [&](const char* what) {
    if (!timing) return;
    auto t = std::chrono::steady_clock::now();
    std::clock_t c = std::clock();
    std::fprintf(stderr, "ebtrace: timing: %s %.3f s wall, %.3f s cpu\n", what,
                 std::chrono::duration<double>(t - t0).count(),
                 static_cast<double>(c - c0) / CLOCKS_PER_SEC);
    t0 = t;
    c0 = c;
  };
  // A text output goes to -o FILE, else to stdout.
  auto emit = [&](const std::string& text) {
    if (a.output.empty() || a.output == "-") {
      std::fwrite(text.data(), 1, text.size(), stdout);
      if (std::fflush(stdout) != 0) throw RuntimeFailure("cannot write to stdout");
    } else {
      write_file(a.output, text);
    }
  };
  auto profile = report::load_profile(input, sym);
  phase("load");
  profile->lua_only = a.lua_only;
  for (const auto& w : profile->warnings) std::fprintf(stderr, "ebtrace: warning: %s\n", w.c_str());
  if (profile->samples.empty() && profile->off_cpu.empty() && !a.skb) {
    std::fprintf(stderr, "ebtrace: warning: %s holds no on-CPU samples\n", input.c_str());
  }
  if ((a.off_cpu || a.on_off) && profile->off_cpu.empty())
    std::fprintf(stderr, "ebtrace: warning: %s holds no off-CPU intervals (record with --off-cpu)\n",
                 input.c_str());
  // On-CPU samples by default; off-CPU intervals with --off-cpu (or when that is
  // all the capture has); both with --on-off.
  report::StackSelection selection = report::select_stacks(*profile, a.off_cpu, a.on_off, a.weight, a.wakers);
  report::StackAggregate stacks = report::aggregate(*profile, selection.samples, filter);
  phase("symbolize+aggregate");
  stacks.unit = selection.unit;

  if (a.verbose) {
    if (profile->raw_stacks)
      std::fprintf(stderr, "ebtrace: unwound %llu raw user stacks (--keep-stack-bytes): %llu to the outermost frame\n",
                   static_cast<unsigned long long>(profile->raw_stacks),
                   static_cast<unsigned long long>(profile->raw_stacks_to_end));
    for (const auto& o : profile->symbolizer.objects()) {
      std::string file = o.file.empty() ? "" : " " + o.file;
      std::fprintf(stderr, "ebtrace: symbols: %s (build-id %s): %s%s%s\n", o.path.c_str(),
                   o.build_id.empty() ? "none" : o.build_id.c_str(), symbolize::symbol_source_name(o.names),
                   file.c_str(), o.dwarf ? " +dwarf" : "");
      for (const auto& r : o.rejected) std::fprintf(stderr, "ebtrace:   refused %s\n", r.c_str());
    }
  }

  bool text = !a.folded && a.flamegraph.empty() && a.trace.empty() && !a.latency && !a.skb;
  // L7 requests from syscall payloads, read only when an output needs them.
  std::optional<report::l7::L7Analysis> l7;
  if (!a.trace.empty() || a.latency) {
    report::l7::L7Input in = report::l7::load_l7_input(input);
    if (!in.events.empty()) l7 = report::l7::analyze_l7(std::move(in));
  }
  if (!a.trace.empty()) {
    report::TraceJson trace = report::start_trace(*profile);
    size_t n = report::add_offcpu_to_trace(trace, *profile, filter);
    n += report::add_cpu_samples_to_trace(trace, *profile, filter);
    // Other record kinds add their tracks to `trace` here.
    if (l7) n += report::l7::add_l7_trace(*l7, trace);
    n += report::add_skb_to_trace(trace, *profile);
    std::ostringstream js;
    trace.write(js);
    write_file(a.trace, js.str());
    std::fprintf(stderr, "ebtrace: wrote %s (%zu records, %zu trace events)\n", a.trace.c_str(), n,
                 trace.event_count());
  }
  if (a.latency) {
    report::LatencyFormat fmt = a.format == "csv"    ? report::LatencyFormat::kCsv
                                : a.format == "json" ? report::LatencyFormat::kJson
                                                     : report::LatencyFormat::kText;
    std::ostringstream lat;
    if (!profile->off_cpu.empty()) {
      report::write_offcpu_latency(
          lat, report::offcpu_latency(report::filter_intervals(*profile, filter), report::offcpu_naming(*profile)),
          fmt, a.top);
    }
    // Other latency sections (e.g. requests) are appended to `lat` here.
    if (l7) {
      report::l7::LatencyOptions lo;
      lo.by = a.by == "conn" ? report::l7::GroupBy::kConn
              : a.by == "pid" ? report::l7::GroupBy::kPid
              : a.by == "peer" ? report::l7::GroupBy::kPeer
                               : report::l7::GroupBy::kNone;
      lo.format = a.format == "csv"    ? report::l7::TableFormat::kCsv
                  : a.format == "json" ? report::l7::TableFormat::kJson
                                       : report::l7::TableFormat::kText;
      lo.show_payload = a.show_payload;
      if (!lat.str().empty() && lo.format == report::l7::TableFormat::kText) lat << "\n";
      report::l7::write_l7_latency(*l7, lo, lat);
    }
    if (lat.str().empty())
      std::fprintf(stderr, "ebtrace: warning: %s holds nothing for --latency\n", input.c_str());
    emit(lat.str());
  }
  if (a.skb) {
    if (a.format == "csv") throw BadInput("--skb has no csv format (text or json)");
    if (profile->skb_hops.empty())
      std::fprintf(stderr, "ebtrace: warning: %s holds no packet hops (record with --skb)\n", input.c_str());
    report::SkbReport sr = report::skb_report(*profile);
    std::ostringstream out;
    if (a.format == "json")
      report::write_skb_json(sr, out);
    else
      report::write_skb_text(sr, a.top, out);
    emit(out.str());
  }
  if (!a.flamegraph.empty()) {
    report::FlameGraphOptions fo;
    fo.title = a.title.empty() ? selection.title : a.title;
    fo.subtitle = report::flamegraph_subtitle(*profile, stacks);
    fo.unit = stacks.unit;
    std::ostringstream svg;
    report::write_flamegraph_svg(*profile, stacks, fo, svg);
    write_file(a.flamegraph, svg.str());
    std::fprintf(stderr, "ebtrace: wrote %s (%llu %s, %zu stacks)\n", a.flamegraph.c_str(),
                 static_cast<unsigned long long>(stacks.total_weight), stacks.unit.c_str(),
                 stacks.stacks.size());
  }
  if (a.folded || text) {
    std::ostringstream out;
    if (a.folded) {
      report::write_folded(*profile, stacks, out);
    } else {
      report::TextReportOptions to;
      to.top = a.top;
      to.input = input;
      to.filters = describe_filters(a);
      report::write_text_report(*profile, stacks, to, out);
    }
    emit(out.str());
  }
  phase("output");
  // Like info/dump: what was readable is reported, but corruption is bad input.
  return profile->corrupted ? kExitBadInput : kExitOk;
}

}  // namespace

void add_report_command(CLI::App& app, RunFn& run) {
  auto* sub = app.add_subcommand(
      "report", "Symbolize a capture offline: text summary, folded stacks, or an SVG flame graph");
  auto a = std::make_shared<ReportArgs>();
  a->capture.recording = true;  // several files, a directory or a glob: one recording
  a->capture.add_to(sub);
  sub->add_flag("--folded", a->folded,
                "Print FlameGraph collapsed stacks (comm;root;...;leaf COUNT) instead of the text report");
  sub->add_option("-o,--output", a->output, "Write the text report or folded stacks to FILE (default stdout)")
      ->type_name("FILE");
  sub->add_option("--flamegraph", a->flamegraph, "Write an interactive SVG flame graph to FILE")
      ->type_name("FILE");
  sub->add_option("--title", a->title, "Flame graph title");
  sub->add_option("--top", a->top, "Lines per table in the text report (default 30)")->type_name("N");
  sub->add_option("--pid", a->pids, "Only these processes (comma-separated pids)")->type_name("PID[,PID...]");
  sub->add_option("--tid", a->tids, "Only these threads (comma-separated tids)")->type_name("TID[,TID...]");
  sub->add_option("--comm", a->comms, "Only these commands (thread or process name, comma-separated)")
      ->type_name("NAME[,NAME...]");
  sub->add_option("--time", a->time,
                  "Only samples in START,END seconds from capture start, or UTC wall-clock times (03:10,03:20); "
                  "either side optional (e.g. 2.5, or ,10)")
      ->type_name("START,END");
  sub->add_flag("--no-kernel", a->no_kernel, "Hide kernel frames");
  sub->add_flag("--no-inline", a->no_inline, "Hide inlined-function frames");
  sub->add_flag("--lua-only", a->lua_only,
                "Samples with Lua frames show only those (C functions called from Lua as C:name, FFI calls as "
                "the C function under their Lua caller)");
  sub->add_option("--symfs", a->symfs,
                  "Look for binaries/debug files under DIR (DIR/<path>, DIR/.build-id/xx/rest.debug); repeatable")
      ->type_name("DIR");
  sub->add_flag("--debuginfod,!--no-debuginfod", a->debuginfod,
                "Ask debuginfod servers (DEBUGINFOD_URLS) for debug files (default: on when DEBUGINFOD_URLS is set)");
  sub->add_flag("--embedded-symbols-only", a->embedded_only,
                "Name frames only from the symbols embedded in the capture (no local files, --symfs, debug "
                "directories or debuginfod): the same output on every machine");
  sub->add_flag("-v,--verbose", a->verbose, "Say on stderr where each object's symbols came from (and, for --keep-stack-bytes captures, how many raw stacks unwound to the end)");
  sub->add_flag("--off-cpu", a->off_cpu,
                "Stacks from off-CPU intervals (record --off-cpu) instead of on-CPU samples; the "
                "default when the capture has no samples");
  sub->add_flag("--on-off", a->on_off,
                "On-CPU samples and off-CPU intervals in one flame graph, weighted by time; "
                "off-CPU stacks sit under an [off-cpu: STATE] frame");
  sub->add_flag("--wakers", a->wakers,
                "Waker stacks (record --off-cpu-waker) weighted by the time they made others wait; "
                "each under a [woke: COMM] frame naming the wakee");
  sub->add_option("--weight", a->weight,
                  "Off-CPU weight: time (blocked ns, default) or count (context switches)")
      ->type_name("time|count");
  sub->add_option("--trace", a->trace,
                  "Write a Chrome trace JSON timeline (Perfetto UI, chrome://tracing) to FILE")
      ->type_name("FILE");
  sub->add_flag("--skb", a->skb,
                "Packets recorded with --skb: drops by reason and kernel function, the paths packets took "
                "through the stack, latency between hops (--format json for one JSON object)");
  sub->add_flag("--latency", a->latency,
                "Latency tables: off-CPU time per thread and per blocking frame (count, total, p50/p90/p99/max); "
                "Redis/HTTP/MySQL/PostgreSQL requests per command from --l7 captures (count, errors, req/s, "
                "p50..p99.9, max) and proxy hops (inbound, upstream, own latency per route)");
  sub->add_option("--format", a->format, "Format of --latency tables (text, csv or json) and of --skb (text or json)")
      ->check(CLI::IsMember({"text", "csv", "json"}))
      ->type_name("text|csv|json");
  sub->add_option("--by", a->by, "Regroup the request latency table by connection, process or peer")
      ->check(CLI::IsMember({"conn", "pid", "peer"}))
      ->type_name("conn|pid|peer");
  sub->add_flag("--show-payload", a->show_payload,
                "Text reports may print payload bytes (first bytes of unrecognised connections)");
  sub->footer(std::string(kReadExitCodes) +
              "\nEXAMPLES:\n"
              "  ebtrace report                                   # text summary of ./capture.ebt\n"
              "  ebtrace report -i capture.ebt --flamegraph cpu.svg\n"
              "  ebtrace report capture.ebt --folded > out.folded # for flamegraph.pl / inferno / speedscope\n"
              "  ebtrace report capture.ebt --pid 1234 --time 5,15 --no-kernel\n"
              "  ebtrace report capture.ebt --symfs /srv/debug    # when the capture was recorded with --no-embed\n"
              "  ebtrace report off.ebt --flamegraph off.svg --weight count  # off-CPU: context switches\n"
              "  ebtrace report both.ebt --on-off --flamegraph wall.svg       # on + off-CPU wall-clock time\n"
              "  ebtrace report off.ebt --trace trace.json --latency          # timeline + latency tables");
  sub->callback([&run, a, sub] {
    a->debuginfod_asked = a->debuginfod && sub->get_option("--debuginfod")->count() > 0;
    run = [a] { return run_report(*a); };
  });
}

}  // namespace ebt::cli
