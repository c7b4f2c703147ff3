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
#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <functional>
#include <sstream>

#include "cli/capture_arg.h"
#include "cli/commands.h"
#include "common/error.h"
#include "report/aggregate.h"
#include "report/family.h"
#include "report/run.h"

namespace ebt::cli {
namespace {

struct ReportArgs {
  CaptureArg capture;
  std::string output;
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
  std::string trace;
  std::string trace_max_size;  // "" = 100M
  bool latency = false;
  std::string format = "text";
  report::StackViewFlags view;  // --off-cpu, --on-off, --wakers, --weight
  bool by_host = false;
  std::string containers;  // --container NAME|ID[,...]
  std::string by;          // --by (container here; the families add their own choices)
  std::string group;       // --group container
  bool diff = false;  // --diff BASE NEW
  // Every family, created before parsing so it can declare its options.
  std::vector<std::unique_ptr<report::ReportFamily>> families;
};

// Family options onto CLI11.
class CliOptions : public report::OptionSink {
 public:
  explicit CliOptions(CLI::App* app) : app_(app) {}
  void flag(const std::string& names, bool* value, const std::string& help) override {
    app_->add_flag(names, *value, help);
  }
  // Two families may declare the same option (e.g. --by, for l7 and tcp): one
  // CLI11 option sets both, and accepts the choices of either.
  void option(const std::string& names, std::string* value, const std::string& help, const std::string& type_name,
              const std::vector<std::string>& choices) override {
    auto it = shared_.find(names);
    if (it != shared_.end()) {
      Shared& s = *it->second;
      s.targets.push_back(value);
      for (const auto& c : choices)
        if (std::find(s.choices->begin(), s.choices->end(), c) == s.choices->end()) s.choices->push_back(c);
      std::string all;
      for (const auto& c : *s.choices) all += (all.empty() ? "" : "|") + c;
      s.option->description(s.option->get_description() + "; " + help);
      if (!s.choices->empty()) s.option->type_name(all);
      return;
    }
    auto s = std::make_shared<Shared>();
    s->targets.push_back(value);
    *s->choices = choices;
    s->option = app_->add_option_function<std::string>(
                        names, [s](const std::string& v) { for (auto* t : s->targets) *t = v; }, help)
                    ->type_name(type_name);
    if (!choices.empty()) s->option->check(CLI::IsMember(s->choices));
    shared_[names] = s;
  }

 private:
  struct Shared {
    std::vector<std::string*> targets;
    std::shared_ptr<std::vector<std::string>> choices = std::make_shared<std::vector<std::string>>();
    CLI::Option* option = nullptr;
  };
  CLI::App* app_;
  std::map<std::string, std::shared_ptr<Shared>> shared_;
};

std::string describe_filters(const ReportArgs& a) {
  std::string s;
  auto add = [&](const std::string& part) { s += (s.empty() ? "" : " ") + part; };
  if (!a.pids.empty()) add("--pid " + a.pids);
  if (!a.tids.empty()) add("--tid " + a.tids);
  if (!a.comms.empty()) add("--comm " + a.comms);
  if (!a.containers.empty()) add("--container " + a.containers);
  if (!a.time.empty()) add("--time " + a.time);
  if (a.no_kernel) add("--no-kernel");
  if (a.no_inline) add("--no-inline");
  if (a.lua_only) add("--lua-only");
  return s;
}

// Writes through a temporary file so a failed run never leaves half an output.
void write_file(const std::string& path, const std::function<void(std::ostream&)>& write) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) throw RuntimeFailure("cannot write " + path + ": " + std::strerror(errno));
    write(f);
    f.flush();
    if (!f) {
      std::remove(tmp.c_str());
      throw RuntimeFailure("cannot write " + path + ": " + std::strerror(errno));
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw RuntimeFailure("cannot write " + path + ": " + std::strerror(errno));
  }
}

// std::ostream onto stdout's FILE (large outputs are streamed, not built in memory).
class StdoutBuf : public std::streambuf {
 protected:
  int_type overflow(int_type c) override {
    if (c == traits_type::eof()) return traits_type::not_eof(c);
    return std::fputc(c, stdout) == EOF ? traits_type::eof() : c;
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    return static_cast<std::streamsize>(std::fwrite(s, 1, static_cast<size_t>(n), stdout));
  }
};
class StdoutStream : public std::ostream {
 public:
  StdoutStream() : std::ostream(&buf_) {}

 private:
  StdoutBuf buf_;
};

