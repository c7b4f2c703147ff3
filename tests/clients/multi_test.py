#!/usr/bin/env python3
"""Several captures in one report (`report a.ebt b.ebt`):
  golden   two golden captures of separate recorders: --folded of both is
           exactly the sum of each one's --folded (frames matched by name,
           ids never mixed), in either order; --by-host puts every stack under
           [host: NAME]; the text report's total is the sum; --trace puts
           both on one timeline, each event exactly at its own capture's time
           plus that capture's wall-clock offset, pids of the later one + 10^7;
           outputs that read one capture at a time (--pprof, --latency) are
           refused (exit 2).
  record   (root + BPF) two knob recordings made concurrently, reported
           together: totals add up exactly, --trace interleaves their samples
           in wall-clock order; and a --switch-output recording
           given as its directory is still one recording (its files spliced:
           the same totals as the files' sum, no file refused).
usage: multi_test.py golden|record
"""
import decimal
import json
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clients as c  # noqa: E402


def folded(args):
    out = {}
    for line in c.run([c.EBTRACE, "report"] + args + ["--embedded-symbols-only", "--folded"]).stdout.splitlines():
        path, n = line.rsplit(" ", 1)
        out[path] = out.get(path, 0) + int(n)
    return out


def add(a, b):
    s = dict(a)
    for k, v in b.items():
        s[k] = s.get(k, 0) + v
    return s


def total_of(args):
    text = c.run([c.EBTRACE, "report"] + args + ["--embedded-symbols-only"]).stdout
    return int(re.search(r"^# samples: (\d+)", text, re.M).group(1))


def golden(home):
    a, b = os.path.join(c.GOLDEN, "oncpu_fp.ebt"), os.path.join(c.GOLDEN, "dwarf.ebt")
    fa, fb, both = folded([a]), folded([b]), folded([a, b])
    if both != add(fa, fb):
        diff = {k for k in set(both) | set(add(fa, fb)) if both.get(k) != add(fa, fb).get(k)}
        c.fail("folded of both != sum of each: %s" % sorted(diff)[:5])
    if folded([b, a]) != both:
        c.fail("folded of both depends on the order of the captures")
    if total_of([a, b]) != total_of([a]) + total_of([b]):
        c.fail("text report total is not the sum of the captures' totals")
    by_host = folded([a, b, "--by-host"])
    if not all(k.startswith("[host: vm];") for k in by_host) or sum(by_host.values()) != sum(both.values()):
        c.fail("--by-host: stacks not all under [host: vm]: %s" % list(by_host)[:3])
    if folded([a, b, "--by", "host"]) != by_host:
        c.fail("--by host differs from --by-host")
    check_timeline(home, [a, b])
    for extra in (["--latency"], ["--pprof", os.path.join(home, "p.pb.gz")]):
        r = c.run([c.EBTRACE, "report", a, b] + extra, check=False)
        if r.returncode != 2 or "several captures" not in r.stderr:
            c.fail("%s with two captures: exit %d, %r (want 2)" % (extra[0], r.returncode, r.stderr))


def trace_of(home, captures):
    path = os.path.join(home, "t.json")
    c.run([c.EBTRACE, "report"] + captures + ["--embedded-symbols-only", "--trace", path])
    with open(path) as f:
        return json.load(f)


def ns(ts):
    """A trace time (microseconds, 3 decimals) in integer nanoseconds."""
    return int(decimal.Decimal(str(ts)) * 1000)


