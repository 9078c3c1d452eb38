#!/usr/bin/env bash
# What keys, limits, budgets and the usage ledger cost on the hot path (docs/limits.md, "Overhead").
#
#   bench/admission.sh            ~8 minutes on a quiet 2-core machine
#   bench/admission.sh --quick    ~3 minutes
#
# One harness run (bench/harness/run.py: nginx mock, wrk, direct baseline in the same run), four
# Bastion configurations measured in turn on lat_c1, thr_c64, stream_c1, stream_c64:
#   plain        the benchmark config with the usage ledger off: no accounting at all
#   ledger       + one ledger row per request, batched into SQLite (the default)
#   limits-mem   + key limits (requests/min, tokens/min, concurrency, a hard daily USD budget) on the
#                in-memory counters: auth + tokenizer estimate + price estimate + 4 checks + settle
#   limits-redis the same limits on Redis (127.0.0.1:6379 db 15): one round trip before the call,
#                one after the response
# Limits are set high enough never to refuse: the point is what checking them costs.
# Needs what bench/run.sh needs (nginx-light, libnginx-mod-http-echo, wrk) and a running Redis.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
PYTHON="${PYTHON:-python3}"
BASTION_BIN="$REPO/.venv/bin/bastion"
[ -x "$BASTION_BIN" ] || { echo "no $BASTION_BIN: create the project venv first" >&2; exit 2; }

if [ "${1:-}" = "--quick" ]; then
  shift
  defaults=(--duration 5 --warmup 2 --direct-runs 1 --retries 0 --quiet-timeout 30 --pause 0.5)
else
  defaults=(--duration 12 --warmup 4 --direct-runs 2 --retries 1 --quiet-timeout 60)
fi
stamp="$(date +%Y%m%d-%H%M%S)"
run_dir="${BENCH_RUNS_DIR:-/tmp/bastion-scratch/bench-runs}/admission-$stamp"
mkdir -p "$run_dir"
echo "run dir: $run_dir" >&2

limits='
limits:
  keys:
    requests_per_minute: 100000000
    tokens_per_minute: 1000000000000
    max_concurrent: 100000
    budget: {day: 1000000000, mode: hard}'
write_config() {  # name, extra YAML
  { cat "$HERE/bastion.yaml"; printf '%s\n' "storage: {url: \"sqlite:///$run_dir/$1.db\"$3}" "$2"; } > "$run_dir/$1.yaml"
}
write_config plain "" ", ledger: false"
write_config ledger "" ""
write_config limits-mem "$limits" ""
write_config limits-redis "$limits
  backend: redis
  redis_url: redis://127.0.0.1:6379/15" ""
redis-cli -n 15 flushdb >/dev/null 2>&1 || true

scenarios=lat_c1,thr_c64,stream_c1,stream_c64
args=()
for name in plain ledger limits-mem limits-redis; do
  args+=(--gateway "$name" 8080 "$BASTION_BIN serve --config $run_dir/$name.yaml --port 8080")
  args+=(--gateway-scenarios "$name" "$scenarios")
done
"$PYTHON" "$HERE/harness/run.py" "${defaults[@]}" --run-dir "$run_dir/harness" --scenarios "$scenarios" \
  "${args[@]}" "$@"
rc=$?
redis-cli -n 15 flushdb >/dev/null 2>&1 || true
echo "summary: $run_dir/harness/summary.md" >&2
exit $rc
