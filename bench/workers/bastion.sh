#!/usr/bin/env bash
# Bastion for bench/workers.sh and bench/workers/streams.py: `bastion serve --workers N` on
# bench/bastion.yaml plus `limits: {per_process: true}` (several workers with in-memory limit
# counters need it; the benchmark config sets no limit), run in the harness's scratch directory so
# its SQLite file stays out of the repository.
#   bastion.sh WORKERS      PORT (default 8080), BENCH_GATEWAY_DIR (default: a new temporary directory)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
WORKERS="${1:?usage: bastion.sh WORKERS}"
DIR="${BENCH_GATEWAY_DIR:-$(mktemp -d)}"
mkdir -p "$DIR"
if grep -q '^limits:' "$REPO/bench/bastion.yaml"; then
  echo "bench/bastion.yaml has a limits section now: set per_process there instead" >&2
  exit 2
fi
{ cat "$REPO/bench/bastion.yaml"; printf '\nlimits: {per_process: true}\n'; } > "$DIR/bastion-workers.yaml"
cd "$DIR"
exec "$REPO/.venv/bin/bastion" serve --config "$DIR/bastion-workers.yaml" --port "${PORT:-8080}" --workers "$WORKERS"
