#!/usr/bin/env bash
# The multi-core benchmark in one command (docs/performance.md, "Workers and the multi-core benchmark").
#
#   bench/workers.sh              full run, each gateway once, ~15 minutes on a quiet 2-core machine
#   bench/workers.sh --repeats 2  as documented (gateways measured twice, interleaved), ~25 minutes
#   bench/workers.sh --quick      smoke version (5 s cells, one direct run), ~10 minutes
#
# Options read here: --quick, --run-dir DIR, --no-litellm, --no-streams, --streams N (default 1000),
# --litellm-mode default|tuned (default tuned). Everything else goes to bench/harness/run.py and
# overrides the defaults below (e.g. --repeats 2, --duration 20).
#
# Unlike bench/run.sh, nothing is pinned apart: the gateway under test, the nginx mock, wrk (the
# load generator, one thread) and the driver all share every core of this one machine (--cpus,
# default 0,1). What it runs, all on 127.0.0.1, against the same mock, in one harness invocation:
#   direct (wrk straight to the mock), bastion-1w-core0 (`bastion serve` held to the first core, the
#   load generator still on all), bastion-1w (`bastion serve`, free to use any core: its SQLite writer
#   thread and the kernel's work run beside the event loop), bastion-2w (`--workers 2`),
#   floor-1p and floor-2p (the floor as 1 and 2 processes on SO_REUSEPORT, bench/workers/floor_procs.py),
#   floor-uvicorn-2w (the floor on `uvicorn --workers 2`), litellm-2w (LiteLLM's proxy,
#   `--num_workers 2`, its venv in /tmp/bastion-scratch/venv-litellm from the shared harness's setup.sh);
# then bench/workers/streams.py (1,000 concurrent streams: RSS and added TTFT, direct / 1 / 2 workers;
# time from start to the first answer) and bench/workers/report.py (ratios and targets).
# Results: $BENCH_RUNS_DIR/workers-<timestamp>/ (default /tmp/bastion-scratch/bench-runs), never in the repo.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
PYTHON="${PYTHON:-python3}"
SHARED_BENCH="${SHARED_BENCH:-$REPO/../shared/bench}"
ECHO_MODULE="${BENCH_ECHO_MODULE:-/usr/lib/nginx/modules/ngx_http_echo_module.so}"
CPUS="${CPUS:-0,1}"

missing=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
[ -f "$ECHO_MODULE" ] || missing+=("nginx echo module ($ECHO_MODULE)")
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v taskset >/dev/null 2>&1 || missing+=("taskset (util-linux)")
if [ ${#missing[@]} -gt 0 ]; then
  echo "missing: ${missing[*]}" >&2
  echo "install them (Debian/Ubuntu, as root):  apt-get update && apt-get install -y nginx-light libnginx-mod-http-echo wrk" >&2
  exit 2
fi
[ -x "$REPO/.venv/bin/bastion" ] || { echo "no $REPO/.venv/bin/bastion: pip install -e . in .venv first" >&2; exit 2; }

quick=0 litellm=1 streams=1 stream_count=1000 litellm_mode=tuned run_dir="" harness_opts=()
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --no-litellm) litellm=0 ;;
    --no-streams) streams=0 ;;
    --streams) stream_count="$2"; shift ;;
    --litellm-mode) litellm_mode="$2"; shift ;;
    --run-dir) run_dir="$2"; shift ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) harness_opts+=("$1") ;;
  esac
  shift
done
if [ $quick -eq 1 ]; then
  defaults=(--duration 5 --warmup 2 --direct-runs 1 --retries 0 --quiet-timeout 30 --pause 0.5)
else
  defaults=(--duration 15 --warmup 5 --direct-runs 2 --retries 1 --quiet-timeout 60)
