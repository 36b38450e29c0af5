#!/usr/bin/env python3
"""Soak: an HTTP server held at saturation with a realistic mix, minute by minute.

    bench/soak.py --url http://127.0.0.1:8080 --pid PID [--minutes 10] [--connections 8]

The mix: valid requests of every action and output format on the bundled samples, each
URL distinct (so no cache answers), and 5 % hostile ones (bombs, malformed parameters,
traversal, control characters, huge chains). Prints, per minute: requests, statuses,
p50/p99 latency and the memory the server holds (median and highest of one sample a
second); then the totals and whether the goals held (no 5xx but 503, median memory held
within 10 % of the second minute's from then on, and, --settle seconds after the load
stops, memory held within twice its idle level: after a sequential warm-up of 100
requests and 5 quiet seconds, before the load). Memory held is RSS without `LazyFree`:
pages the server gave back with MADV_FREE stay in its RSS until the kernel needs them.
"""

import argparse
import base64
import collections
import http.client
import json
import random
import threading
import time
import urllib.parse

SOURCES = ["mountain.jpg", "sunset.jpg", "friends.jpg", "dragonfly.jpg", "dragonfly-alpha.png",
           "mountain.webp", "sunset-anim.gif"]


def b64(s):
    return base64.urlsafe_b64encode(s.encode()).decode().rstrip("=")


def valid(rng):
    w = rng.randint(40, 1600)
    steps = rng.choice([
        f"resize,w_{w}",
        f"resize,w_{w},h_{rng.randint(40, 900)},m_{rng.choice(['lfit', 'mfit', 'fill', 'pad', 'fixed'])}",
        f"resize,p_{rng.randint(5, 90)}",
        f"resize,l_{w}/crop,w_{rng.randint(10, 300)},h_{rng.randint(10, 300)},g_{rng.choice(['nw', 'center', 'se'])}",
        f"resize,w_{w}/rotate,{rng.randint(1, 359)}",
        f"resize,w_{w}/blur,r_{rng.randint(1, 20)},s_{rng.randint(1, 20)}",
        f"resize,w_{w}/sharpen,{rng.randint(50, 399)}",
        f"resize,w_{w}/bright,{rng.randint(-100, 100)}/contrast,{rng.randint(-100, 100)}",
        f"resize,w_{w}/grey",
        f"resize,w_{w}/circle,r_{rng.randint(10, 400)}",
        f"resize,w_{w}/rounded-corners,r_{rng.randint(5, 200)}",
        f"resize,w_{w}/indexcrop,x_{rng.randint(10, 200)},i_{rng.randint(0, 3)}",
        f"resize,w_{w}/watermark,text_{b64('imgh ' + str(w))},size_{rng.randint(10, 80)},g_se",
        f"resize,w_{w}/watermark,text_{b64('tile')},fill_1,rotate_{rng.randint(0, 90)},t_50",
        f"resize,w_{w}/watermark,image_{b64('dragonfly-alpha.png?x-oss-process=image/resize,P_20')}",
        "info",
        "average-hue",
        f"auto-orient,1/resize,w_{w}",
    ])
    fmt = rng.choice(["", "/format,jpg", "/format,webp", "/format,png", "/format,avif", "/format,gif",
                      "/interlace,1", f"/quality,q_{rng.randint(10, 95)}", f"/quality,Q_{rng.randint(10, 95)}"])
    return rng.choice(SOURCES), f"image/{steps}{fmt}"


def hostile(rng):
    n = rng.randint(0, 99999)
    return rng.choice([
        ("mountain.jpg", f"image/resize,w_16384,h_16384,m_pad,limit_0"),
        ("mountain.jpg", "image/resize,w_16384,h_16384,m_fixed,limit_0/blur,r_50,s_50"),
        ("mountain.jpg", "image/resize,w_12000,limit_0/rotate,45/format,avif"),
        ("mountain.jpg", f"image/watermark,text_{b64('W' * 64)},size_1000,rotate_45"),
        ("mountain.jpg", "image/" + "/".join(["rotate,90"] * 5000)),
        ("mountain.jpg", f"image/resize,w_{n}x"),
        ("mountain.jpg", "image/resize,w_100\u0000,h_\uffff"),
        ("../../etc/passwd", "image/resize,w_10"),
        ("%2e%2e/%2e%2e/etc/passwd", "image/resize,w_10"),
        (f"missing-{n}.jpg", "image/resize,w_10"),
        ("mountain.jpg", "image/" + "x" * 20000),
        ("mountain.jpg", "style/" + "a" * 300),
        ("sunset-anim.gif", "image/resize,w_4000,limit_0/format,gif"),
        ("mountain.jpg", "image/crop,x_100000"),
    ])


def path(key, process, **query):
    q = urllib.parse.urlencode({"x-oss-process": process, **query})
    return "/" + urllib.parse.quote(key, safe="/%") + "?" + q


def request_path(rng):
    key, process = hostile(rng) if rng.random() < 0.05 else valid(rng)
    # A distinct URL each time: the query carries a nonce the handler ignores.
    return path(key, process, n=rng.getrandbits(48))


def proc_mb(pid, name, field):
    """A `Field: N kB` line of /proc/PID/NAME, in MB."""
    with open(f"/proc/{pid}/{name}") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def rss_mb(pid, field="VmRSS"):
    """The server's resident memory now (VmRSS) or at its highest so far (VmHWM)."""
    return proc_mb(pid, "status", field)


