#!/usr/bin/env bash
# Installs, once and idempotently, every Debian 12 package ebtrace needs to build,
# test and benchmark. Packages already present are left alone, so a second run is a no-op.
set -euo pipefail

build_pkgs=(
  cmake g++ clang llvm pkg-config make
  libbpf-dev bpftool
  capnproto libcapnp-dev
  liblz4-dev zlib1g-dev
  libdw-dev libelf-dev libdebuginfod-dev elfutils
  libcli11-dev libgtest-dev libgmock-dev libbenchmark-dev
  libzstd-dev liblzma-dev libbz2-dev help2man  # ebtrace-static's archives; man pages
  libprotobuf-dev protobuf-compiler  # report --pprof (profile.proto)
)
test_pkgs=(
  debuginfod redis-server redis-tools nginx libnginx-mod-http-lua curl wrk openssh-server
  luajit2 libluajit2-5.1-dev dpkg-dev
  iproute2 python3 chromium linux-perf procps
  bpftrace postgresql mariadb-server
  libbpf-tools  # scripts/bench-tcp.sh: tcplife
  file lintian man-db  # tests/dist: the Debian package (dpkg-dev above)
  libclang-rt-14-dev   # ASan, UBSan and libFuzzer runtimes for the hostile-input stage (docs/security.md)
  golang-go nodejs npm # tests/clients: go tool pprof; speedscope's schema (ajv) and app (chromium above)
)

want=("${build_pkgs[@]}")
[[ "${1:-}" == "--with-tests" ]] && want+=("${test_pkgs[@]}")

missing=()
for p in "${want[@]}"; do
  # NodeSource's nodejs ships npm (and conflicts with Debian's npm package).
  [[ $p == npm ]] && command -v npm >/dev/null && continue
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "setup-deps: all ${#want[@]} packages present" >&2
  exit 0
fi
echo "setup-deps: installing ${missing[*]}" >&2
if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; else SUDO=; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
