#!/usr/bin/env python3
"""`report --speedscope` read by speedscope itself (npm package, cached by
npm_fixture.sh):
  golden   the golden captures (on-CPU fp, DWARF with --speedscope-lines,
           off-CPU, off-CPU counts, wakers, on+off): every file validates
           against the package's file-format-schema.json (ajv) and the
           importer's rules (frame indices, samples/weights lengths, weights
           >= 0); per-function self and total shares over all profiles match
           `ebtrace report` within 0.5 point; one profile per thread.
  app      the real speedscope app from the package, served on loopback and
           opened in headless Chromium with #profileURL=: the page title
           becomes the file's name and the toolbar shows the first thread's
           profile; a file that breaks the importer's rules does not load
           (the check can fail).
  record   a real recording of the knob workload (root + BPF): shares match
           `ebtrace report` within 0.5 point and the profile's samples are in
           time order (the hot/cold alternation of the workload is kept).
usage: speedscope_test.py golden|app|record
"""
import functools
import http.server
import json
import os
import shutil
import socketserver
import subprocess
import sys
import threading
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clients as c  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TOL = 0.5


def fixture():
    p = subprocess.run([os.path.join(HERE, "npm_fixture.sh")], capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        c.fail("npm fixture: " + p.stderr.strip())
    return p.stdout.strip()


def validate(modules, files):
    node = shutil.which("node")
    if not node:
        c.fail("node not found: scripts/setup-deps.sh --with-tests installs nodejs")
    c.run([node, os.path.join(HERE, "validate_speedscope.js")] + files, env=dict(os.environ, NODE_PATH=modules))


def importer_rules(doc, label):
    nframes = len(doc["shared"]["frames"])
    if not doc["profiles"]:
        c.fail(label + ": no profiles")
    for p in doc["profiles"]:
        if p["type"] != "sampled":
            c.fail(label + ": profile type " + p["type"])
        if len(p["samples"]) != len(p["weights"]):
            c.fail(label + ": %s: %d samples, %d weights" % (p["name"], len(p["samples"]), len(p["weights"])))
        if any(w < 0 for w in p["weights"]):
            c.fail(label + ": negative weight in " + p["name"])
        if p["endValue"] != sum(p["weights"]) or p["startValue"] != 0:
            c.fail(label + ": %s: startValue/endValue are not 0/total weight" % p["name"])
        for s in p["samples"]:
            if any(i < 0 or i >= nframes for i in s):
                c.fail(label + ": frame index out of range in " + p["name"])
    names = [p["name"] for p in doc["profiles"]]
    if len(set(names)) != len(names):
        c.fail(label + ": two profiles for one thread: " + str(names))


def shares(doc):
    """{name: self%}, {name: total%} over every profile, by frame name."""
    frames = doc["shared"]["frames"]
    self_w, total_w, total = {}, {}, 0
    for p in doc["profiles"]:
        for s, w in zip(p["samples"], p["weights"]):
            total += w
            if not s:
                continue
            names = [c.normalize(frames[i]["name"]) for i in s]
            self_w[names[-1]] = self_w.get(names[-1], 0) + w
            for n in set(names):
                total_w[n] = total_w.get(n, 0) + w
    pct = lambda d: {k: 100.0 * v / total for k, v in d.items()}  # noqa: E731
    return pct(self_w), pct(total_w)


def check(capture, home, view=(), label=""):
    out = os.path.join(home, label + ".speedscope.json")
    base = [c.EBTRACE, "report", capture, "--embedded-symbols-only", "--top", "100000"] + list(view)
    p = c.run(base + ["--speedscope", out])
    if "wrote " + out not in p.stderr:
        c.fail(label + ": no 'wrote' note: " + p.stderr)
    want_self, want_total = c.report_tables(c.run([a for a in base if a != "--speedscope-lines"]).stdout)
    with open(out) as f:
        doc = json.load(f)
    importer_rules(doc, label)
    got_self, got_total = shares(doc)
    # ebtrace's tables are per command; a frame name, merged across them here.
    c.compare_shares(label + " speedscope self", want_self, got_self, TOL)
    c.compare_shares(label + " speedscope total", want_total, got_total, TOL)
    return out, doc


def golden(home):
    g = c.GOLDEN
    modules = fixture()
    files = []
    files.append(check(os.path.join(g, "oncpu_fp.ebt"), home, label="oncpu_fp")[0])
    out, doc = check(os.path.join(g, "dwarf.ebt"), home, ["--speedscope-lines"], label="dwarf")
    files.append(out)
    fr = doc["shared"]["frames"]
    if not any(f["name"] == "burn_a" and f.get("file", "").endswith("cpuburn.cpp") and f.get("line")
               for f in fr):
        c.fail("dwarf --speedscope-lines: no burn_a frame with file and line: %s" % fr[:20])
    out, doc = check(os.path.join(g, "offcpu.ebt"), home, ["--off-cpu"], label="offcpu")
    files.append(out)
    if not all(p["unit"] == "nanoseconds" for p in doc["profiles"]) or len(doc["profiles"]) < 2:
        c.fail("offcpu: want one nanoseconds profile per thread: %s" % [p["name"] for p in doc["profiles"]])
    out, doc = check(os.path.join(g, "offcpu.ebt"), home, ["--off-cpu", "--weight", "count"], label="offcpu-count")
    files.append(out)
    if not all(p["unit"] == "none" for p in doc["profiles"]):
        c.fail("offcpu --weight count: unit must be none")
    files.append(check(os.path.join(g, "offcpu.ebt"), home, ["--wakers"], label="wakers")[0])
    files.append(check(os.path.join(g, "offcpu.ebt"), home, ["--on-off"], label="on-off")[0])
    validate(modules, files)
    bad = c.run([c.EBTRACE, "report", os.path.join(g, "oncpu_fp.ebt"), "--speedscope-lines"], check=False)
    if bad.returncode != 2:
        c.fail("--speedscope-lines without --speedscope: exit %d, want 2" % bad.returncode)


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def open_in_chromium(app_dir, profile_name, home):
    """The <title> and the DOM speedscope renders for app_dir/profile_name."""
    chromium = shutil.which("chromium")
    if not chromium:
        c.fail("chromium not found: scripts/setup-deps.sh --with-tests installs it")
    handler = functools.partial(Quiet, directory=app_dir)
    with socketserver.TCPServer(("127.0.0.1", 0), handler) as srv:
        port = srv.server_address[1]
        t = threading.Thread(target=srv.serve_forever, daemon=True)
        t.start()
        try:
            url = "http://127.0.0.1:%d/%s" % (port, profile_name)
            page = "http://127.0.0.1:%d/index.html#profileURL=%s" % (port, urllib.parse.quote(url, safe=""))
            p = c.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                       "--user-data-dir=" + os.path.join(home, "chromium"), "--virtual-time-budget=20000",
                       "--dump-dom", page], timeout=120)
        finally:
            srv.shutdown()
    dom = p.stdout
    start = dom.find("<title>")
    title = dom[start + 7: dom.find("</title>", start)] if start >= 0 else ""
    return title, dom


