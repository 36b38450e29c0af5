# Sourced by bench/http.sh and bench/pressure.sh (after bench/data.sh): the release handler
# built, and the HTTP load both put on a server. Every request a distinct URL from the CDN
# mix's JPEG widths over the lomiri photographs (bench/http.lua), 4 connections, wrk
# (Debian's package).
command -v wrk >/dev/null || { echo "$0 needs wrk (apt-get install wrk)" >&2; exit 2; }
cargo build --release -q -p imgh-handler --bin imgh-handler
export PHOTOS
PHOTOS=$(cd "$photos" && echo *.jpg)
# Waits until the server on port $1 answers a resize.
wait_up() { for _ in $(seq 1 100); do curl -fs -o /dev/null "http://127.0.0.1:$1/${PHOTOS%% *}?x-oss-process=image/resize,w_50" && return; sleep 0.1; done; }
# $2 seconds of load on port $1; prints requests, req/s, p50, p99 and any errors.
load() {
  wrk -t1 -c4 -d"$2s" --latency -s "$root/bench/http.lua" "http://127.0.0.1:$1" |
    grep -E "requests in|Requests/sec|^ +(50|99)%|Non-2xx|Socket errors"
}
