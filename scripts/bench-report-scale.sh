#!/usr/bin/env bash
# Reports at scale (issue 17): wall time and peak RSS of `ebtrace report` on the
# synthetic capture of the format benchmark (bench/synthetic_capture.h: 3000
# distinct stacks, Zipf(1.1), 24 threads, 99 Hz) for the text report,
# --folded, --flamegraph, --trace, --pprof and --speedscope, against the reader
# alone (the floor: every record decoded, nothing kept), side by side: each
# round runs every configuration once, in an order that rotates from round to
# round, pinned to one CPU; the table shows medians. Then `perf report --stdio`
# and `perf script` on a perf.data of about as many samples (a real workload's
# call chains, recorded here) when perf is installed, each stopped after
# PERF_TIMEOUT seconds (the issue compares with perf where it finishes within 10
# minutes). Rewrites the "Reports at scale" section of docs/benchmarks.md.
#
#   scripts/bench-report-scale.sh     # BUILD=build-bench SAMPLES=10000000 ROUNDS=5 CPU=0 PERF_SAMPLES=$SAMPLES PERF_ROUNDS=1 PERF_TIMEOUT=600
#   BUILD=build SAMPLES=200000 ROUNDS=2 PERF_SAMPLES=20000 DOC=/tmp/b.md scripts/bench-report-scale.sh   # quick check
#   PERF_SAMPLES=0 ...                # no perf rows
#
# perf record needs root or perf_event_paranoid <= 2 (it profiles its own workload only).
set -euo pipefail
. "$(dirname "$0")/bench_lib.sh"
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build-bench}
SAMPLES=${SAMPLES:-10000000}
ROUNDS=${ROUNDS:-5}
CPU=${CPU:-0}
PERF_SAMPLES=${PERF_SAMPLES:-$SAMPLES}
PERF_ROUNDS=${PERF_ROUNDS:-1}
PERF_TIMEOUT=${PERF_TIMEOUT:-600}
DOC=${DOC:-docs/benchmarks.md}

# An existing build directory (e.g. BUILD=build for a quick check) keeps its configuration.
[[ -f $BUILD/CMakeCache.txt ]] || cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DEBTRACE_BUILD_BENCH=ON >/dev/null
cmake --build "$BUILD" --target ebtrace make_capture -j"$(nproc)" >/dev/null
EBT=$(realpath "$BUILD/cli/ebtrace")
GEN=$(realpath "$BUILD/bench/make_capture")
work=$(mktemp -d "${TMPDIR:-/tmp}/ebt-report-scale-XXXXXX")
trap 'rm -rf "$work"' EXIT
cap=$work/capture.ebt
$GEN --samples "$SAMPLES" --out "$cap"
mb() { awk -v b="$(stat -c %s "$1")" 'BEGIN { printf "%.1f", b / 1e6 }'; }
cap_mb=$(mb "$cap")

# The configurations: run_NAME runs one (its stdout discarded by the caller).
run_reader() { "$GEN" --read "$cap"; }
run_text() { "$EBT" report "$cap"; }
run_folded() { "$EBT" report "$cap" --folded; }
run_flamegraph() { "$EBT" report "$cap" --flamegraph "$work/f.svg"; }
run_trace() { "$EBT" report "$cap" --trace "$work/t.json"; }
run_pprof() { "$EBT" report "$cap" --pprof "$work/p.pb.gz"; }
run_speedscope() { "$EBT" report "$cap" --speedscope "$work/s.json"; }
run_perf_report() { perf report -i "$work/perf.data" --stdio; }
run_perf_script() { perf script -i "$work/perf.data"; }
export EBT GEN cap work
export -f run_reader run_text run_folded run_flamegraph run_trace run_pprof run_speedscope run_perf_report run_perf_script