def lazy_free_mb(pid):
    """Pages the server gave back with MADV_FREE, still in its RSS until the kernel takes them."""
    return proc_mb(pid, "smaps_rollup", "LazyFree")


def held_mb(pid):
    """The memory the server holds: its RSS without the pages it gave back."""
    return rss_mb(pid) - lazy_free_mb(pid)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--settle", type=float, default=30, help="seconds to watch RSS after the load")
    ap.add_argument("--json", help="write the per-minute figures here")
    args = ap.parse_args()
    host = urllib.parse.urlsplit(args.url)
    # The idle level: after one request of each kind has run (so their code is paged in) and
    # the server has been quiet for a few seconds, as it is between bursts.
    warm = http.client.HTTPConnection(host.hostname, host.port, timeout=60)
    rng = random.Random(0)
    for _ in range(100):
        warm.request("GET", path(*valid(rng)))
        warm.getresponse().read()
    warm.close()
    time.sleep(5)
    idle = held_mb(args.pid)
    print(f"idle memory held after a warm-up of 100 requests: {idle:.0f} MB (RSS {rss_mb(args.pid):.0f} MB, "
          f"anonymous {rss_mb(args.pid, 'RssAnon'):.0f} MB, LazyFree {lazy_free_mb(args.pid):.0f} MB)")
    end = time.monotonic() + args.minutes * 60
    start = time.monotonic()
    lock = threading.Lock()
    minutes = collections.defaultdict(lambda: {"n": 0, "status": collections.Counter(), "ms": []})

    def worker(i):
        rng = random.Random(args.seed * 1000 + i)
        conn = None
        while time.monotonic() < end:
            url = request_path(rng)
            t = time.monotonic()
            try:
                conn = conn or http.client.HTTPConnection(host.hostname, host.port, timeout=60)
                conn.request("GET", url)
                resp = conn.getresponse()
                resp.read()
                status = resp.status
                if resp.getheader("connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException):
                status = 0  # the connection failed: counted, never hidden
                conn = None
            ms = (time.monotonic() - t) * 1000
            with lock:
                m = minutes[int((t - start) // 60)]
                m["n"] += 1
                m["status"][status] += 1
                m["ms"].append(ms)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(args.connections)]
    for t in threads:
        t.start()
    held = {}
    while time.monotonic() < end:
        time.sleep(1)
        minute = int((time.monotonic() - start) // 60)
        held.setdefault(minute, []).append(held_mb(args.pid))
    for t in threads:
        t.join(timeout=90)
    # After the load: does the server give back what the burst took?
    stopped = time.monotonic()
    after = {}
    while time.monotonic() < stopped + args.settle:
        time.sleep(1)
        after[round(time.monotonic() - stopped)] = held_mb(args.pid)

    rows = []
    print(f"{'min':>3} {'requests':>8} {'p50 ms':>8} {'p99 ms':>8} {'held p50':>8} {'held max':>8}  statuses")
    for minute in sorted(minutes):
        m = minutes[minute]
        ms = sorted(m["ms"])
        p50, p99 = ms[len(ms) // 2], ms[min(len(ms) - 1, int(len(ms) * 0.99))]
        samples = sorted(held.get(minute, [0.0]))
        mid, peak = samples[len(samples) // 2], samples[-1]
        rows.append({"minute": minute + 1, "requests": m["n"], "p50_ms": round(p50, 1), "p99_ms": round(p99, 1),
                     "held_mb": round(mid, 1), "held_max_mb": round(peak, 1), "statuses": dict(m["status"])})
        print(f"{minute + 1:>3} {m['n']:>8} {p50:>8.1f} {p99:>8.1f} {mid:>8.1f} {peak:>8.1f}  "
              f"{dict(sorted(m['status'].items()))}")
    total = collections.Counter()
    for m in minutes.values():
        total.update(m["status"])
    bad = {s: c for s, c in total.items() if s >= 500 and s != 503 or s == 0}
    steady = [r["held_mb"] for r in rows[1:]]
    base = steady[0] if steady else 0
    flat = all(abs(x - base) <= 0.1 * base for x in steady) if base else False
    print(f"total {sum(total.values())} requests, statuses {dict(sorted(total.items()))}")
    print(f"peak RSS of the server: {rss_mb(args.pid, 'VmHWM'):.0f} MB")
    print(f"5xx other than 503 (or failed connections): {sum(bad.values())}")
    print(f"median memory held per minute after the first: {min(steady, default=0):.0f}-{max(steady, default=0):.0f} MB, "
          f"{'within' if flat else 'NOT within'} 10 % of minute 2's {base:.0f} MB")
    settled = after[max(after)] if after else idle
    print(f"{max(after, default=0)} s after the load: RSS {rss_mb(args.pid):.0f} MB, anonymous "
          f"{rss_mb(args.pid, 'RssAnon'):.0f} MB, of which LazyFree {lazy_free_mb(args.pid):.0f} MB")
    returned = settled <= 2 * idle
    print("memory held after the load: " + ", ".join(f"{s} s {mb:.0f} MB" for s, mb in after.items() if s in (1, 5, 10, 20, 30)
                                             or s == max(after)))
    print(f"memory held {max(after, default=0)} s after the load: {settled:.0f} MB, "
          f"{'within' if returned else 'NOT within'} 2x its idle {idle:.0f} MB before the load")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"minutes": rows, "statuses": dict(total), "idle_held_mb": idle, "held_after_mb": after}, f, indent=1)
    return 0 if not bad and flat and returned else 1


if __name__ == "__main__":
    raise SystemExit(main())
