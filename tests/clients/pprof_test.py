#!/usr/bin/env python3
"""`report --pprof` read by the real client, Debian's `go tool pprof`:
  golden   the committed golden captures (on-CPU fp, DWARF with inline frames,
           off-CPU, wakers): -top lists the same functions with the same self
           and total shares as `ebtrace report` (within 0.5 point), -traces
           gives the same self shares per leaf and carries pid/tid/comm labels,
           -lines shows source lines and the inline frame, -raw the build-ids.
  record   a real recording of the knob workload (root + BPF): the same
           comparison, and the hot function's share matches what the workload
           measured for itself.
usage: pprof_test.py golden|record
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clients as c  # noqa: E402

TOL = 0.5
PPROF_ALL = ["-nodefraction=0", "-edgefraction=0", "-nodecount=1000000"]


def check(capture, home, view=(), sample_index=None, expect_lines=False, label=""):
    out = os.path.join(home, "profile.pb.gz")
    base = [c.EBTRACE, "report", capture, "--embedded-symbols-only", "--top", "100000"] + list(view)
    p = c.run(base + ["--pprof", out])
    if "wrote " + out not in p.stderr:
        c.fail("no 'wrote' note on stderr: " + p.stderr)
    with open(out, "rb") as f:
        if f.read(2) != b"\x1f\x8b":
            c.fail(out + " is not gzipped")
    text = c.run(base).stdout
    want_self, want_total = c.report_tables(text)
    if not want_self:
        c.fail("no self table in the ebtrace report of " + capture)

    idx = ["-sample_index=" + sample_index] if sample_index else []
    top = c.pprof_top(c.go_pprof(["-top"] + PPROF_ALL + idx + [out], home))
    c.compare_shares(label + " pprof -top flat", want_self, {k: v[0] for k, v in top.items()}, TOL)
    c.compare_shares(label + " pprof -top cum", want_total, {k: v[1] for k, v in top.items()}, TOL)
    # No function that ebtrace does not show.
    extra = [k for k, v in top.items() if v[0] > TOL and k not in want_self]
    if extra:
        c.fail("%s: pprof shows self time in functions ebtrace does not: %s" % (label, extra))

    # -traces: every sample with its stack (leaf first) and labels.
    traces = c.pprof_traces(c.go_pprof(["-traces"] + idx + [out], home))
    if not traces:
        c.fail(label + ": go tool pprof -traces listed no samples")
    total = sum(v for _, v, _ in traces)
    leaf = {}
    for labels, v, frames in traces:
        for key in ("pid", "tid", "comm"):
            if key not in labels:
                c.fail("%s: a -traces sample lacks the %s label: %s" % (label, key, labels))
        n = c.normalize(frames[0])
        leaf[n] = leaf.get(n, 0) + 100.0 * v / total
    c.compare_shares(label + " pprof -traces leaf", want_self, leaf, TOL)

    raw = c.go_pprof(["-raw", out], home)
    if not re.search(r"\b[0-9a-f]{40}\b", raw.split("Mappings", 1)[-1]):
        c.fail(label + ": no build-id in the mappings of -raw:\n" + raw[-2000:])
    if expect_lines:
        lines = c.go_pprof(["-top", "-lines"] + PPROF_ALL + idx + [out], home)
        if not re.search(r"burn_a \S+cpuburn\.cpp:\d+", lines):
            c.fail(label + ": -lines shows no source line for burn_a:\n" + lines[:3000])
        if not re.search(r"hot_inner\S* .*cpuburn\.cpp:\d+ \(inline\)", lines):
            c.fail(label + ": -lines shows no inline frame hot_inner with its line:\n" + lines[:3000])
    return want_self, want_total


def golden(home):
    g = c.GOLDEN
    check(os.path.join(g, "oncpu_fp.ebt"), home, label="oncpu_fp")
    check(os.path.join(g, "dwarf.ebt"), home, expect_lines=True, label="dwarf")
    check(os.path.join(g, "offcpu.ebt"), home, ["--off-cpu"], label="offcpu")
    check(os.path.join(g, "offcpu.ebt"), home, ["--off-cpu", "--weight", "count"], label="offcpu-count")
    check(os.path.join(g, "offcpu.ebt"), home, ["--wakers"], label="wakers")
    # The view picks the default sample type; every column is in the file.
    check(os.path.join(g, "offcpu.ebt"), home, [], label="offcpu-on")
    check(os.path.join(g, "offcpu.ebt"), home, ["--on-off"], label="on-off")
    out = os.path.join(home, "profile.pb.gz")
    c.run([c.EBTRACE, "report", os.path.join(g, "offcpu.ebt"), "--embedded-symbols-only", "--pprof", out])
    raw = c.go_pprof(["-raw", out], home)
    types = raw.split("Samples:\n", 1)[-1].split("\n", 1)[0]
    for want in ("samples/count", "cpu/nanoseconds", "switches/count", "off_cpu/nanoseconds", "waker/nanoseconds"):
        if want not in types:
            c.fail("offcpu.ebt: sample types lack %s: %s" % (want, types))
    # Filters apply like everywhere else.
    check(os.path.join(g, "oncpu_fp.ebt"), home, ["--no-kernel", "--time", "0.2,1.5"], label="filtered")
    # Bad input: a refusal, not a file.
    bad = c.run([c.EBTRACE, "report", os.path.join(g, "oncpu_fp.ebt"), "--pprof", out, "--weight", "bogus"],
                check=False)
    if bad.returncode != 2:
        c.fail("--weight bogus with --pprof: exit %d, want 2" % bad.returncode)


def record(home):
    cap = os.path.join(home, "knob.ebt")
    share = c.record_knob(cap, 0.4, duration=2.0)
    want_self, want_total = check(cap, home, label="knob")
    got = want_total.get("knob_hot", 0)
    if abs(got - 100 * share) > 8:
        c.fail("knob_hot: %.1f%% of samples, the workload measured %.1f%% for itself" % (got, 100 * share))


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "golden"
    home = c.tempdir("pprof")
    try:
        {"golden": golden, "record": record}[mode](home)
    finally:
        import shutil
        shutil.rmtree(home, ignore_errors=True)
    print("ok")


if __name__ == "__main__":
    main()
