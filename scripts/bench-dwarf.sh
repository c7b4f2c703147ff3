#!/usr/bin/env bash
# --call-graph dwarf benchmark: ebtrace side by side with
# `perf record --call-graph dwarf` (Debian linux-perf) in one run, on the cpuburn
# sample built WITHOUT frame pointers (tests/record/cpuburn-nofp).
#
#   sudo BUILD=build scripts/bench-dwarf.sh     # after building dwarf_e2e_test's deps
#
# (a) bytes per sample: capture / perf.data size over the samples each wrote;
# (b) target slowdown: cpuburn --work (fixed work) alone vs under each recorder
#     at -F 999, interleaved rounds (the VM is shared and noisy), medians of the
#     workload's own wall time and CPU time (BPF/perf sampling work is charged
#     to the interrupted task, so its CPU time shows the in-kernel cost);
# (c) recorder CPU per 1000 samples: getrusage of the recorder process tree
#     minus the workload's own CPU time; for perf also the deferred unwinding
#     (`perf script` over the same data), which ebtrace does while recording;
#     --keep-stack-bytes defers unwinding to report: its post-processing is
#     `ebtrace report --folded` (perf's is `perf script`);
# (d) unwinding throughput: two cpuburns at -F $FAST_FREQ: samples per second of
#     recorder CPU, and samples skipped because the unwinder fell behind.
# Prints a Markdown summary (for docs/benchmarks.md); raw data stays in $OUT.
# Knobs (environment): BUILD ROUNDS WORK FAST_FREQ FAST_WORK STACK OUT.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
ROUNDS=${ROUNDS:-3}
WORK=${WORK:-150}
FAST_FREQ=${FAST_FREQ:-4999}
FAST_WORK=${FAST_WORK:-200}
STACK=${STACK:-8192}
OUT=${OUT:-bench/out/dwarf-$(date -u +%Y%m%dT%H%M%SZ)}

EBT=$PWD/$BUILD/cli/ebtrace
BURN=$PWD/$BUILD/tests/record/cpuburn-nofp/cpuburn
die() { echo "bench-dwarf: $*" >&2; exit 1; }
log() { echo "bench-dwarf: $*" >&2; }
[[ $(id -u) -eq 0 ]] || die "needs root (BPF and perf sampling)"
[[ -x $EBT ]] || die "no $EBT: build first (cmake --build $BUILD --target ebtrace cpuburn_nofp)"
[[ -x $BURN ]] || die "no $BURN: build first (cmake --build $BUILD --target cpuburn_nofp)"
command -v perf >/dev/null || die "perf not found (Debian package linux-perf)"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

# rus FILE CMD...: runs CMD, writes the CPU seconds (user+sys) of it and all its
# waited-for descendants to FILE.
rus() {
  python3 -c 'import resource,subprocess,sys
rc = subprocess.call(sys.argv[2:])
r = resource.getrusage(resource.RUSAGE_CHILDREN)
open(sys.argv[1], "w").write("%.3f\n" % (r.ru_utime + r.ru_stime))
sys.exit(rc)' "$@"
}

burn_cmd=("$BURN" --work "$WORK" --plugin-delay-ms 0)
printf 'round\tconfig\twl_s\twl_cpu_s\ttree_cpu_s\tsamples\tbytes\tpost_cpu_s\n' >"$OUT/runs.tsv"

run_config() {  # config round
  local c=$1 r=$2 file="" cmd
  case $c in
    alone) cmd=("${burn_cmd[@]}") ;;
    ebt_fp) file=$OUT/r.ebt; cmd=("$EBT" record -F 999 -o "$file" -- "${burn_cmd[@]}") ;;
    ebt_dwarf) file=$OUT/r.ebt; cmd=("$EBT" record -F 999 --call-graph "dwarf,$STACK" -o "$file" -- "${burn_cmd[@]}") ;;
    ebt_keep) file=$OUT/r.ebt; cmd=("$EBT" record -F 999 --call-graph "dwarf,$STACK" --keep-stack-bytes -o "$file" -- "${burn_cmd[@]}") ;;
    perf_dwarf) file=$OUT/r.data; cmd=(perf record -F 999 --call-graph "dwarf,$STACK" -o "$file" -- "${burn_cmd[@]}") ;;
  esac
  rm -f "$OUT/r.ebt" "$OUT/r.data"
  rus "$OUT/cpu.txt" "${cmd[@]}" >"$OUT/run.out" 2>"$OUT/run.err" || { cat "$OUT/run.err" >&2; die "$c failed"; }
  local wl cpu tree samples=0 bytes=0 post=0
  wl=$(sed -n 's/.*elapsed_s=\([0-9.]*\).*/\1/p' "$OUT/run.out")
  cpu=$(sed -n 's/.*elapsed_s=[0-9.]* cpu_s=\([0-9.]*\).*/\1/p' "$OUT/run.out")
  tree=$(cat "$OUT/cpu.txt")
  case $c in
    ebt*)
      samples=$(sed -n 's/.*ebtrace record: \([0-9]*\) samples.*/\1/p' "$OUT/run.err")
      if [[ $c == ebt_keep ]]; then  # unwound by report: count it like perf script
        rus "$OUT/post.txt" sh -c "'$EBT' report '$file' --folded >/dev/null 2>&1"
        post=$(cat "$OUT/post.txt")
      fi ;;
    perf*)
      samples=$(sed -n 's/.*(\([0-9]*\) samples).*/\1/p' "$OUT/run.err")
      # perf unwinds later, when the data is read: that CPU belongs to the comparison.
      rus "$OUT/post.txt" sh -c "perf script -i '$file' >/dev/null 2>&1"
      post=$(cat "$OUT/post.txt") ;;
  esac
  [[ -n $file ]] && bytes=$(stat -c %s "$file")
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$c" "$wl" "$cpu" "$tree" "${samples:-0}" "$bytes" "$post" \
    >>"$OUT/runs.tsv"
  cat "$OUT/run.err" >>"$OUT/runs.log"
}

