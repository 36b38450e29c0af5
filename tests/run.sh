#!/usr/bin/env bash
# Runs every test. Installs what the tests need first (idempotent: fast the second time),
# starts the emulators they talk to, and stops them on exit.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

"$root/tests/setup.sh"

# moto_server: the AWS APIs (S3, CloudFormation, DynamoDB, ECR, Lambda, IAM, CloudFront, ECS,
# CloudWatch and CloudWatch Logs).
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# ECS services report their desired count of tasks as running (moto starts none).
MOTO_ECS_SERVICE_RUNNING=1 "$root/.venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$root/target/moto.log" 2>&1 &
moto_pid=$!
trap 'kill $moto_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$port/moto-api/" >/dev/null 2>&1 && break
  sleep 0.1
done

export IMGH_TEST_MOTO_URL="http://127.0.0.1:$port"
export IMGH_TEST_CFN_LINT="$root/.venv/bin/cfn-lint"
export IMGH_TEST_CHECKOV="$root/.venv/bin/checkov"
export IMGH_TEST_REGISTRY=/usr/bin/docker-registry
export IMGH_TEST_QEMU_AARCH64=/usr/bin/qemu-aarch64-static
# zig for cargo-zigbuild (imgh build), from the ziglang wheel in .venv.
CARGO_ZIGBUILD_ZIG_PATH=$("$root/.venv/bin/python3" -c 'import ziglang, os; print(os.path.join(os.path.dirname(ziglang.__file__), "zig"))')
export CARGO_ZIGBUILD_ZIG_PATH
# Tests that need an emulator fail (rather than skip) when it is missing.
export IMGH_TEST_REQUIRE_ALL=1
export PATH="$HOME/.cargo/bin:$PATH"

cargo nextest run --workspace --no-fail-fast "$@"
