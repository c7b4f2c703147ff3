#!/usr/bin/env bash
# Builds the Debian package of ebtrace (CPack): the dynamic binary (Depends from
# dpkg-shlibdeps), man pages generated from the --help texts, bash completion, README
# and docs/. Installs what it needs, reuses the ordinary build directory, runs lintian
# when installed (warnings that remain are listed in docs/install.md).
#
#   scripts/build-deb.sh [BUILD_DIR]     (default: build)
#
# The last line of output is the path of the .deb.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}

./scripts/setup-deps.sh
pkgs=(help2man dpkg-dev file)  # man pages; dpkg-shlibdeps for CPack; file for CPack's strip/shlibdeps
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "build-deb: installing ${missing[*]}" >&2
  if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; else SUDO=; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [[ ! -f $build/CMakeCache.txt ]]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEBTRACE_BUILD_TESTS=OFF -DEBTRACE_BUILD_BENCH=OFF >/dev/null
fi
cmake --build "$build" --target ebtrace ebtrace-man -j"${EBTRACE_JOBS:-$(nproc)}" >&2
build=$(cd "$build" && pwd)
rm -f "$build"/deb/ebtrace_*.deb
(cd "$build" && cpack --config CPackConfig.cmake >&2)
deb=$(ls "$build"/deb/ebtrace_*.deb)
if command -v lintian >/dev/null; then
  lintian --info "$deb" >&2 || true  # findings are reported, and documented in docs/install.md
fi
echo "$deb"
