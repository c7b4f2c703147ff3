// Chrome Trace Event Format (the JSON that Perfetto UI and chrome://tracing open).
//
// A small builder shared by every record kind that wants a timeline: off-CPU
// intervals, requests, packets... each adds its own slices to the tracks of the
// threads involved. A track is a (pid, tid) pair; name it with set_thread_name().
//
// Times are CLOCK_MONOTONIC nanoseconds like everywhere in ebtrace; the writer
// converts them to the format's microseconds relative to `origin_ns` (the session
// start), printed exactly (integer ns / 1000 with three decimals) so output is
// deterministic. Events are written sorted by time (stable), metadata first.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace ebt::report {

// One argument value shown in the UI's details pane.
using TraceArg = std::variant<int64_t, uint64_t, double, bool, std::string,
                              std::vector<std::string>>;
using TraceArgs = std::vector<std::pair<std::string, TraceArg>>;

// Events produced while the document is written instead of held in memory
// (on-CPU slices of a long capture): told its byte budget first, then asked
// for its events in time order.
class TraceSource {
 public:
  virtual ~TraceSource() = default;
  // Called once, before writing: the bytes this source's events may take in
  // the file. Returns lines for stderr (how it shrank to fit), if any.
  virtual std::vector<std::string> fit(uint64_t budget_bytes) = 0;
  // The next event, in time order: `ts_ns` (monotonic) and its JSON object.
  // False when there are no more.
  virtual bool next(uint64_t* ts_ns, std::string* json) = 0;
};

struct TraceWriteResult {
  size_t events = 0;               // trace events written (metadata excluded)
  uint64_t bytes = 0;              // file size
  std::vector<std::string> notes;  // for stderr: merging, size over the limit
};

class TraceJson {
 public:
  explicit TraceJson(uint64_t origin_ns = 0) : origin_ns_(origin_ns) {}

  // --- metadata (ph "M") ---
  void set_process_name(uint32_t pid, std::string_view name);
  void set_thread_name(uint32_t pid, uint32_t tid, std::string_view name);
  void set_process_sort_index(uint32_t pid, int64_t index);
  void set_thread_sort_index(uint32_t pid, uint32_t tid, int64_t index);
  // Free-form session facts, written as the top-level "otherData" object.
  void set_other(std::string_view key, std::string_view value);

  // --- events ---
  // A complete slice (ph "X") on a thread's track.
  void slice(uint32_t pid, uint32_t tid, uint64_t ts_ns, uint64_t dur_ns,
             std::string_view name, std::string_view cat, TraceArgs args = {});
  // A thread-scoped instant (ph "i", s "t").
  void instant(uint32_t pid, uint32_t tid, uint64_t ts_ns, std::string_view name,
               std::string_view cat, TraceArgs args = {});
  // An async span (ph "b" then "e", one id): spans of a process may overlap
  // (packets in flight); the UI shows them on the process's async tracks.
  void async_span(uint32_t pid, uint64_t id, uint64_t ts_ns, uint64_t dur_ns, std::string_view name,
                  std::string_view cat, TraceArgs args = {});
  // A counter track of the process (ph "C"): one series per name.
  void counter(uint32_t pid, uint64_t ts_ns, std::string_view name, double value);
  // An arrow from the slice enclosing (from_pid, from_tid, from_ts) to the slice
  // enclosing (to_pid, to_tid, to_ts) (ph "s" then "f" with bp "e"). Both ends
  // must lie inside slices of those tracks or the UI drops the arrow. Returns the
  // flow id (unique in the file).
  uint64_t flow(uint32_t from_pid, uint32_t from_tid, uint64_t from_ts_ns, uint32_t to_pid,
                uint32_t to_tid, uint64_t to_ts_ns, std::string_view name, std::string_view cat);

  // Events from `source`, merged by time with the others when writing.
  void add_source(std::unique_ptr<TraceSource> source) { sources_.push_back({std::move(source), origin_ns_}); }

  // Several captures on one timeline (report a.ebt b.ebt --trace): what is
  // added after this call belongs to another capture. `origin_ns` is the time
  // of that capture's clock that falls on the timeline's origin (so that all
  // captures line up by wall-clock time), `id_base` is added to its pids and
  // tids (different hosts reuse pids), and `name_prefix` starts its process
  // names. The first capture's scope is (origin, 0, "").
  void begin_capture(uint64_t origin_ns, uint32_t id_base, std::string name_prefix);
  uint64_t origin() const { return origin_ns_; }
  uint32_t id_base() const { return id_base_; }
  // A pid or tid of the current capture as it appears in the file.
  uint32_t id(uint32_t pid_or_tid) const { return id_base_ + pid_or_tid; }

  size_t event_count() const { return events_.size(); }

  // The whole file: {"traceEvents":[...],"displayTimeUnit":"ns","otherData":{...}},
  // written as a stream. With `max_bytes` (0: no limit), the sources get what
  // the other events leave of it; a file still over the limit is said in the
  // result's notes.
  TraceWriteResult write(std::ostream& out, uint64_t max_bytes = 0);
  std::string str();

  // The format's time of `ns`: microseconds since the origin, 3 decimals.
  std::string ts(uint64_t ns) const;
  // "\"pid\":P,\"tid\":T", P the process's group when it has one (group_process).
  std::string ids(uint32_t pid, uint32_t tid) const;
  // ts() and ids() appended to `out` (sources writing millions of events:
  // no temporary strings).
  void append_ts(std::string& out, uint64_t ns) const;
  void append_ids(std::string& out, uint32_t pid, uint32_t tid) const;
  // Puts process `pid`'s tracks into the track group of `group_pid` (report
  // --group container: one group per container). Call before adding events;
  // its threads are then named "THREAD (pid PID PROCESS)".
  void group_process(uint32_t pid, uint32_t group_pid) { groups_[pid] = group_pid; }

 private:
  struct Event {
    int64_t ts_key;  // for ordering only
    std::string json;
  };
  void add(uint64_t ts_ns, std::string json);

  struct Source {
    std::unique_ptr<TraceSource> source;
    uint64_t origin_ns;  // of its capture
  };
  uint64_t origin_ns_;
  uint32_t id_base_ = 0;
  std::string name_prefix_;
  uint64_t next_flow_id_ = 1;
  std::map<uint32_t, std::string> process_names_;
  std::map<uint32_t, uint32_t> groups_;  // pid -> group pid
  std::map<std::pair<uint32_t, uint32_t>, std::string> thread_names_;
  std::map<uint32_t, int64_t> process_sort_;
  std::map<std::pair<uint32_t, uint32_t>, int64_t> thread_sort_;
  std::vector<std::pair<std::string, std::string>> other_;
  std::vector<Event> events_;
  std::vector<Source> sources_;
};

// JSON string literal (with quotes) of arbitrary bytes: escapes what JSON needs
// and replaces bytes that are not valid UTF-8 with U+FFFD, so any comm or symbol
// name yields a valid document.
std::string json_quote(std::string_view s);

// Decimal `v` appended to `out` (std::to_chars: no locale, no allocation).
void append_decimal(std::string& out, uint64_t v);
// `ns` as microseconds with three decimals ("12.345"), appended.
void append_micros(std::string& out, uint64_t ns);

}  // namespace ebt::report
