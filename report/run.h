// One `ebtrace report` run: the capture read once, records fanned out to the
// enabled families, then the outputs of every channel written in a fixed order
// (trace timeline, latency tables, each family's own documents).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "report/context.h"
#include "report/family.h"

namespace ebt::report {

// What the pass read (`report -v`).
struct PassStats {
  uint64_t passes = 0;          // reads over the capture (1, plus 1 for raw-stack unwind tables)
  uint64_t blocks_read = 0;     // blocks decoded (all passes)
  uint64_t blocks_total = 0;    // blocks in the file
  uint64_t records = 0;         // records and events decoded
  uint64_t raw_bytes = 0;       // uncompressed payload bytes decoded
};

// Reads `path` once into `ctx` and the families (records of the kinds each
// declared). Throws BadInput for a file that is not a readable capture;
// damage becomes ctx.warnings (the rest is still read).
PassStats read_capture(const std::string& path, ReportContext& ctx,
                       const std::vector<ReportFamily*>& families);

// What `report -v` says of one capture's pass:
// "read: 1 pass over PATH (B blocks), B blocks decoded, R records, X MB; families: a, b".
std::string describe_pass(const PassStats& stats, const std::string& path, const std::vector<ReportFamily*>& families);

// A further capture of `report a.ebt b.ebt`: its own context and a twin of
// each of the first capture's families that takes part (same type, same
// options; RunOptions with this capture as input and no further ones).
struct FurtherCapture {
  std::string path;
  RunOptions run;  // the twins keep a pointer to it
  std::unique_ptr<ReportContext> ctx;
  std::vector<std::unique_ptr<ReportFamily>> owned;
  std::vector<ReportFamily*> families;  // twins taking part, in registry order
  PassStats stats;
};

// Reads further capture `path` ONCE into its own context and the twins of
// `families` (configured, read, finished; its warnings printed), then lets
// each of `families` take what it merges from its twin (merge_capture: the
// stacks family's stacks). The twins stay for the --trace timeline
// (write_trace's TraceCapture), so no capture is read twice. The twins are
// made from `registry` (report_families(), passed in: the registry links the
// families, which link this library).
std::unique_ptr<FurtherCapture> read_further_capture(const RunOptions& run, ReportContext& ctx,
                                                     const std::vector<ReportFamily*>& families,
                                                     const std::vector<ReportFamilyEntry>& registry,
                                                     const std::string& path);

// The trace timeline of `families` (start_trace + each family's tracks),
// written as a stream to `path` within run.trace_max_bytes (see
// TraceJson::write). Returns the stderr note.
std::string write_trace(const RunOptions& run, ReportContext& ctx,
                        const std::vector<ReportFamily*>& families);

// One capture's part of a timeline over several captures.
struct TraceCapture {
  ReportContext* ctx;
  std::vector<ReportFamily*> families;  // read and finished for that capture
  std::string path;
};
// report a.ebt b.ebt --trace: one timeline, the captures aligned by each one's
// monotonic <-> realtime clock pair (the origin is the earliest start), and
// each capture's processes in their own group: pids and tids of capture k
// (from 0) are shown plus k * kTraceIdBase, their names prefixed with the host
// and file. BadInput when a capture has no clock pair.
inline constexpr uint32_t kTraceIdBase = 10'000'000;  // above pid_max (2^22)
std::string write_trace(const RunOptions& run, const std::vector<TraceCapture>& captures);

// The --latency sections of `families` joined (a blank line between text
// sections); "" when none has one.
std::string latency_tables(const RunOptions& run, ReportContext& ctx,
                           const std::vector<ReportFamily*>& families);

// Several captures in one report (report a.ebt b.ebt): `src`, symbolized in
// its own `src_ctx`, added to `dst` (frames of `dst_ctx`): frames re-interned
// by type, module and name into dst_ctx.frames, stacks with the same pid and
// frames merged, the order StackAggregator gives. `src_host` / `dst_host`
// (frame ids in dst_ctx, 0: none) go first, below the comm frame: --by-host.
void merge_stacks(ReportContext& dst_ctx, StackAggregate& dst, uint32_t dst_host, const ReportContext& src_ctx,
                  const StackAggregate& src, uint32_t src_host);

// Parses "100M", "1G", "512K", "4096" (bytes; K/M/G are powers of 1024).
// Throws BadInput naming `what`.
uint64_t parse_byte_size(const std::string& text, const char* what);

}  // namespace ebt::report
