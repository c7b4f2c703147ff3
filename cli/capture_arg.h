// The capture file argument shared by `info` and `dump`: positional FILE or -i FILE.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "common/error.h"
#include "format/reader.h"
#include "format/recording.h"

namespace ebt::cli {

struct CaptureArg {
  std::vector<std::string> positional;
  std::string input;
  // `report`: a recording may be several files (a rotated set, given as files,
  // a directory or a quoted glob), read as one capture in time order.
  bool recording = false;

  void add_to(CLI::App* sub) {
    if (recording) {
      sub->add_option("file", positional,
                      "Capture file to read; or several, a directory or a glob ('capture.ebt.*'): one recording")
          ->type_name("FILE...");
    } else {
      sub->add_option("file", positional, "Capture file to read")->type_name("FILE")->expected(0, 1);
    }
    sub->add_option("-i,--input", input, "Capture file to read (perf style; same as FILE)")->type_name("FILE");
  }
  std::string path(const char* cmd) const {
    std::string one = positional.empty() ? "" : positional.front();
    if (!one.empty() && !input.empty() && (positional.size() > 1 || one != input))
      throw BadInput(std::string(cmd) + ": give the capture either as FILE or with -i, not both");
    if (positional.empty() && input.empty())
      throw BadInput(std::string(cmd) + ": no capture file given (ebtrace " + cmd + " FILE)");
    if (!recording) return one.empty() ? input : one;
    std::vector<std::string> notes;
    std::string path = format::open_recording(positional.empty() ? std::vector<std::string>{input} : positional, &notes);
    for (const auto& n : notes) std::fprintf(stderr, "ebtrace: warning: %s\n", n.c_str());
    return path;
  }
  // `report a.ebt b.ebt`: one path per recording (format::open_recordings).
  std::vector<std::string> paths(const char* cmd) const {
    path(cmd == nullptr ? "report" : cmd, true);
    std::vector<std::string> notes;
    auto out = format::open_recordings(positional.empty() ? std::vector<std::string>{input} : positional, &notes);
    for (const auto& n : notes) std::fprintf(stderr, "ebtrace: warning: %s\n", n.c_str());
    return out;
  }
  // Only the argument checks of path().
  void path(const char* cmd, bool check_only) const {
    std::string one = positional.empty() ? "" : positional.front();
    if (!one.empty() && !input.empty() && (positional.size() > 1 || one != input))
      throw BadInput(std::string(cmd) + ": give the capture either as FILE or with -i, not both");
    if (positional.empty() && input.empty())
      throw BadInput(std::string(cmd) + ": no capture file given (ebtrace " + cmd + " FILE)");
    (void)check_only;
  }
};

inline constexpr const char* kReadExitCodes =
    "EXIT CODES:\n"
    "  0  ok (also when the capture merely lacks its end: recorder killed; a warning says what was cut)\n"
    "  1  runtime failure (I/O error)\n"
    "  2  not a capture, empty file, missing file, capture from a newer major format version,\n"
    "     or damaged blocks: everything readable is still printed, plus one warning per damage on stderr";

// After reading: one warning line per damage (and one for a capture that was
// never finished), then the exit code: 2 if anything was corrupt, else 0.
inline int report_damage(const format::CaptureReader& r, const std::string& path) {
  for (const auto& w : r.warnings()) std::fprintf(stderr, "ebtrace: warning: %s: %s\n", path.c_str(), w.c_str());
  return r.corrupted() ? kExitBadInput : kExitOk;
}

}  // namespace ebt::cli
