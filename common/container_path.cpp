#include "common/container_path.h"

#include <algorithm>
#include <cctype>
#include <string>
#include <vector>

namespace ebt {
namespace {

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }
bool ends_with(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

bool is_hex64(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

// A pod UID as kubelet writes it: 8-4-4-4-12 hex digits, '-' (cgroupfs) or '_' (systemd).
bool is_pod_uid(const std::string& s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool sep = i == 8 || i == 13 || i == 18 || i == 23;
    if (sep ? (c != '-' && c != '_') : !std::isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

std::vector<std::string> components(const std::string& path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    if (j > i) out.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

bool match_pod(const std::string& name, const std::string& parent, ContainerPath& out);

// One cgroup directory name: a container of a known runtime?
bool match_container(const std::string& name, const std::string& parent, ContainerPath& out) {
  std::string base = ends_with(name, ".scope") ? name.substr(0, name.size() - 6) : name;
  if (starts_with(base, "crio-conmon-") || starts_with(base, "libpod-conmon-")) return false;  // monitors
  // runc's systemd driver outside systemd mode: "<slice>:<prefix>:<id>" as one directory.
  if (auto c2 = base.rfind(':'); c2 != std::string::npos) {
    auto c1 = base.rfind(':', c2 - 1);
    if (c1 != std::string::npos && c2 > 0) {
      std::string prefix = base.substr(c1 + 1, c2 - c1 - 1), id = base.substr(c2 + 1);
      const char* rt = prefix == "cri-containerd" ? "containerd"
                       : prefix == "docker"       ? "docker"
                       : prefix == "crio"         ? "cri-o"
                       : prefix == "libpod"       ? "podman"
                                                  : nullptr;
      if (rt && is_hex64(id)) {
        out.runtime = rt;
        out.id = id;
        match_pod(base.substr(0, c1), "", out);  // the slice part may be the pod's
        return true;
      }
    }
  }
  static const std::pair<const char*, const char*> kPrefixes[] = {
      {"docker-", "docker"}, {"cri-containerd-", "containerd"}, {"crio-", "cri-o"}, {"libpod-", "podman"}};
  for (const auto& [prefix, runtime] : kPrefixes) {
    if (starts_with(base, prefix) && is_hex64(base.substr(std::string(prefix).size()))) {
      out.runtime = runtime;
      out.id = base.substr(std::string(prefix).size());
      return true;
    }
  }
  if (ends_with(name, ".scope") && starts_with(base, "machine-") && base.size() > 8) {
    out.runtime = "systemd-nspawn";
    out.machine_name = systemd_unescape(base.substr(8));
    out.id = out.machine_name;
    return true;
  }
  if (is_hex64(name)) {  // cgroupfs drivers: the bare id
    out.runtime = parent == "docker" ? "docker" : "";
    out.id = name;
    return true;
  }
  return false;
}

// A pod's cgroup: pod<uid> (cgroupfs) or kubepods[-<qos>]-pod<uid_>.slice (systemd).
bool match_pod(const std::string& name, const std::string& parent, ContainerPath& out) {
  if (starts_with(name, "pod") && is_pod_uid(name.substr(3))) {
    out.pod_uid = name.substr(3);
    out.qos = parent == "burstable" || parent == "besteffort" ? parent : "guaranteed";
  } else if (starts_with(name, "kubepods-") && ends_with(name, ".slice")) {
    std::string mid = name.substr(9, name.size() - 9 - 6);  // [<qos>-]pod<uid_>
    std::string qos = "guaranteed";
    for (const char* q : {"burstable-", "besteffort-"})
      if (starts_with(mid, q)) {
        qos = std::string(q, std::string(q).size() - 1);
        mid = mid.substr(std::string(q).size());
      }
    if (!starts_with(mid, "pod") || !is_pod_uid(mid.substr(3))) return false;
    out.pod_uid = mid.substr(3);
    out.qos = qos;
  } else {
    return false;
  }
  for (char& c : out.pod_uid)
    if (c == '_') c = '-';
  return true;
}

}  // namespace

std::string systemd_unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] == 'x' && std::isxdigit(static_cast<unsigned char>(s[i + 2])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 3]))) {
      out += static_cast<char>(std::stoi(s.substr(i + 2, 2), nullptr, 16));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string cgroup_leaf(const std::string& cgroup_path) {
  auto c = components(cgroup_path);
  return c.empty() ? "/" : c.back();
}

ContainerPath parse_container_path(const std::string& cgroup_path) {
  ContainerPath out;
  auto c = components(cgroup_path);
  size_t found = c.size();
  for (size_t i = c.size(); i-- > 0;) {
    ContainerPath p;
    if (match_container(c[i], i ? c[i - 1] : "", p)) {
      out = p;
      found = i;
      break;
    }
  }
  // Pod fields: the pod cgroup above the container (or the pod's own cgroup).
  for (size_t i = std::min(found, c.size()); out.pod_uid.empty() && i-- > 0;) {
    if (match_pod(c[i], i ? c[i - 1] : "", out)) {
      if (found < c.size() && out.runtime.empty()) out.runtime = "containerd";  // CRI, cgroupfs driver: the bare id
      break;
    }
  }
  if (found < c.size()) {
    if (out.runtime.empty()) out.runtime = "container";  // a bare 64-hex id under an unknown parent
    for (size_t i = 0; i <= found; ++i) out.scope += "/" + c[i];
  }
  return out;
}

}  // namespace ebt