def app(home):
    modules = fixture()
    release = os.path.join(modules, "speedscope", "dist", "release")
    app_dir = os.path.join(home, "app")
    shutil.copytree(release, app_dir)
    g = c.GOLDEN
    out, doc = check(os.path.join(g, "offcpu.ebt"), home, ["--on-off"], label="app")
    shutil.copy(out, os.path.join(app_dir, "profile.json"))
    title, dom = open_in_chromium(app_dir, "profile.json", home)
    if title != doc["name"] + " - speedscope":
        c.fail("speedscope did not load the file: title %r, want %r\n%s" % (title, doc["name"] + " - speedscope",
                                                                          dom[:2000]))
    first = doc["profiles"][0]["name"]
    if first not in dom:
        c.fail("speedscope's toolbar does not name the first profile %r:\n%s" % (first, dom[:3000]))
    # The same page with a file speedscope's importer refuses: no title.
    doc["profiles"][0]["weights"].append(1)
    with open(os.path.join(app_dir, "broken.json"), "w") as f:
        json.dump(doc, f)
    title, _ = open_in_chromium(app_dir, "broken.json", home)
    if title.endswith(" - speedscope"):
        c.fail("speedscope loaded a file with more weights than samples (the check cannot fail): " + title)


def record(home):
    cap = os.path.join(home, "knob.ebt")
    c.record_knob(cap, 0.4, duration=2.0)
    out, doc = check(cap, home, label="knob")
    knob = [p for p in doc["profiles"] if p["name"].startswith("knob ")]
    if len(knob) != 1:
        c.fail("want one profile for the knob thread: %s" % [p["name"] for p in doc["profiles"]])
    # Time order: the workload alternates hot and cold slices of 2 ms, so the
    # leaf changes many times; an export sorted by stack would change it once
    # or twice.
    frames = doc["shared"]["frames"]
    leaves = [frames[s[-1]]["name"] for s in knob[0]["samples"] if s]
    changes = sum(1 for a, b in zip(leaves, leaves[1:]) if a != b and {a, b} == {"knob_hot", "knob_cold"})
    if changes < 20:
        c.fail("knob profile: hot/cold alternate only %d times: samples are not in time order" % changes)


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "golden"
    home = c.tempdir("speedscope")
    try:
        {"golden": golden, "app": app, "record": record}[mode](home)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    print("ok")


if __name__ == "__main__":
    main()
