#!/usr/bin/env bash
# Runs fuzz targets with libFuzzer (cargo fuzz) and prints, for each, executions, coverage,
# time and the outcome.
#   fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]
#   RUNS=10000000 fuzz/run.sh 36000 decode_jpeg   # stop at 10 M executions
#   SANITIZER=none fuzz/run.sh …                  # without AddressSanitizer: several times the rate
#   TRACE_CMP=0 fuzz/run.sh …                     # without comparison tracing (below)
#   JOBS=2 fuzz/run.sh …                          # two processes on one corpus, RUNS shared out
# AddressSanitizer instruments the Rust code only (the C decoders are built without it), and
# without it libFuzzer's -malloc_limit_mb sees nothing: the harness's allocator
# (fuzz/src/lib.rs) then refuses a Rust allocation over 512 MB, and -rss_limit_mb still
# stops the rest. Comparison tracing guides the fuzzer past magic numbers but is half the
# engine target's time (comparisons in rav1e's and the filters' inner loops).
# Seeds: fuzz/seeds/<format>/ (tiny images; fuzz/seeds/make.py writes them) for the
# decoders and, with a few action chains each, the engine; short texts for the others.
# The corpus grows in fuzz/corpus/<target>/, crashes land in fuzz/artifacts/<target>/.
# Limits: 1 s per input, 2 GB RSS, 512 MB per malloc.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
seconds=${1:-60}
shift || true
targets=("$@")
formats=(jpeg png gif webp avif bmp tiff)
[ ${#targets[@]} -gt 0 ] || targets=(process_parse resolve signature "${formats[@]/#/decode_}" engine)
"$here/../tests/setup.sh" --build-only   # nasm, for the codecs' SIMD code
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
# cargo fuzz needs nightly flags; this lets the one stable toolchain take them.
export RUSTC_BOOTSTRAP=1
# One known leak in a dependency, named in lsan.supp, is not a finding.
export LSAN_OPTIONS="suppressions=$here/lsan.supp:print_suppressions=0"
cd "$here"
seed() {
  local dir="$here/corpus/$1"
  mkdir -p "$dir"
  case $1 in
    decode_*) cp "$here"/seeds/"${1#decode_}"/* "$dir"/ ;;
    engine) for f in "$here"/seeds/*/*.*; do
        [ "${f##*.}" = py ] && continue
        for p in "resize,w_50/rotate,45" "resize,w_64,h_64,m_pad/crop,w_30,h_30,g_se/circle,r_10/format,webp" \
                 "watermark,text_aGk,fill_1,rotate_30/format,gif" "blur,r_3,s_2/sharpen,100/bright,20/format,avif" \
                 "auto-orient,1/indexcrop,x_10,i_1/rounded-corners,r_5/format,png" \
                 "watermark,image_YS5qcGc,t_50/contrast,-20/interlace,1/quality,q_40"; do
          { printf '%s\0' "$p"; cat "$f"; } > "$dir/$(basename "$f")-${p//[^a-z0-9]/_}"
        done
      done ;;
    process_parse) printf 'image/resize,w_100,h_50,m_fill/quality,q_80' > "$dir/a"
        printf 'watermark,text_SGVsbG8,size_40,rotate_30,fill_1/format,webp' > "$dir/b" ;;
    signature) printf '/a.jpg\0x-oss-process=image/resize,w_10\0/a.jpg\0x-oss-process=image/resize,w_10' > "$dir/a" ;;
    resolve) printf '/a%%20b.jpg@!thumb\0' > "$dir/a"; printf '/k.jpg\0x-oss-process=style/thumb' > "$dir/b" ;;
  esac
}
build=(-O -s "${SANITIZER:-address}")
variant=${SANITIZER:-address}
# Without a sanitizer the harness allocates as the handler does (fuzz/src/lib.rs).
[ "$variant" = none ] && build+=(--features mimalloc)
if [ "${TRACE_CMP:-1}" = 0 ]; then build+=(--no-trace-compares); variant+=-nocmp; fi
cargo fuzz build "${build[@]}" --target-dir "target/$variant"
bin="$here/target/$variant/$(rustc -vV | sed -n 's/^host: //p')/release"
jobs=${JOBS:-1}
runs=${RUNS:--1}
parallel=()
if [ "$jobs" -gt 1 ]; then
  parallel=(-jobs="$jobs" -workers="$jobs")
  [ "$runs" -gt 0 ] && runs=$(( (runs + jobs - 1) / jobs ))
fi
# A final statistic of every log of the target.
figure() { grep -ho "stat::$1: *[0-9]*" "${logs[@]}" | grep -o '[0-9]*$' || true; }
for t in "${targets[@]}"; do
  seed "$t"
  log="$here/artifacts/$t.$variant.log"
  mkdir -p "$here/artifacts/$t"
  # With JOBS > 1 each process writes its own fuzz-N.log in $work; the figures add them up.
  work="$here/artifacts/$t.$variant.jobs"
  rm -rf "$work" && mkdir -p "$work"
  start=$(date +%s)
  (cd "$work" && "$bin/$t" -artifact_prefix="$here/artifacts/$t/" "$here/corpus/$t" -max_total_time="$seconds" \
    -runs="$runs" -timeout=1 -rss_limit_mb=2048 -malloc_limit_mb=512 -print_final_stats=1 "${parallel[@]}") \
    >"$log" 2>&1 && status=ok || status="FAILED (see $log)"
  logs=("$log")
  [ "$jobs" -gt 1 ] && logs=("$work"/fuzz-*.log)
  grep -q '^==[0-9]*== \?ERROR' "${logs[@]}" && status="FAILED (see ${logs[*]})"
  execs=$(figure number_of_executed_units | awk '{ n += $1 } END { print NR ? n : "?" }')
  rss=$(figure peak_rss_mb | sort -n | tail -1)
  cov=$(for l in "${logs[@]}"; do grep -o 'cov: [0-9]*' "$l" | tail -1 || true; done | sort -k2 -n | tail -1)
  echo "$t ($variant, $jobs process(es)): $status, $execs executions in $(( $(date +%s) - start )) s, ${cov:-cov: ?}, peak RSS ${rss:-?} MB"
done
