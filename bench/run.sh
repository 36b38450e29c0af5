#!/usr/bin/env bash
# imgh vs sharp on the same real photographs, the same machine, one run, one core each.
#   bench/run.sh [ITERATIONS]
# Task 1: a ~6 MP JPEG photo → 720 px wide, Lanczos3, JPEG q80 (ms/op, ratio).
# Task 2: a 20 MP JPEG photo → 500 px wide (ms/op and peak RSS).
# Task 3: every photograph in those packages → 720 px wide (per-image ratio, geometric mean).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-30}
. "$root/bench/data.sh"

cargo build --release -q -p imgh-handler --example bench
imgh="$root/target/release/examples/bench"

echo "task 1: 2880x2160 JPEG -> 720x540 Lanczos3 JPEG q80, $n iterations, one core"
a=$("${pin[@]}" "$imgh" "$data/photo-6mp.jpg" "image/resize,w_720/quality,Q_80" "$n")
b=$("${pin[@]}" node "$root/bench/sharp.mjs" "$data/photo-6mp.jpg" 720 0 80 "$n")
echo "  $a"; echo "  $b"
python3 - "$a" "$b" <<'PY'
import json, sys
a, b = (json.loads(x) for x in sys.argv[1:3])
print(f"  imgh {a['ms_median']} ms/op, sharp {b['ms_median']} ms/op: imgh is {b['ms_median']/a['ms_median']:.2f}x sharp's speed")
PY

echo "task 2: 6028x3391 (20 MP) JPEG -> 500 px JPEG q80, $n iterations, one core"
a=$("${pin[@]}" "$imgh" "$data/photo-20mp.jpg" "image/resize,w_500/quality,Q_80" "$n")
b=$("${pin[@]}" node "$root/bench/sharp.mjs" "$data/photo-20mp.jpg" 500 0 80 "$n")
echo "  $a"; echo "  $b"
python3 - "$a" "$b" <<'PY'
import json, sys
a, b = (json.loads(x) for x in sys.argv[1:3])
print(f"  imgh {a['ms_median']} ms/op, peak RSS {a['peak_rss_mb']} MB; sharp {b['ms_median']} ms/op, peak RSS {b['peak_rss_mb']} MB: {b['ms_median']/a['ms_median']:.2f}x")
PY

# Task 3: every photograph of both packages, so one image's encoding cannot carry the verdict.
echo "task 3: each lomiri photograph -> 720 px wide JPEG q80, $n iterations, one core"
rows=()
for f in "$photos"/*.jpg; do
  a=$("${pin[@]}" "$imgh" "$f" "image/resize,w_720/quality,Q_80" "$n")
  b=$("${pin[@]}" node "$root/bench/sharp.mjs" "$f" 720 0 80 "$n")
  rows+=("$(basename "$f")|$a|$b")
done
python3 - "${rows[@]}" <<'PY'
import json, math, sys
ratios = []
for row in sys.argv[1:]:
    name, a, b = row.split("|")
    a, b = json.loads(a), json.loads(b)
    r = b["ms_median"] / a["ms_median"]
    ratios.append(r)
    print(f"  {name[:40]:40} imgh {a['ms_median']:7.2f} ms  sharp {b['ms_median']:7.2f} ms  {r:.2f}x")
geo = math.exp(sum(map(math.log, ratios)) / len(ratios))
print(f"  {len(ratios)} photographs: geometric mean {geo:.2f}x sharp's speed, range {min(ratios):.2f}x-{max(ratios):.2f}x")
PY