# rounds N TIMEOUT CONFIG...: N rounds, each running every CONFIG once (order
# rotating), pinned to $CPU (bash starts it: a few ms in every row); WALL[c]
# and RSS[c] (MB) get the medians, or "-" when a run failed or took longer
# than TIMEOUT seconds (0: no limit).
declare -A WALL RSS FAILED
rounds() {
  local n=$1 limit=$2 r k c out
  shift 2
  local configs=("$@")
  declare -A walls=() rsss=()
  for ((r = 0; r < n; r++)); do
    for ((k = 0; k < ${#configs[@]}; k++)); do
      c=${configs[(k + r) % ${#configs[@]}]}
      [[ -n ${FAILED[$c]:-} ]] && continue
      if ! /usr/bin/time -o "$work/time" -f '%e %M' timeout "$limit" taskset -c "$CPU" bash -c "run_$c" \
        >/dev/null 2>"$work/err"; then
        FAILED[$c]="failed or over ${limit} s"
        echo "  $c round $((r + 1)): ${FAILED[$c]}" >&2
        tail -3 "$work/err" >&2
        continue
      fi
      out=$(tail -1 "$work/time")
      walls[$c]+="${out% *} "
      rsss[$c]+="${out#* } "
      echo "  $c round $((r + 1)): ${out% *} s, ${out#* } KB" >&2
    done
  done
  for c in "${configs[@]}"; do
    if [[ -n ${FAILED[$c]:-} ]]; then
      WALL[$c]="-"
      RSS[$c]="-"
    else
      WALL[$c]=$(echo "${walls[$c]}" | bench_median)
      RSS[$c]=$(echo "${rsss[$c]}" | bench_median | awk '{ printf "%.0f", $1 / 1024 }')
    fi
  done
}

configs=(reader text folded flamegraph trace pprof speedscope)
rounds "$ROUNDS" 0 "${configs[@]}"
trace_mb=$(mb "$work/t.json")
speedscope_mb=$(mb "$work/s.json")
pprof_kb=$(awk -v b="$(stat -c %s "$work/p.pb.gz")" 'BEGIN { printf "%.0f", b / 1e3 }')
trace_note=$("$EBT" report "$cap" --trace "$work/t.json" 2>&1 | grep -o 'merged per [0-9.]* s bucket' || true)

# perf.data of about PERF_SAMPLES samples: `perf record -e cpu-clock -c 20000
# -g` (one sample per 20 us of CPU: 50 k/s per busy CPU) of two workers looping
# `ebtrace report --folded` on the capture (real, varied call chains), for as
# long as that many samples take.
perf_rows=""
perf_what=""
if [[ $PERF_SAMPLES != 0 ]] && command -v perf >/dev/null; then
  secs=$(awk -v n="$PERF_SAMPLES" 'BEGIN { s = n / 100000; printf "%.1f", s < 1 ? 1 : s }')
  if perf record -e cpu-clock -c 20000 -g -o "$work/perf.data" -- timeout "$secs" bash -c \
    "for w in 1 2; do (while :; do '$EBT' report '$cap' --folded >/dev/null; done) & done; wait" \
    >/dev/null 2>"$work/perf-record.err" || [[ -s $work/perf.data ]]; then
    nps=$(perf report -i "$work/perf.data" --stats 2>/dev/null | awk '/SAMPLE events:/ { print $3; exit }')
    perf_mb=$(mb "$work/perf.data")
    echo "perf.data: $nps samples, $perf_mb MB" >&2
    rounds "$PERF_ROUNDS" "$PERF_TIMEOUT" perf_report perf_script
    us() { [[ $1 == - ]] && echo "-" || awk -v w="$1" -v n="$2" 'BEGIN { printf "%.3f us", n ? w * 1e6 / n : 0 }'; }
    cell() { [[ $1 == - ]] && echo "${FAILED[$2]}" || echo "$1 s"; }
    rss() { [[ $1 == - ]] && echo "-" || echo "$1 MB"; }
    perf_rows=$(cat <<ROWS
| \`perf report --stdio\` ($nps samples, $perf_mb MB perf.data) | $(cell "${WALL[perf_report]}" perf_report) | $(rss "${RSS[perf_report]}") | $(us "${WALL[perf_report]}" "$nps") | | |
| \`perf script\` (same perf.data) | $(cell "${WALL[perf_script]}" perf_script) | $(rss "${RSS[perf_script]}") | $(us "${WALL[perf_script]}" "$nps") | | |
ROWS
)
    perf_what="perf rows: \`perf record -e cpu-clock -c 20000 -g\` of two workers running \`ebtrace report --folded\`
on the capture for $secs s ($nps samples with call chains, $perf_mb MB), then \`perf report --stdio\` and
\`perf script\` on it ($PERF_ROUNDS round(s), pinned to the same CPU, output discarded, stopped after
$PERF_TIMEOUT s); compare per sample."
  else
    perf_what="perf rows: \`perf record\` failed here ($(head -1 "$work/perf-record.err"))."
  fi
fi

verdict() { [[ $1 == - ]] && { echo "failed"; return; }; awk -v w="$1" -v r="$2" -v tw="$3" -v tr="$4" 'BEGIN { print (w <= tw && r <= tr) ? "met" : "MISSED" }'; }
per() { [[ $1 == - ]] && echo "-" || awk -v w="$1" -v n="$SAMPLES" 'BEGIN { printf "%.3f us", w * 1e6 / n }'; }
x() { [[ $1 == - ]] && echo "-" || awk -v a="$1" -v b="${WALL[reader]}" 'BEGIN { printf "%.1fx", (b > 0 ? a / b : 0) }'; }
row() {  # row LABEL CONFIG TARGET_S TARGET_MB [4x]
  local t=""
  [[ -n ${3:-} ]] && t="<= $3 s, <= $4 MB$([[ -n ${5:-} ]] && echo ", <= 4x reader"): $(verdict "${WALL[$2]}" "${RSS[$2]}" "$3" "$4")"
  [[ -n ${5:-} && $t == *met ]] && t=$(awk -v a="${WALL[$2]}" -v b="${WALL[reader]}" -v t="$t" 'BEGIN { print (a <= 4 * b) ? t : t " (MISSED 4x)" }')
  echo "| $1 | ${WALL[$2]} s | ${RSS[$2]} MB | $(per "${WALL[$2]}") | $(x "${WALL[$2]}") | $t |"
}

section=$(cat <<MD
<!-- report-scale-bench:begin (generated by scripts/bench-report-scale.sh; edits between the markers are overwritten) -->
## Reports at scale

\`ebtrace report\` on the synthetic capture of the format benchmark at $SAMPLES on-CPU
samples ($cap_mb MB: 3000 distinct stacks with Zipf(1.1) popularity, 24 threads, 99 Hz;
\`bench/make_capture\`). The capture is read once; records are aggregated per distinct
(thread, stack) as they arrive and symbolized once per distinct stack, so memory follows
distinct stacks, not samples. $(grep -o 'CMAKE_BUILD_TYPE:STRING=.*' "$BUILD/CMakeCache.txt" | cut -d= -f2) build, pinned to one CPU, median of $ROUNDS rounds (each
round runs every row once, in rotating order); peak RSS from \`/usr/bin/time\`. Load
average at the run: $(cut -d' ' -f1-3 /proc/loadavg).

| command | wall | peak RSS | per sample | vs reader | target (issue 17) |
|---|---|---|---|---|---|
$(row "reader alone (\`make_capture --read\`: decode every record, keep nothing)" reader)
$(row "\`report\` (text)" text 1 100)
$(row "\`report --folded\`" folded 1 100)
$(row "\`report --flamegraph\`" flamegraph 1 100)
$(row "\`report --trace\` ($trace_mb MB JSON${trace_note:+, $trace_note})" trace 5 200 4x)
$(row "\`report --pprof\` ($pprof_kb KB)" pprof 1 100)
$(row "\`report --speedscope\` ($speedscope_mb MB JSON: every sample of every thread, consecutive equal stacks merged)" speedscope)
$perf_rows

Before the streaming families (issue 17, same capture): \`--folded\`/\`--flamegraph\` 5.2 s and
800 MB, \`--trace\` 89 s, 10 GB and a 2.2 GB JSON. $perf_what
Measured $(date -u +%Y-%m-%d) on $(uname -r), $(nproc) vCPU.

Command (repo root): \`BUILD=$BUILD SAMPLES=$SAMPLES ROUNDS=$ROUNDS PERF_SAMPLES=$PERF_SAMPLES scripts/bench-report-scale.sh\`
<!-- report-scale-bench:end -->
MD
)

bench_write_section "$DOC" report-scale-bench "$section"
