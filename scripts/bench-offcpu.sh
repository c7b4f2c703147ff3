#!/usr/bin/env bash
# Off-CPU recording overhead on a context-switch-heavy workload, side by side:
#
#   perf bench sched pipe -l LOOPS            (two processes ping-ponging a pipe)
#   untraced | ebtrace record --off-cpu -a | ebtrace ... --off-cpu-min 1
#            | perf record -e sched:sched_switch -g -a | libbpf-tools offcputime
#
# Rounds are interleaved (every tool once per round, in a rotating order); the
# median CPU per operation (the bench's own CPU plus the tracer process's) is
# reported with its ratio to untraced. `perf record --off-cpu` is not usable
# here: Debian's perf is built without BPF skeletons (it prints a warning and
# records cpu-clock instead).
#
# usage: sudo scripts/bench-offcpu.sh [BUILD_DIR] [ROUNDS=5] [LOOPS=200000]
#        BENCH_TOOLS="untraced ebtrace" to run only some rows; BENCH_CPU (default 1).
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
[[ -n $offcputime ]] || echo "bench-offcpu: libbpf-tools offcputime not installed (apt-get install libbpf-tools): row skipped" >&2

work=$(mktemp -d /tmp/ebt-bench-offcpu-XXXXXX)
trap 'rm -rf "$work"' EXIT

. "$(dirname "$0")/bench_lib.sh"

bench_run() {
  case $1 in
    untraced) bench_untraced ;;
    ebtrace) bench_ebtrace "$ebtrace" --off-cpu --no-lua ;;
    ebtrace_min1) bench_ebtrace "$ebtrace" --off-cpu --no-lua --off-cpu-min 1 ;;
    perf) bench_perf record -e sched:sched_switch -g -a ;;
    offcputime) bench_bpf_tool "$offcputime" ;;
    *) echo "bench-offcpu: unknown tool $1" >&2; exit 2 ;;
  esac
}

bench_label() {
  case $1 in
    untraced) echo "untraced" ;;
    ebtrace) echo "\`ebtrace record --off-cpu -a\` (default --off-cpu-min 100 us)" ;;
    ebtrace_min1) echo "\`ebtrace record --off-cpu -a --off-cpu-min 1\` (every switch kept)" ;;
    perf) echo "\`perf record -e sched:sched_switch -g -a\`" ;;
    offcputime) echo "libbpf-tools \`offcputime\` (in-kernel aggregation, -m 1 us)" ;;
  esac
}

echo "bench-offcpu: load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
tools=(${BENCH_TOOLS:-untraced ebtrace ebtrace_min1 perf})
[[ -n $offcputime && -z ${BENCH_TOOLS:-} ]] && tools+=(offcputime)
bench_cpu_rounds "$rounds" "${tools[@]}"
bench_cpu_table "$rounds" "${tools[@]}"
echo "bytes/sample: perf's bytes per recorded switch (ebtrace keeps one event per off-CPU interval of at least --off-cpu-min)."
