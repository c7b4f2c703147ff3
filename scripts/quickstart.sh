#!/usr/bin/env bash
# Quick start (README command 1): install what is missing, build ebtrace and the
# bundled cpuburn sample, record cpuburn for ~5 s and write a flame graph
# (build/quickstart.svg) and a text report. Without root or BPF it says so in one
# line and reports the small capture shipped in samples/ instead.
set -euo pipefail
cd "$(dirname "$0")/.."

build=${BUILD:-build}  # build directory (default build/)

./scripts/setup-deps.sh
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
# Only what the quick start runs; scripts/test.sh builds everything.
cmake --build "$build" -j"$(nproc)" --target ebtrace cpuburn

ebt=$build/cli/ebtrace
capture=$build/quickstart.ebt
svg=$build/quickstart.svg
rm -f "$capture"

recorded=
if [[ $(id -u) -ne 0 ]]; then
  echo "quickstart: not root, so no recording here (ebtrace record needs root: CAP_BPF + CAP_PERFMON); reporting the sample capture samples/cpuburn.ebt instead" >&2
elif ! "$ebt" record -F 99 -o "$capture" -- "$build/samples/cpuburn/cpuburn" --duration 5 >/dev/null 2>"$build/quickstart.err"; then
  echo "quickstart: recording failed ($(tail -n1 "$build/quickstart.err")); reporting the sample capture samples/cpuburn.ebt instead" >&2
else
  cat "$build/quickstart.err" >&2
  recorded=1
fi
if [[ -z $recorded ]]; then capture=samples/cpuburn.ebt; fi

"$ebt" report "$capture" --flamegraph "$svg"
"$ebt" report "$capture"
echo
echo "quickstart: flame graph in $svg (open it in a browser: click to zoom, Ctrl-F to search); capture: $capture" >&2