configs=(alone ebt_fp ebt_dwarf ebt_keep perf_dwarf)
log "$ROUNDS rounds of ${configs[*]} (cpuburn-nofp --work $WORK, -F 999, stack $STACK bytes)"
for r in $(seq 1 "$ROUNDS"); do
  for c in $(printf '%s\n' "${configs[@]}" | shuf); do run_config "$c" "$r"; done
  log "  round $r done"
done

log "throughput: 2 x cpuburn --work $FAST_WORK at -F $FAST_FREQ, --call-graph dwarf,$STACK"
fast_cmd=(sh -c "'$BURN' --work $FAST_WORK --plugin-delay-ms 0 & '$BURN' --work $FAST_WORK --plugin-delay-ms 0; wait")
rus "$OUT/fast-cpu.txt" "$EBT" record -F "$FAST_FREQ" --call-graph "dwarf,$STACK" -o "$OUT/fast.ebt" -- "${fast_cmd[@]}" \
  >"$OUT/fast.out" 2>"$OUT/fast.err"

python3 - "$OUT" "$STACK" "$FAST_FREQ" <<'EOF'
import csv, re, statistics as st, sys
out, stack, fast_freq = sys.argv[1], sys.argv[2], sys.argv[3]
rows = list(csv.DictReader(open(f"{out}/runs.tsv"), delimiter="\t"))
by = {}
for r in rows:
    by.setdefault(r["config"], []).append(r)
def med(c, k):
    return st.median(float(r[k]) for r in by[c])
alone_wl, alone_cpu = med("alone", "wl_s"), med("alone", "wl_cpu_s")
print(f"cpuburn -fomit-frame-pointer, `--work`, -F 999, {stack}-byte stack copies; medians of {len(by['alone'])} rounds.\n")
print("| recorder | samples | bytes/sample | workload wall (vs alone) | workload CPU (vs alone) | recorder CPU / 1000 samples | + post-processing / 1000 samples |")
print("|---|---:|---:|---:|---:|---:|---:|")
print(f"| none | | | {alone_wl:.2f} s | {alone_cpu:.2f} s | | |")
bps = {}
for c, name in (("ebt_fp", "ebtrace (fp)"), ("ebt_dwarf", "ebtrace --call-graph dwarf"),
                ("ebt_keep", "ebtrace --call-graph dwarf --keep-stack-bytes"), ("perf_dwarf", "perf record --call-graph dwarf")):
    if c not in by: continue
    rs = by[c]
    samples = st.median(float(r["samples"]) for r in rs)
    b = st.median(float(r["bytes"]) / max(1.0, float(r["samples"])) for r in rs)
    bps[c] = b
    wl, cpu = med(c, "wl_s"), med(c, "wl_cpu_s")
    rec = st.median((float(r["tree_cpu_s"]) - float(r["wl_cpu_s"])) / max(1.0, float(r["samples"])) * 1000 for r in rs)
    post = st.median(float(r["post_cpu_s"]) / max(1.0, float(r["samples"])) * 1000 for r in rs)
    print(f"| {name} | {samples:.0f} | {b:,.0f} | {wl:.2f} s ({(wl/alone_wl-1)*100:+.1f} %) | {cpu:.2f} s ({(cpu/alone_cpu-1)*100:+.1f} %) "
          f"| {rec*1000:.0f} ms | {post*1000:.0f} ms |" if post else
          f"| {name} | {samples:.0f} | {b:,.0f} | {wl:.2f} s ({(wl/alone_wl-1)*100:+.1f} %) | {cpu:.2f} s ({(cpu/alone_cpu-1)*100:+.1f} %) "
          f"| {rec*1000:.0f} ms | – |")
if "ebt_dwarf" in bps and "perf_dwarf" in bps:
    print(f"\nBytes per sample: ebtrace dwarf / perf dwarf = 1/{bps['perf_dwarf']/bps['ebt_dwarf']:.0f}.")
if "ebt_keep" in bps and "perf_dwarf" in bps:
    print(f"Bytes per sample: ebtrace --keep-stack-bytes / perf dwarf = 1/{bps['perf_dwarf']/bps['ebt_keep']:.1f}.")
err = open(f"{out}/fast.err").read()
outp = open(f"{out}/fast.out").read()
m = re.search(r"ebtrace record: (\d+) samples", err)
samples = int(m.group(1)) if m else 0
lost = re.search(r"(\d+) not unwound in time", err)
ends = re.search(r"dwarf: (\d+)/(\d+) user stacks", err)
tree = float(open(f"{out}/fast-cpu.txt").read())
wl = sum(float(x) for x in re.findall(r"elapsed_s=[0-9.]+ cpu_s=([0-9.]+)", outp))
rec = tree - wl
print(f"\nThroughput (2 x cpuburn at -F {fast_freq}): {samples} samples unwound with {rec:.2f} s of recorder CPU "
      f"= {samples/rec:,.0f} samples/s per core; {lost.group(1) if lost else 0} skipped as lost (unwinder behind); "
      f"{ends.group(1) if ends else '?'}/{ends.group(2) if ends else '?'} user stacks unwound to the outermost frame.")
EOF