int run_report(const ReportArgs& a) {
  report::RunOptions run;
  if (a.capture.positional.empty() && a.capture.input.empty()) {
    run.input = "capture.ebt";  // like perf's perf.data
  } else {
    std::vector<std::string> inputs;
    if (a.diff) {  // in the order given (several recordings are otherwise ordered by time)
      const auto& given = a.capture.positional;
      if (given.size() != 2 || !a.capture.input.empty())
        throw BadInput("--diff compares two captures: ebtrace report --diff BASE.ebt NEW.ebt (" +
                       std::to_string(given.size() + (a.capture.input.empty() ? 0 : 1)) + " given)");
      std::vector<std::string> notes;
      run.diff_base = format::open_recording({given[0]}, &notes);
      inputs.push_back(format::open_recording({given[1]}, &notes));
      for (const auto& n : notes) std::fprintf(stderr, "ebtrace: warning: %s\n", n.c_str());
    } else {
      inputs = a.capture.paths("report");
    }
    run.input = inputs.front();
    run.more_inputs.assign(inputs.begin() + 1, inputs.end());
  }
  run.by_host = a.by_host;
  report::Filter& filter = run.filter;
  if (!a.pids.empty()) filter.pids = report::parse_id_list(a.pids, "--pid");
  if (!a.tids.empty()) filter.tids = report::parse_id_list(a.tids, "--tid");
  if (!a.comms.empty()) filter.comms = report::parse_name_list(a.comms);
  if (!a.containers.empty())
    for (const auto& c : report::parse_name_list(a.containers)) filter.containers.push_back(c);
  run.by_container = a.by == "container";
  if (a.by == "host") {
    if (a.latency) throw BadInput("--by host groups stacks by host; --latency groups by conn, pid, peer or container");
    run.by_host = true;
  }
  run.group_container = a.group == "container";
  if (!a.time.empty())  // 03:10,03:20: wall-clock (UTC) times
    report::parse_time_range(a.time.find(':') == std::string::npos
                                 ? a.time
                                 : format::wall_time_range(a.time, format::CaptureReader(run.input).session()),
                             filter);
  filter.no_kernel = a.no_kernel;
  filter.no_inline = a.no_inline;
  run.filter_text = describe_filters(a);
  run.output = a.output;
  run.top = a.top;
  run.format = a.format == "csv"    ? report::TableFormat::kCsv
               : a.format == "json" ? report::TableFormat::kJson
                                    : report::TableFormat::kText;
  run.trace = a.trace;
  if (!a.trace_max_size.empty() && a.trace.empty()) throw BadInput("--trace-max-size applies to --trace FILE");
  run.trace_max_bytes = a.trace_max_size.empty() ? 100ull << 20
                        : a.trace_max_size == "0" ? 0
                                                  : report::parse_byte_size(a.trace_max_size, "--trace-max-size");
  run.latency = a.latency;
  run.view = a.view;
  run.verbose = a.verbose;
  bool requested = !run.trace.empty() || run.latency;
  for (const auto& f : a.families) requested = requested || f->requested();
  run.default_output = !requested;

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
  // The text channel: -o FILE, else stdout.
  auto emit = [&](const std::function<void(std::ostream&)>& write) {
    if (run.output.empty() || run.output == "-") {
      StdoutStream out;
      write(out);
      out.flush();
      if (!out || std::fflush(stdout) != 0) throw RuntimeFailure("cannot write to stdout");
    } else {
      write_file(run.output, write);
    }
  };

  run.symbols = sym;
  auto ctx = std::make_unique<report::ReportContext>(sym);
  ctx->lua_only = a.lua_only;
  std::vector<report::ReportFamily*> families;
  for (const auto& f : a.families)
    if (f->enabled(run)) families.push_back(f.get());
  if (!run.more_inputs.empty()) {
    // Several captures (separate recorders): merged in the stack outputs, side
    // by side on the --trace timeline; the other outputs read one at a time.
    auto refuse = [](const std::string& what) {
      throw BadInput("several captures go into the text report, --folded, --flamegraph and --trace; " + what +
                     " reads one capture (or one --switch-output recording) at a time");
    };
    if (run.latency) refuse("--latency");
    for (auto* f : families)
      if (!f->merges_captures() && f->requested()) refuse(std::string("--") + f->name());
  }
  // Container options (docs/containers.md): refused where they cannot take effect.
  if ((!run.filter.containers.empty() || run.by_container || run.group_container) && !run.more_inputs.empty())
    throw BadInput("--container, --by container and --group container read one capture at a time");
  if (run.by_container && !run.default_output && !run.latency &&
      std::none_of(families.begin(), families.end(),
                   [](const report::ReportFamily* f) { return f->groups_by_container(); }))
    throw BadInput("--by container groups the text report, --latency, --tcp, --sched and --skb; it has no effect "
                   "on the other outputs (flame graphs and --folded: --group container)");
  for (auto* f : families) f->configure(*ctx, run);

  report::PassStats stats = report::read_capture(run.input, *ctx, families);
  phase("load");
  for (const auto& w : ctx->warnings) std::fprintf(stderr, "ebtrace: warning: %s\n", w.c_str());
  for (auto* f : families) f->finish(*ctx);
  phase("symbolize+aggregate");

  if (a.verbose) {
    std::fprintf(stderr, "ebtrace: %s\n", report::describe_pass(stats, run.input, families).c_str());
    if (ctx->end && ctx->end->leaf_repair.stacks)
      std::fprintf(stderr, "ebtrace: leaf repair while recording: %s\n", describe(ctx->end->leaf_repair).c_str());
    if (ctx->raw_stacks)
      std::fprintf(stderr, "ebtrace: unwound %llu raw user stacks (--keep-stack-bytes): %llu to the outermost frame\n",
                   static_cast<unsigned long long>(ctx->raw_stacks),
                   static_cast<unsigned long long>(ctx->raw_stacks_to_end));
    for (const auto& o : ctx->symbolizer.objects()) {
      std::string file = o.file.empty() ? "" : " " + o.file;
      std::fprintf(stderr, "ebtrace: symbols: %s (build-id %s): %s%s%s\n", o.path.c_str(),
                   o.build_id.empty() ? "none" : o.build_id.c_str(), symbolize::symbol_source_name(o.names),
                   file.c_str(), o.dwarf ? " +dwarf" : "");
      for (const auto& r : o.rejected) std::fprintf(stderr, "ebtrace:   refused %s\n", r.c_str());
    }
  }

  // Several captures: each further one read once, into its own context and
  // twins of these families; what the stack outputs merge goes into them now,
  // the twins stay for the --trace timeline.
  std::vector<std::unique_ptr<report::FurtherCapture>> others;
  for (const std::string& path : run.more_inputs) {
    others.push_back(report::read_further_capture(run, *ctx, families, report::report_families(), path));
    if (a.verbose)
      std::fprintf(stderr, "ebtrace: %s\n",
                   report::describe_pass(others.back()->stats, path, others.back()->families).c_str());
  }
  if (!others.empty()) phase("further captures");

  if (!run.trace.empty()) {
    std::vector<report::TraceCapture> timeline{{ctx.get(), families, run.input}};
    for (const auto& x : others) timeline.push_back({x->ctx.get(), x->families, x->path});
    std::string note = report::write_trace(run, timeline);
    std::fprintf(stderr, "ebtrace: %s\n", note.c_str());
  }
  if (run.latency) {
    std::string lat = report::latency_tables(run, *ctx, families);
    if (lat.empty()) std::fprintf(stderr, "ebtrace: warning: %s holds nothing for --latency\n", run.input.c_str());
    emit([&](std::ostream& os) { os << lat; });
  }
  for (auto* f : families) {
    for (const auto& o : f->outputs(*ctx)) {
      if (o.path.empty())
        emit(o.write);
      else
        write_file(o.path, o.write);
      if (!o.note.empty()) std::fprintf(stderr, "ebtrace: %s\n", o.note.c_str());
    }
  }
  phase("output");
  // Like info/dump: what was readable is reported, but corruption is bad input.
  return ctx->corrupted ? kExitBadInput : kExitOk;
}

}  // namespace

