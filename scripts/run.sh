#!/usr/bin/env bash
# make run: start OrderFlow locally (PostgreSQL, Redis, the binaries, demo
# data), print every address, and stop everything on Ctrl-C.
set -euo pipefail

# A shell started in the background (setsid ... &, nohup, an IDE's runner)
# inherits SIGINT and SIGTERM ignored, and bash cannot trap a signal that
# was ignored on entry, while the Go binaries catch it anyway: on a SIGINT to
# the process group they stopped and this script took them for crashed. Start
# again with both signals at their defaults, so the traps below hold.
if [[ -z ${ORDERFLOW_RUN_SIGNALS_RESET:-} && "$(trap -p INT TERM)" == *"''"* ]]; then
	ORDERFLOW_RUN_SIGNALS_RESET=1 exec env --default-signal=INT,TERM "${BASH_SOURCE[0]}" "$@"
fi

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$REPO"
NAME=dev
STATE=$REPO/.state/$NAME
LOGS=$STATE/logs
PIDDIR=$STATE/pids
mkdir -p "$LOGS" "$PIDDIR"

say() { echo "run: $*" >&2; }

BIN_NAMES=() # binaries started by start_bin, in start order
BIN_PIDS=()

# start_bin NAME ARGS... starts bin/NAME in the background, logging to
# .state/dev/logs/NAME.log, and records its pid so that Ctrl-C stops it.
start_bin() {
	start_bin_as "$1" "$@"
}

# start_bin_as LABEL NAME ARGS... is start_bin for a second instance of a
# binary: LABEL names its log and pid files.
start_bin_as() {
	local name=$1 bin=$2
	shift 2
	say "starting $bin $* (log $LOGS/$name.log)"
	"$REPO/bin/$bin" "$@" >>"$LOGS/$name.log" 2>&1 </dev/null &
	local pid=$!
	BIN_NAMES+=("$name")
	BIN_PIDS+=("$pid")
	echo "$pid" >"$PIDDIR/$name.pid"
}

# stop_pid PID NAME: SIGTERM, wait up to 15 s, then SIGKILL.
stop_pid() {
	local pid=$1 name=$2
	kill -0 "$pid" 2>/dev/null || return 0
	say "stopping $name (pid $pid)"
	kill -TERM "$pid" 2>/dev/null || true
	local deadline=$((SECONDS + 15))
	while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
	if kill -0 "$pid" 2>/dev/null; then
		say "$name did not stop in 15 s; killing it"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
}

