#!/usr/bin/env bash
# Builds a fully static ebtrace (glibc's libc.a, libstdc++, libbpf, libelf, libdw with
# zlib/zstd/lzma/bz2, lz4, capnp/kj; the BPF objects embedded as always) that runs on
# any x86-64 Linux box with none of those libraries and any glibc (docs/install.md).
# Installs the Debian packages it needs, then builds the `ebtrace-static` target of the
# ordinary build directory, so it reuses the objects of the dynamic build: only the
# five cli/ sources are compiled again, and the link is static.
#
#   scripts/build-static.sh [BUILD_DIR]     (default: build)
#
# The last line of output is the path of the binary (debug info in BINARY.debug).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}

./scripts/setup-deps.sh  # the ordinary build dependencies, static archives included
# What the static link needs beyond them (already pulled in by g++ on Debian 12, but
# named here so a trimmed box says what is missing).
static_pkgs=(libc6-dev libstdc++-12-dev libzstd-dev liblzma-dev libbz2-dev)
missing=()
for p in "${static_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "build-static: installing ${missing[*]}" >&2
  if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; else SUDO=; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [[ -f $build/CMakeCache.txt ]]; then
  cmake "$build" >/dev/null  # re-run configure: it looks for the static archives
else
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEBTRACE_BUILD_TESTS=OFF -DEBTRACE_BUILD_BENCH=OFF >/dev/null
fi
cmake --build "$build" --target ebtrace-static -j"${EBTRACE_JOBS:-$(nproc)}" >&2
bin=$(cd "$build" && pwd)/ebtrace-static
# Refuse to hand out something that is not what it says.
if readelf -lW "$bin" | grep -q INTERP; then
  echo "build-static: $bin asks for a dynamic loader: $(readelf -lW "$bin" | grep -A1 INTERP | tail -1)" >&2
  exit 1
fi
echo "build-static: $(stat -c %s "$bin") bytes, $("$bin" --version)" >&2
echo "$bin"