void add_report_command(CLI::App& app, RunFn& run) {
  auto* sub = app.add_subcommand(
      "report", "Symbolize a capture offline: text summary, folded stacks, or an SVG flame graph");
  auto a = std::make_shared<ReportArgs>();
  a->capture.recording = true;  // several files, a directory or a glob: one recording
  a->capture.add_to(sub);
  sub->add_option("-o,--output", a->output, "Write the text report, folded stacks or tables to FILE (default stdout)")
      ->type_name("FILE");
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
  sub->add_flag("-v,--verbose", a->verbose,
                "Say on stderr what was read (passes, blocks, records), where each object's symbols came from "
                "and, for --keep-stack-bytes captures, how many raw stacks unwound to the end");
  sub->add_option("--trace", a->trace,
                  "Write a Chrome trace JSON timeline (Perfetto UI, chrome://tracing) to FILE")
      ->type_name("FILE");
  sub->add_option("--trace-max-size", a->trace_max_size,
                  "Keep the --trace file under SIZE (default 100M; 0: no limit): on-CPU samples are merged "
                  "into coarser slices until it fits, and stderr says so")
      ->type_name("SIZE");
  sub->add_flag("--latency", a->latency,
                "Latency tables: off-CPU time per thread and per blocking frame (count, total, p50/p90/p99/max); "
                "Redis/HTTP/MySQL/PostgreSQL requests per command from --l7 captures (count, errors, req/s, "
                "p50..p99.9, max) and proxy hops (inbound, upstream, own latency per route); --by container: "
                "per container too");
  sub->add_option("--format", a->format, "Format of --latency tables (text, csv or json) and of --skb (text or json)")
      ->check(CLI::IsMember({"text", "csv", "json"}))
      ->type_name("text|csv|json");
  // Which events become stacks, for every stack-shaped output (text, --folded,
  // --flamegraph, --pprof, --speedscope).
  sub->add_flag("--off-cpu", a->view.off_cpu,
                "Stacks from off-CPU intervals (record --off-cpu) instead of on-CPU samples; the "
                "default when the capture has no samples");
  sub->add_flag("--on-off", a->view.on_off,
                "On-CPU samples and off-CPU intervals in one flame graph, weighted by time; "
                "off-CPU stacks sit under an [off-cpu: STATE] frame");
  sub->add_flag("--wakers", a->view.wakers,
                "Waker stacks (record --off-cpu-waker) weighted by the time they made others wait; "
                "each under a [woke: COMM] frame naming the wakee");
  sub->add_option("--weight", a->view.weight, "Off-CPU weight: time (blocked ns, default) or count (context switches)")
      ->type_name("time|count");
  sub->add_flag("--diff", a->diff,
                "Differential report of two captures: ebtrace report --diff BASE.ebt NEW.ebt (the same as "
                "NEW.ebt --baseline BASE.ebt): --flamegraph, --folded or the text tables");
  sub->add_flag("--by-host", a->by_host,
                "Group stacks by host: each under a [host: NAME] root frame (with several captures)");
  sub->add_option("--container", a->containers,
                  "Only processes of these containers (name, hostname, id prefix of 3+ characters or cgroup "
                  "path; host: processes outside containers), comma-separated; --tcp, --otlp and --skb keep the "
                  "connections and packets of their sockets, --sched their threads' rows")
      ->type_name("NAME|ID[,...]");
  sub->add_option("--group", a->group,
                  "Stacks under a [container: NAME] root frame in the text report, --folded and --flamegraph; "
                  "one track group per container in --trace")
      ->check(CLI::IsMember({"container"}))
      ->type_name("container");
  CliOptions family_options(sub);
  // --by is shared with the families that group their own tables (l7, tcp).
  family_options.option("--by", &a->by,
                        "container: a table of the samples per container in the text report, and rows per "
                        "container in --latency, --tcp, --sched and --skb; host: every stack "
                        "under a [host: NAME] root frame (several captures; the same as --by-host)",
                        "container|host", {"container", "host"});
  for (const auto& entry : report::report_families()) {
    a->families.push_back(entry.create());
    a->families.back()->add_options(family_options);
  }
  sub->footer(std::string(kReadExitCodes) +
              "\nEXAMPLES:\n"
              "  ebtrace report                                   # text summary of ./capture.ebt\n"
              "  ebtrace report -i capture.ebt --flamegraph cpu.svg\n"
              "  ebtrace report capture.ebt --folded > out.folded # for flamegraph.pl / inferno / speedscope\n"
              "  ebtrace report capture.ebt --pid 1234 --time 5,15 --no-kernel\n"
              "  ebtrace report capture.ebt --symfs /srv/debug    # when the capture was recorded with --no-embed\n"
              "  ebtrace report off.ebt --flamegraph off.svg --weight count  # off-CPU: context switches\n"
              "  ebtrace report both.ebt --on-off --flamegraph wall.svg       # on + off-CPU wall-clock time\n"
              "  ebtrace report off.ebt --trace trace.json --latency          # timeline + latency tables\n"
              "  ebtrace report new.ebt --baseline old.ebt --flamegraph diff.svg  # differential: red more, blue less\n"
              "  ebtrace report --diff old.ebt new.ebt                     # the same, gainers and losers as text\n"
              "  ebtrace report capture.ebt --pprof cpu.pb.gz --speedscope cpu.speedscope.json");
  sub->callback([&run, a, sub] {
    a->debuginfod_asked = a->debuginfod && sub->get_option("--debuginfod")->count() > 0;
    run = [a] { return run_report(*a); };
  });
}

}  // namespace ebt::cli
