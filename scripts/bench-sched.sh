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

work=$(mktemp -d /tmp/ebt-bench-sched-XXXXXX)
trap 'rm -rf "$work"' EXIT

. "$(dirname "$0")/bench_lib.sh"

run_untraced() { echo "$(bench_sched_pipe "$cpu" "$loops" "$work/bench.out") 0"; }

run_ebtrace() {
  rm -f "$work/ready" "$work/e.ebt"
  "$ebtrace" record --sched -a -o "$work/e.ebt" --ready-file "$work/ready" >"$work/ebtrace.out" 2>"$work/ebtrace.err" &
  local pid=$!
  bench_wait_file "$work/ready" || { echo "bench-sched: ebtrace did not start" >&2; cat "$work/ebtrace.err" >&2; exit 1; }
  bench_sched_pipe_with "$pid" "$cpu" "$loops" "$work/bench.out"
  bench_stop "$pid"
  echo "  ebtrace: $(tail -1 "$work/ebtrace.err")" >&2
  stat -c %s "$work/e.ebt" >"$work/last_bytes"
}

run_runqlat() {  # run_runqlat [runqlat options...]
  "$runqlat" "$@" >"$work/rq.out" 2>"$work/rq.err" &
  local pid=$!
  sleep 2  # it prints nothing until it exits; loading takes well under this
  kill -0 "$pid" 2>/dev/null || { echo "bench-sched: runqlat failed" >&2; cat "$work/rq.err" >&2; exit 1; }
  bench_sched_pipe_with "$pid" "$cpu" "$loops" "$work/bench.out"
  bench_stop "$pid"
}

run_perf() {
  rm -f "$work/p.data"
  perf sched record -a -o "$work/p.data" >"$work/perf.out" 2>"$work/perf.err" &
  local pid=$!
  sleep 1.5  # perf has no readiness signal; it attaches well within this
  bench_sched_pipe_with "$pid" "$cpu" "$loops" "$work/bench.out"
  bench_stop "$pid"
  echo "  perf: $(grep -E 'samples|written' "$work/perf.err" | tail -1)" >&2
  stat -c %s "$work/p.data" >"$work/last_bytes"
}

echo "bench-sched: load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
tools=(${BENCH_TOOLS:-untraced ebtrace perf})
[[ -n $runqlat && -z ${BENCH_TOOLS:-} ]] && tools+=(runqlat_L runqlat)
declare -A ops cpus bytes
for ((r = 0; r < rounds; r++)); do
  n=${#tools[@]}
  for ((k = 0; k < n; k++)); do
    t=${tools[$(((k + r) % n))]}
    rm -f "$work/last_bytes"
    case $t in
      untraced) v=$(run_untraced) ;;
      ebtrace) v=$(run_ebtrace) ;;
      runqlat) v=$(run_runqlat) ;;
      runqlat_L) v=$(run_runqlat -L) ;;
      perf) v=$(run_perf) ;;
      *) echo "bench-sched: unknown tool $t" >&2; exit 2 ;;
    esac
    read -r o c tc <<<"$v"
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
    ebtrace) echo "\`ebtrace record --sched -a\`" ;;
    runqlat) echo "libbpf-tools \`runqlat\` (one histogram)" ;;
    runqlat_L) echo "libbpf-tools \`runqlat -L\` (a histogram per thread)" ;;
    perf) echo "\`perf sched record -a\`" ;;
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
