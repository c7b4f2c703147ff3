// What a cgroup path says about the container it belongs to: the runtime that
// made it, the container id, the Kubernetes pod UID and QoS class. Pure string
// work on the path as /proc/PID/cgroup prints it: the recorder uses it while
// recording (record/containers.h) and report for captures written before the
// recorder stored container identity. docs/containers.md lists the layouts.
#pragma once

#include <string>

namespace ebt {

struct ContainerPath {
  std::string runtime;       // docker, containerd, cri-o, podman, systemd-nspawn; "" : no runtime's layout
  std::string id;            // the container id (64 hex digits), or the nspawn machine name
  std::string pod_uid;       // Kubernetes pod UID, dashes restored ("" : not a pod)
  std::string qos;           // guaranteed, burstable, besteffort ("" : not a pod)
  std::string machine_name;  // systemd-nspawn / machined: the machine's name (unescaped)
  std::string scope;         // the path up to and including the container's own cgroup
  bool operator==(const ContainerPath&) const = default;
};

// The innermost container the path lies in (a runtime's layout anywhere in the
// path: /docker/<id>, /system.slice/docker-<id>.scope/init, /kubepods/burstable/
// pod<uid>/<id>, .../cri-containerd-<id>.scope, crio-<id>[.scope],
// libpod-<id>[.scope][/container], /machine.slice/machine-<name>.scope). Runtime
// monitors (crio-conmon-, libpod-conmon-) are not containers.
ContainerPath parse_container_path(const std::string& cgroup_path);

// The last component of a cgroup path ("/a/b.scope" -> "b.scope", "/" -> "/").
std::string cgroup_leaf(const std::string& cgroup_path);

// systemd unit-name unescaping: "\x2d" -> "-".
std::string systemd_unescape(const std::string& s);

}  // namespace ebt
