#!/usr/bin/env python3
"""Markdown summary of a scripts/bench-oncpu.sh run: bench_oncpu_summary.py OUTDIR."""
import csv
import os
import statistics as st
import sys

out = sys.argv[1]
params = dict(l.strip().split("=", 1) for l in open(os.path.join(out, "params")) if "=" in l)
med = st.median

rows = list(csv.DictReader(open(os.path.join(out, "overhead.tsv")), delimiter="\t"))
by = {}
for r in rows:
    by.setdefault(r["config"], []).append(r)
alone_w = {r["round"]: float(r["workload_s"]) for r in by["alone"]}
alone_c = {r["round"]: float(r["workload_cpu_s"]) for r in by["alone"]}
base_w = med(alone_w.values())
base_c = med(alone_c.values())
names = {"alone": "cpuburn alone", "ebt99": "`ebtrace record -F 99`", "perf99": "`perf record -F 99 -g`",
         "ebt999": "`ebtrace record -F 999`", "perf999": "`perf record -F 999 -g`"}

print("Run %s, cpuburn --work %s, %s interleaved rounds, load average at the end %s." % (
    params.get("date"), params.get("work"), params.get("rounds"), params.get("load")))
print()
print("| config | workload CPU s median | CPU ratio (of medians / median per round) "
      "| workload wall s median (min-max) | wall ratio (of medians / median per round) "
      "| tool total wall s | samples | samples per workload CPU s | capture bytes | bytes/sample |")
print("|---|---|---|---|---|---|---|---|---|---|")
bps = {}
for c in ["alone", "ebt99", "perf99", "ebt999", "perf999"]:
    rs = by.get(c, [])
    if not rs:
        continue
    w = [float(r["workload_s"]) for r in rs]
    cpu = [float(r["workload_cpu_s"]) for r in rs]
    rw = [float(r["workload_s"]) / alone_w[r["round"]] for r in rs]
    rc = [float(r["workload_cpu_s"]) / alone_c[r["round"]] for r in rs]
    tot = med([float(r["total_s"]) for r in rs])
    if c == "alone":
        extra = "- | - | - | -"
    else:
        s = med([int(r["samples"]) for r in rs])
        b = med([int(r["bytes"]) for r in rs])
        bps[c] = med([int(r["bytes"]) / int(r["samples"]) for r in rs if int(r["samples"]) > 0])
        rate = med([int(r["samples"]) / float(r["workload_cpu_s"]) for r in rs])
        extra = "%d | %.0f | %d | %.1f" % (s, rate, b, bps[c])
    print("| %s | %.3f | %.3f / %.3f | %.3f (%.3f-%.3f) | %.3f / %.3f | %.3f | %s |" % (
        names[c], med(cpu), med(cpu) / base_c, med(rc), med(w), min(w), max(w), med(w) / base_w, med(rw),
        tot, extra))
print()
for hz in ("99", "999"):
    e, p = bps.get("ebt" + hz), bps.get("perf" + hz)
    if e and p:
        print("- bytes per sample at -F %s: ebtrace %.1f, perf.data %.1f: ebtrace = %.3f x perf (1/%.1f)" % (
            hz, e, p, e / p, p / e))
print()

fl = list(csv.DictReader(open(os.path.join(out, "flame.tsv")), delimiter="\t"))
steps = {}
for r in fl:
    steps.setdefault(r["step"], []).append(float(r["seconds"]))
print("Capture -> output with %s ebtrace samples / %s perf samples (2 x cpuburn at -F %s), median of %d runs:" % (
    params.get("big_ebt_samples"), params.get("big_perf_samples"), params.get("big_freq"),
    len(steps.get("ebt_flamegraph", []))))
print()
print("| step | median s | runs (s) |")
print("|---|---|---|")
labels = {"ebt_flamegraph": "`ebtrace report --flamegraph`", "ebt_folded": "`ebtrace report --folded`",
          "ebt_text": "`ebtrace report` (text)", "perf_script": "`perf script`",
          "perf_report": "`perf report --stdio`",
          "perf_flamegraph_pipeline": "`perf script \\| stackcollapse-perf.pl \\| flamegraph.pl`"}
for k in labels:
    if k in steps:
        print("| %s | %.3f | %s |" % (labels[k], med(steps[k]), " ".join("%.3f" % x for x in steps[k])))
print()
e = med(steps["ebt_flamegraph"])
ref = "perf_flamegraph_pipeline" if params.get("have_fg") == "1" else "perf_script"
print("- to a flame graph: %s takes %.1fx as long as `ebtrace report --flamegraph`" % (labels[ref], med(steps[ref]) / e))
if params.get("have_fg") != "1":
    print("- (FlameGraph scripts not found: compared against `perf script` alone, which is not yet a flame graph)")
eb = os.path.getsize(os.path.join(out, "big.ebt"))
pb = os.path.getsize(os.path.join(out, "big.data"))
be = int(params.get("big_ebt_samples") or 0)
bp = int(params.get("big_perf_samples") or 0)
print("- big captures: ebtrace %d bytes (%.1f B/sample), perf.data %d bytes (%.1f B/sample): 1/%.1f" % (
    eb, eb / max(1, be), pb, pb / max(1, bp), (pb / max(1, bp)) / (eb / max(1, be))))

info = os.path.join(out, "big-info.txt")
if os.path.exists(info):
    disk = {}
    for line in open(info):
        f = line.split()
        if len(f) == 4 and f[1].isdigit() and f[3].isdigit():
            disk[f[0]] = int(f[3])
    events = disk.get("cpuSamples", 0) + disk.get("stack", 0)
    syms = disk.get("symbolTable", 0) + disk.get("kernelSymbols", 0)
    print("- of the ebtrace capture: samples + stacks %d bytes (%.1f B/sample), embedded symbols %d bytes "
          "(perf.data carries no symbols; `perf archive` would add them)" % (events, events / max(1, be), syms))
