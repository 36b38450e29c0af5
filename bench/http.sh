#!/usr/bin/env bash
# imgh's HTTP server against a minimal Node server calling sharp, one after the other in one
# run, both on the same 2 cores, over the lomiri photographs: each request a distinct URL
# (no cache answers) from the CDN mix's JPEG widths, 4 connections, wrk (Debian's package).
#   bench/http.sh [SECONDS]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-30}
. "$root/bench/data.sh"
. "$root/bench/load.sh"
cores=(taskset -c 0,1)
command -v taskset >/dev/null || cores=()

IMGH_DIR="$photos" IMGH_MODE=http IMGH_LISTEN=127.0.0.1:18282 IMGH_CACHE_MB=0 AWS_REGION=us-east-1 RUST_LOG=error \
  "${cores[@]}" "$root/target/release/imgh-handler" >/dev/null 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
wait_up 18282
echo "imgh serve (imgh-handler, no result cache), ${seconds}s, 4 connections"
load 18282 "$seconds"
kill $pid; wait $pid 2>/dev/null || true

"${cores[@]}" node "$root/bench/sharp-server.mjs" "$photos" 18283 &
pid=$!
wait_up 18283
echo "node + sharp $(cd "$root/bench" && node -p "require('sharp').versions.sharp"), ${seconds}s, 4 connections"
load 18283 "$seconds"
