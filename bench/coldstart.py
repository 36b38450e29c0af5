#!/usr/bin/env python3
"""Cold start: from exec to the first answer, of the handler binary serving a folder.

    bench/coldstart.py BINARY [RUNS]

Starts BINARY (IMGH_MODE=http over the bundled samples) RUNS times and, polling every
0.5 ms, times each from the spawn to the first 200 for a resized sample. Prints the median
and the range in ms.
"""

import http.client
import os
import socket
import statistics
import subprocess
import sys
import time

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
binary, runs = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 20
times = []
for _ in range(runs):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, IMGH_DIR=os.path.join(root, "samples"), IMGH_MODE="http",
               IMGH_LISTEN=f"127.0.0.1:{port}", AWS_REGION="us-east-1", RUST_LOG="error")
    t = time.perf_counter()
    child = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                c.request("GET", "/sunset.jpg?x-oss-process=image/resize,w_100")
                if c.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.0005)
        times.append((time.perf_counter() - t) * 1000)
    finally:
        child.kill()
        child.wait()
print(f"{os.path.basename(binary)}: first answer {statistics.median(times):.1f} ms after exec "
      f"(median of {runs}, range {min(times):.1f}-{max(times):.1f} ms)")
