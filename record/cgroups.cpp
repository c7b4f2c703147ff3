#include "record/cgroups.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "common/error.h"

namespace ebt::record {
namespace {

constexpr long kCgroup2Magic = 0x63677270;  // CGROUP2_SUPER_MAGIC
constexpr long kCgroup1Magic = 0x27e0eb;    // CGROUP_SUPER_MAGIC

long fs_type(const std::string& path) {
  struct statfs fs {};
  return statfs(path.c_str(), &fs) == 0 ? long(fs.f_type) : 0;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct MountEntry {
  std::string root, point, fstype, super_opts;
};

// /proc/self/mountinfo: "id parent maj:min root point opts [tags] - fstype source superopts".
std::vector<MountEntry> mounts() {
  std::vector<MountEntry> out;
  std::istringstream in(slurp("/proc/self/mountinfo"));
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::vector<std::string> f;
    std::string w;
    while (ls >> w) f.push_back(w);
    size_t dash = 0;
    while (dash < f.size() && f[dash] != "-") ++dash;
    if (f.size() < 5 || dash + 3 > f.size()) continue;
    out.push_back({f[3], f[4], f[dash + 1], f[dash + 3]});
  }
  return out;
}

// A mount point relative path: "/sys/fs/cgroup/unified/a/b" under "/sys/fs/cgroup/unified" -> "/a/b".
bool under_mount(const std::string& path, const std::string& point, std::string* rest) {
  if (path == point) {
    *rest = "/";
    return true;
  }
  std::string p = point == "/" ? "" : point;
  if (path.size() > p.size() && path.compare(0, p.size(), p) == 0 && path[p.size()] == '/') {
    *rest = path.substr(p.size());
    return true;
  }
  return false;
}

bool is_dir(const std::string& p) {
  struct stat st {};
  return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

}  // namespace

std::string CgroupLayout::hierarchy() const {
  switch (kind) {
    case Kind::kUnified: return "v2";
    case Kind::kHybrid: return "v2 (hybrid)";
    case Kind::kLegacy: return "v1 name=systemd";
  }
  return "";
}

CgroupLayout detect_cgroup_layout() {
  CgroupLayout l;
  if (fs_type("/sys/fs/cgroup") == kCgroup2Magic) {
    l.kind = CgroupLayout::Kind::kUnified;
    l.v2_mount = "/sys/fs/cgroup";
    return l;
  }
  if (fs_type("/sys/fs/cgroup/unified") == kCgroup2Magic) {
    l.kind = CgroupLayout::Kind::kHybrid;
    l.v2_mount = "/sys/fs/cgroup/unified";
    return l;
  }
  for (const auto& m : mounts()) {
    if (m.fstype == "cgroup2" && m.root == "/" && fs_type(m.point) == kCgroup2Magic) {
      l.kind = CgroupLayout::Kind::kHybrid;
      l.v2_mount = m.point;
      return l;
    }
  }
  l.kind = CgroupLayout::Kind::kLegacy;
  return l;
}

const CgroupLayout& cgroup_layout() {
  static const CgroupLayout layout = detect_cgroup_layout();
  return layout;
}

uint64_t cgroup_dir_id(const std::string& dir) {
  // The kernel's own name for the cgroup: an 8-byte FILEID_KERNFS handle, the
  // id bpf_get_current_cgroup_id() returns (also on 32-bit inode numbers).
  alignas(struct file_handle) unsigned char buf[sizeof(struct file_handle) + 16] = {};
  auto* fh = reinterpret_cast<struct file_handle*>(buf);
  fh->handle_bytes = 16;
  int mount_id = 0;
  if (name_to_handle_at(AT_FDCWD, dir.c_str(), fh, &mount_id, 0) == 0 && fh->handle_bytes == 8) {
    uint64_t id = 0;
    std::memcpy(&id, buf + sizeof(struct file_handle), sizeof id);
    return id;
  }
  struct stat st {};
  if (stat(dir.c_str(), &st) == 0 && sizeof(st.st_ino) >= 8) return uint64_t(st.st_ino);
  return 0;
}

ProcCgroup parse_proc_cgroup(const std::string& text, const CgroupLayout& layout) {
  ProcCgroup out;
  std::string v2, systemd;
  bool has_v2 = false, has_systemd = false;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    auto c1 = line.find(':');
    auto c2 = c1 == std::string::npos ? std::string::npos : line.find(':', c1 + 1);
    if (c2 == std::string::npos) continue;
    std::string hid = line.substr(0, c1), ctl = line.substr(c1 + 1, c2 - c1 - 1), path = line.substr(c2 + 1);
    if (hid == "0" && ctl.empty()) {
      v2 = path;
      has_v2 = true;
    } else if (ctl == "name=systemd") {
      systemd = path;
      has_systemd = true;
    }
  }
  if (layout.kind == CgroupLayout::Kind::kLegacy) {
    out.path = has_systemd ? systemd : "";
    out.id = kCgroupV2RootId;
    out.note = "cgroup v1 only: every task is in the unmounted cgroup v2 root (BPF cgroup id " +
               std::to_string(kCgroupV2RootId) + "), the id tells no cgroups apart";
    if (!has_systemd) out.note += "; no name=systemd hierarchy: cgroup path unknown";
    return out;
  }
  if (!has_v2) {
    out.note = "no cgroup v2 line in /proc/PID/cgroup";
    return out;
  }
  out.path = v2;
  if (v2.find("/..") != std::string::npos || v2.empty() || v2[0] != '/') {
    out.note = "cgroup outside the recorder's cgroup namespace: id unknown";
    return out;
  }
  out.id = cgroup_dir_id(v2 == "/" ? layout.v2_mount : layout.v2_mount + v2);
  if (out.id == 0) out.note = "cgroup directory " + layout.v2_mount + v2 + " unreadable (removed?): id unknown";
  return out;
}

ProcCgroup read_proc_cgroup(uint32_t pid, const CgroupLayout& layout) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cgroup");
  if (!in) return ProcCgroup{"", 0, "process gone"};
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_proc_cgroup(ss.str(), layout);
}

