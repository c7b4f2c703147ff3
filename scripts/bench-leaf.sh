#!/usr/bin/env bash
# Stack-capture modes side by side (issue 14): what leaf repair and off-CPU
# dwarf stacks cost, on a context-switch-heavy workload.
#
#   perf bench sched pipe -l LOOPS            (two processes ping-ponging a pipe)
#   off-CPU: untraced | ebtrace --off-cpu (fp, --leaf-stack-bytes 0)
#            | ebtrace --off-cpu (fp + leaf repair, the default)
#            | ebtrace --off-cpu --call-graph dwarf | libbpf-tools offcputime
#            | perf record -e sched:sched_switch -g -a
#   on-CPU at -F 999 -a: ebtrace fp | ebtrace fp + leaf repair | perf record -g
#
# Rounds are interleaved (every tool once per round, in a rotating order); the
# median CPU per op (the bench's own plus the tracer's) is reported with its
# ratio to untraced, the capture size and, for on-CPU, bytes per sample.
#
# usage: sudo scripts/bench-leaf.sh [BUILD_DIR] [ROUNDS=5] [LOOPS=200000]
# Prints a Markdown table (for docs/benchmarks.md) on stdout; details on stderr.
set -euo pipefail

build=${1:-build}
rounds=${2:-5}
loops=${3:-200000}
cpu=${BENCH_CPU:-1}
ebtrace=$build/cli/ebtrace
[[ -x $ebtrace ]] || { echo "bench-leaf: $ebtrace not built" >&2; exit 2; }
[[ $(id -u) == 0 ]] || { echo "bench-leaf: needs root" >&2; exit 2; }
command -v perf >/dev/null || { echo "bench-leaf: perf (linux-perf) missing" >&2; exit 2; }
offcputime=$(command -v offcputime || true)
[[ -n $offcputime ]] || echo "bench-leaf: libbpf-tools offcputime not installed (apt-get install libbpf-tools): row skipped" >&2

work=$(mktemp -d /tmp/ebt-bench-leaf-XXXXXX)
trap 'rm -rf "$work"' EXIT

. "$(dirname "$0")/bench_lib.sh"

run_untraced() { echo "$(bench_sched_pipe "$cpu" "$loops" "$work/bench.out") 0"; }

run_ebtrace() {  # run_ebtrace [ebtrace record options...]
  rm -f "$work/ready" "$work/e.ebt"
  "$ebtrace" record -a --no-lua -o "$work/e.ebt" --ready-file "$work/ready" "$@" \
    >"$work/ebtrace.out" 2>"$work/ebtrace.err" &
  local pid=$!
  for ((i = 0; i < 400; i++)); do [[ -e $work/ready ]] && break; sleep 0.05; done
  [[ -e $work/ready ]] || { echo "bench-leaf: ebtrace did not start" >&2; cat "$work/ebtrace.err" >&2; exit 1; }
  # Past its start-up (the first symbol tables of every process with -a), as perf gets 1.5 s.
  sleep 1.5
  bench_sched_pipe_with "$pid" "$cpu" "$loops" "$work/bench.out"
  bench_stop "$pid"
  echo "  ebtrace $*: $(tail -1 "$work/ebtrace.err")" >&2
  stat -c %s "$work/e.ebt" >"$work/last_bytes"
  # "N samples" of the summary line: bytes per sample for the on-CPU rows
  grep -o '[0-9]* samples' "$work/ebtrace.err" | head -1 | cut -d' ' -f1 >"$work/last_samples" || true
}

run_perf() {  # run_perf [perf record options...]
  rm -f "$work/p.data"
  perf record -a -o "$work/p.data" "$@" >"$work/perf.out" 2>"$work/perf.err" &
  local pid=$!
  sleep 1.5  # perf has no readiness signal; it attaches well within this
  bench_sched_pipe_with "$pid" "$cpu" "$loops" "$work/bench.out"
  bench_stop "$pid"
  echo "  perf $*: $(grep -E 'samples|written' "$work/perf.err" | tail -1)" >&2
  stat -c %s "$work/p.data" >"$work/last_bytes"
  grep -o '([0-9]* samples)' "$work/perf.err" | tr -dc '0-9' >"$work/last_samples" || true
}

run_offcputime() {
  "$offcputime" >"$work/oct.out" 2>"$work/oct.err" &
  local pid=$!
  sleep 2  # it prints nothing when ready; loading takes well under this
  kill -0 "$pid" 2>/dev/null || { echo "bench-leaf: offcputime failed" >&2; cat "$work/oct.err" >&2; exit 1; }
  bench_sched_pipe_with "$pid" "$cpu" "$loops" "$work/bench.out"
  bench_stop "$pid"
}

