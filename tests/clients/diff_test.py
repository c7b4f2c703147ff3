#!/usr/bin/env python3
"""Differential reports (`report NEW --baseline BASE`):
  identical  a golden capture against itself (on-CPU, and off-CPU with
             --off-cpu): every SVG frame neutral, no gainer or loser, --folded
             with equal counts; and against another capture: the folded
             counts of each side add up to its total.
  record     two real recordings of the knob workload (root + BPF), knob_hot
             at 40 % then 10 % of the CPU: the table reports knob_hot's change
             within 3 points of what the workload measured, the SVG colours
             knob_hot blue and knob_cold red.
usage: diff_test.py identical|record
"""
import os
import re
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clients as c  # noqa: E402


def frames_of(svg):
    """[(name, fill, delta, weight)] of every frame of a differential SVG."""
    out = []
    for m in re.finditer(r'<g class="f" data-n="([^"]*)"[^>]*?data-v="(\d+)" data-d="([-\d.]+)">.*?fill="([^"]+)"',
                         svg):
        out.append((m.group(1), m.group(4), float(m.group(3)), int(m.group(2))))
    return out


def table(text):
    """{(section, name): (change, new, base)} from the differential text table."""
    rows, section = {}, None
    for line in text.splitlines():
        m = re.match(r"^# (Gainers|Losers) by (self|total) share", line)
        if m:
            section = m.group(2)
            continue
        m = re.match(r"^\s+([-+][\d.]+)\s+([\d.]+)%\s+([\d.]+)%\s+(.*)$", line)
        if m and section:
            rows[(section, m.group(4))] = (float(m.group(1)), float(m.group(2)), float(m.group(3)))
    return rows


def diff(new, base, home, extra=()):
    svg = os.path.join(home, "diff.svg")
    args = [c.EBTRACE, "report", new, "--embedded-symbols-only", "--baseline", base, "--top", "100000"] + list(extra)
    c.run(args + ["--flamegraph", svg])
    with open(svg) as f:
        svg_text = f.read()
    return svg_text, c.run(args).stdout, c.run(args + ["--folded"]).stdout


def identical(home):
    for capture, extra in (("oncpu_fp.ebt", []), ("offcpu.ebt", ["--off-cpu"])):
        path = os.path.join(c.GOLDEN, capture)
        svg, text, folded = diff(path, path, home, extra)
        frames = frames_of(svg)
        if len(frames) < 10:
            c.fail("%s: only %d differential frames in the SVG" % (capture, len(frames)))
        colored = [f for f in frames if f[1] != "rgb(250,250,250)" or f[2] != 0]
        if len(frames) != svg.count('<g class="f"'):
            c.fail("%s: %d frames, %d with a change" % (capture, svg.count('<g class="f"'), len(frames)))
        if colored:
            c.fail("%s against itself: frames not neutral: %s" % (capture, colored[:5]))
        if table(text) or text.count("(none)") != 4:
            c.fail("%s against itself: gainers or losers listed:\n%s" % (capture, text))
        for line in folded.splitlines():
            a, b = line.rsplit(" ", 2)[1:]
            if a != b:
                c.fail("%s against itself: folded counts differ: %s" % (capture, line))
    # Different captures: each side's column adds up to its own total.
    a, b = os.path.join(c.GOLDEN, "oncpu_fp.ebt"), os.path.join(c.GOLDEN, "dwarf.ebt")
    _, text, folded = diff(a, b, home)
    tot_new = int(re.search(r"# new: (\d+) samples", text).group(1))
    tot_base = int(re.search(r"baseline: (\d+) samples", text).group(1))
    sums = [0, 0]
    for line in folded.splitlines():
        x, y = line.rsplit(" ", 2)[1:]
        sums[0] += int(x)
        sums[1] += int(y)
    if sums != [tot_base, tot_new]:
        c.fail("folded columns %s, want baseline %d and new %d" % (sums, tot_base, tot_new))
    # `report --diff BASE NEW` is the same report as `report NEW --baseline BASE`.
    spelled = c.run([c.EBTRACE, "report", "--diff", b, a, "--embedded-symbols-only", "--top", "100000"])
    if spelled.stdout != text:
        c.fail("report --diff BASE NEW differs from NEW --baseline BASE:\n%s\n---\n%s" % (spelled.stdout, text))
    one = c.run([c.EBTRACE, "report", "--diff", a], check=False)
    if one.returncode != 2 or "--diff compares two captures" not in one.stderr:
        c.fail("--diff with one capture: exit %d, stderr %r (want 2)" % (one.returncode, one.stderr))
    bad = c.run([c.EBTRACE, "report", a, "--baseline", os.path.join(home, "missing.ebt")], check=False)
    if bad.returncode != 2 or len(bad.stderr.strip().splitlines()) != 1:
        c.fail("missing baseline: exit %d, stderr %r (want 2 and one line)" % (bad.returncode, bad.stderr))


def record(home):
    base, new = os.path.join(home, "base.ebt"), os.path.join(home, "new.ebt")
    was = c.record_knob(base, 0.4, duration=2.0)
    now = c.record_knob(new, 0.1, duration=2.0)
    svg, text, folded = diff(new, base, home)
    rows = table(text)
    hot = rows.get(("total", "knob_hot"))
    if not hot:
        c.fail("knob_hot not among the total-share losers:\n" + text)
    want = 100 * (now - was)
    # The diff itself is exact: the change is the difference of the shares
    # each capture's own report gives.
    own = []
    for cap in (new, base):
        _, total = c.report_tables(c.run([c.EBTRACE, "report", cap, "--embedded-symbols-only", "--top", "100000"]).stdout)
        own.append(total.get("knob_hot", 0))
    if abs(hot[0] - (own[0] - own[1])) > 0.02 or abs(hot[1] - own[0]) > 0.01 or abs(hot[2] - own[1]) > 0.01:
        c.fail("knob_hot: table %s, the reports of each capture say %.2f%% and %.2f%%" % (hot, own[0], own[1]))
    if abs(hot[0] - want) > 3:
        c.fail("knob_hot change %.2f points, the workload measured %.2f (%.1f%% -> %.1f%%)\n%s" %
               (hot[0], want, 100 * was, 100 * now, text))
    cold = rows.get(("total", "knob_cold"))
    if not cold or cold[0] <= 0:
        c.fail("knob_cold is not a gainer:\n" + text)
    # The function's main frame (its widest: main;knob_run;NAME); a few
    # samples whose unwinding stopped early may put it on other paths too.
    widest = {}
    for name, fill, d, w in frames_of(svg):
        if name not in widest or w > widest[name][2]:
            widest[name] = (fill, d, w)
    for name, want_blue in (("knob_hot", True), ("knob_cold", False)):
        if name not in widest:
            c.fail(name + " not in the differential SVG")
        for fill, d, _ in [widest[name]]:
            r, g, b = map(int, re.findall(r"\d+", fill))
            blue = b == 255 and r < 200 and d < 0
            red = r == 255 and b < 200 and d > 0
            if (want_blue and not blue) or (not want_blue and not red):
                c.fail("%s frame has fill %s (change %.2f): want %s" % (name, fill, d, "blue" if want_blue else "red"))


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "identical"
    home = c.tempdir("diff")
    try:
        {"identical": identical, "record": record}[mode](home)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    print("ok")


if __name__ == "__main__":
    main()
