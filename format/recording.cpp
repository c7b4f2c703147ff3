#include "format/recording.h"

#include <fcntl.h>
#include <fnmatch.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>

#include "common/error.h"
#include "format/block.h"
#include "format/reader.h"
#include "format/splice.h"

namespace ebt::format {
namespace {

bool is_capture(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  uint8_t magic[8];
  bool ok = ::read(fd, magic, sizeof magic) == sizeof magic && std::memcmp(magic, disk::kFileMagic, 8) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

namespace {

std::vector<std::string> expand_args(const std::vector<std::string>& args) {
  namespace fs = std::filesystem;
  std::vector<std::string> files;
  for (const auto& a : args) {
    std::error_code ec;
    if (fs::is_directory(a, ec)) {
      std::vector<std::string> in_dir;
      for (const auto& e : fs::directory_iterator(a, ec))
        if (e.is_regular_file(ec) && is_capture(e.path().string())) in_dir.push_back(e.path().string());
      if (in_dir.empty()) throw BadInput(a + ": no capture files in this directory");
      files.insert(files.end(), in_dir.begin(), in_dir.end());
    } else if (!fs::exists(a, ec) && a.find_first_of("*?[") != std::string::npos) {
      // Wildcards in the file name only, matched here: glob(3) would link the
      // name service (~user expansion) into the static binary.
      fs::path pattern(a);
      fs::path dir = pattern.has_parent_path() ? pattern.parent_path() : fs::path(".");
      if (dir.string().find_first_of("*?[") != std::string::npos)
        throw BadInput(a + ": wildcards are matched in the file name only, not in directories");
      std::vector<std::string> matched;
      for (const auto& e : fs::directory_iterator(dir, ec))
        if (::fnmatch(pattern.filename().c_str(), e.path().filename().c_str(), FNM_PERIOD) == 0)
          matched.push_back(pattern.has_parent_path() ? e.path().string() : e.path().filename().string());
      if (matched.empty()) throw BadInput(a + ": no file matches");
      std::sort(matched.begin(), matched.end());
      files.insert(files.end(), matched.begin(), matched.end());
    } else {
      files.push_back(a);  // CaptureReader says what is wrong with it
    }
  }
  return files;
}

}  // namespace

std::string open_recording(const std::vector<std::string>& args, std::vector<std::string>* notes) {
  std::vector<std::string> files = expand_args(args);
  if (files.size() == 1) return files[0];
  // Time order: the wall-clock start of each file's session.
  std::vector<std::pair<long double, std::string>> by_start;
  for (const auto& f : files) {
    CaptureReader r(f);  // BadInput for a file that is not a capture
    const SessionInfo& s = r.session();
    long double start = (long double)s.clock_realtime_ns + ((long double)s.start_ns - (long double)s.clock_monotonic_ns);
    by_start.emplace_back(start, f);
  }
  std::stable_sort(by_start.begin(), by_start.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::string> ordered;
  for (auto& [t, f] : by_start) ordered.push_back(f);
  int fd = memfd_create("ebtrace-recording", MFD_CLOEXEC);  // open until exit: readers use the path
  if (fd < 0) throw RuntimeFailure(std::string("memfd_create: ") + std::strerror(errno));
  std::string path = "/proc/self/fd/" + std::to_string(fd);
  splice_captures(ordered.front(), ordered, path, notes);
  return path;
}

std::vector<std::string> open_recordings(const std::vector<std::string>& args, std::vector<std::string>* notes) {
  std::vector<std::string> files = expand_args(args);
  if (files.size() == 1) return files;
  struct File {
    long double start;
    std::string path, identity;
    bool rotated;
  };
  std::vector<File> all;
  for (const auto& f : files) {
    CaptureReader r(f);  // BadInput for a file that is not a capture
    const SessionInfo& s = r.session();
    long double start = (long double)s.clock_realtime_ns + ((long double)s.start_ns - (long double)s.clock_monotonic_ns);
    std::string id = s.hostname + '\n' + s.boot_id + '\n' + s.options + '\n' + s.ebtrace_version;
    for (const auto& a : s.command_line) id += '\n' + a;
    bool rotated = s.options.find("--switch-output") != std::string::npos ||
                   s.options.find("--flight-recorder") != std::string::npos;
    all.push_back({start, f, id, rotated});
  }
  std::stable_sort(all.begin(), all.end(), [](const File& a, const File& b) { return a.start < b.start; });
  std::vector<std::vector<std::string>> groups;
  std::vector<std::string> group_ids;
  for (const auto& f : all) {
    size_t g = groups.size();
    if (f.rotated)
      for (size_t i = 0; i < groups.size(); ++i)
        if (group_ids[i] == f.identity) g = i;
    if (g == groups.size()) {
      groups.emplace_back();
      group_ids.push_back(f.rotated ? f.identity : "");
    }
    groups[g].push_back(f.path);
  }
  std::vector<std::string> out;
  for (const auto& g : groups) out.push_back(g.size() == 1 ? g[0] : open_recording(g, notes));
  return out;
}

std::string wall_time_range(const std::string& text, const SessionInfo& s) {
  size_t comma = text.find(',');
  if (comma == std::string::npos)
    throw BadInput("--time '" + text + "': expected START,END (e.g. 03:10,03:20, UTC)");
  if (s.clock_realtime_ns == 0) throw BadInput("--time '" + text + "': this capture has no wall-clock time");
  // Wall-clock time of the session start, seconds.
  long double start = ((long double)s.clock_realtime_ns + ((long double)s.start_ns - (long double)s.clock_monotonic_ns)) / 1e9L;
  auto one = [&](const std::string& part) -> std::string {
    if (part.empty()) return "";
    int Y = 0, M = 0, D = 0, h = 0, m = 0, n = 0;
    double sec = 0;
    bool dated = false;
    if (std::sscanf(part.c_str(), "%d-%d-%dT%d:%d%n", &Y, &M, &D, &h, &m, &n) == 5) {
      dated = true;
    } else if (std::sscanf(part.c_str(), "%d:%d%n", &h, &m, &n) != 2) {
      throw BadInput("--time '" + text + "': '" + part + "' is not HH:MM[:SS] or YYYY-MM-DDTHH:MM[:SS] (UTC)");
    }
    std::string rest = part.substr(size_t(n));
    if (!rest.empty()) {
      char* end = nullptr;
      if (rest[0] != ':') throw BadInput("--time '" + text + "': '" + part + "' is not a time");
      sec = std::strtod(rest.c_str() + 1, &end);
      if (*end == 'Z') ++end;
      if (*end != 0 || sec < 0 || sec >= 61) throw BadInput("--time '" + text + "': '" + part + "' is not a time");
    }
    if (h < 0 || h > 23 || m < 0 || m > 59) throw BadInput("--time '" + text + "': '" + part + "' is not a time");
    long double t;
    if (dated) {
      struct tm tm {};
      tm.tm_year = Y - 1900;
      tm.tm_mon = M - 1;
      tm.tm_mday = D;
      tm.tm_hour = h;
      tm.tm_min = m;
      t = (long double)timegm(&tm) + sec;
    } else {
      long double day = std::floor(start / 86400.0L) * 86400.0L;
      t = day + h * 3600.0L + m * 60.0L + sec;
      if (t < start - 43200) t += 86400;
      else if (t > start + 43200) t -= 86400;
    }
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.9Lf", t - start);
    return buf;
  };
  std::string a = one(text.substr(0, comma)), b = one(text.substr(comma + 1));
  // report's --time counts from the start: an instant before it is the start.
  auto clamp0 = [](std::string v) { return !v.empty() && v[0] == '-' ? std::string("0") : v; };
  return clamp0(a) + "," + clamp0(b);
}

}  // namespace ebt::format
