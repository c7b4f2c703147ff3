#include "record/sched_cgroups.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

namespace ebt::record {
namespace {

std::string read_all(const std::string& path, bool* ok = nullptr) {
  std::ifstream in(path);
  if (ok) *ok = bool(in);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == sep) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

bool has_token(const std::string& list, const std::string& token) {
  for (const auto& t : split(list, ','))
    if (t == token) return true;
  return false;
}

// Mount points in mountinfo escape space, tab, newline and backslash as \ooo.
std::string unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); i++) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      int v = 0;
      bool octal = true;
      for (size_t j = 1; j <= 3; j++) {
        if (i + j >= s.size() || s[i + j] < '0' || s[i + j] > '7') {
          octal = false;
          break;
        }
        v = v * 8 + (s[i + j] - '0');
      }
      if (octal) {
        out += char(v);
        i += 3;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

CpuCgroupLayout detect_cpu_cgroup_layout(const std::string& mountinfo) {
  CpuCgroupLayout v1, v2;
  std::istringstream in(read_all(mountinfo));
  std::string line;
  while (std::getline(in, line)) {
    size_t dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream head(line.substr(0, dash)), tail(line.substr(dash + 3));
    std::string id, parent, devno, root, mount, fstype, source, super;
    if (!(head >> id >> parent >> devno >> root >> mount)) continue;
    if (!(tail >> fstype >> source >> super)) continue;
    if (root != "/") continue;  // a bind mount of a subtree (inside a container)
    if (fstype == "cgroup" && has_token(super, "cpu") && v1.mount.empty()) {
      v1.hierarchy = CgroupHierarchy::kV1Cpu;
      v1.mount = unescape(mount);
      v1.cpu_controller = true;
    } else if (fstype == "cgroup2" && v2.mount.empty()) {
      v2.hierarchy = CgroupHierarchy::kV2;
      v2.mount = unescape(mount);
    }
  }
  if (!v1.mount.empty()) return v1;
  if (v2.mount.empty()) {
    CpuCgroupLayout none;
    none.why_not = "no cgroup v2 mount and no cgroup v1 cpu controller in /proc/self/mountinfo";
    return none;
  }
  std::string controllers = trim(read_all(v2.mount + "/cgroup.controllers"));
  for (const auto& c : split(controllers, ' '))
    if (c == "cpu") v2.cpu_controller = true;
  if (!v2.cpu_controller)
    v2.why_not = "the cpu controller is not available in the cgroup v2 hierarchy at " + v2.mount +
                 " (cgroup.controllers: '" + controllers + "') and not mounted as cgroup v1";
  return v2;
}

std::string cgroup_path_in(const std::string& text, CgroupHierarchy h) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    size_t a = line.find(':');
    size_t b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    std::string id = line.substr(0, a), controllers = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    if (h == CgroupHierarchy::kV2 && id == "0" && controllers.empty()) return path;
    if (h == CgroupHierarchy::kV1Cpu && id != "0" && has_token(controllers, "cpu")) return path;
  }
  return "";
}

bool parse_cpu_stat(const std::string& text, uint64_t& nr_periods, uint64_t& nr_throttled, uint64_t& throttled_ns) {
  std::istringstream in(text);
  std::string key;
  unsigned long long v;
  bool periods = false, throttled = false, time = false;
  while (in >> key >> v) {
    if (key == "nr_periods") nr_periods = v, periods = true;
    else if (key == "nr_throttled") nr_throttled = v, throttled = true;
    else if (key == "throttled_usec") throttled_ns = v * 1000, time = true;
    else if (key == "throttled_time") throttled_ns = v, time = true;
  }
  return periods && throttled && time;
}

void read_cpu_bandwidth(const CpuCgroupLayout& layout, const std::string& path, CgroupCpuSample& out) {
  out.hierarchy = layout.hierarchy;
  out.stat_known = false;
  if (layout.mount.empty()) {
    out.unknown_reason = layout.why_not;
    return;
  }
  if (!layout.cpu_controller) {
    out.unknown_reason = layout.why_not;
    return;
  }
  std::string dir = layout.mount + (path == "/" ? "" : path);
  bool ok = false;
  std::string stat = read_all(dir + "/cpu.stat", &ok);
  if (!ok) {
    out.unknown_reason = "cannot read " + dir + "/cpu.stat: " + std::strerror(errno);
    return;
  }
  if (!parse_cpu_stat(stat, out.nr_periods, out.nr_throttled, out.throttled_ns)) {
    if (path == "/") {  // the root cgroup has no bandwidth limit: never throttled
      out.stat_known = true;
      out.nr_periods = out.nr_throttled = out.throttled_ns = 0;
      out.quota_us = -1;
      return;
    }
    out.unknown_reason = dir + "/cpu.stat has no throttling counters (the cpu controller is not enabled for it: "
                               "see its parent's cgroup.subtree_control)";
    return;
  }
  out.stat_known = true;
  if (layout.hierarchy == CgroupHierarchy::kV2) {
    std::istringstream max(read_all(dir + "/cpu.max"));  // "max 100000" or "20000 100000"
    std::string quota;
    unsigned long long period = 0;
    if (max >> quota >> period) {
      out.quota_us = quota == "max" ? -1 : std::strtoll(quota.c_str(), nullptr, 10);
      out.period_us = period;
    }
  } else {
    std::string q = trim(read_all(dir + "/cpu.cfs_quota_us")), p = trim(read_all(dir + "/cpu.cfs_period_us"));
    if (!q.empty()) out.quota_us = std::strtoll(q.c_str(), nullptr, 10);
    if (!p.empty()) out.period_us = std::strtoull(p.c_str(), nullptr, 10);
    if (out.quota_us < 0) out.quota_us = -1;
  }
}

uint64_t CgroupNames::id_of(const std::string& path) const {
  if (layout_.mount.empty()) return 0;
  struct stat st {};
  if (stat((layout_.mount + (path == "/" ? "" : path)).c_str(), &st) != 0) return 0;
  return uint64_t(st.st_ino);
}

void CgroupNames::walk() {
  namespace fs = std::filesystem;
  if (layout_.mount.empty()) return;
  std::error_code ec;
  struct stat st {};
  if (stat(layout_.mount.c_str(), &st) == 0) paths_[uint64_t(st.st_ino)] = "/";
  size_t n = 0;
  for (auto it = fs::recursive_directory_iterator(layout_.mount, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_directory(ec) || it->is_symlink(ec)) continue;
    if (++n > 100000) break;  // a pathological tree: the rest stays unnamed
    if (stat(it->path().c_str(), &st) != 0) continue;
    paths_[uint64_t(st.st_ino)] = it->path().string().substr(layout_.mount.size());
  }
}

std::string CgroupNames::path_of(uint64_t id, bool rescan) {
  auto it = paths_.find(id);
  if (it != paths_.end()) return it->second;
  if (!rescan) return "";
  walk();
  it = paths_.find(id);
  return it == paths_.end() ? "" : it->second;
}

}  // namespace ebt::record