# stop_leftovers stops binaries that a previous run left behind (it was
# killed without its cleanup): a recorded pid counts only if it still runs a
# binary from this repository's bin/.
stop_leftovers() {
	local f pid exe
	for f in "$PIDDIR"/*.pid; do
		[[ -e $f ]] || continue
		pid=$(<"$f")
		exe=$(readlink "/proc/$pid/exe" 2>/dev/null || true)
		if [[ $pid =~ ^[0-9]+$ && $exe == "$REPO/bin/"* ]]; then
			stop_pid "$pid" "$(basename "$f" .pid) (left over)"
		fi
		rm -f "$f"
	done
}

CLEANED=0
cleanup() {
	local rc=$1
	((CLEANED)) && return
	CLEANED=1
	trap '' INT TERM
	local i
	for ((i = ${#BIN_PIDS[@]} - 1; i >= 0; i--)); do
		stop_pid "${BIN_PIDS[i]}" "${BIN_NAMES[i]}"
		rm -f "$PIDDIR/${BIN_NAMES[i]}.pid"
	done
	"$REPO/scripts/services.sh" stop "$NAME" || true
	if ((rc == 0)); then
		say "everything stopped"
	else
		say "everything stopped; exit status $rc"
	fi
	exit "$rc"
}
trap 'cleanup $?' EXIT
# A stop asked for (Ctrl-C, or SIGINT or SIGTERM to this script or its
# process group) is a success, whichever binaries the signal reached first.
stop_requested() {
	echo >&2
	say "$1 received; stopping everything"
	exit 0
}
trap 'stop_requested SIGINT' INT
trap 'stop_requested SIGTERM' TERM

port_free() { # HOST PORT
	python3 -c 'import socket,sys
s=socket.socket()
s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)
s.bind((sys.argv[1],int(sys.argv[2])))' "$1" "$2" 2>/dev/null
}
free_port() {
	python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'
}

stop_leftovers
"$REPO/scripts/services.sh" start "$NAME"
# shellcheck disable=SC1090,SC1091
source "$STATE/env"

say "building"
go build -o bin/ ./cmd/...

# Configuration for the binaries; anything already set in the environment wins.
# The API verifies bearer tokens (ORDERFLOW_AUTH=jwt): a dev secret is made
# once and kept in .state/dev/jwt-secret (mode 600), so tokens printed by an
# earlier run stay valid until they expire.
if [[ -z ${ORDERFLOW_JWT_SECRET:-} ]]; then
	if [[ ! -s $STATE/jwt-secret ]]; then
		(umask 077 && python3 -c 'import secrets;print(secrets.token_hex(32))' >"$STATE/jwt-secret")
	fi
	ORDERFLOW_JWT_SECRET=$(<"$STATE/jwt-secret")
fi
export ORDERFLOW_JWT_SECRET
if [[ -z ${ORDERFLOW_HTTP_ADDR:-} ]]; then
	ORDERFLOW_HTTP_ADDR=127.0.0.1:8080
	if ! port_free 127.0.0.1 8080; then
		ORDERFLOW_HTTP_ADDR=127.0.0.1:$(free_port)
		say "port 8080 is busy; the API uses $ORDERFLOW_HTTP_ADDR instead"
	fi
fi
export ORDERFLOW_HTTP_ADDR
API=http://$ORDERFLOW_HTTP_ADDR

say "migrating"
bin/orderflow-api migrate

start_bin orderflow-api serve

deadline=$((SECONDS + 20))
until curl -fsS -o /dev/null "$API/readyz" 2>/dev/null; do
	if ! kill -0 "${BIN_PIDS[0]}" 2>/dev/null; then
		say "orderflow-api exited; last log lines:"
		tail -n 20 "$LOGS/orderflow-api.log" >&2
		exit 1
	fi
	if ((SECONDS >= deadline)); then
		say "orderflow-api not ready at $API/readyz after 20 s; last log lines:"
		tail -n 20 "$LOGS/orderflow-api.log" >&2
		exit 1
	fi
	sleep 0.2
done

if [[ -z ${ORDERFLOW_RELAY_HTTP_ADDR:-} ]]; then
	ORDERFLOW_RELAY_HTTP_ADDR=127.0.0.1:8081
	port_free 127.0.0.1 8081 || ORDERFLOW_RELAY_HTTP_ADDR=127.0.0.1:$(free_port)
fi
export ORDERFLOW_RELAY_HTTP_ADDR
start_bin orderflow-relay

# Two projector instances share the work as one consumer group.
PROJECTOR_ADDRS=()
for n in 1 2; do
	addr=127.0.0.1:$((8081 + n))
	port_free 127.0.0.1 $((8081 + n)) || addr=127.0.0.1:$(free_port)
	PROJECTOR_ADDRS+=("$addr")
	start_bin_as orderflow-projector-$n orderflow-projector --projector-http-addr "$addr" --consumer projector-$n
done

say "seeding demo data"
bin/orderflow-api seed

PRODUCT_ID=$(curl -fsS "$API/api/v1/products" 2>/dev/null | python3 -c '
import json, sys
try:
    body = json.load(sys.stdin)
    items = body.get("items", []) if isinstance(body, dict) else body
    print(json.dumps(items[0]["id"]) if items else "")
except Exception:
    print("")
' || true)
[[ -n $PRODUCT_ID ]] || PRODUCT_ID='"PRODUCT_ID"'
PRODUCT_PATH_ID=${PRODUCT_ID//\"/}

# A demo customer to act as: registered on the first run, looked up after.
DEMO_EMAIL=demo@example.com
CUSTOMER_ID=$(curl -sS -X POST "$API/api/v1/customers" -H 'Content-Type: application/json' \
	-d '{"email":"'"$DEMO_EMAIL"'","name":"Demo Customer"}' 2>/dev/null |
	python3 -c 'import json,sys
try: print(json.load(sys.stdin).get("id", ""))
except Exception: print("")' || true)
if [[ -z $CUSTOMER_ID ]] && command -v psql >/dev/null; then
	CUSTOMER_ID=$(psql "$ORDERFLOW_DATABASE_URL" -Atc "SELECT id FROM customers WHERE lower(email) = '$DEMO_EMAIL'" 2>/dev/null || true)
fi
[[ -n $CUSTOMER_ID ]] || CUSTOMER_ID=CUSTOMER_ID

# Tokens for the examples, minted by the API binary with the same secret.
ADMIN_TOKEN=$(bin/orderflow-api token --role admin --sub dev-admin --ttl 24h)
CUSTOMER_TOKEN=$(bin/orderflow-api token --role customer --sub "$CUSTOMER_ID" --ttl 24h)

cat <<EOF

OrderFlow is running (logs in $LOGS):
  API          $API
  console      $API/admin/console (paste the admin token below)
  metrics      $API/metrics
  relay        http://$ORDERFLOW_RELAY_HTTP_ADDR/metrics (events onto Redis Streams)
  projectors   http://${PROJECTOR_ADDRS[0]}/metrics  http://${PROJECTOR_ADDRS[1]}/metrics (Redis read models)
  PostgreSQL   $ORDERFLOW_DATABASE_URL
  Redis        $ORDERFLOW_REDIS_URL

Try (anonymous):
  curl -sS $API/api/v1/products
  curl -sS $API/api/v1/products/$PRODUCT_PATH_ID
  curl -sS $API/public/products

Tokens for this run (24 h; mint more with bin/orderflow-api token --help,
secret in $STATE/jwt-secret):
  export ADMIN_TOKEN=$ADMIN_TOKEN
  export CUSTOMER_TOKEN=$CUSTOMER_TOKEN    # demo customer $CUSTOMER_ID ($DEMO_EMAIL)

As the demo customer (its own profile, orders and summaries only):
  curl -sS $API/api/v1/customers/$CUSTOMER_ID -H "Authorization: Bearer \$CUSTOMER_TOKEN"
  curl -sS -X POST $API/api/v1/orders -H 'Content-Type: application/json' \\
       -H "Authorization: Bearer \$CUSTOMER_TOKEN" -H "Idempotency-Key: \$(date +%s%N)" \\
       -d '{"customerId":"$CUSTOMER_ID","lines":[{"productId":$PRODUCT_ID,"quantity":1}]}'
  curl -sS $API/api/v1/customers/$CUSTOMER_ID/orders -H "Authorization: Bearer \$CUSTOMER_TOKEN"

As an admin (catalogue writes, restocks, shipping, /api/v1/admin/*, any customer):
  curl -sS -X POST $API/api/v1/products/$PRODUCT_PATH_ID/stock -H 'Content-Type: application/json' \\
       -H "Authorization: Bearer \$ADMIN_TOKEN" -d '{"quantity":10}'
  curl -sS $API/api/v1/admin/cache/stats -H "Authorization: Bearer \$ADMIN_TOKEN"

Press Ctrl-C to stop everything.
EOF

# how_exited STATUS describes a wait status.
how_exited() {
	local sig
	if (($1 > 128)) && sig=$(kill -l $(($1 - 128)) 2>/dev/null); then
		echo "killed by SIG$sig"
	else
		echo "exit status $1"
	fi
}

# Wait until a stop is asked for (the traps exit 0) or a binary dies on its own.
while :; do
	exited='' status=0
	wait -n -p exited "${BIN_PIDS[@]}" 2>/dev/null || status=$?
	for i in "${!BIN_PIDS[@]}"; do
		pid=${BIN_PIDS[i]}
		if [[ $pid != "$exited" ]]; then
			kill -0 "$pid" 2>/dev/null && continue
			# Reaped before this wait -n: its status is still kept.
			status=0
			wait "$pid" 2>/dev/null || status=$?
		fi
		say "${BIN_NAMES[i]} exited unexpectedly ($(how_exited "$status")); last log lines:"
		tail -n 20 "$LOGS/${BIN_NAMES[i]}.log" >&2
		exit 1
	done
done
