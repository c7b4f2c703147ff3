"""Shared pieces of the export tests (tests/clients/): running ebtrace and the
real clients, parsing `ebtrace report`'s text tables and `go tool pprof`
output, recording the knob workload.

Every test is a script run by ctest: exit 0 pass, 1 fail, 77 skip (BPF tests
without root when EBTRACE_REQUIRE_BPF is not set).
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

EBTRACE = os.environ.get("EBTRACE_BIN", "")
KNOB = os.environ.get("EBTRACE_KNOB", "")
GOLDEN = os.environ.get("EBTRACE_GOLDEN", "")
SKIP = 77


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def run(argv, timeout=120, env=None, check=True):
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)
    if check and p.returncode != 0:
        fail("%s exited %d\nstdout: %s\nstderr: %s" % (" ".join(argv), p.returncode, p.stdout[-3000:],
                                                       p.stderr[-3000:]))
    return p


def tempdir(tag):
    d = tempfile.mkdtemp(prefix="ebt-%s-" % tag)
    return d


def normalize(name):
    """A function name as both tools can agree on: go tool pprof shortens C++
    names (drops parameter lists and "(anonymous namespace)"), ebtrace keeps
    them; " (inline)" is pprof's inline marker."""
    name = name.replace("(anonymous namespace)", "")
    if name.endswith(" (inline)"):
        name = name[: -len(" (inline)")]
    if not name.startswith("["):
        cut = name.find("(")
        if cut > 0:
            name = name[:cut]
    return name.strip()


ROW = re.compile(r"^\s*([\d.]+)%\s+(\S+)\s+.*?\[(.)\] (.*)$")
TOTAL_ROW = re.compile(r"^\s*([\d.]+)%\s+([\d.]+)%\s+(\[pid \d+\]|\S+)\s+.*?\[(.)\] (.*)$")


def report_tables(text):
    """{name: self%} and {name: total%} from `ebtrace report`'s text (one
    process: rows are per command, names are merged across modules)."""
    self_pct, total_pct, per_comm = {}, {}, {}
    section = None
    for line in text.splitlines():
        if line.startswith("# Top functions by self"):
            section = "self"
            continue
        if line.startswith("# Top functions by total"):
            section = "total"
            continue
        if line.startswith("#"):
            continue
        if section == "self":
            m = ROW.match(line)
            if m:
                n = normalize(m.group(4))
                self_pct[n] = self_pct.get(n, 0) + float(m.group(1))
        elif section == "total":
            m = TOTAL_ROW.match(line)
            if m:
                # One function twice on a stack (as itself and inlined): pprof
                # counts the name once; per command, then summed over commands.
                k = (m.group(3), normalize(m.group(5)))
                per_comm[k] = max(per_comm.get(k, 0), float(m.group(1)))
    for (_, n), v in per_comm.items():
        total_pct[n] = total_pct.get(n, 0) + v
    return self_pct, total_pct


def go_pprof(args, env_home):
    go = shutil.which("go")
    if not go:
        fail("go (Debian golang-go) not found: scripts/setup-deps.sh --with-tests installs it")
    env = dict(os.environ, HOME=env_home, PPROF_TMPDIR=env_home, GOCACHE=os.path.join(env_home, "gocache"),
               GOFLAGS="", PPROF_BINARY_PATH="/nonexistent")
    return run([go, "tool", "pprof"] + args, env=env, timeout=180).stdout


PPROF_ROW = re.compile(r"^\s*(\S+)\s+([\d.]+)%\s+([\d.]+)%\s+(\S+)\s+([\d.]+)%\s+(.*)$")


def pprof_top(text):
    """{name: (flat%, cum%)} from `go tool pprof -top` (names normalized, rows
    of one normalized name summed/maxed)."""
    rows = {}
    for line in text.splitlines():
        m = PPROF_ROW.match(line)
        if not m:
            continue
        n = normalize(m.group(6))
        flat, cum = rows.get(n, (0.0, 0.0))
        rows[n] = (flat + float(m.group(2)), max(cum, float(m.group(5))))
    return rows


UNITS = {"ns": 1e-9, "us": 1e-6, "\u00b5s": 1e-6, "ms": 1e-3, "s": 1, "mins": 60, "hrs": 3600}


def parse_value(text):
    m = re.match(r"^([\d.]+)([a-z\u00b5]*)$", text)
    if not m:
        raise ValueError(text)
    return float(m.group(1)) * UNITS.get(m.group(2), 1)


def pprof_traces(text):
    """[(labels dict, value, [frames leaf first])] from `go tool pprof -traces`."""
    out = []
    for block in text.split("-----------+-------------------------------------------------------")[1:]:
        labels, value, frames = {}, None, []
        for line in block.splitlines():
            if not line.strip():
                continue
            m = re.match(r"^\s*(\w+):\s+(.*)$", line)
            if value is None and m and not re.match(r"^\s*[\d.]", line):
                labels[m.group(1)] = m.group(2).strip()
                continue
            if value is None:
                parts = line.split(None, 1)
                value = parse_value(parts[0])
                frames.append(parts[1].strip())
            else:
                frames.append(line.strip())
        if value is not None:
            out.append((labels, value, frames))
    return out


def compare_shares(what, expected, got, tol):
    """Every function of `expected` ({name: pct}) in `got` within tol points."""
    bad = []
    for name, pct in sorted(expected.items(), key=lambda kv: -kv[1]):
        g = got.get(name)
        if g is None or abs(g - pct) > tol:
            bad.append("%s: ebtrace %.2f%%, %s %s" % (name, pct, what, "missing" if g is None else "%.2f%%" % g))
    if bad:
        fail("%s shares differ from `ebtrace report` by more than %.1f point(s):\n  %s" % (what, tol,
                                                                                      "\n  ".join(bad)))


def need_bpf():
    """77 (skip) without root unless EBTRACE_REQUIRE_BPF=1 (then a failure)."""
    if os.geteuid() == 0:
        return
    if os.environ.get("EBTRACE_REQUIRE_BPF") == "1":
        fail("EBTRACE_REQUIRE_BPF=1 but not root")
    print("SKIP: needs root for BPF", file=sys.stderr)
    sys.exit(SKIP)


def record_knob(capture, share, duration=2.0, freq=499, extra=()):
    """Records the knob workload; returns the hot share it measured itself."""
    need_bpf()
    p = run([EBTRACE, "record", "-F", str(freq), "-o", capture] + list(extra) +
            ["--", KNOB, "--hot-share", str(share), "--duration", str(duration)], timeout=duration + 90)
    m = re.search(r"hot=([\d.]+) cold=([\d.]+)", p.stdout + p.stderr)
    if not m:
        fail("knob printed no result:\n" + p.stdout + p.stderr)
    hot, cold = float(m.group(1)), float(m.group(2))
    return hot / (hot + cold) if hot + cold > 0 else 0.0
