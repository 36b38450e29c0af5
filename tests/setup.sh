#!/usr/bin/env bash
# Installs what the build (and, without --build-only, the tests) need; every step is
# skipped when already done, so a second run takes a second.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
mkdir -p target

sudo_() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# nasm: the SIMD code of the vendored JPEG codec and of rav1e (AVIF); curl for probes.
apt_pkgs=(nasm curl)
# The build tests: a local OCI registry, skopeo to inspect what was pushed, htpasswd for its
# Basic auth, file(1) to check the handler binary is static, qemu to run the arm64 one;
# node runs the CloudFront router function the templates carry; ffmpeg makes the video
# snapshot tests' clips and decodes the frames they are checked against.
[ "${1:-}" = "--build-only" ] || apt_pkgs+=(docker-registry skopeo apache2-utils file qemu-user-static nodejs ffmpeg)
missing=()
for p in "${apt_pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo_ apt-get update -qq
  DEBIAN_FRONTEND=noninteractive sudo_ apt-get install -y -qq "${missing[@]}" >/dev/null
fi
[ "${1:-}" = "--build-only" ] && exit 0

# Python tools: moto (AWS emulator), cfn-lint and checkov (template checkers).
if [ ! -x .venv/bin/moto_server ] || [ ! -x .venv/bin/cfn-lint ] || [ ! -x .venv/bin/checkov ] || [ tests/requirements.txt -nt .venv/.installed ]; then
  echo "setup: installing moto[server], cfn-lint and checkov into .venv"
  python3 -m venv .venv
  .venv/bin/pip install -q --upgrade pip >/dev/null
  .venv/bin/pip install -q -r tests/requirements.txt
  touch .venv/.installed
fi

# The static handler (imgh build): musl targets, and zig (ziglang, in .venv) as the C
# compiler and linker through cargo-zigbuild.
installed_targets=$(rustup target list --installed)
for t in x86_64-unknown-linux-musl aarch64-unknown-linux-musl; do
  grep -qx "$t" <<<"$installed_targets" || rustup target add "$t"
done
command -v cargo-zigbuild >/dev/null 2>&1 || cargo install --locked cargo-zigbuild

command -v cargo-nextest >/dev/null 2>&1 || cargo install --locked cargo-nextest
