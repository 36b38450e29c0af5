#!/usr/bin/env bash
# The handler inside a memory cgroup smaller than the RSS it reaches unconfined, under
# bench/http.sh's load: freed pages stay in its RSS (MADV_FREE) until the kernel needs
# them, so here the kernel must take them back, without an OOM kill or a failed request.
# Needs root and the cgroup memory controller (v1 or v2).
#   bench/pressure.sh [MB] [SECONDS]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
mb=${1:-400}
seconds=${2:-20}
. "$root/bench/data.sh"
. "$root/bench/load.sh"
if [ -d /sys/fs/cgroup/memory ]; then
  cg=/sys/fs/cgroup/memory/imgh-pressure limit=memory.limit_in_bytes
else
  cg=/sys/fs/cgroup/imgh-pressure limit=memory.max
fi
mkdir -p "$cg"
echo $((mb * 1024 * 1024)) >"$cg/$limit"
IMGH_DIR="$photos" IMGH_MODE=http IMGH_LISTEN=127.0.0.1:18284 IMGH_CACHE_MB=0 IMGH_MEMORY_MB=$mb AWS_REGION=us-east-1 \
  RUST_LOG=error sh -c "echo \$\$ >$cg/cgroup.procs; exec $root/target/release/imgh-handler" >/dev/null 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; sleep 0.5; rmdir "$cg" 2>/dev/null || true' EXIT
wait_up 18284
echo "imgh-handler in a ${mb} MB memory cgroup (IMGH_MEMORY_MB=$mb), ${seconds}s, 4 connections"
load 18284 "$seconds"
kill -0 $pid 2>/dev/null || { echo "the handler is gone (OOM kill?)"; exit 1; }
grep VmHWM /proc/$pid/status
grep -E "^(Rss|LazyFree):" /proc/$pid/smaps_rollup
if [ -f "$cg/memory.oom_control" ]; then
  echo "limit hit $(cat "$cg/memory.failcnt") times; $(grep "^oom_kill " "$cg/memory.oom_control")"
else
  grep -E "^(max|oom_kill) " "$cg/memory.events"
fi
