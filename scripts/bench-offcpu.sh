#!/usr/bin/env bash
# Off-CPU recording overhead on a context-switch-heavy workload, side by side:
#
#   perf bench sched pipe -l LOOPS            (two processes ping-ponging a pipe)
#   untraced | ebtrace record --off-cpu -a | ebtrace ... --off-cpu-min 1
#            | perf record -e sched:sched_switch -g -a | libbpf-tools offcputime
#
# Rounds are interleaved (every tool once per round, in a rotating order) and
# the median throughput per tool is reported with its ratio to untraced.
# `perf record --off-cpu` is not usable here: Debian's perf is built without
# BPF skeletons (it prints a warning and records cpu-clock instead).
#
# usage: sudo scripts/bench-offcpu.sh [BUILD_DIR] [ROUNDS=5] [LOOPS=200000]
# Prints a Markdown table (for docs/benchmarks.md) on stdout; details on stderr.
set -euo pipefail

build=${1:-build}
rounds=${2:-5}
loops=${3:-200000}
cpu=${BENCH_CPU:-1}
ebtrace=$build/cli/ebtrace
[[ -x $ebtrace ]] || { echo "bench-offcpu: $ebtrace not built" >&2; exit 2; }
[[ $(id -u) == 0 ]] || { echo "bench-offcpu: needs root" >&2; exit 2; }
command -v perf >/dev/null || { echo "bench-offcpu: perf (linux-perf) missing" >&2; exit 2; }
offcputime=$(command -v offcputime || true)

work=$(mktemp -d /tmp/ebt-bench-offcpu-XXXXXX)
trap 'rm -rf "$work"' EXIT

. "$(dirname "$0")/bench_lib.sh"

run_untraced() { echo "$(bench_sched_pipe "$cpu" "$loops" "$work/bench.out") 0"; }

run_ebtrace() {  # run_ebtrace [extra ebtrace options...]
  rm -f "$work/ready" "$work/e.ebt"
  "$ebtrace" record --off-cpu -a -o "$work/e.ebt" --ready-file "$work/ready" "$@" \
    >"$work/ebtrace.out" 2>"$work/ebtrace.err" &
  local pid=$!
  for ((i = 0; i < 400; i++)); do [[ -e $work/ready ]] && break; sleep 0.05; done
  [[ -e $work/ready ]] || { echo "bench-offcpu: ebtrace did not start" >&2; cat "$work/ebtrace.err" >&2; exit 1; }
  # Past its start-up (the first symbol tables of every process with -a), as perf gets 1.5 s.
  sleep 1.5
  bench_sched_pipe_with "$pid" "$cpu" "$loops" "$work/bench.out"
  bench_stop "$pid"
  echo "  ebtrace $*: $(tail -1 "$work/ebtrace.err")" >&2
  stat -c %s "$work/e.ebt" >"$work/last_bytes"
}

run_perf() {
  rm -f "$work/p.data"
  perf record -e sched:sched_switch -g -a -o "$work/p.data" >"$work/perf.out" 2>"$work/perf.err" &
  local pid=$!
  sleep 1.5  # perf has no readiness signal; it attaches well within this
  bench_sched_pipe_with "$pid" "$cpu" "$loops" "$work/bench.out"
  bench_stop "$pid"
  echo "  perf: $(grep -E 'samples|written' "$work/perf.err" | tail -1)" >&2
  stat -c %s "$work/p.data" >"$work/last_bytes"
}

run_offcputime() {
  "$offcputime" >"$work/oct.out" 2>"$work/oct.err" &
  local pid=$!
  sleep 2  # it prints nothing when ready; loading takes well under this
  kill -0 "$pid" 2>/dev/null || { echo "bench-offcpu: offcputime failed" >&2; cat "$work/oct.err" >&2; exit 1; }
  bench_sched_pipe_with "$pid" "$cpu" "$loops" "$work/bench.out"
  bench_stop "$pid"
}

echo "bench-offcpu: load average $(cut -d' ' -f1-3 /proc/loadavg), kernel.bpf_stats_enabled=$(cat /proc/sys/kernel/bpf_stats_enabled 2>/dev/null || echo ?)" >&2
tools=(${BENCH_TOOLS:-untraced ebtrace ebtrace_min1 perf})
[[ -n $offcputime && -z ${BENCH_TOOLS:-} ]] && tools+=(offcputime)
declare -A ops cpus bytes
for ((r = 0; r < rounds; r++)); do
  n=${#tools[@]}
  for ((k = 0; k < n; k++)); do
    t=${tools[$(((k + r) % n))]}
    rm -f "$work/last_bytes"
    case $t in
      untraced) v=$(run_untraced) ;;
      ebtrace) v=$(run_ebtrace) ;;
      ebtrace_min1) v=$(run_ebtrace --off-cpu-min 1) ;;
      perf) v=$(run_perf) ;;
      offcputime) v=$(run_offcputime) ;;
    esac
    read -r o c tc <<<"$v"
    # CPU per op: the bench's own CPU plus the tracer process's, in microseconds
    us=$(awk -v c="$c" -v tc="$tc" -v l="$loops" 'BEGIN {printf "%.3f", (c + tc) * 1e6 / l}')
    echo "round $((r + 1)) $t: $o ops/s, bench cpu $c s + tracer cpu $tc s = $us us/op" >&2
    ops[$t]+="$o "
    cpus[$t]+="$us "
    [[ -e $work/last_bytes ]] && bytes[$t]+="$(cat "$work/last_bytes") "
  done
done


label() {
  case $1 in
    untraced) echo "untraced" ;;
    ebtrace) echo "\`ebtrace record --off-cpu -a\` (default --off-cpu-min 100 us)" ;;
    ebtrace_min1) echo "\`ebtrace record --off-cpu -a --off-cpu-min 1\` (every switch kept)" ;;
    perf) echo "\`perf record -e sched:sched_switch -g -a\`" ;;
    offcputime) echo "libbpf-tools \`offcputime\` (in-kernel aggregation, -m 1 us)" ;;
  esac
}
base_cpu=$(echo "${cpus[untraced]}" | bench_median)
base_ops=$(echo "${ops[untraced]}" | bench_median)
echo "| tracer | CPU us/op (median) | CPU vs untraced | added us/op | ops/s wall (median) | ops/s vs untraced | capture bytes | CPU us/op per round |"
echo "|---|---:|---:|---:|---:|---:|---:|---|"
for t in "${tools[@]}"; do
  c=$(echo "${cpus[$t]}" | bench_median)
  o=$(echo "${ops[$t]}" | bench_median)
  b="-"
  [[ -n ${bytes[$t]:-} ]] && b=$(echo "${bytes[$t]}" | bench_median)
  awk -v l="$(label "$t")" -v c="$c" -v bc="$base_cpu" -v o="$o" -v bo="$base_ops" -v b="$b" -v runs="${cpus[$t]}" \
    'BEGIN {printf "| %s | %.2f | %.2fx | %+.2f | %d | %.2f | %s | %s|\n", l, c, c / bc, c - bc, o, o / bo, b, runs}'
done
echo
echo "\`perf bench sched pipe -l $loops\` pinned to CPU $cpu (2 context switches per op), $rounds interleaved rounds,"
echo "$(nproc) CPUs, kernel $(uname -r), load average at start $(cut -d' ' -f1-3 /proc/loadavg)."
