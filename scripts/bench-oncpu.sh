#!/usr/bin/env bash
# On-CPU benchmark, ebtrace side by side with perf (Debian linux-perf) in one run.
#
#   sudo scripts/bench-oncpu.sh            # after: cmake -S . -B build && cmake --build build -j
#
# (a) overhead on the CPU-bound sample (cpuburn --work, a fixed amount of work)
#     at -F 99 and -F 999: alone vs `ebtrace record -F N -- cmd` vs
#     `perf record -F N -g -- cmd`, in shuffled interleaved rounds (the VM is
#     shared and noisy), medians and per-round ratios to `alone`;
# (b) capture bytes per sample (from the -F 999 runs) vs perf.data;
# (c) time from capture to flame graph for >= 100k samples: `ebtrace report
#     --flamegraph` vs `perf script | stackcollapse-perf.pl | flamegraph.pl`
#     (FlameGraph scripts from $FLAMEGRAPH_DIR; without them, perf script and
#     perf report alone).
# Prints a Markdown summary (pasted into docs/benchmarks.md) and leaves raw TSVs
# and logs in $OUT. Knobs (environment): BUILD ROUNDS WORK BIG_WORK BIG_FREQ
# FG_ROUNDS FLAMEGRAPH_DIR OUT.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
ROUNDS=${ROUNDS:-5}
WORK=${WORK:-500}               # cpuburn --work rounds, ~10 ms each on the reference VM
BIG_WORK=${BIG_WORK:-1100}      # two cpuburns of this many --work rounds (~22 CPU s) at BIG_FREQ: >= 100k samples
BIG_FREQ=${BIG_FREQ:-4999}
FG_ROUNDS=${FG_ROUNDS:-3}
FLAMEGRAPH_DIR=${FLAMEGRAPH_DIR:-/tmp/FlameGraph}
OUT=${OUT:-bench/out/oncpu-$(date -u +%Y%m%dT%H%M%SZ)}

SUMMARY_ONLY=
if [[ ${1:-} == --summary ]]; then SUMMARY_ONLY=${2:?usage: bench-oncpu.sh --summary OUTDIR}; fi

EBT=$PWD/$BUILD/cli/ebtrace
BURN=$PWD/$BUILD/samples/cpuburn/cpuburn

die() { echo "bench-oncpu: $*" >&2; exit 1; }
summary() {  # OUTDIR: prints the Markdown summary of a finished run
  python3 scripts/bench_oncpu_summary.py "$1"
}
if [[ -n $SUMMARY_ONLY ]]; then summary "$SUMMARY_ONLY"; exit 0; fi
[[ $(id -u) -eq 0 ]] || die "needs root (BPF and perf sampling)"
[[ -x $EBT ]] || die "no $EBT: build first (cmake -S . -B $BUILD && cmake --build $BUILD -j)"
[[ -x $BURN ]] || die "no $BURN: build first"
command -v perf >/dev/null || die "perf not found (Debian package linux-perf)"
if [[ -z ${EBT_BENCH_NICED:-} ]]; then
  # Like the baselines: the whole harness at the highest priority to fight noise.
  export EBT_BENCH_NICED=1
  exec nice -n -20 "$PWD/scripts/bench-oncpu.sh" "$@"
fi
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
log() { echo "bench-oncpu: $*" >&2; }
now() { echo "$EPOCHREALTIME"; }
diff_s() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a - b }'; }

# ---- (a) + (b): overhead and bytes per sample --------------------------------
configs=(alone ebt99 perf99 ebt999 perf999)
burn_cmd=("$BURN" --work "$WORK" --plugin-delay-ms 0)
printf 'round\tconfig\tworkload_s\tworkload_cpu_s\ttotal_s\tsamples\tbytes\n' >"$OUT/overhead.tsv"