echo "bench-leaf: load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
tools=(${BENCH_TOOLS:-untraced off_fp off_leaf off_dwarf off_perf on_fp on_leaf on_perf})
[[ -n $offcputime && -z ${BENCH_TOOLS:-} ]] && tools+=(off_offcputime)
declare -A cpus bytes per_sample
for ((r = 0; r < rounds; r++)); do
  n=${#tools[@]}
  for ((k = 0; k < n; k++)); do
    t=${tools[$(((k + r) % n))]}
    rm -f "$work/last_bytes" "$work/last_samples"
    case $t in
      untraced) v=$(run_untraced) ;;
      off_fp) v=$(run_ebtrace --off-cpu --leaf-stack-bytes 0) ;;
      off_leaf) v=$(run_ebtrace --off-cpu) ;;
      off_dwarf) v=$(run_ebtrace --off-cpu --call-graph dwarf) ;;
      off_offcputime) v=$(run_offcputime) ;;
      off_perf) v=$(run_perf -e sched:sched_switch -g) ;;
      on_fp) v=$(run_ebtrace -F 999 --leaf-stack-bytes 0) ;;
      on_leaf) v=$(run_ebtrace -F 999) ;;
      on_perf) v=$(run_perf -F 999 -g) ;;
    esac
    read -r o c tc <<<"$v"
    us=$(awk -v c="$c" -v tc="$tc" -v l="$loops" 'BEGIN {printf "%.3f", (c + tc) * 1e6 / l}')
    echo "round $((r + 1)) $t: $o ops/s, bench cpu $c s + tracer cpu $tc s = $us us/op" >&2
    cpus[$t]+="$us "
    if [[ -e $work/last_bytes ]]; then
      b=$(cat "$work/last_bytes")
      bytes[$t]+="$b "
      s=$(cat "$work/last_samples" 2>/dev/null || true)
      [[ -n $s && $s != 0 ]] && per_sample[$t]+="$(awk -v b="$b" -v s="$s" 'BEGIN {printf "%.1f", b / s}') "
    fi
  done
done


label() {
  case $1 in
    untraced) echo "untraced" ;;
    off_fp) echo "\`ebtrace record --off-cpu -a --leaf-stack-bytes 0\` (fp, no repair)" ;;
    off_leaf) echo "\`ebtrace record --off-cpu -a\` (fp + leaf repair, 512 B)" ;;
    off_dwarf) echo "\`ebtrace record --off-cpu -a --call-graph dwarf\` (8 KiB copies)" ;;
    off_offcputime) echo "libbpf-tools \`offcputime\`" ;;
    off_perf) echo "\`perf record -e sched:sched_switch -g -a\`" ;;
    on_fp) echo "\`ebtrace record -F 999 -a --leaf-stack-bytes 0\` (fp)" ;;
    on_leaf) echo "\`ebtrace record -F 999 -a\` (fp + leaf repair)" ;;
    on_perf) echo "\`perf record -F 999 -g -a\`" ;;
  esac
}
base_cpu=$(echo "${cpus[untraced]}" | bench_median)
echo "| tracer | CPU us/op (median) | CPU vs untraced | added us/op | capture bytes | bytes/sample | CPU us/op per round |"
echo "|---|---:|---:|---:|---:|---:|---|"
for t in "${tools[@]}"; do
  c=$(echo "${cpus[$t]}" | bench_median)
  b="-"
  [[ -n ${bytes[$t]:-} ]] && b=$(echo "${bytes[$t]}" | bench_median)
  ps="-"
  [[ $t == on_* && -n ${per_sample[$t]:-} ]] && ps=$(echo "${per_sample[$t]}" | bench_median)
  awk -v l="$(label "$t")" -v c="$c" -v bc="$base_cpu" -v b="$b" -v ps="$ps" -v runs="${cpus[$t]}" \
    'BEGIN {printf "| %s | %.2f | %.2fx | %+.2f | %s | %s | %s|\n", l, c, c / bc, c - bc, b, ps, runs}'
done
echo
echo "\`perf bench sched pipe -l $loops\` pinned to CPU $cpu (2 context switches per op), $rounds interleaved rounds,"
echo "$(nproc) CPUs, kernel $(uname -r), load average at start $(cut -d' ' -f1-3 /proc/loadavg)."
echo "Ring-buffer bytes per event (not in the capture, which stores addresses only): on-CPU fp"
echo "104 + 8 x frames, + 512 with leaf repair; off-CPU 168 + 8 x frames (+ 512 leaf repair, or the dwarf copy)."
