// Container identity from cgroup paths (common/container_path.h) and the cgroup
// identity of a process on each cgroup layout (record/cgroups.h): no root needed.
#include <gtest/gtest.h>

#include "common/container_path.h"
#include "record/cgroups.h"

namespace ebt {
namespace {

const std::string kId = "3f2a0b1c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8";
const std::string kUid = "1234abcd-5678-90ab-cdef-1234567890ab";
const std::string kUidSystemd = "1234abcd_5678_90ab_cdef_1234567890ab";

TEST(ContainerPath, Docker) {
  auto c = parse_container_path("/docker/" + kId);
  EXPECT_EQ(c.runtime, "docker");
  EXPECT_EQ(c.id, kId);
  EXPECT_EQ(c.scope, "/docker/" + kId);
  c = parse_container_path("/system.slice/docker-" + kId + ".scope");
  EXPECT_EQ(c.runtime, "docker");
  EXPECT_EQ(c.id, kId);
  // A container running systemd: processes in a child of the scope.
  c = parse_container_path("/system.slice/docker-" + kId + ".scope/init");
  EXPECT_EQ(c.runtime, "docker");
  EXPECT_EQ(c.id, kId);
  EXPECT_EQ(c.scope, "/system.slice/docker-" + kId + ".scope");
  EXPECT_TRUE(c.pod_uid.empty());
}

TEST(ContainerPath, KubernetesSystemdDriver) {
  auto c = parse_container_path("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + kUidSystemd +
                                ".slice/cri-containerd-" + kId + ".scope");
  EXPECT_EQ(c.runtime, "containerd");
  EXPECT_EQ(c.id, kId);
  EXPECT_EQ(c.pod_uid, kUid);
  EXPECT_EQ(c.qos, "burstable");
  c = parse_container_path("/kubepods.slice/kubepods-pod" + kUidSystemd + ".slice/crio-" + kId + ".scope");
  EXPECT_EQ(c.runtime, "cri-o");
  EXPECT_EQ(c.qos, "guaranteed");
  EXPECT_EQ(c.pod_uid, kUid);
  // CRI-O's monitor is not the container.
  c = parse_container_path("/kubepods.slice/kubepods-pod" + kUidSystemd + ".slice/crio-conmon-" + kId + ".scope");
  EXPECT_EQ(c.runtime, "");
  EXPECT_EQ(c.pod_uid, kUid);
  // runc not in systemd mode: "slice:prefix:id" as one directory.
  c = parse_container_path("/system.slice/containerd.service/kubepods-besteffort-pod" + kUidSystemd +
                           ".slice:cri-containerd:" + kId);
  EXPECT_EQ(c.runtime, "containerd");
  EXPECT_EQ(c.id, kId);
  EXPECT_EQ(c.qos, "besteffort");
}

TEST(ContainerPath, KubernetesCgroupfsDriver) {
  auto c = parse_container_path("/kubepods/besteffort/pod" + kUid + "/" + kId);
  EXPECT_EQ(c.runtime, "containerd");
  EXPECT_EQ(c.id, kId);
  EXPECT_EQ(c.pod_uid, kUid);
  EXPECT_EQ(c.qos, "besteffort");
  c = parse_container_path("/kubepods/pod" + kUid + "/crio-" + kId);
  EXPECT_EQ(c.runtime, "cri-o");
  EXPECT_EQ(c.qos, "guaranteed");
}

TEST(ContainerPath, PodmanNspawnAndHosts) {
  auto c = parse_container_path("/machine.slice/libpod-" + kId + ".scope/container");
  EXPECT_EQ(c.runtime, "podman");
  EXPECT_EQ(c.id, kId);
  EXPECT_EQ(parse_container_path("/machine.slice/libpod-conmon-" + kId + ".scope").runtime, "");
  c = parse_container_path("/machine.slice/machine-web\\x2d1.scope/payload");
  EXPECT_EQ(c.runtime, "systemd-nspawn");
  EXPECT_EQ(c.machine_name, "web-1");
  EXPECT_EQ(parse_container_path("/system.slice/nginx.service").runtime, "");
  EXPECT_EQ(parse_container_path("/").runtime, "");
  EXPECT_EQ(parse_container_path("").runtime, "");
  // 63 hex digits or upper case: not an id.
  EXPECT_EQ(parse_container_path("/docker/" + kId.substr(1)).runtime, "");
  EXPECT_EQ(parse_container_path("/docker-" + std::string(64, 'A') + ".scope").runtime, "");
  // Docker in Docker: the innermost container.
  std::string inner(64, 'b');
  c = parse_container_path("/docker/" + kId + "/docker/" + inner);
  EXPECT_EQ(c.id, inner);
}

TEST(ContainerPath, LeafAndUnescape) {
  EXPECT_EQ(cgroup_leaf("/a/b.scope"), "b.scope");
  EXPECT_EQ(cgroup_leaf("/"), "/");
  EXPECT_EQ(systemd_unescape("a\\x2db\\x5c"), "a-b\\");
  EXPECT_EQ(systemd_unescape("bad\\x2"), "bad\\x2");
}

TEST(ProcCgroup, LegacyHostsHaveTheV2RootIdAndTheSystemdPath) {
  record::CgroupLayout legacy;
  legacy.kind = record::CgroupLayout::Kind::kLegacy;
  auto c = record::parse_proc_cgroup("4:memory:/docker/x\n1:name=systemd:/docker/x\n", legacy);
  EXPECT_EQ(c.path, "/docker/x");
  EXPECT_EQ(c.id, record::kCgroupV2RootId);
  EXPECT_NE(c.note.find("v1 only"), std::string::npos);
  EXPECT_EQ(legacy.hierarchy(), "v1 name=systemd");
}

TEST(ProcCgroup, OutsideTheCgroupNamespaceIsUnknown) {
  record::CgroupLayout unified;
  unified.kind = record::CgroupLayout::Kind::kUnified;
  unified.v2_mount = "/sys/fs/cgroup";
  auto c = record::parse_proc_cgroup("0::/../../user.slice/x.scope\n", unified);
  EXPECT_EQ(c.path, "/../../user.slice/x.scope");
  EXPECT_EQ(c.id, 0u);
  EXPECT_FALSE(c.note.empty());
  c = record::parse_proc_cgroup("1:name=systemd:/\n", unified);
  EXPECT_EQ(c.id, 0u);
  EXPECT_NE(c.note.find("no cgroup v2"), std::string::npos);
}

TEST(ProcCgroup, UnderIsByPathComponent) {
  EXPECT_TRUE(record::cgroup_under("/a/b", "/a"));
  EXPECT_TRUE(record::cgroup_under("/a", "/a"));
  EXPECT_FALSE(record::cgroup_under("/ab", "/a"));
  EXPECT_TRUE(record::cgroup_under("/x", "/"));
  EXPECT_FALSE(record::cgroup_under("", "/a"));
}

}  // namespace
}  // namespace ebt
