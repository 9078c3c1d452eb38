#!/usr/bin/env bash
# Start the floor proxy (see floor.py) in the foreground for bench/harness/run.py: uvicorn + uvloop + httptools.
#   VENV (default /tmp/bastion-scratch/venv-floor, made by setup.sh), PORT (default 4000),
#   APP (default floor:app; floor_httpx:app = the same with httpx as the upstream client)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${VENV:-/tmp/bastion-scratch/venv-floor}"
PORT="${PORT:-4000}"
APP="${APP:-floor:app}"
VENV="$VENV" "$HERE/setup.sh"
cd "$HERE"
exec "$VENV/bin/uvicorn" "$APP" --host 127.0.0.1 --port "$PORT" --loop uvloop --http httptools \
  --no-access-log --log-level warning --lifespan on --backlog 4096
