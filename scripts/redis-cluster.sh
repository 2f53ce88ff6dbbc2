#!/usr/bin/env bash
# A throwaway 3-master Redis Cluster on free loopback ports, for the cluster
# pass of the test suite (scripts/test.sh) and for trying OrderFlow on a
# cluster by hand.
#
#   scripts/redis-cluster.sh start|stop|status|env NAME
#
# State lives in $REPO/.state/NAME/cluster/ (one directory per node). `start`
# reuses a healthy running cluster, else starts three empty nodes, joins them
# with `redis-cli --cluster create` (no replicas) and waits for
# cluster_state:ok. `env` prints the exports the test suite and the binaries
# read: ORDERFLOW_REDIS_URL and ORDERFLOW_TEST_REDIS_URL are the node list
# redis://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3 (docs/adr/0011-redis-cluster.md).
set -euo pipefail

usage() {
	echo "usage: $0 start|stop|status|env NAME" >&2
	exit 2
}

[[ $# -eq 2 ]] || usage
CMD=$1
NAME=$2
[[ $NAME =~ ^[A-Za-z0-9_-]+$ ]] || { echo "redis-cluster.sh: bad instance name: $NAME" >&2; exit 2; }

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
STATE=$REPO/.state/$NAME
DIR=$STATE/cluster
ENV_FILE=$STATE/cluster.env
NODES=3

log() { echo "redis-cluster[$NAME]: $*" >&2; }
die() { echo "redis-cluster[$NAME]: $*" >&2; exit 1; }

command -v redis-server >/dev/null && command -v redis-cli >/dev/null ||
	die "redis-server is missing; run scripts/services.sh start $NAME first (it installs it) or apt-get install -y redis-server"

# free_ports N: N distinct ports nothing listens on, chosen by the kernel.
free_ports() {
	python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

node_pid() { # I: prints the pid when node I's redis-server is alive
	local pidfile=$DIR/$1/redis.pid pid cwd
	[[ -f $pidfile ]] || return 1
	pid=$(<"$pidfile")
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	cwd=$(readlink "/proc/$pid/cwd" 2>/dev/null) || return 1
	[[ $cwd == "$(readlink -f "$DIR/$1")" ]] || return 1
	echo "$pid"
}

node_port() { cat "$DIR/$1/port" 2>/dev/null; }

cluster_ok() { # PORT
	redis-cli -h 127.0.0.1 -p "$1" cluster info 2>/dev/null | grep -q '^cluster_state:ok'
}

healthy() {
	local i port
	for ((i = 1; i <= NODES; i++)); do
		node_pid "$i" >/dev/null && port=$(node_port "$i") && cluster_ok "$port" || return 1
	done
}

stop_nodes() {
	local i pid port deadline
	for ((i = 1; i <= NODES; i++)); do
		pid=$(node_pid "$i") || continue
		port=$(node_port "$i" || true)
		log "node $i: stopping (pid $pid)"
		[[ -n $port ]] && redis-cli -h 127.0.0.1 -p "$port" shutdown nosave >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
		deadline=$((SECONDS + 10))
		while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
	done
}

write_env() {
	local i addrs=()
	for ((i = 1; i <= NODES; i++)); do addrs+=("127.0.0.1:$(node_port "$i")"); done
	local url
	url="redis://$(IFS=,; echo "${addrs[*]}")"
	mkdir -p "$STATE"
	cat >"$ENV_FILE.tmp" <<EOF
export ORDERFLOW_REDIS_URL='$url'
export ORDERFLOW_TEST_REDIS_URL='$url'
EOF
	mv "$ENV_FILE.tmp" "$ENV_FILE"
}

cmd_start() {
	if healthy; then
		log "reusing running cluster"
		write_env
		return
	fi
	stop_nodes
	rm -rf "$DIR"
	local ports i port bus deadline
	read -r -a ports <<<"$(free_ports $((2 * NODES)))"
	local addrs=()
	for ((i = 1; i <= NODES; i++)); do
		port=${ports[$((2 * i - 2))]}
		bus=${ports[$((2 * i - 1))]}
		mkdir -p "$DIR/$i"
		echo "$port" >"$DIR/$i/port"
		# No persistence: the cluster is for tests and is rebuilt at will.
		(cd "$DIR/$i" && redis-server --bind 127.0.0.1 --port "$port" --cluster-enabled yes \
			--cluster-port "$bus" --cluster-config-file nodes.conf --cluster-node-timeout 5000 \
			--dir "$DIR/$i" --pidfile "$DIR/$i/redis.pid" --logfile "$DIR/$i/redis.log" \
			--save '' --appendonly no --daemonize yes 9>&-)
		addrs+=("127.0.0.1:$port")
	done
	for ((i = 1; i <= NODES; i++)); do
		port=$(node_port "$i")
		deadline=$((SECONDS + 10))
		until [[ $(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null) == PONG ]]; do
			((SECONDS < deadline)) || die "node $i did not start; see $DIR/$i/redis.log"
			sleep 0.1
		done
	done
	log "creating cluster of ${addrs[*]}"
	redis-cli --cluster create "${addrs[@]}" --cluster-replicas 0 --cluster-yes >"$DIR/create.log" 2>&1 ||
		{ cat "$DIR/create.log" >&2; die "redis-cli --cluster create failed"; }
	deadline=$((SECONDS + 30))
	until healthy; do
		((SECONDS < deadline)) || die "cluster_state did not become ok; see $DIR/*/redis.log"
		sleep 0.1
	done
	write_env
	log "ready: ${addrs[*]} (env: $ENV_FILE)"
}

cmd_status() {
	local i pid port rc=0
	for ((i = 1; i <= NODES; i++)); do
		if pid=$(node_pid "$i") && port=$(node_port "$i"); then
			echo "node $i: running (pid $pid) 127.0.0.1:$port $(redis-cli -h 127.0.0.1 -p "$port" cluster info 2>/dev/null | grep '^cluster_state' | tr -d '\r')"
		else
			echo "node $i: stopped"
			rc=3
		fi
	done
	return $rc
}

case $CMD in
start) cmd_start ;;
stop) stop_nodes ;;
status) cmd_status ;;
env)
	[[ -f $ENV_FILE ]] || die "no env file; run: $0 start $NAME"
	cat "$ENV_FILE"
	;;
*) usage ;;
esac
