#!/usr/bin/env python3
"""The CDN mix: every photograph through the same eight requests in imgh and in sharp.

    bench/cdn.py --imgh BENCH --sharp SHARP_MJS [--pin "taskset -c 0"] [--n 5] [--rounds 2] PHOTO...

Requests: JPEG q80 at widths 100, 200, 400, 720 and 1080; WebP q80 at 400; AVIF q50 at 200;
the centre quarter cropped, then 200 wide. Prints ms/op (median of N) per request for both,
the ratio (sharp's time over imgh's) and the output sizes, then geometric means by request,
by kind of source, and overall. The engines alternate, ROUNDS times each, and each keeps its
best median: a neighbour's burst on a shared machine then spoils neither figure.
"""

import argparse
import collections
import json
import math
import os
import shlex
import subprocess

MIX = [(f"jpeg w{w}", w, "jpeg", 80, False) for w in (100, 200, 400, 720, 1080)] + [
    ("webp w400", 400, "webp", 80, False),
    ("avif w200", 200, "avif", 50, False),
    ("crop+w200", 200, "jpeg", 80, True),
]


def jpeg_kind(path):
    """(width, height, 'progressive'|'baseline', sampling like 4:2:0) from the SOF segment."""
    d = open(path, "rb").read(1 << 20)
    i = 2
    while i + 4 <= len(d):
        if d[i] != 0xFF:
            i += 1
            continue
        m, n = d[i + 1], int.from_bytes(d[i + 2:i + 4], "big")
        if m in (0xC0, 0xC1, 0xC2):
            seg = d[i + 4:i + 2 + n]
            h, w = int.from_bytes(seg[1:3], "big"), int.from_bytes(seg[3:5], "big")
            f = [(seg[6 + 3 * k + 1] >> 4, seg[6 + 3 * k + 1] & 15) for k in range(seg[5])]
            sampling = {(2, 2): "4:2:0", (2, 1): "4:2:2", (1, 1): "4:4:4"}.get(f[0], "?") if len(f) == 3 else "grey"
            return w, h, "progressive" if m == 0xC2 else "baseline", sampling
        i += 2 + n
    raise SystemExit(f"{path}: no SOF")


def run(cmd):
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])


def best(a, b):
    return b if a is None or b["ms_median"] < a["ms_median"] else a


def geo(xs):
    return math.exp(sum(map(math.log, xs)) / len(xs))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--imgh", required=True)
    ap.add_argument("--sharp", required=True)
    ap.add_argument("--pin", default="")
    ap.add_argument("--n", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("photos", nargs="+")
    a = ap.parse_args()
    pin = shlex.split(a.pin)
    rows = []
    print(f"{'photo':26} {'source':26} {'request':10} {'imgh ms':>8} {'sharp ms':>8} {'ratio':>6} {'bytes i/s':>10}")
    for photo in a.photos:
        w, h, kind, sampling = jpeg_kind(photo)
        for name, width, fmt, q, crop in MIX:
            process = "image/"
            sharp = [width, 0, q, a.n, fmt]
            if crop:
                x, y, cw, ch = w // 4, h // 4, w // 2, h // 2
                process += f"crop,x_{x},y_{y},w_{cw},h_{ch}/"
                sharp.append(f"{x},{y},{cw},{ch}")
            process += f"resize,w_{width}" + ("" if fmt == "jpeg" else f"/format,{fmt}") + f"/quality,Q_{q}"
            i = s = None
            for _ in range(a.rounds):
                i = best(i, run(pin + [a.imgh, photo, process, str(a.n)]))
                s = best(s, run(pin + ["node", a.sharp, photo] + [str(v) for v in sharp]))
            r = s["ms_median"] / i["ms_median"]
            src = f"{w}x{h} {kind[:4]} {sampling}"
            rows.append((name, kind, r))
            print(f"{os.path.basename(photo)[:26]:26} {src:26} {name:10} {i['ms_median']:8.2f} {s['ms_median']:8.2f} "
                  f"{r:5.2f}x {i['out_bytes'] / s['out_bytes']:9.2f}", flush=True)
    print()
    for label, key in (("request", 0), ("source", 1)):
        groups = collections.defaultdict(list)
        for row in rows:
            groups[row[key]].append(row[2])
        for g, rs in groups.items():
            print(f"  {label} {g:12} geometric mean {geo(rs):.2f}x sharp's speed, range {min(rs):.2f}x-{max(rs):.2f}x, n={len(rs)}")
    ratios = [r for *_, r in rows]
    slower = sum(r < 1 for r in ratios)
    print(f"  all {len(ratios)} requests: geometric mean {geo(ratios):.2f}x sharp's speed, "
          f"range {min(ratios):.2f}x-{max(ratios):.2f}x, {slower} slower than sharp")


if __name__ == "__main__":
    main()