bool cgroup_under(const std::string& path, const std::string& ancestor) {
  if (ancestor == "/" || ancestor.empty()) return !path.empty();
  std::string rest;
  return under_mount(path, ancestor, &rest);
}

CgroupTarget resolve_cgroup_arg(const std::string& arg, const CgroupLayout& layout) {
  if (arg.empty()) throw BadInput("--cgroup: empty path");
  if (layout.kind == CgroupLayout::Kind::kLegacy || layout.v2_mount.empty())
    throw BadInput("--cgroup " + arg + ": this host has cgroup v1 only; the in-kernel cgroup filter needs the "
                   "cgroup v2 hierarchy (mount it: mount -t cgroup2 none /sys/fs/cgroup/unified)");
  CgroupTarget t;
  char real[PATH_MAX];
  if (arg[0] == '/' && realpath(arg.c_str(), real) && is_dir(real)) {
    std::string abs = real;
    long type = fs_type(abs);
    if (type == kCgroup2Magic) {
      std::string rest;
      for (const auto& m : mounts())
        if (m.fstype == "cgroup2" && m.root == "/" && under_mount(abs, m.point, &rest)) {
          t.dir = abs;
          t.path = rest;
          break;
        }
      if (t.dir.empty()) throw BadInput("--cgroup " + arg + ": not below a mount of the cgroup v2 root");
    } else if (type == kCgroup1Magic) {
      std::string rest, hint;
      for (const auto& m : mounts())
        if (m.fstype == "cgroup" && under_mount(abs, m.point, &rest)) break;
      if (!rest.empty() && is_dir(layout.v2_mount + (rest == "/" ? "" : rest)))
        hint = " (its v2 counterpart: " + layout.v2_mount + (rest == "/" ? "" : rest) + ")";
      throw BadInput("--cgroup " + arg + ": a cgroup v1 directory; the in-kernel filter uses the cgroup v2 "
                     "hierarchy mounted at " + layout.v2_mount + hint);
    }
  }
  if (t.dir.empty()) {  // relative to the v2 root
    std::string rel = arg;
    while (!rel.empty() && rel[0] == '/') rel.erase(0, 1);
    while (!rel.empty() && rel.back() == '/') rel.pop_back();
    t.path = "/" + rel;
    t.dir = rel.empty() ? layout.v2_mount : layout.v2_mount + t.path;
    if (!is_dir(t.dir) || fs_type(t.dir) != kCgroup2Magic)
      throw BadInput("--cgroup " + arg + ": no such cgroup (neither a cgroup v2 directory nor " + t.dir + ")");
  }
  t.id = cgroup_dir_id(t.dir);
  if (t.id == 0) throw BadInput("--cgroup " + arg + ": cannot read the id of " + t.dir);
  return t;
}

}  // namespace ebt::record
