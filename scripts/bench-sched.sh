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

bench_run() {
  case $1 in
    untraced) bench_untraced ;;
    ebtrace) bench_ebtrace "$ebtrace" --sched ;;
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
    runqlat) echo "libbpf-tools \`runqlat\` (one histogram)" ;;
    runqlat_L) echo "libbpf-tools \`runqlat -L\` (a histogram per thread)" ;;
    perf) echo "\`perf sched record -a\`" ;;
  esac
}

echo "bench-sched: load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
tools=(${BENCH_TOOLS:-untraced ebtrace perf})
[[ -n $runqlat && -z ${BENCH_TOOLS:-} ]] && tools+=(runqlat_L runqlat)
bench_cpu_rounds "$rounds" "${tools[@]}"
bench_cpu_table "$rounds" "${tools[@]}"
