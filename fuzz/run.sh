#!/usr/bin/env bash
# Runs every fuzz target for a while with libFuzzer (cargo fuzz, AddressSanitizer) and
# prints executions, coverage and the outcome of each.
#   fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]
# The seed corpora are the bundled samples (decoders, engine) and short texts; crashes
# land in fuzz/artifacts/<target>/. Limits: 1 s per input, 2 GB RSS, 512 MB per malloc.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(process_parse resolve signature decode engine)
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
# cargo fuzz needs nightly flags; this lets the one stable toolchain take them.
export RUSTC_BOOTSTRAP=1
cd "$here"
seed() {
  local dir="$here/corpus/$1"
  mkdir -p "$dir"
  case $1 in
    decode) cp "$here"/../samples/*.{jpg,png,gif,webp} "$dir"/ ;;
    engine) for f in "$here"/../samples/*.{jpg,png,gif,webp}; do
        for p in "resize,w_50/rotate,45" "resize,w_64/crop,w_30,h_30/circle,r_10/format,webp" \
                 "resize,w_64/watermark,text_aGk,fill_1/format,gif" "resize,w_40/blur,r_3,s_2/sharpen,100/format,avif"; do
          { printf '%s\0' "$p"; head -c 65536 "$f"; } > "$dir/$(basename "$f")-${p//[^a-z0-9]/_}"
        done
      done ;;
    process_parse) printf 'image/resize,w_100,h_50,m_fill/quality,q_80' > "$dir/a"
        printf 'watermark,text_SGVsbG8,size_40,rotate_30,fill_1/format,webp' > "$dir/b" ;;
    signature) printf '/a.jpg\0x-oss-process=image/resize,w_10\0/a.jpg\0x-oss-process=image/resize,w_10' > "$dir/a" ;;
    resolve) printf '/a%%20b.jpg@!thumb\0' > "$dir/a"; printf '/k.jpg\0x-oss-process=style/thumb' > "$dir/b" ;;
  esac
}
cargo fuzz build -O
for t in "${targets[@]}"; do
  seed "$t"
  log="$here/artifacts/$t.log"
  mkdir -p "$here/artifacts/$t"
  cargo fuzz run -O "$t" "corpus/$t" -- -max_total_time="$seconds" -timeout=1 -rss_limit_mb=2048 \
    -malloc_limit_mb=512 -print_final_stats=1 >"$log" 2>&1 && status=ok || status="FAILED (see $log)"
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo ?)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 || echo 'cov: ?')
  echo "$t: $status, $execs executions in ${seconds}s, $cov"
done