def check_timeline(home, captures):
    """One timeline over `captures`: each capture's events are its own
    timeline's, shifted by its wall-clock start minus the earliest one's, pids
    and tids + k * 10^7 (k: its place in time order); in time order; process
    names say the capture."""
    singles = [trace_of(home, [cap]) for cap in captures]
    merged = trace_of(home, captures)
    starts = [int(t["otherData"]["wall_clock_start_ns"]) for t in singles]
    if int(merged["otherData"]["wall_clock_start_ns"]) != min(starts):
        c.fail("merged timeline starts at %s, the captures at %s" % (merged["otherData"]["wall_clock_start_ns"], starts))
    events = [e for e in merged["traceEvents"] if e["ph"] != "M"]
    times = [ns(e["ts"]) for e in events]
    if times != sorted(times):
        c.fail("merged timeline is not in time order")
    # "PATH (pids + BASE); ...": the captures in the order they were merged
    bases = {os.path.basename(m.group(1)): int(m.group(2))
             for m in re.finditer(r"([^;]+?) \(pids \+ (\d+)\)", merged["otherData"]["captures"])}
    if sorted(bases) != sorted(os.path.basename(x) for x in captures):
        c.fail("merged timeline lists captures %s" % merged["otherData"]["captures"])
    for k, (cap, single) in enumerate(zip(captures, singles)):
        base, shift = bases[os.path.basename(cap)], starts[k] - min(starts)
        want = sorted((ns(e["ts"]) + shift, e["ph"], e["pid"] + base, e.get("tid", 0) + base, e.get("name"))
                      for e in single["traceEvents"] if e["ph"] != "M")
        got = sorted((ns(e["ts"]), e["ph"], e["pid"], e.get("tid", 0), e.get("name"))
                     for e in events if base <= e["pid"] < base + 10_000_000)
        if want != got:
            c.fail("%s on the merged timeline: %d events, its own timeline has %d (first difference %s)" %
                   (cap, len(got), len(want), next((x for x in zip(want, got) if x[0] != x[1]), None)))
        names = [e["args"]["name"] for e in merged["traceEvents"]
                 if e.get("name") == "process_name" and base <= e["pid"] < base + 10_000_000]
        if not names or not all(n.startswith("%s %s: " % (single["otherData"]["hostname"], os.path.basename(cap)))
                                for n in names):
            c.fail("process names of %s on the merged timeline: %s" % (cap, names))
    return merged, starts


def record(home):
    c.need_bpf()
    a, b = os.path.join(home, "a.ebt"), os.path.join(home, "b.ebt")
    procs = [subprocess.Popen([c.EBTRACE, "record", "-F", "499", "-o", cap, "--", c.KNOB, "--hot-share", share,
                               "--duration", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for cap, share in ((a, "0.4"), (b, "0.1"))]
    for p in procs:
        out, err = p.communicate(timeout=120)
        if p.returncode != 0:
            c.fail("record exited %d: %s" % (p.returncode, err.decode()[-2000:]))
    fa, fb, both = folded([a]), folded([b]), folded([a, b])
    if both != add(fa, fb):
        c.fail("concurrent captures: folded of both != sum of each")
    if total_of([a, b]) != total_of([a]) + total_of([b]):
        c.fail("concurrent captures: totals do not add up")
    # Recorded at the same time: on one timeline their on-CPU slices interleave.
    merged, _ = check_timeline(home, [a, b])
    owner = [e["pid"] >= 10_000_000 for e in merged["traceEvents"] if e["ph"] == "X"]
    switches = sum(1 for x, y in zip(owner, owner[1:]) if x != y)
    if switches < 2:
        c.fail("two concurrent captures do not interleave on the timeline (%d switches)" % switches)
    # One rotated recording: its directory is one capture, spliced.
    d = os.path.join(home, "rot")
    os.mkdir(d)
    c.run([c.EBTRACE, "record", "-F", "499", "-o", os.path.join(d, "cap-%H%M%S%f.ebt"), "--switch-output=500ms", "--",
           c.KNOB, "--hot-share", "0.5", "--duration", "2"], timeout=120)
    files = sorted(os.path.join(d, f) for f in os.listdir(d))
    if len(files) < 2:
        c.fail("--switch-output=500ms made %d files" % len(files))
    # One recording, not several captures: outputs of one capture accept it.
    r = c.run([c.EBTRACE, "report", d, "--pprof", os.path.join(home, "rot.pb.gz")], check=False)
    if r.returncode != 0:
        c.fail("a --switch-output recording was taken as several captures: %s" % r.stderr)
    spliced = folded([d])
    if sum(spliced.values()) != sum(sum(folded([f]).values()) for f in files):
        c.fail("the rotated recording's samples are not the sum of its files'")


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "golden"
    home = c.tempdir("multi")
    try:
        {"golden": golden, "record": record}[mode](home)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    print("ok")


if __name__ == "__main__":
    main()
