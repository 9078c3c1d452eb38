#!/usr/bin/env bash
# Bastion's performance benchmark in one command (docs/performance.md explains every number).
#
#   bench/run.sh                 full run, ~15 minutes on a quiet 2-core machine
#   bench/run.sh --quick         smoke version, about 5 minutes
#   bench/run.sh --duration 20 --warmup 5 ...    other options go to bench/harness/run.py
#
# Options read here: --quick, --run-dir DIR, --streams N, --starts N, --load-seconds N (bench/extras.py),
# --no-extras. Everything else is passed to the harness (bench/harness/run.py --help) and overrides
# the defaults below.
#
# What it does, all on 127.0.0.1, every step bounded in time:
#   1. harness: nginx mock; direct baseline; the floor (bench/harness/gateways/floor, its own venv in
#      /tmp/bastion-scratch/venv-floor); Bastion on all default scenarios; Bastion again on the
#      translated paths (OpenAI in, Anthropic / Gemini upstream) - one invocation, one direct baseline.
#      Gateways are pinned to core 0, nginx + wrk to core 1.
#   2. bench/extras.py: added time to first byte of streams, RSS after load, time to ready, and the
#      table of targets.
# Results: $BENCH_RUNS_DIR/bastion-<timestamp>/ (default /tmp/bastion-scratch/bench-runs), never in the repo.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
PYTHON="${PYTHON:-python3}"
ECHO_MODULE="${BENCH_ECHO_MODULE:-/usr/lib/nginx/modules/ngx_http_echo_module.so}"
INSTALL="apt-get update && apt-get install -y nginx-light libnginx-mod-http-echo wrk"

missing=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
[ -f "$ECHO_MODULE" ] || missing+=("nginx echo module ($ECHO_MODULE)")
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v taskset >/dev/null 2>&1 || missing+=("taskset (util-linux)")
if [ ${#missing[@]} -gt 0 ]; then
  echo "missing: ${missing[*]}" >&2
  echo "install them (Debian/Ubuntu, as root):  $INSTALL" >&2
  exit 2
fi
BASTION_BIN="$REPO/.venv/bin/bastion"
if [ ! -x "$BASTION_BIN" ]; then
  echo "no $BASTION_BIN: create the project venv first (python3 -m venv .venv && .venv/bin/pip install -e .)" >&2
  exit 2
fi
if [ "$(nproc)" -lt 2 ]; then
  echo "WARNING: fewer than 2 CPUs; the gateway and the load generator will share a core" >&2
fi

quick=0
extras=1
run_dir=""
extra_opts=()
harness_opts=()
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --no-extras) extras=0 ;;
    --run-dir) run_dir="$2"; shift ;;
    --streams|--starts|--load-seconds) extra_opts+=("$1" "$2"); shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) harness_opts+=("$1") ;;
  esac
  shift
done

if [ $quick -eq 1 ]; then
  defaults=(--duration 5 --warmup 2 --direct-runs 1 --retries 0 --quiet-timeout 30 --pause 0.5)
  extra_defaults=(--streams 2000 --warmup-streams 100 --starts 5 --load-seconds 3)
else
  defaults=(--duration 15 --warmup 5 --direct-runs 2 --retries 1 --quiet-timeout 60)
  extra_defaults=(--streams 3000 --starts 5 --load-seconds 8)
fi
stamp="$(date +%Y%m%d-%H%M%S)"
run_dir="${run_dir:-${BENCH_RUNS_DIR:-/tmp/bastion-scratch/bench-runs}/bastion-$stamp}"
mkdir -p "$run_dir"
echo "run dir: $run_dir" >&2

# the floor's venv (same versions as .venv, plus httpx); made once, outside the repository
"$HERE/harness/gateways/floor/setup.sh" || { echo "could not set up the floor venv" >&2; exit 2; }

BASTION="$BASTION_BIN serve --config $HERE/bastion.yaml --port 8080"
FLOOR_VENV="${VENV:-/tmp/bastion-scratch/venv-floor}"
versions="import importlib.metadata as m; print(' '.join(p + '==' + m.version(p) for p in"
"$PYTHON" "$HERE/harness/run.py" \
  "${defaults[@]}" \
  --run-dir "$run_dir/harness" \
  --gateway-version-cmd "$REPO/.venv/bin/python -c \"$versions ('bastion-gateway', 'uvicorn', 'uvloop', 'httptools', 'aiohttp', 'orjson')))\"" \
  --gateway-version-cmd "$FLOOR_VENV/bin/python -c \"$versions ('uvicorn', 'uvloop', 'httptools', 'aiohttp', 'orjson')))\"" \
  --gateway floor 4000 "$HERE/harness/gateways/floor/start.sh" \
  --gateway bastion 8080 "$BASTION" \
  --gateway bastion-anthropic 8080 "$BASTION" \
  --gateway bastion-gemini 8080 "$BASTION" \
  --gateway-models bastion-anthropic claude-mock claude-mock-slow \
  --gateway-models bastion-gemini gemini-mock gemini-mock-slow \
  --gateway-scenarios bastion-anthropic lat_c1,thr_c64,stream_c1,stream_c64 \
  --gateway-scenarios bastion-gemini lat_c1,thr_c64,stream_c1,stream_c64 \
  "${harness_opts[@]}"
harness_rc=$?

extras_rc=0
if [ $extras -eq 1 ]; then
  "$PYTHON" "$HERE/extras.py" \
    "${extra_defaults[@]}" \
    --run-dir "$run_dir/extras" \
    --bastion-cmd "$BASTION" \
    --harness-results "$run_dir/harness/results.json" \
    "${extra_opts[@]}"
  extras_rc=$?
fi

{
  [ -f "$run_dir/harness/summary.md" ] && cat "$run_dir/harness/summary.md"
  [ -f "$run_dir/extras/extras.md" ] && cat "$run_dir/extras/extras.md"
} > "$run_dir/summary.md"
echo >&2
echo "harness exit $harness_rc (1 = some cell flagged), extras exit $extras_rc (1 = a target missed)" >&2
echo "everything: $run_dir (summary.md = both tables)" >&2
[ $harness_rc -eq 0 ] && [ $extras_rc -eq 0 ]
