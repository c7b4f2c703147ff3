#!/usr/bin/env bash
# Static vs dynamic ebtrace, side by side (issue 19): binary size, start-up time to the
# first sample, and on-CPU overhead at -F 999 on the CPU-bound sample.
#
#   sudo scripts/bench-static.sh       # after: cmake --build build --target ebtrace ebtrace-static cpuburn
#
# (a) size: as built (dynamic with its debug info; static with debug info split off
#     into ebtrace-static.debug) and both fully stripped;
# (b) start-up: `ebtrace record -F 999 -o X -- cpuburn` from exec to the timestamp
#     of the first sample in the capture (both CLOCK_MONOTONIC), ROUNDS times each;
# (c) overhead: cpuburn --work WORK alone vs under each binary at -F 999, in
#     shuffled interleaved rounds; medians and ratios to `alone`.
# Prints a Markdown summary; raw TSVs in $OUT. Knobs: BUILD ROUNDS WORK OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
ROUNDS=${ROUNDS:-7}
WORK=${WORK:-500}
OUT=${OUT:-bench/out/static-$(date -u +%Y%m%dT%H%M%SZ)}
DYN=$PWD/$BUILD/cli/ebtrace
STATIC=$PWD/$BUILD/ebtrace-static
BURN=$PWD/$BUILD/samples/cpuburn/cpuburn
die() { echo "bench-static: $*" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || die "needs root (BPF)"
for f in "$DYN" "$STATIC" "$BURN"; do [[ -x $f ]] || die "no $f: cmake --build $BUILD --target ebtrace ebtrace-static cpuburn"; done
if [[ -z ${EBT_BENCH_NICED:-} ]]; then
  export EBT_BENCH_NICED=1
  exec nice -n -20 "$PWD/scripts/bench-static.sh" "$@"
fi
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
export DYN STATIC BURN ROUNDS WORK OUT
exec python3 - <<'PY'
import os, random, re, statistics, subprocess, time, json

DYN, STATIC, BURN, OUT = os.environ["DYN"], os.environ["STATIC"], os.environ["BURN"], os.environ["OUT"]
ROUNDS, WORK = int(os.environ["ROUNDS"]), os.environ["WORK"]
bins = {"dynamic": DYN, "static": STATIC}

def stripped_size(path):
    dst = os.path.join(OUT, os.path.basename(path) + ".stripped")
    subprocess.run(["strip", "--strip-all", "-o", dst, path], check=True)
    return os.path.getsize(dst)

def first_sample_ns(cap):
    p = subprocess.run([DYN, "dump", cap], check=True, capture_output=True, text=True)
    first = None
    for line in p.stdout.splitlines():
        if '"_kind":"cpuSample"' in line:
            t = int(re.search(r'"timeNs":(\d+)', line).group(1))
            first = t if first is None else min(first, t)
    return first

def record(name, work, tag):
    cap = os.path.join(OUT, f"{tag}.ebt")
    t0 = time.monotonic_ns()
    p = subprocess.run([bins[name], "record", "-F", "999", "-o", cap, "--", BURN, "--work", str(work),
                        "--plugin-delay-ms", "0"], capture_output=True, text=True)
    t1 = time.monotonic_ns()
    if p.returncode != 0:
        raise SystemExit(f"bench-static: {name} failed: {p.stderr}")
    return cap, t0, t1, p

def workload_s(out):
    return float(re.search(r"elapsed_s=([0-9.]+)", out).group(1))

sizes = {n: (os.path.getsize(b), stripped_size(b)) for n, b in bins.items()}

def shared_libs_bytes(path):  # what the dynamic binary also needs on the box
    out = subprocess.run(["ldd", path], capture_output=True, text=True).stdout
    libs = {os.path.realpath(m) for m in re.findall(r"=> (/\S+)", out)}
    return sum(os.path.getsize(l) for l in libs), len(libs)
libs_bytes, libs_n = shared_libs_bytes(DYN)

startup = {n: [] for n in bins}
with open(os.path.join(OUT, "startup.tsv"), "w") as f:
    f.write("round\tbinary\tfirst_sample_ms\n")
    for r in range(ROUNDS):
        for n in random.sample(list(bins), len(bins)):
            cap, t0, _, _ = record(n, 20, "startup")
            ms = (first_sample_ns(cap) - t0) / 1e6
            startup[n].append(ms)
            f.write(f"{r}\t{n}\t{ms:.2f}\n")

overhead = {c: [] for c in ["alone", "dynamic", "static"]}
with open(os.path.join(OUT, "overhead.tsv"), "w") as f:
    f.write("round\tconfig\tworkload_s\tsamples\n")
    for r in range(ROUNDS):
        for c in random.sample(list(overhead), len(overhead)):
            if c == "alone":
                p = subprocess.run([BURN, "--work", WORK, "--plugin-delay-ms", "0"], capture_output=True, text=True, check=True)
                wl, samples = workload_s(p.stdout), 0
            else:
                _, _, _, p = record(c, WORK, "overhead")
                wl = workload_s(p.stdout)
                samples = int(re.search(r"ebtrace record: (\d+) samples", p.stderr).group(1))
            overhead[c].append(wl)
            f.write(f"{r}\t{c}\t{wl:.3f}\t{samples}\n")
        print(f"bench-static: round {r + 1}/{ROUNDS} done", flush=True, file=__import__("sys").stderr)

med = {c: statistics.median(v) for c, v in overhead.items()}
print(f"Static vs dynamic ebtrace ({ROUNDS} rounds, cpuburn --work {WORK}, -F 999; raw data in {OUT})\n")
print("| | dynamic | static |")
print("|---|---|---|")
print(f"| size as built | {sizes['dynamic'][0]/1e6:.1f} MB (with debug info) | {sizes['static'][0]/1e6:.1f} MB (debug info in .debug) |")
print(f"| size stripped | {sizes['dynamic'][1]/1e6:.2f} MB + {libs_bytes/1e6:.1f} MB in {libs_n} shared libraries | {sizes['static'][1]/1e6:.2f} MB, nothing else |")
print(f"| exec to first sample, median (min..max) | {statistics.median(startup['dynamic']):.0f} ms "
      f"({min(startup['dynamic']):.0f}..{max(startup['dynamic']):.0f}) | {statistics.median(startup['static']):.0f} ms "
      f"({min(startup['static']):.0f}..{max(startup['static']):.0f}) |")
print(f"| cpuburn wall time, median (alone {med['alone']:.3f} s) | {med['dynamic']:.3f} s (x{med['dynamic']/med['alone']:.3f}) "
      f"| {med['static']:.3f} s (x{med['static']/med['alone']:.3f}) |")
PY