run_config() {  # config round
  local c=$1 r=$2 cmd file="" hz
  case $c in
    alone) cmd=("${burn_cmd[@]}") ;;
    ebt*) hz=${c#ebt}; file=$OUT/ov.ebt; cmd=("$EBT" record -F "$hz" -o "$file" -- "${burn_cmd[@]}") ;;
    perf*) hz=${c#perf}; file=$OUT/ov.data; cmd=(perf record -F "$hz" -g -o "$file" -- "${burn_cmd[@]}") ;;
  esac
  rm -f "$OUT/ov.ebt" "$OUT/ov.data"
  local t0 t1
  t0=$(now)
  "${cmd[@]}" >"$OUT/run.out" 2>"$OUT/run.err" || { cat "$OUT/run.err" >&2; die "$c failed"; }
  t1=$(now)
  local wl cpu samples=0 bytes=0
  wl=$(sed -n 's/.*elapsed_s=\([0-9.]*\).*/\1/p' "$OUT/run.out")
  cpu=$(sed -n 's/.*elapsed_s=[0-9.]* cpu_s=\([0-9.]*\).*/\1/p' "$OUT/run.out")
  case $c in
    ebt*) samples=$(sed -n 's/.*ebtrace record: \([0-9]*\) samples.*/\1/p' "$OUT/run.err") ;;
    perf*) samples=$(sed -n 's/.*(\([0-9]*\) samples).*/\1/p' "$OUT/run.err") ;;
  esac
  [[ -n $file ]] && bytes=$(stat -c %s "$file")
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$c" "$wl" "$cpu" "$(diff_s "$t1" "$t0")" \
    "${samples:-0}" "$bytes" >>"$OUT/overhead.tsv"
  cat "$OUT/run.err" >>"$OUT/overhead.log"
}

log "overhead: $ROUNDS rounds of ${configs[*]} (cpuburn --work $WORK)"
for r in $(seq 1 "$ROUNDS"); do
  for c in $(printf '%s\n' "${configs[@]}" | shuf); do
    run_config "$c" "$r"
  done
  log "  round $r done"
done

# ---- (c): capture -> flame graph with >= 100k samples --------------------------
big_cmd=(sh -c "'$BURN' --work $BIG_WORK --plugin-delay-ms 0 >/dev/null & '$BURN' --work $BIG_WORK --plugin-delay-ms 0 >/dev/null; wait")
log "big captures: 2 x cpuburn --work $BIG_WORK at -F $BIG_FREQ"
"$EBT" record -F "$BIG_FREQ" -o "$OUT/big.ebt" -- "${big_cmd[@]}" 2>"$OUT/big-ebt.err"
perf record -F "$BIG_FREQ" -g -o "$OUT/big.data" -- "${big_cmd[@]}" 2>"$OUT/big-perf.err"
big_ebt_samples=$(sed -n 's/.*ebtrace record: \([0-9]*\) samples.*/\1/p' "$OUT/big-ebt.err")
big_perf_samples=$(sed -n 's/.*(\([0-9]*\) samples).*/\1/p' "$OUT/big-perf.err")
"$EBT" info "$OUT/big.ebt" >"$OUT/big-info.txt"

have_fg=0
if [[ -x $FLAMEGRAPH_DIR/stackcollapse-perf.pl && -x $FLAMEGRAPH_DIR/flamegraph.pl ]]; then have_fg=1; fi
printf 'round\tstep\tseconds\n' >"$OUT/flame.tsv"
timed() {  # round step cmd...
  local r=$1 step=$2 t0 t1
  shift 2
  t0=$(now)
  "$@"
  t1=$(now)
  printf '%s\t%s\t%s\n' "$r" "$step" "$(diff_s "$t1" "$t0")" >>"$OUT/flame.tsv"
}
fg_pipeline() {
  perf script -i "$OUT/big.data" 2>/dev/null | "$FLAMEGRAPH_DIR/stackcollapse-perf.pl" |
    "$FLAMEGRAPH_DIR/flamegraph.pl" >"$OUT/big-perf.svg"
}
log "flame graph timing: $FG_ROUNDS rounds"
for r in $(seq 1 "$FG_ROUNDS"); do
  timed "$r" ebt_flamegraph "$EBT" report "$OUT/big.ebt" --flamegraph "$OUT/big-ebt.svg" 2>/dev/null
  timed "$r" ebt_folded sh -c "'$EBT' report '$OUT/big.ebt' --folded >'$OUT/big-ebt.folded' 2>/dev/null"
  timed "$r" ebt_text sh -c "'$EBT' report '$OUT/big.ebt' >'$OUT/big-ebt.txt' 2>/dev/null"
  timed "$r" perf_script sh -c "perf script -i '$OUT/big.data' >'$OUT/big.perf' 2>/dev/null"
  timed "$r" perf_report sh -c "perf report -i '$OUT/big.data' --stdio >'$OUT/big-perf.txt' 2>/dev/null"
  if ((have_fg)); then timed "$r" perf_flamegraph_pipeline fg_pipeline; fi
done

# ---- summary --------------------------------------------------------------------
cat >"$OUT/params" <<EOF2
have_fg=$have_fg
big_ebt_samples=$big_ebt_samples
big_perf_samples=$big_perf_samples
work=$WORK
rounds=$ROUNDS
big_freq=$BIG_FREQ
date=$(date -u +%Y-%m-%dT%H:%MZ)
load=$(cut -d' ' -f1-3 /proc/loadavg)
EOF2
summary "$OUT"
log "raw data in $OUT"
