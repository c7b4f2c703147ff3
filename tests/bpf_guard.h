// Tests that need root and a BPF-capable kernel: skip with a reason on a laptop,
// fail in CI (EBTRACE_REQUIRE_BPF=1) so they can never silently not run there.
#pragma once

#include <cstdlib>
#include <string>

#include <unistd.h>

#include <gtest/gtest.h>

namespace ebt::test {

inline bool bpf_required() {
  const char* v = std::getenv("EBTRACE_REQUIRE_BPF");
  return v != nullptr && std::string(v) == "1";
}

// Returns an empty string when BPF tests can run here, else why not.
inline std::string bpf_unavailable_reason() {
  if (geteuid() != 0) return "not running as root";
  if (access("/sys/kernel/btf/vmlinux", R_OK) != 0) return "no kernel BTF at /sys/kernel/btf/vmlinux";
  return {};
}

}  // namespace ebt::test

#define EBT_REQUIRE_BPF_OR_SKIP()                                                   \
  do {                                                                              \
    std::string ebt_reason_ = ::ebt::test::bpf_unavailable_reason();                \
    if (!ebt_reason_.empty()) {                                                     \
      if (::ebt::test::bpf_required()) FAIL() << "BPF required but " << ebt_reason_; \
      GTEST_SKIP() << "needs root + BPF: " << ebt_reason_;                          \
    }                                                                               \
  } while (0)