fi
run_dir="${run_dir:-${BENCH_RUNS_DIR:-/tmp/bastion-scratch/bench-runs}/workers-$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$run_dir"
echo "run dir: $run_dir" >&2
# 1,000 streams hold ~2,000 sockets in Bastion (client and upstream side) and 1,000 in the client
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
{ echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"; echo "open files limit: $(ulimit -n)"; } | tee "$run_dir/machine.txt" >&2

"$HERE/harness/gateways/floor/setup.sh" || { echo "could not set up the floor venv" >&2; exit 2; }
FLOOR_VENV="${VENV:-/tmp/bastion-scratch/venv-floor}"
LITELLM_VENV="${VENV_LITELLM:-/tmp/bastion-scratch/venv-litellm}"
gateways=(
  --gateway bastion-1w-core0 8080 "taskset -c ${CPUS%%,*} $HERE/workers/bastion.sh 1"
  --gateway bastion-1w 8080 "$HERE/workers/bastion.sh 1"
  --gateway bastion-2w 8080 "$HERE/workers/bastion.sh 2"
  --gateway floor-1p 4000 "$FLOOR_VENV/bin/python $HERE/workers/floor_procs.py 1 4000"
  --gateway floor-2p 4000 "$FLOOR_VENV/bin/python $HERE/workers/floor_procs.py 2 4000"
  --gateway floor-uvicorn-2w 4000 "$FLOOR_VENV/bin/uvicorn floor:app --app-dir $HERE/harness/gateways/floor --host 127.0.0.1 --port 4000 --loop uvloop --http httptools --no-access-log --log-level warning --lifespan on --backlog 4096 --workers 2"
)
versions="import importlib.metadata as m; print(' '.join(p + '==' + m.version(p) for p in"
version_cmds=(
  --gateway-version-cmd "$REPO/.venv/bin/python -c \"$versions ('bastion-gateway', 'uvicorn', 'uvloop', 'httptools', 'aiohttp')))\""
  --gateway-version-cmd "$FLOOR_VENV/bin/python -c \"$versions ('uvicorn', 'uvloop', 'httptools', 'aiohttp')))\""
)
if [ $litellm -eq 1 ]; then
  if [ ! -x "$LITELLM_VENV/bin/litellm" ]; then
    VENV="$LITELLM_VENV" "$SHARED_BENCH/gateways/litellm/setup.sh" || { echo "could not install LiteLLM" >&2; exit 2; }
  fi
  gateways+=(--gateway litellm-2w 4000 "env VENV_LITELLM=$LITELLM_VENV SHARED_BENCH=$SHARED_BENCH $HERE/workers/litellm.sh $litellm_mode 2")
  gateways+=(--gateway-scenarios litellm-2w lat_c1,thr_c64)
  version_cmds+=(--gateway-version-cmd "$LITELLM_VENV/bin/python -c \"$versions ('litellm', 'uvicorn', 'uvloop')))\"")
fi

"$PYTHON" "$HERE/harness/run.py" \
  "${defaults[@]}" \
  --gw-cpus "$CPUS" --load-cpus "$CPUS" --interference-pct 1000 \
  --scenarios lat_c1,thr_c64,stream_c64 \
  --run-dir "$run_dir/harness" \
  "${version_cmds[@]}" \
  "${gateways[@]}" \
  "${harness_opts[@]}"
harness_rc=$?

streams_rc=0
if [ $streams -eq 1 ]; then
  "$PYTHON" "$HERE/workers/streams.py" --streams "$stream_count" --cpus "$CPUS" --run-dir "$run_dir/streams" \
    > "$run_dir/streams.md"
  streams_rc=$?
fi
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$run_dir/machine.txt" >&2

"$PYTHON" "$HERE/workers/report.py" "$run_dir/harness/results.json" "$run_dir/streams/streams.json" \
  > "$run_dir/report.md"
report_rc=$?
{
  cat "$run_dir/machine.txt"
  echo
  cat "$run_dir/report.md"
  echo
  [ -f "$run_dir/streams.md" ] && cat "$run_dir/streams.md"
  [ -f "$run_dir/harness/summary.md" ] && cat "$run_dir/harness/summary.md"
} > "$run_dir/summary.md"
cat "$run_dir/report.md"
echo >&2
echo "harness exit $harness_rc, streams exit $streams_rc, report exit $report_rc (1 = a target missed)" >&2
echo "everything: $run_dir (summary.md)" >&2
[ $harness_rc -eq 0 ] && [ $streams_rc -eq 0 ] && [ $report_rc -eq 0 ]
