#!/usr/bin/env bash
# The floor (floor.py) on granian instead of uvicorn: `granian --interface asgi --loop uvloop`, one worker.
# Granian runs a supervisor process plus the worker; bench/harness/run.py pins and meters the whole group.
#   VENV (default /tmp/bastion-scratch/venv-floor, made by setup.sh), PORT (default 4000), APP (default floor:app)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${VENV:-/tmp/bastion-scratch/venv-floor}"
PORT="${PORT:-4000}"
APP="${APP:-floor:app}"
VENV="$VENV" "$HERE/setup.sh"
cd "$HERE"
exec "$VENV/bin/granian" --interface asgi --loop uvloop --http 1 --no-ws --workers 1 --backlog 4096 \
  --host 127.0.0.1 --port "$PORT" --log-level warning --no-access-log "$APP"
