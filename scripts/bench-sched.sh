#!/usr/bin/env bash
# Scheduler-latency recording overhead on a context-switch-heavy workload:
#
#   perf bench sched pipe -l LOOPS            (two processes ping-ponging a pipe)
#   untraced | ebtrace record --sched -a | libbpf-tools runqlat (-L: per thread, like --sched)
#            | runqlat (one global histogram) | perf sched record
#
# Rounds are interleaved (every tool once per round, in a rotating order); the
# median CPU per operation (the bench's own CPU plus the tracer process's) is
# reported with its ratio to untraced. The in-kernel cost lands on the bench's
# CPU time (the programs run in the switching tasks' context).
#
# usage: sudo scripts/bench-sched.sh [BUILD_DIR] [ROUNDS=5] [LOOPS=200000]
#        BENCH_TOOLS="untraced ebtrace" to run only some rows; BENCH_CPU (default 1).
#        BENCH_BASE=OTHER_EBTRACE adds a row `base` (e.g. main's binary, to compare a
#        change side by side: BENCH_TOOLS="untraced ebtrace base").
#        BENCH_PROG_STATS=1: also time every BPF program of each tracer (BPF run-time
#        statistics, on only during this run) and print a second table: runs per op
#        and ns per run of each program. That table survives a loaded machine (it
#        is the programs' own time, not the bench's); the statistics add two clock
#        reads to every program run, so the CPU us/op table of such a run is not
#        the one to publish.
# Prints a Markdown table (for docs/benchmarks.md) on stdout; details on stderr.
set -euo pipefail

build=${1:-build}
rounds=${2:-5}
loops=${3:-200000}
cpu=${BENCH_CPU:-1}
ebtrace=$build/cli/ebtrace
[[ -x $ebtrace ]] || { echo "bench-sched: $ebtrace not built" >&2; exit 2; }
[[ $(id -u) == 0 ]] || { echo "bench-sched: needs root" >&2; exit 2; }
command -v perf >/dev/null || { echo "bench-sched: perf (linux-perf) missing" >&2; exit 2; }
runqlat=$(command -v runqlat || true)
[[ -n $runqlat ]] || echo "bench-sched: libbpf-tools runqlat not installed (apt-get install libbpf-tools): rows skipped" >&2

work=$(mktemp -d /tmp/ebt-bench-sched-XXXXXX)
trap 'rm -rf "$work"' EXIT

. "$(dirname "$0")/bench_lib.sh"

# BENCH_PROG_STATS=1: the tracer's BPF programs' run counts and times during
# each bench run (bench_sched_pipe_with leaves them in $work/last_bpf, programs
# of one name summed), appended to $work/progstats as "TOOL PROGRAM RUNS NS".
if [[ ${BENCH_PROG_STATS:-0} == 1 ]]; then
  command -v bpftool >/dev/null || { echo "bench-sched: BENCH_PROG_STATS needs bpftool" >&2; exit 2; }
  eval "orig_$(declare -f bench_sched_pipe_with)"
  bench_sched_pipe_with() {
    orig_bench_sched_pipe_with "$@"
    awk -v t="$current_tool" '{print t, $1, $3, $2}' "$work/last_bpf" >>"$work/progstats"
  }
fi

bench_run() {
  current_tool=$1
  case $1 in
    untraced) bench_untraced ;;
    ebtrace) bench_ebtrace "$ebtrace" --sched ;;
    base) bench_ebtrace "${BENCH_BASE:?BENCH_BASE: the other ebtrace binary}" --sched ;;
    runqlat) bench_bpf_tool "$runqlat" ;;
    runqlat_L) bench_bpf_tool "$runqlat" -L ;;
    perf) bench_perf sched record -a ;;
    *) echo "bench-sched: unknown tool $1" >&2; exit 2 ;;
  esac
}

bench_label() {
  case $1 in
    untraced) echo "untraced" ;;
    ebtrace) echo "\`ebtrace record --sched -a\`" ;;
    base) echo "\`ebtrace record --sched -a\` ($BENCH_BASE)" ;;
    runqlat) echo "libbpf-tools \`runqlat\` (one histogram)" ;;
    runqlat_L) echo "libbpf-tools \`runqlat -L\` (a histogram per thread)" ;;
    perf) echo "\`perf sched record -a\`" ;;
  esac
}

echo "bench-sched: load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
tools=(${BENCH_TOOLS:-untraced ebtrace perf})
[[ -n $runqlat && -z ${BENCH_TOOLS:-} ]] && tools+=(runqlat_L runqlat)
if [[ ${BENCH_PROG_STATS:-0} == 1 ]]; then
  coproc STATS { exec python3 "$(dirname "$0")/bpf_stats_hold.py"; }
  read -r ready <&"${STATS[0]}" || { echo "bench-sched: cannot enable BPF statistics" >&2; exit 1; }
  BENCH_STATS_HELD=1  # bench_cpu_table's setup line says so
  trap 'kill $STATS_PID 2>/dev/null; rm -rf "$work"' EXIT
fi
bench_cpu_rounds "$rounds" "${tools[@]}"
bench_cpu_table "$rounds" "${tools[@]}"
if [[ ${BENCH_PROG_STATS:-0} == 1 ]]; then
  # Medians over the rounds; programs with the same name (a tracer loading it
  # twice) are added up per round first (bench_bpf_delta).
  echo
  echo "BPF programs (run-time statistics on: each run also paid two clock reads):"
  echo
  echo "| tracer | program | runs/op | ns/run (median) | ns/op | ns/run per round |"
  echo "|---|---|---:|---:|---:|---|"
  for t in "${tools[@]}"; do
    awk -v t="$t" '$1 == t && $3 > 0' "$work/progstats" | awk '{print $2}' | sort -u | while read -r p; do
      runs=$(awk -v t="$t" -v p="$p" '$1 == t && $2 == p {print $3}' "$work/progstats" | bench_median)
      per=$(awk -v t="$t" -v p="$p" '$1 == t && $2 == p && $3 > 0 {printf "%.1f ", $4 / $3}' "$work/progstats")
      ns=$(echo "$per" | bench_median)
      awk -v l="$(bench_label "$t")" -v p="$p" -v r="$runs" -v n="$ns" -v lo="$loops" -v per="$per" \
        'BEGIN {printf "| %s | %s | %.2f | %.1f | %.1f | %s|\n", l, p, r / lo, n, r / lo * n, per}'
    done
  done
fi
