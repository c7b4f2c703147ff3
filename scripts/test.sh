#!/usr/bin/env bash
# Installs what is missing, builds everything and runs the whole test suite.
# As root with EBTRACE_REQUIRE_BPF=1 (what .ci/run does) the eBPF tests must run;
# otherwise they skip with a reason.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup-deps.sh --with-tests
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
ctest --test-dir build --output-on-failure --timeout 600 "$@"
