#!/usr/bin/env bash
# What the operations console costs the API (docs/adr/0017-operations-console.md):
# start PostgreSQL + Redis (instance "console-cost"), the API, a relay and a
# projector on free-ish loopback ports with demo data and 25 parked entries,
# then read the API's CPU time (utime + stime, /proc/<pid>/stat) over N
# refresh periods idle, and over N overview calls 2 s apart (one open
# console). Prints both and the difference. Usage: scripts/console-cost.sh [N]
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$REPO"
N=${1:-30}
NAME=console-cost
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	scripts/services.sh stop "$NAME" >/dev/null 2>&1 || true
}
trap cleanup EXIT
scripts/services.sh start "$NAME" >&2
# shellcheck disable=SC1090
source ".state/$NAME/env"
go build -o bin/ ./cmd/orderflow-api ./cmd/orderflow-relay ./cmd/orderflow-projector
export ORDERFLOW_JWT_SECRET=console-cost-secret-0123456789abcdef ORDERFLOW_KEY_PREFIX=cost: ORDERFLOW_LOG_LEVEL=warn
export ORDERFLOW_HTTP_ADDR=127.0.0.1:18080 ORDERFLOW_RELAY_HTTP_ADDR=127.0.0.1:18081 ORDERFLOW_PROJECTOR_HTTP_ADDR=127.0.0.1:18082
bin/orderflow-api seed >/dev/null
bin/orderflow-api serve 2>"$REPO/.state/$NAME/api.log" &
API=$!
PIDS+=("$API")
bin/orderflow-relay 2>"$REPO/.state/$NAME/relay.log" &
PIDS+=($!)
ORDERFLOW_CONSUMER=cost bin/orderflow-projector run 2>"$REPO/.state/$NAME/projector.log" &
PIDS+=($!)
for _ in $(seq 100); do curl -fs 127.0.0.1:18080/readyz >/dev/null && break; sleep 0.2; done
# A full page of parked entries for the overview to list (unreadable ones:
# the listing decodes them all the same).
for i in $(seq 25); do
	redis-cli -u "$ORDERFLOW_REDIS_URL" XADD 'cost:{events}:dead-letter' '*' payload '{}' uuid "u$i" \
		metadata '{"reason_poisoned":"handler failed","event_type":"OrderPaid"}' >/dev/null
done
TOKEN=$(bin/orderflow-api token --role admin --sub cost)
cpu() { awk '{print $14+$15}' "/proc/$API/stat"; }
sleep 5
c0=$(cpu) t0=$(date +%s.%N)
sleep $((2 * N))
c1=$(cpu) t1=$(date +%s.%N)
for _ in $(seq "$N"); do
	curl -fs -o /dev/null -H "Authorization: Bearer $TOKEN" 127.0.0.1:18080/api/v1/admin/overview
	sleep 2
done
c2=$(cpu) t2=$(date +%s.%N)
bytes=$(curl -fs -H "Authorization: Bearer $TOKEN" 127.0.0.1:18080/api/v1/admin/overview | wc -c)
python3 - "$c0" "$c1" "$c2" "$t0" "$t1" "$t2" "$(getconf CLK_TCK)" "$N" "$bytes" <<'PY'
import sys
c0, c1, c2, t0, t1, t2, tck, n, size = map(float, sys.argv[1:])
idle, busy = (c1 - c0) / tck, (c2 - c1) / tck
print(f"idle API (its own beat every 2 s): {idle:.2f} s CPU in {t1 - t0:.0f} s = {100 * idle / (t1 - t0):.2f} % of a core")
print(f"with one console refreshing every 2 s: {busy:.2f} s CPU in {t2 - t1:.0f} s = {100 * busy / (t2 - t1):.2f} % of a core")
print(f"the console's data calls: {100 * (busy / (t2 - t1) - idle / (t1 - t0)):.2f} % of a core, "
      f"{1000 * (busy - idle * (t2 - t1) / (t1 - t0)) / n:.1f} ms CPU per overview ({int(size)} bytes)")
PY
