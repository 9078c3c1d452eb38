#!/usr/bin/env bash
# CPU per request as a count of machine instructions (valgrind's callgrind): repeatable to ~1 %
# whatever else the machine is doing, unlike req/s or CPU seconds on a shared VM. Counts every
# thread of the process (the SQLite ledger thread included) while N requests go through it;
# start-up and a 100-request warm-up are not counted. The mock upstream is the harness's nginx.
#
#   bench/cpu/instructions.sh [bastion|floor] [N] [CONFIG] [stream]
#     bastion (default): `bastion serve` from this checkout on CONFIG (default bench/bastion.yaml)
#     floor:             the floor (bench/harness/gateways/floor) in its venv (setup.sh makes it)
#
# Prints "instructions per request: X". Needs valgrind, nginx + the echo module (bench/run.sh says
# how to install them). Under callgrind a request takes ~50x longer: 300 requests take ~20 s.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
SHARED_BENCH="${SHARED_BENCH:-$REPO/../shared/bench}"
WHAT="${1:-bastion}"; N="${2:-300}"; CONFIG="${3:-$REPO/bench/bastion.yaml}"; MODE="${4:-}"
PORT=18190
command -v valgrind >/dev/null || { echo "valgrind is missing (apt-get install -y valgrind)" >&2; exit 2; }
RUN="$(mktemp -d /tmp/bastion-instructions-XXXXXX)"
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT

python3 "$SHARED_BENCH/mock/gen_nginx_conf.py" --run-dir "$RUN/mock" --delays-ms 0,300 >/dev/null
nginx -c "$RUN/mock/nginx.conf" -p "$RUN/mock" -g 'daemon off;' >"$RUN/nginx.log" 2>&1 &
if [ "$WHAT" = floor ]; then
  "$REPO/bench/harness/gateways/floor/setup.sh" >/dev/null
  (cd "$REPO/bench/harness/gateways/floor" && exec valgrind --tool=callgrind --instr-atstart=no \
    --callgrind-out-file="$RUN/callgrind.out" "${VENV:-/tmp/bastion-scratch/venv-floor}/bin/python" -m uvicorn \
    floor:app --host 127.0.0.1 --port $PORT --loop uvloop --http httptools --no-access-log \
    --log-level warning --lifespan on) >"$RUN/gateway.log" 2>&1 &
else
  (cd "$RUN" && exec valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$RUN/callgrind.out" \
    "$REPO/.venv/bin/bastion" serve --config "$CONFIG" --port $PORT) >"$RUN/gateway.log" 2>&1 &
fi
GATEWAY=$!
for _ in $(seq 240); do
  curl -s -o /dev/null -m 5 "http://127.0.0.1:$PORT/" && break
  sleep 1
done
"$REPO/.venv/bin/python" "$HERE/drive.py" $PORT 100 $MODE
callgrind_control -i on $GATEWAY >/dev/null
"$REPO/.venv/bin/python" "$HERE/drive.py" $PORT "$N" $MODE
callgrind_control -i off $GATEWAY >/dev/null
callgrind_control -d $GATEWAY >/dev/null
sleep 1
kill $GATEWAY; wait $GATEWAY 2>/dev/null || true
out="$(ls -S "$RUN"/callgrind.out* | head -1)"
total="$(callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')"
echo "instructions per request: $((total / N)) ($WHAT, $N requests${MODE:+, $MODE}; callgrind output in $out)"
