#!/usr/bin/env bash
# Ten minutes at saturation: the release handler serving the bundled samples with the
# memory Lambda gives it by default, under bench/soak.py's mix (5 % hostile).
#   bench/soak.sh [MINUTES] [CONNECTIONS]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
minutes=${1:-10}
connections=${2:-8}
port=18181
cargo build --release -q -p imgh-handler --bin imgh-handler
IMGH_DIR="$root/samples" IMGH_MODE=http IMGH_LISTEN=127.0.0.1:$port IMGH_MEMORY_MB=1024 IMGH_CACHE_MB=0 \
  AWS_REGION=us-east-1 RUST_LOG=error "$root/target/release/imgh-handler" >/dev/null 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do curl -fs -o /dev/null "http://127.0.0.1:$port/mountain.jpg" && break; sleep 0.1; done
echo "imgh-handler (pid $pid): IMGH_MEMORY_MB=1024, no result cache, $connections connections, $minutes min"
python3 "$root/bench/soak.py" --url "http://127.0.0.1:$port" --pid $pid --minutes "$minutes" --connections "$connections"
