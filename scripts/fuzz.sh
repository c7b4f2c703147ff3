#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz (clang, ASan + UBSan; docs/security.md)
# in build-fuzz/ and runs each over its corpus.
#
#   scripts/fuzz.sh                       # every target, 60 s each
#   scripts/fuzz.sh --time 3600 report    # one target for an hour
#   scripts/fuzz.sh --ci                  # CI: the committed corpora and regressions,
#                                         # then a short fixed budget per target
#   scripts/fuzz.sh --runs 10000000 reader  # until that many executions (or --time)
#   scripts/fuzz.sh --merge               # fold new inputs (build-fuzz/corpus-new) into
#                                         # tests/fuzz/corpus, minimized
# Options: --time SECONDS per target, --runs N, --build DIR, --rss MB, --max-len
# BYTES (default 65536: every committed input is far smaller, and a capture that
# grows past it only costs more per execution; the limits that depend on the file
# size scale with it). New inputs go to
# DIR/corpus-new/TARGET (the committed corpora are never written except by
# --merge); a crash, sanitizer report, timeout (> 60 s) or memory blow-up
# (> --rss, default 2048 MB) stops the run with exit 1 and leaves the input in
# DIR/findings/.
set -euo pipefail
cd "$(dirname "$0")/.."
time_s=
build=build-fuzz
rss=2048
runs=0
max_len=65536
ci=0
merge=0
targets=()
while (($#)); do
  case "$1" in
    --time) time_s=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --rss) rss=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --max-len) max_len=$2; shift 2 ;;
    --ci) ci=1; shift ;;
    --merge) merge=1; shift ;;
    reader|report|unwind_table) targets+=("$1"); shift ;;
    *) echo "fuzz.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
((${#targets[@]})) || targets=(reader report unwind_table)
((ci)) && time_s=${EBTRACE_FUZZ_CI_SECONDS:-45}
# --runs alone runs until that many executions; otherwise 60 s by default.
[[ -z $time_s ]] && { ((runs)) && time_s=0 || time_s=60; }
runs_arg=$((runs > 0 ? runs : -1))
corpus=tests/fuzz/corpus


if [[ ! -f $build/CMakeCache.txt ]]; then
  CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DEBTRACE_FUZZ=ON -DEBTRACE_BUILD_BENCH=OFF >/dev/null
fi
cmake --build "$build" -j"$(nproc)" --target fuzzers >/dev/null

# Leaks are not this script's subject (docs/security.md): LeakSanitizer at exit
# would also report what the custom mutator holds when -max_total_time ends a
# run mid-mutation. Every memory error and undefined behaviour still stops it.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}

mkdir -p "$build/findings"
status=0
for t in "${targets[@]}"; do
  bin=$build/tests/fuzz/fuzz_$t
  new=$build/corpus-new/$t
  mkdir -p "$new"
  if ((merge)); then
    # Minimized union of the committed corpus and what runs found.
    tmp=$(mktemp -d)
    "$bin" -merge=1 -rss_limit_mb="$rss" -timeout=60 "$tmp" "$corpus/$t" "$new" >/dev/null 2>&1
    rm -rf "${corpus:?}/$t" && mv "$tmp" "$corpus/$t"
    echo "fuzz.sh: $t: $(ls "$corpus/$t" | wc -l) inputs, $(du -sk "$corpus/$t" | cut -f1) KiB" >&2
    continue
  fi
  # Every past finding first (they must pass), then fuzz for the budget.
  "$bin" -rss_limit_mb="$rss" -timeout=60 -detect_leaks=0 tests/fuzz/regressions/* >/dev/null 2>&1 ||
    { echo "fuzz.sh: $t: a regression input fails again (run $bin tests/fuzz/regressions/*)" >&2; status=1; continue; }
  log=$build/fuzz-$t.log
  if ! "$bin" -max_total_time="$time_s" -runs="$runs_arg" -timeout=60 -rss_limit_mb="$rss" -detect_leaks=0 \
       -max_len="$max_len" -print_final_stats=1 \
       -artifact_prefix="$build/findings/$t-" "$new" "$corpus/$t" >"$log" 2>&1; then
    echo "fuzz.sh: $t: FINDING (see $log and $build/findings/)" >&2
    grep -E "ERROR|SUMMARY" "$log" | head -5 >&2 || true
    status=1
    continue
  fi
  execs=$(grep -oE "stat::number_of_executed_units: *[0-9]+" "$log" | grep -oE "[0-9]+$" || echo "?")
  cov=$(grep -oE "cov: [0-9]+" "$log" | tail -1 | grep -oE "[0-9]+" || echo "?")
  echo "fuzz.sh: $t: $execs executions, $cov edges, $(ls "$new" | wc -l) new inputs, no finding (log $log)" >&2
done
exit $status
