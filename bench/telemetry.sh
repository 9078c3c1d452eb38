#!/usr/bin/env bash
# What metrics, the request log (usage ledger) and tracing cost on the hot path (docs/observability.md,
# "What it costs").
#
#   bench/telemetry.sh            ~12 minutes on a quiet 2-core machine (two rounds)
#   bench/telemetry.sh --quick    ~4 minutes (one round, short cells)
#
# One harness run (bench/harness/run.py: nginx mock, wrk, direct baseline in the same run); five Bastion
# configurations, measured in turn on lat_c1 (latency, one connection) and thr_c64 (throughput, 64
# connections); SCENARIOS=lat_c1,thr_c64,stream_c64 bench/telemetry.sh adds the streaming cell:
#   off              telemetry.metrics off, storage.ledger off, tracing off: the floor
#   metrics          + the per-request metrics (GenAI histograms, requests, overhead)
#   ledger           + one request-log (ledger) row per request, batched into SQLite; metrics off
#   metrics-ledger   metrics and request log both on: the issue's target (<= 10% throughput loss vs off)
#   tracing          metrics + OpenTelemetry tracing, every request sampled, exported over OTLP/HTTP to
#                    a local sink (a second nginx on the load core that answers 200 and discards)
# bench/telemetry/compare.py then prints each configuration against "off". MOCK_PORT, GATEWAY_PORT and
# SINK_PORT move the mock (and the benchmark config's providers), Bastion and the sink off ports in use.
# Needs what bench/run.sh needs (nginx-light, libnginx-mod-http-echo, wrk) and the tracing extra.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
PYTHON="${PYTHON:-python3}"
BASTION_BIN="$REPO/.venv/bin/bastion"
NGINX="${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}"
SINK_PORT="${SINK_PORT:-14318}"
MOCK_PORT="${MOCK_PORT:-18080}"  # the nginx mock answers here at once and on MOCK_PORT+1 after 300 ms
GATEWAY_PORT="${GATEWAY_PORT:-8080}"
LOAD_CPUS="${LOAD_CPUS:-1}"
[ -x "$BASTION_BIN" ] || { echo "no $BASTION_BIN: create the project venv first" >&2; exit 2; }

if [ "${1:-}" = "--quick" ]; then
  shift
  defaults=(--duration 5 --warmup 2 --direct-runs 1 --retries 0 --quiet-timeout 30 --pause 0.5)
else
  defaults=(--duration 10 --warmup 3 --direct-runs 1 --retries 1 --quiet-timeout 60 --repeats 2)
fi
scenarios="${SCENARIOS:-lat_c1,thr_c64}"
stamp="$(date +%Y%m%d-%H%M%S)"
run_dir="${BENCH_RUNS_DIR:-/tmp/bastion-scratch/bench-runs}/telemetry-$stamp"
mkdir -p "$run_dir/sink"
echo "run dir: $run_dir" >&2

# the OTLP sink: accepts POST /v1/traces, answers 200, keeps nothing (its CPU is on the load core)
cat > "$run_dir/sink/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $run_dir/sink/nginx.pid;
error_log $run_dir/sink/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path $run_dir/sink;
  client_body_buffer_size 4m;
  client_max_body_size 64m;
  server {
    listen 127.0.0.1:$SINK_PORT;
    location / { return 200; }
  }
}
CONF
taskset -c "$LOAD_CPUS" "$NGINX" -p "$run_dir/sink" -c "$run_dir/sink/nginx.conf" &
sink_pid=$!
trap 'kill "$sink_pid" 2>/dev/null; wait "$sink_pid" 2>/dev/null' EXIT
sleep 0.5
kill -0 "$sink_pid" 2>/dev/null || { echo "the OTLP sink (nginx) did not start: $run_dir/sink/error.log" >&2; exit 2; }

write_config() {  # name, ledger (true|false), telemetry YAML
  {
    sed -e "s/127.0.0.1:18081/127.0.0.1:$((MOCK_PORT + 1))/g" -e "s/127.0.0.1:18080/127.0.0.1:$MOCK_PORT/g" \
      "$HERE/bastion.yaml"
    printf '%s\n' "storage: {url: \"sqlite:///$run_dir/$1.db\", ledger: $2}" "$3"
  } > "$run_dir/$1.yaml"
}
metrics_off='telemetry: {metrics: {enabled: false}}'
tracing="telemetry:
  tracing:
    enabled: true
    sample_ratio: 1.0
    otlp: {endpoint: \"http://127.0.0.1:$SINK_PORT/v1/traces\"}"
write_config off false "$metrics_off"
write_config metrics false ""
write_config ledger true "$metrics_off"
write_config metrics-ledger true ""
write_config tracing false "$tracing"

args=()
for name in off metrics ledger metrics-ledger tracing; do
  args+=(--gateway "$name" "$GATEWAY_PORT" "$BASTION_BIN serve --config $run_dir/$name.yaml --port $GATEWAY_PORT")
  args+=(--gateway-scenarios "$name" "$scenarios")
done
"$PYTHON" "$HERE/harness/run.py" "${defaults[@]}" --run-dir "$run_dir/harness" --scenarios "$scenarios" \
  --load-cpus "$LOAD_CPUS" --mock-base-port "$MOCK_PORT" "${args[@]}" "$@"
rc=$?
"$PYTHON" "$HERE/telemetry/compare.py" "$run_dir/harness/results.json" | tee "$run_dir/telemetry.md"
echo "summary: $run_dir/harness/summary.md, ratios: $run_dir/telemetry.md" >&2
exit $rc
