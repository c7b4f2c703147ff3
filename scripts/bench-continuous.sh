#!/usr/bin/env bash
# Continuous recording benchmark: a "one hour" recording compressed in time.
# One hour at the default -F 99 is 99 x 3600 = 356k samples per busy CPU; at
# -F $FREQ the same number of samples takes 3600 x 99 / FREQ seconds (71 s at
# 4999 Hz). Two recordings of the same workload, one after the other:
#   long:    one capture file for the whole run
#   rotated: --switch-output=$SWITCH with --switch-max-files $KEEP (a new
#            self-contained file every few seconds: process table, stacks and
#            symbols written again in each)
# For each: the recorder's RSS every second (the curve, CSV), its CPU time
# (utime+stime from /proc/PID/stat, last reading), samples, lost, files and
# bytes. The pair runs $REPEAT times, alternating (long, rotated, long, ...):
# the spread between the runs of one kind is the noise. The recorders run with
# -v: stderr.txt has a cost line per file (embedding, process descriptions).
# The workload is the cpuburn sample on every CPU plus a process that starts a
# short-lived command every 50 ms (process churn: pid reuse, new mappings).
#
#   sudo scripts/bench-continuous.sh                 # FREQ=4999, 71 s per run
#   sudo DURATION=10 REPEAT=1 scripts/bench-continuous.sh   # a short validation run
# Knobs (environment): BUILD FREQ DURATION SWITCH KEEP REPEAT OUT.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
FREQ=${FREQ:-4999}
DURATION=${DURATION:-$((3600 * 99 / FREQ))}
SWITCH=${SWITCH:-3s}
KEEP=${KEEP:-5}
REPEAT=${REPEAT:-2}
OUT=${OUT:-bench/out/continuous-$(date -u +%Y%m%dT%H%M%SZ)}

EBT=$PWD/$BUILD/cli/ebtrace
BURN=$PWD/$BUILD/samples/cpuburn/cpuburn
die() { echo "bench-continuous: $*" >&2; exit 1; }
log() { echo "bench-continuous: $*" >&2; }
[[ $(id -u) -eq 0 ]] || die "needs root (BPF)"
[[ -x $EBT ]] || die "no $EBT: build first (cmake --build $BUILD --target ebtrace cpuburn)"
[[ -x $BURN ]] || die "no $BURN: build first (cmake --build $BUILD --target cpuburn)"
mkdir -p "$OUT"
ncpu=$(nproc)

start_workload() {
  pids=()
  for _ in $(seq "$ncpu"); do "$BURN" --duration $((DURATION + 10)) >/dev/null 2>&1 & pids+=($!); done
  ( end=$((SECONDS + DURATION + 10)); while ((SECONDS < end)); do /bin/true; sleep 0.05; done ) & pids+=($!)
}
stop_workload() { kill "${pids[@]}" 2>/dev/null || true; wait "${pids[@]}" 2>/dev/null || true; }

# run NAME ARGS...: records the whole machine for DURATION s, sampling the
# recorder's RSS (kB) and CPU time (s) every second into NAME.csv.
run() {
  local name=$1; shift
  local dir=$OUT/$name; mkdir -p "$dir"
  start_workload
  "$EBT" record -v -a -F "$FREQ" -d "$DURATION" "$@" 2>"$dir/stderr.txt" &
  local rec=$! t=0 hz; hz=$(getconf CLK_TCK)
  echo "t_s,rss_kb,cpu_s" >"$dir/rss.csv"
  local cpu=0
  while kill -0 "$rec" 2>/dev/null; do
    if [[ -r /proc/$rec/stat ]]; then
      local rss; rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$rec/status" 2>/dev/null || echo "")
      local ticks; ticks=$(awk '{print $14 + $15}' "/proc/$rec/stat" 2>/dev/null || echo "")
      [[ -n $ticks ]] && cpu=$(awk -v t="$ticks" -v hz="$hz" 'BEGIN {printf "%.2f", t / hz}')
      [[ -n $rss ]] && echo "$t,$rss,$cpu" >>"$dir/rss.csv"
    fi
    sleep 1; t=$((t + 1))
  done
  wait "$rec" || die "$name: ebtrace record failed: $(tail -1 "$dir/stderr.txt")"
  stop_workload
  local summary; summary=$(grep '^\[ ebtrace record: [0-9]* samples' "$dir/stderr.txt" | tail -1)
  local samples; samples=$(echo "$summary" | sed -E 's/^\[ ebtrace record: ([0-9]+) samples.*/\1/')
  local lost; lost=$(echo "$summary" | sed -E 's/.* ([0-9]+) lost.*/\1/')
  local files; files=$(ls "$dir"/capture.ebt* 2>/dev/null | wc -l)
  local bytes; bytes=$(cat "$dir"/capture.ebt* 2>/dev/null | wc -c)
  local rss_first rss_max rss_last
  rss_first=$(awk -F, 'NR == 3 {print $2}' "$dir/rss.csv")
  rss_max=$(awk -F, 'NR > 1 && $2 > m {m = $2} END {print m}' "$dir/rss.csv")
  rss_last=$(awk -F, 'END {print $2}' "$dir/rss.csv")
  echo "| $name | $samples | $lost | $cpu | $(awk -v c="$cpu" -v s="$samples" 'BEGIN {printf "%.1f", s ? c * 1e6 / s : 0}') | $rss_first | $rss_max | $rss_last | $files | $bytes |" >>"$OUT/summary.md"
  log "$name: $summary"
}

echo "| run | samples | lost | recorder CPU s | CPU us/sample | RSS kB at 1 s | max RSS kB | RSS kB at end | files kept | bytes kept |" >"$OUT/summary.md"
echo "|---|---|---|---|---|---|---|---|---|---|" >>"$OUT/summary.md"
log "FREQ=$FREQ DURATION=${DURATION}s on $ncpu CPUs, $REPEAT x (long, rotated); output in $OUT"
for i in $(seq "$REPEAT"); do
  mkdir -p "$OUT/long-$i" "$OUT/rotated-$i"
  run "long-$i" -o "$OUT/long-$i/capture.ebt"
  run "rotated-$i" --switch-output="$SWITCH" --switch-max-files "$KEEP" -o "$OUT/rotated-$i/capture.ebt"
done
cat "$OUT/summary.md"
echo
echo "RSS curves (t_s,rss_kb,cpu_s): $OUT/{long,rotated}-N/rss.csv; cost per file: $OUT/rotated-N/stderr.txt"
