#!/usr/bin/env bash
# Create the floor's venv (outside the repository): the same versions of uvicorn, uvloop, httptools,
# aiohttp, orjson and granian as Bastion's own venv (so the floor and Bastion run on the same stack),
# plus httpx for the httpx variant.
#   VENV (default /tmp/bastion-scratch/venv-floor), REPO_VENV (default <repo>/.venv)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../../../.." && pwd)"
VENV="${VENV:-/tmp/bastion-scratch/venv-floor}"
REPO_VENV="${REPO_VENV:-$REPO/.venv}"
if [ -x "$VENV/bin/uvicorn" ] && [ -x "$VENV/bin/granian" ] && "$VENV/bin/python" -c 'import httpx' 2>/dev/null; then
  exit 0
fi
pins=()
for pkg in uvicorn uvloop httptools aiohttp orjson granian; do
  v="$("$REPO_VENV/bin/python" -c "import importlib.metadata as m; print(m.version('$pkg'))" 2>/dev/null || true)"
  if [ -n "$v" ]; then pins+=("$pkg==$v"); else pins+=("$pkg"); fi
done
echo "floor venv $VENV: ${pins[*]} httpx" >&2
python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check "${pins[@]}" httpx >&2
