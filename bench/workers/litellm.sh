#!/usr/bin/env bash
# LiteLLM's proxy with N workers, for bench/workers.sh: the shared harness's
# gateways/litellm/start.sh (same configs, same environment) with `--num_workers N` instead of 1.
#   litellm.sh [default|tuned] N
#   VENV (default /tmp/bastion-scratch/venv-litellm), PORT (default 4000),
#   SHARED_BENCH (default <repo>/../shared/bench)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
SHARED="${SHARED_BENCH:-$REPO/../shared/bench}/gateways/litellm"
VENV="${VENV_LITELLM:-/tmp/bastion-scratch/venv-litellm}"
PORT="${PORT:-4000}"
MODE="${1:-tuned}"
WORKERS="${2:-2}"

# no outbound calls at start-up: local model cost map, telemetry vetoed (as start.sh)
export LITELLM_LOCAL_MODEL_COST_MAP=True
export LITELLM_TELEMETRY_DISABLED=True
export NO_PROXY='*' no_proxy='*'
unset HTTP_PROXY HTTPS_PROXY http_proxy https_proxy || true

case "$MODE" in
  default) CONFIG="$SHARED/config.yaml" ;;
  tuned)   CONFIG="$SHARED/config-tuned.yaml"; export LITELLM_LOG=ERROR LITELLM_MODE=PRODUCTION ;;
  *) echo "unknown mode $MODE" >&2; exit 2 ;;
esac
exec "$VENV/bin/litellm" --config "$CONFIG" --host 127.0.0.1 --port "$PORT" --num_workers "$WORKERS"
