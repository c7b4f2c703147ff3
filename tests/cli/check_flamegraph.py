#!/usr/bin/env python3
"""Checks an `ebtrace report --flamegraph` SVG against the folded stacks of the
same capture, the DOM Chromium rendered from it with a search applied, and a
screenshot of it. Used by tests/cli/oncpu_e2e_test.cpp; exits 1 with a message
on the first failed check.

  check_flamegraph.py svg SVG FOLDED FN...     structure, frames, widths vs counts
  check_flamegraph.py dom DOM FOLDED FN        after '#s=FN': Matched %, highlighted rects
  check_flamegraph.py png PNG                  the screenshot shows a flame graph + highlight
"""
import re
import struct
import sys
import xml.etree.ElementTree as ET
import zlib

NS = "{http://www.w3.org/2000/svg}"
HIGHLIGHT = "rgb(230,0,230)"


def fail(msg):
    print("check_flamegraph: FAIL: " + msg)
    sys.exit(1)


def strip_suffix(f):
    for suf in ("_[k]", "_[i]", "_[j]", "_[l]"):
        if f.endswith(suf):
            return f[: -len(suf)]
    return f


def names(frame, fn):
    f = strip_suffix(frame)
    return f == fn or (f.startswith(fn) and f[len(fn)] in "(+ ")


def read_folded(path):
    stacks = []
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            stack, _, count = line.rpartition(" ")
            stacks.append((stack.split(";"), int(count)))
    return stacks


def folded_count(stacks, fn):
    return sum(c for frames, c in stacks if any(names(f, fn) for f in frames))


def frames_of(root):
    out = []
    for g in root.iter(NS + "g"):
        if g.get("class") != "f":
            continue
        rect = g.find(NS + "rect")
        if rect is None:
            fail("frame without rect: %r" % g.attrib)
        out.append(
            dict(name=g.get("data-n"), value=int(g.get("data-v")), width=float(rect.get("width")),
                 x=float(rect.get("x")), fill=rect.get("fill"),
                 title=(g.findtext(NS + "title") or "")))
    return out


def check_svg(svg, folded, fns):
    try:
        root = ET.parse(svg).getroot()
    except ET.ParseError as e:
        fail("not well-formed XML: %s" % e)
    if root.tag != NS + "svg":
        fail("root element is %s, not svg" % root.tag)
    if root.find(NS + "script") is None:
        fail("no <script>: the SVG is not interactive")
    stacks = read_folded(folded)
    total = sum(c for _, c in stacks)
    if int(root.get("data-total")) != total:
        fail("SVG total %s != folded total %d" % (root.get("data-total"), total))
    chart_w = float(root.get("data-w"))
    frames = frames_of(root)
    if not frames:
        fail("no frames")
    for fr in frames:
        want = chart_w * fr["value"] / total
        if abs(fr["width"] - want) > 0.02:
            fail("frame %s: width %.2f, expected %.2f for %d of %d samples"
                 % (fr["name"], fr["width"], want, fr["value"], total))
        if "{:,}".format(fr["value"]) not in fr["title"] and str(fr["value"]) not in fr["title"]:
            fail("tooltip of %s does not show its sample count: %r" % (fr["name"], fr["title"]))
    for fn in fns:
        # Each of cpuburn's parts appears at most once per stack, so the widths of
        # its frames add up to the folded count of the stacks that contain it.
        got = sum(fr["value"] for fr in frames if names(fr["name"], fn))
        want = folded_count(stacks, fn)
        if want == 0:
            fail("%s is not in the folded stacks" % fn)
        # Frames narrower than the minimum width are not drawn: allow a sliver.
        if abs(got - want) > max(2, 0.002 * total):
            fail("%s: %d samples in the SVG, %d in the folded stacks" % (fn, got, want))
        print("svg: %-32s %6d samples %5.1f%%" % (fn, got, 100.0 * got / total))
    print("svg: ok, %d frames, %d samples" % (len(frames), total))


def check_dom(dom, folded, fn):
    text = open(dom, encoding="utf-8", errors="replace").read()
    try:
        root = ET.fromstring(text)
    except ET.ParseError as e:
        fail("dumped DOM is not XML: %s" % e)
    matched = None
    for t in root.iter(NS + "text"):
        if t.get("id") == "matched":
            matched = (t.text or "").strip()
    m = re.match(r"Matched: ([0-9.]+)%", matched or "")
    if not m:
        fail("search did not run: matched text is %r" % matched)
    stacks = read_folded(folded)
    total = sum(c for _, c in stacks)
    want = 100.0 * folded_count(stacks, fn) / total
    if abs(float(m.group(1)) - want) > 0.15:
        fail("Matched %s%%, folded says %.2f%% for %s" % (m.group(1), want, fn))
    frames = frames_of(root)
    hit = [fr for fr in frames if fr["fill"] == HIGHLIGHT]
    if not hit:
        fail("no highlighted frame")
    for fr in hit:
        if not re.search(fn, fr["name"]):
            fail("highlighted frame %s does not match %s" % (fr["name"], fn))
    for fr in frames:
        if fr["fill"] != HIGHLIGHT and names(fr["name"], fn):
            fail("frame %s matches but is not highlighted" % fr["name"])
    print("dom: %s -> %s (folded %.2f%%), %d highlighted frames" % (fn, matched, want, len(hit)))


def png_pixels(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        fail("not a PNG")
    pos, idat, w = 8, b"", 0
    while pos < len(data):
        n, typ = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if typ == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or ctype not in (2, 6) or interlace:
                fail("unsupported PNG layout depth=%d type=%d interlace=%d" % (depth, ctype, interlace))
            bpp = 3 if ctype == 2 else 4
        elif typ == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = w * bpp
    prev = bytearray(stride)
    rows = []
    i = 0
    for _ in range(h):
        f = raw[i]
        line = bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pr = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[x] = (line[x] + pr) & 255
        rows.append(bytes(line))
        prev = line
    return w, h, bpp, rows


def check_png(path):
    w, h, bpp, rows = png_pixels(path)
    colours = {}
    for row in rows[::2]:
        for x in range(0, w * bpp, bpp * 2):
            px = row[x:x + 3]
            colours[px] = colours.get(px, 0) + 1
    n = sum(colours.values())
    magenta = sum(c for px, c in colours.items() if px[0] > 200 and px[1] < 40 and px[2] > 200)
    warm = sum(c for px, c in colours.items() if px[0] > 180 and px[2] < 120 and px[1] < 230)
    print("png: %dx%d, %d colours, highlighted %.1f%%, flame-coloured %.1f%%"
          % (w, h, len(colours), 100.0 * magenta / n, 100.0 * warm / n))
    if magenta == 0:
        fail("no highlighted (magenta) pixels in the screenshot")
    if warm == 0:
        fail("no flame-coloured pixels in the screenshot")
    if len(colours) < 10:
        fail("screenshot looks blank (%d colours)" % len(colours))


def main():
    if len(sys.argv) < 3:
        fail(__doc__)
    cmd = sys.argv[1]
    if cmd == "svg":
        check_svg(sys.argv[2], sys.argv[3], sys.argv[4:])
    elif cmd == "dom":
        check_dom(sys.argv[2], sys.argv[3], sys.argv[4])
    elif cmd == "png":
        check_png(sys.argv[2])
    else:
        fail("unknown check " + cmd)


if __name__ == "__main__":
    main()
