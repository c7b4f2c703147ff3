#!/usr/bin/env bash
# Export benchmark (issue 21): time and file size of `ebtrace report --pprof`
# and `--speedscope` on a big capture (2 x cpuburn --work BIG_WORK at -F
# BIG_FREQ, >= 100k samples like docs/benchmarks.md's capture -> flame graph
# figures), against `report --flamegraph` (target: each export <= 1.5 x its
# time), `perf script | stackcollapse-perf.pl | flamegraph.pl` and `perf script`
# (the text speedscope imports perf.data from). Median of ROUNDS. Prints a
# Markdown table and the exact settings; changes nothing in docs/.
#
#   sudo scripts/bench-export.sh      # BUILD=build BIG_WORK=1100 BIG_FREQ=4999 ROUNDS=3
#                                     # FLAMEGRAPH_DIR=/tmp/FlameGraph (optional)
# Needs root (records with BPF and perf), perf (linux-perf).
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
BIG_WORK=${BIG_WORK:-1100}
BIG_FREQ=${BIG_FREQ:-4999}
ROUNDS=${ROUNDS:-3}
FLAMEGRAPH_DIR=${FLAMEGRAPH_DIR:-/tmp/FlameGraph}
EBT=$PWD/$BUILD/cli/ebtrace
BURN=$PWD/$BUILD/samples/cpuburn/cpuburn
OUT=$(mktemp -d "${TMPDIR:-/tmp}/ebtrace-bench-export.XXXXXX")
trap 'rm -rf "$OUT"' EXIT
log() { echo "bench-export: $*" >&2; }
[[ -x $EBT && -x $BURN ]] || { log "build ebtrace and cpuburn first: cmake --build $BUILD --target ebtrace cpuburn"; exit 2; }
command -v perf >/dev/null || { log "perf not found (linux-perf)"; exit 2; }

big_cmd=(sh -c "'$BURN' --work $BIG_WORK --plugin-delay-ms 0 >/dev/null & '$BURN' --work $BIG_WORK --plugin-delay-ms 0 >/dev/null; wait")
log "recording 2 x cpuburn --work $BIG_WORK at -F $BIG_FREQ (ebtrace, then perf)"
"$EBT" record -F "$BIG_FREQ" -o "$OUT/big.ebt" -- "${big_cmd[@]}" 2>"$OUT/ebt.err"
perf record -F "$BIG_FREQ" -g -o "$OUT/big.data" -- "${big_cmd[@]}" 2>"$OUT/perf.err"
samples=$(sed -n 's/.*ebtrace record: \([0-9]*\) samples.*/\1/p' "$OUT/ebt.err")
perf_samples=$(sed -n 's/.*(\([0-9]*\) samples).*/\1/p' "$OUT/perf.err")

have_fg=0
[[ -x $FLAMEGRAPH_DIR/stackcollapse-perf.pl && -x $FLAMEGRAPH_DIR/flamegraph.pl ]] && have_fg=1
declare -A outputs=(
  [ebt_flamegraph]="$OUT/big.svg" [ebt_pprof]="$OUT/big.pb.gz" [ebt_speedscope]="$OUT/big.speedscope.json"
  [perf_script]="$OUT/big.perf" [perf_flamegraph_pipeline]="$OUT/big-perf.svg")
declare -A cmds=(
  [ebt_flamegraph]="'$EBT' report '$OUT/big.ebt' --flamegraph '$OUT/big.svg'"
  [ebt_pprof]="'$EBT' report '$OUT/big.ebt' --pprof '$OUT/big.pb.gz'"
  [ebt_speedscope]="'$EBT' report '$OUT/big.ebt' --speedscope '$OUT/big.speedscope.json'"
  [perf_script]="perf script -i '$OUT/big.data' >'$OUT/big.perf'"
  [perf_flamegraph_pipeline]="perf script -i '$OUT/big.data' | '$FLAMEGRAPH_DIR/stackcollapse-perf.pl' | '$FLAMEGRAPH_DIR/flamegraph.pl' >'$OUT/big-perf.svg'")
steps=(ebt_flamegraph ebt_pprof ebt_speedscope perf_script)
((have_fg)) && steps+=(perf_flamegraph_pipeline)

declare -A times=()
for r in $(seq 1 "$ROUNDS"); do
  for s in "${steps[@]}"; do
    t0=$(date +%s.%N)
    sh -c "${cmds[$s]}" 2>/dev/null
    t1=$(date +%s.%N)
    times[$s]+="$(awk -v a="$t1" -v b="$t0" 'BEGIN { printf "%.3f", a - b }') "
  done
  log "round $r done"
done
median() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

base=$(median "${times[ebt_flamegraph]}")
echo "Export with $samples ebtrace samples / $perf_samples perf samples (2 x cpuburn --work $BIG_WORK at -F $BIG_FREQ), median of $ROUNDS runs:"
echo
echo "| step | median s | x report --flamegraph | output bytes | runs (s) |"
echo "|---|---|---|---|---|"
for s in "${steps[@]}"; do
  m=$(median "${times[$s]}")
  ratio=$(awk -v a="$m" -v b="$base" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
  echo "| $s | $m | $ratio | $(stat -c %s "${outputs[$s]}") | ${times[$s]}|"
done
((have_fg)) || echo "(no FlameGraph scripts in $FLAMEGRAPH_DIR: the perf | stackcollapse | flamegraph.pl row is missing)"
echo
echo "Settings: BUILD=$BUILD BIG_WORK=$BIG_WORK BIG_FREQ=$BIG_FREQ ROUNDS=$ROUNDS; capture $(stat -c %s "$OUT/big.ebt") bytes, perf.data $(stat -c %s "$OUT/big.data") bytes"
