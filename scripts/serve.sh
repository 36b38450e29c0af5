#!/usr/bin/env bash
# Builds imgh (installing the build's one system need, nasm, if missing) and runs
# `imgh serve` over the sample photos bundled in the binary. Extra arguments go to serve.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/tests/setup.sh" --build-only
cd "$root"
exec cargo run --release -q -p imgh -- serve "$@"
