#!/usr/bin/env bash
# Stack-capture modes side by side (issue 14): what leaf repair and off-CPU
# dwarf stacks cost, on a context-switch-heavy workload.
#
#   perf bench sched pipe -l LOOPS            (two processes ping-ponging a pipe)
#   on-CPU at -F 999 -a: untraced | ebtrace fp (--leaf-stack-bytes 0)
#            | ebtrace fp + leaf repair (the default) | perf record -g
#   off-CPU: ebtrace --off-cpu (fp, --leaf-stack-bytes 0)
#            | ebtrace --off-cpu (fp + leaf repair, the default)
#            | ebtrace --off-cpu --call-graph dwarf | libbpf-tools offcputime
#            | perf record -e sched:sched_switch -g -a
#   (BENCH_TOOLS=all adds the off-CPU rows with --off-cpu-min 1: every switch
#   becomes an event, so every stack copy is sent and unwound)
#
# Rounds are interleaved (every tool once per round, in a rotating order). Per
# tool: the median CPU per op (the bench's own plus the tracer process's) with
# its ratio to untraced, the capture size and, on-CPU, capture bytes per sample;
# then where the CPU goes (the tracer process's CPU, to the ns, and its BPF
# programs' run time: BPF statistics are on for the run, scripts/bpf_stats_hold.py,
# unless BENCH_BPF_STATS=0), and the two targets, each with a confidence statement
# (bench_lib.sh bench_cpu_compare): leaf repair at most +2 % CPU per op over
# plain fp at -F 999, and off-CPU dwarf no costlier than offcputime.
#
# usage: sudo scripts/bench-leaf.sh [BUILD_DIR] [ROUNDS=9] [LOOPS=200000]
#        BENCH_TOOLS="untraced on_fp on_leaf on_perf" (only the on-CPU rows), "all", or any list;
#        BENCH_CPU (the bench's CPU, default 1).
# Prints Markdown (for docs/benchmarks.md) on stdout; details on stderr.
set -euo pipefail

build=${1:-build}
rounds=${2:-9}
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
# BPF run time per program (bench_lib.sh bench_sched_pipe_with), on only while
# bpf_stats_hold.py runs (it ends with this script, however it ends): two clock
# reads per program run, for every tracer's programs alike.
if [[ ${BENCH_BPF_STATS:-1} != 0 ]]; then
  coproc STATS { exec python3 "$(dirname "$0")/bpf_stats_hold.py"; }
  read -r _ <&"${STATS[0]}" || { echo "bench-leaf: cannot enable BPF statistics" >&2; exit 1; }
  trap 'kill $STATS_PID 2>/dev/null; rm -rf "$work"' EXIT
  BENCH_STATS_HELD=1
fi

. "$(dirname "$0")/bench_lib.sh"

bench_run() {
  case $1 in
    untraced) bench_untraced ;;
    off_fp) bench_ebtrace "$ebtrace" --no-lua --off-cpu --leaf-stack-bytes 0 ;;
    off_leaf) bench_ebtrace "$ebtrace" --no-lua --off-cpu ;;
    off_dwarf) bench_ebtrace "$ebtrace" --no-lua --off-cpu --call-graph dwarf ;;
    off_fp_all) bench_ebtrace "$ebtrace" --no-lua --off-cpu --off-cpu-min 1 --leaf-stack-bytes 0 ;;
    off_leaf_all) bench_ebtrace "$ebtrace" --no-lua --off-cpu --off-cpu-min 1 ;;
    off_dwarf_all) bench_ebtrace "$ebtrace" --no-lua --off-cpu --off-cpu-min 1 --call-graph dwarf ;;
    off_offcputime) bench_bpf_tool "$offcputime" ;;
    off_perf) bench_perf record -e sched:sched_switch -g -a ;;
    on_fp) bench_ebtrace "$ebtrace" --no-lua -F 999 --leaf-stack-bytes 0 ;;
    on_leaf) bench_ebtrace "$ebtrace" --no-lua -F 999 ;;
    on_perf) bench_perf record -F 999 -g -a ;;
    *) echo "bench-leaf: unknown tool $1" >&2; exit 2 ;;
  esac
}

bench_label() {
  case $1 in
    untraced) echo "untraced" ;;
    off_fp) echo "\`ebtrace record --off-cpu -a --leaf-stack-bytes 0\` (fp, no repair)" ;;
    off_leaf) echo "\`ebtrace record --off-cpu -a\` (fp + leaf repair, 512 B)" ;;
    off_dwarf) echo "\`ebtrace record --off-cpu -a --call-graph dwarf\` (copies of up to 8 KiB)" ;;
    off_fp_all) echo "\`... --off-cpu-min 1 --leaf-stack-bytes 0\` (fp, every switch an event)" ;;
    off_leaf_all) echo "\`... --off-cpu-min 1\` (fp + leaf repair, every switch an event)" ;;
    off_dwarf_all) echo "\`... --off-cpu-min 1 --call-graph dwarf\` (dwarf, every switch an event)" ;;
    off_offcputime) echo "libbpf-tools \`offcputime\`" ;;
    off_perf) echo "\`perf record -e sched:sched_switch -g -a\`" ;;
    on_fp) echo "\`ebtrace record -F 999 -a --leaf-stack-bytes 0\` (fp)" ;;
    on_leaf) echo "\`ebtrace record -F 999 -a\` (fp + leaf repair)" ;;
    on_perf) echo "\`perf record -F 999 -g -a\`" ;;
  esac
}

echo "bench-leaf: load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
default_tools="untraced on_fp on_leaf on_perf off_fp off_leaf off_dwarf off_perf"
case ${BENCH_TOOLS:-} in
  "") tools=($default_tools) ;;
  all) tools=($default_tools off_fp_all off_leaf_all off_dwarf_all) ;;
  *) tools=($BENCH_TOOLS) ;;
esac
[[ -n $offcputime && ${BENCH_TOOLS:-all} == all ]] && tools+=(off_offcputime)
has() { [[ " ${tools[*]} " == *" $1 "* ]]; }
bench_cpu_rounds "$rounds" "${tools[@]}"
bench_cpu_table "$rounds" "${tools[@]}"
echo "Ring-buffer bytes per event (not in the capture, which stores addresses only): on-CPU fp"
echo "104 + 8 x frames, + 48 + the stack copy with leaf repair; off-CPU 168 + 8 x frames (+ 48 + the copy with leaf repair, or the dwarf copy)."
echo "bytes/sample: capture bytes per on-CPU sample; for perf's off-CPU row, per recorded switch."
echo
echo "Where the CPU goes (medians; BPF run time on every CPU, from the programs' run_time_ns with BPF statistics on):"
echo
bench_cpu_components "${tools[@]}"
echo
if has on_fp && has on_leaf; then
  bench_cpu_compare on_fp on_leaf 2
  echo
fi
if has off_fp && has off_leaf; then
  bench_cpu_compare off_fp off_leaf 2
  echo
fi
if has off_offcputime && has off_dwarf; then
  bench_cpu_compare off_offcputime off_dwarf 0
  echo
fi
