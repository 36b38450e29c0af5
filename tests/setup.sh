#!/usr/bin/env bash
# Installs what the build and the tests need; each step is skipped when already done.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
mkdir -p target

sudo_() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# C toolchain pieces for the vendored codecs (SIMD via nasm), the static musl build,
# the local OCI registry and its inspector.
apt_pkgs=(nasm cmake musl-tools docker-registry skopeo apache2-utils file curl python3-venv)
missing=()
for p in "${apt_pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo_ apt-get update -qq
  DEBIAN_FRONTEND=noninteractive sudo_ apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Python tools: moto (AWS emulator) and cfn-lint (template checker), pinned.
if [ ! -x .venv/bin/moto_server ] || [ ! -x .venv/bin/cfn-lint ]; then
  echo "setup: creating .venv with moto[server] and cfn-lint"
  python3 -m venv .venv
  .venv/bin/pip install -q --upgrade pip >/dev/null
  .venv/bin/pip install -q -r tests/requirements.txt
fi

command -v cargo-nextest >/dev/null 2>&1 || cargo install --locked cargo-nextest
