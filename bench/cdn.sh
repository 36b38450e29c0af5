#!/usr/bin/env bash
# The requests an image CDN sees most, imgh vs sharp on the same photographs in one run,
# one core each: small renditions of camera photos, most of them progressive.
#   bench/cdn.sh [ITERATIONS] [ROUNDS]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-5}
rounds=${2:-2}
. "$root/bench/data.sh"
cargo build --release -q -p imgh-handler --example bench
python3 "$root/bench/cdn.py" --imgh "$root/target/release/examples/bench" --sharp "$root/bench/sharp.mjs" \
  --pin "${pin[*]}" --n "$n" --rounds "$rounds" "$photos"/*.jpg
