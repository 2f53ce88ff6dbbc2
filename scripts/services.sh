#!/usr/bin/env bash
# Local PostgreSQL and Redis for OrderFlow, run as plain processes (no Docker).
#
#   scripts/services.sh start|stop|status|env|browser NAME
#
# NAME is an instance name: "dev" (make run) or "test" (make test). Each
# instance has its own state in $REPO/.state/NAME/, its own loopback ports and
# its own data. `start` is idempotent: running servers are reused and the env
# file is rewritten. `env` prints shell `export` lines for the instance.
# `browser` installs Debian's chromium for the console's browser test
# (cmd/internal/consoletest) the way `start` installs redis-server.
#
# PostgreSQL refuses to run as root; when this script runs as root it runs
# PostgreSQL as the unprivileged system user "orderflow" (created if missing).
# See docs/adr/0001-local-services-without-docker.md.
set -euo pipefail

usage() {
	echo "usage: $0 start|stop|status|env|browser NAME   (NAME: dev, test, ...)" >&2
	exit 2
}

[[ $# -eq 2 ]] || usage
CMD=$1
NAME=$2
[[ $NAME =~ ^[A-Za-z0-9_-]+$ ]] || { echo "services.sh: bad instance name: $NAME" >&2; exit 2; }

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
STATE=$REPO/.state/$NAME
ENV_FILE=$STATE/env
REDIS_DIR=$STATE/redis
LOG_DIR=$STATE/logs
PG_USER=orderflow
PG_MAJOR=${PG_MAJOR:-15}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/$PG_MAJOR/bin}

# Crash tests (scripts/faults.sh) kill the servers and start them again with
# ORDERFLOW_SERVICES_KEEP_DATA=1: a test instance then keeps its data across
# `start` (PostgreSQL only; the fault suite runs its own Redis), and its
# PostgreSQL commits synchronously, so a killed server loses no acknowledged
# commit (fsync stays off: the kernel survives a process crash).
KEEP_DATA=${ORDERFLOW_SERVICES_KEEP_DATA:-0}

# Variables like these would redirect the postgres tools; we pass everything explicitly.
umask 022
unset PGPORT PGHOST PGHOSTADDR PGDATABASE PGUSER PGDATA PGSERVICE PGOPTIONS || true

is_root() { [[ $EUID -eq 0 ]]; }
log() { echo "services[$NAME]: $*" >&2; }
die() { echo "services[$NAME]: $*" >&2; exit 1; }

# ---------------------------------------------------------------------------
# prerequisites

apt_install() {
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y "$@" || { apt-get update && apt-get install -y "$@"; }
}

ensure_redis() {
	if command -v redis-server >/dev/null && command -v redis-cli >/dev/null; then
		return
	fi
	if is_root; then
		log "installing redis-server"
		apt_install redis-server >&2
	else
		die "redis-server is missing; install it with: sudo apt-get install -y redis-server"
	fi
}

ensure_chromium() {
	if command -v chromium >/dev/null || [[ -n ${ORDERFLOW_CHROMIUM:-} ]]; then
		return
	fi
	if is_root; then
		log "installing chromium (the console's browser test)"
		apt_install chromium >&2
	else
		die "chromium is missing; install it with: sudo apt-get install -y chromium"
	fi
}

ensure_postgres() {
	if [[ -x $PG_BIN/postgres ]]; then
		return
	fi
	if is_root; then
		log "installing postgresql-$PG_MAJOR"
		apt_install "postgresql-$PG_MAJOR" >&2
	fi
	[[ -x $PG_BIN/postgres ]] ||
		die "PostgreSQL $PG_MAJOR is missing ($PG_BIN/postgres); install it with: sudo apt-get install -y postgresql-$PG_MAJOR (or set PG_BIN)"
}

ensure_user() {
	is_root || return 0
	if ! id -u "$PG_USER" >/dev/null 2>&1; then
		log "creating system user $PG_USER"
		useradd --system --no-create-home --shell /usr/sbin/nologin "$PG_USER"
	fi
}

# as_pg CMD... runs CMD as the PostgreSQL owner (orderflow when root, else us),
# from /, without our lock descriptor (a server must not inherit it).
as_pg() {
	if is_root; then
		(cd / && exec runuser -u "$PG_USER" -- "$@" 9>&-)
	else
		(cd / && exec "$@" 9>&-)
	fi
}

# ---------------------------------------------------------------------------
# ports

port_free() { # PORT: nothing bound on 127.0.0.1:PORT
	if command -v python3 >/dev/null; then
		python3 -c 'import socket,sys
s=socket.socket()
s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)  # the servers set it too; TIME_WAIT is no conflict
s.bind(("127.0.0.1",int(sys.argv[1])))
s.listen()' "$1" 2>/dev/null
	else
		! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
	fi
}

any_free_port() {
	if command -v python3 >/dev/null; then
		python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'
	else
		local p
		for _ in $(seq 100); do
			p=$((20000 + RANDOM % 10000))
			if port_free "$p"; then echo "$p"; return; fi
		done
		die "no free port found"
	fi
}

pick_port() { # PREFERRED...: first free preferred port, else any free port
	local p
	for p in "$@"; do
		if [[ -n $p ]] && port_free "$p"; then echo "$p"; return; fi
	done
	any_free_port
}

# ---------------------------------------------------------------------------
# PostgreSQL

# pg_base_dir decides where the cluster lives: $STATE/pg when the PostgreSQL
# owner can reach it (and the socket path is short enough), otherwise a
# directory under /tmp. The choice is recorded in $STATE/pgbase.
pg_base_dir() {
	local cand=$STATE/pg
	if pg_base_usable "$cand"; then
		echo "$cand"
		return
	fi
	rmdir "$cand" 2>/dev/null || true
	local hash
	hash=$(printf %s "$REPO" | sha256sum | cut -c1-12)
	cand=/tmp/orderflow-$NAME-$hash/pg
	pg_base_usable "$cand" || die "cannot prepare a PostgreSQL directory ($STATE/pg or $cand)"
	echo "$cand"
}

pg_base_usable() { # DIR
	local dir=$1
	# Unix socket paths are limited to 107 bytes: DIR/run/.s.PGSQL.NNNNN
	((${#dir} <= 80)) || return 1
	mkdir -p "$dir" || return 1
	if is_root; then
		chown -R "$PG_USER:" "$dir" || return 1
	fi
	chmod 700 "$dir" || return 1
	as_pg test -w "$dir" -a -x "$dir" 2>/dev/null
}

load_pg_paths() { # sets PG_BASE PGDATA_DIR SOCK_DIR PG_LOG from the recorded base
	PG_BASE=
	[[ -f $STATE/pgbase ]] && PG_BASE=$(<"$STATE/pgbase")
	set_pg_paths
}

set_pg_paths() {
	PGDATA_DIR=${PG_BASE:+$PG_BASE/data}
	SOCK_DIR=${PG_BASE:+$PG_BASE/run}
	PG_LOG=${PG_BASE:+$PG_BASE/postgres.log}
}

# pg_pid prints the postmaster pid when a postmaster of this cluster is alive.
pg_pid() {
	[[ -n $PGDATA_DIR && -f $PGDATA_DIR/postmaster.pid ]] || return 1
	local pid cwd
	pid=$(sed -n 1p "$PGDATA_DIR/postmaster.pid" 2>/dev/null) || return 1
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	# The postmaster's working directory is its data directory; this tells our
	# server from an unrelated process that reused a stale pid.
	cwd=$(readlink "/proc/$pid/cwd" 2>/dev/null) || return 1
	[[ $cwd == "$(readlink -f "$PGDATA_DIR")" ]] || return 1
	echo "$pid"
}

pg_port() { sed -n 4p "$PGDATA_DIR/postmaster.pid" 2>/dev/null; }

pg_ready() { # PORT
	"$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$1" -U postgres -d postgres -t 2 >/dev/null 2>&1
}

pg_wait_ready() { # PORT SECONDS
	local deadline=$((SECONDS + $2))
	while ((SECONDS < deadline)); do
		pg_ready "$1" && return 0
		sleep 0.2
	done
	return 1
}

pg_stop() {
	load_pg_paths
	local pid
	if ! pid=$(pg_pid); then
		log "postgres: not running"
		return 0
	fi
	log "postgres: stopping (pid $pid)"
	if ! as_pg "$PG_BIN/pg_ctl" stop -D "$PGDATA_DIR" -m fast -w -t 60 >/dev/null; then
		log "postgres: fast stop failed, stopping immediately"
		as_pg "$PG_BIN/pg_ctl" stop -D "$PGDATA_DIR" -m immediate -w -t 30 >/dev/null || kill -KILL "$pid" 2>/dev/null || true
	fi
}

pg_initdb() {
	local locale=C
	locale -a 2>/dev/null | grep -qix 'c.utf-\?8' && locale=C.UTF-8
	local args=(-D "$PGDATA_DIR" -U postgres --auth=trust -E UTF8 --locale="$locale")
	[[ $NAME == dev ]] || args+=(--no-sync)
	log "postgres: initdb in $PGDATA_DIR"
	as_pg "$PG_BIN/initdb" "${args[@]}" >"$STATE/initdb.log" 2>&1 ||
		{ cat "$STATE/initdb.log" >&2; die "initdb failed"; }
	echo "include_if_exists = 'orderflow.conf'" | as_pg tee -a "$PGDATA_DIR/postgresql.conf" >/dev/null
}

pg_write_conf() { # PORT
	local conf
	conf="# written by scripts/services.sh on every start
listen_addresses = '127.0.0.1'
port = $1
unix_socket_directories = '$SOCK_DIR'
max_connections = 200
"
	if [[ $NAME != dev ]]; then
		conf+="# throwaway test data: durability off for speed
fsync = off
synchronous_commit = off
full_page_writes = off
"
	fi
	if [[ $KEEP_DATA == 1 ]]; then
		conf+="synchronous_commit = on
"
	fi
	printf %s "$conf" | as_pg tee "$PGDATA_DIR/orderflow.conf" >/dev/null
}

pg_start() {
	ensure_postgres
	ensure_user
	PG_BASE=$(pg_base_dir)
	echo "$PG_BASE" >"$STATE/pgbase"
	set_pg_paths
	ln -sfn "$PG_LOG" "$LOG_DIR/postgres.log"

	local pid port
	if pid=$(pg_pid); then
		port=$(pg_port)
		if pg_wait_ready "$port" 30; then
			log "postgres: reusing running server (pid $pid, port $port)"
			PG_PORT=$port
			return
		fi
		log "postgres: server (pid $pid) does not answer; restarting it"
		pg_stop
	fi

	# Not running: clear leftovers of a killed run.
	rm -f "$PGDATA_DIR/postmaster.pid"
	[[ -d $SOCK_DIR ]] && find "$SOCK_DIR" -mindepth 1 -name '.s.PGSQL.*' -delete 2>/dev/null || true
	as_pg mkdir -p "$SOCK_DIR"

	if [[ $NAME != dev && $KEEP_DATA != 1 && -d $PGDATA_DIR ]]; then
		# A test instance starts empty every time it is started.
		as_pg rm -rf "$PGDATA_DIR"
	fi
	if [[ ! -f $PGDATA_DIR/PG_VERSION ]]; then
		[[ -d $PGDATA_DIR ]] && as_pg rm -rf "$PGDATA_DIR"
		pg_initdb
	fi

	local prev='' preferred=''
	[[ -f $STATE/pgport ]] && prev=$(<"$STATE/pgport")
	[[ $NAME == dev ]] && preferred=55432
	local attempt
	for attempt in 1 2 3; do
		if ((attempt == 1)); then
			port=$(pick_port "$prev" "$preferred")
		else
			port=$(any_free_port)
		fi
		pg_write_conf "$port"
		log "postgres: starting on 127.0.0.1:$port (log $PG_LOG)"
		if as_pg "$PG_BIN/pg_ctl" start -D "$PGDATA_DIR" -l "$PG_LOG" -w -t 30 >"$STATE/pg_ctl.log" 2>&1 &&
			pg_wait_ready "$port" 30; then
			PG_PORT=$port
			echo "$port" >"$STATE/pgport"
			return
		fi
		log "postgres: start on port $port failed (attempt $attempt); pg_ctl output and last log lines:"
		cat "$STATE/pg_ctl.log" >&2 2>/dev/null || true
		tail -n 5 "$PG_LOG" >&2 2>/dev/null || true
		pg_stop >/dev/null 2>&1 || true
		rm -f "$PGDATA_DIR/postmaster.pid"
	done
	die "postgres did not start; see $PG_LOG"
}

pg_create_db() {
	local psql=("$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -tA)
	if [[ -z $("${psql[@]}" -c "SELECT 1 FROM pg_database WHERE datname = 'orderflow'") ]]; then
		log "postgres: creating database orderflow"
		"${psql[@]}" -c "CREATE DATABASE orderflow" >/dev/null
	fi
}

# ---------------------------------------------------------------------------
# Redis

redis_pid() { # prints the pid when this instance's redis-server is alive
	local pidfile=$REDIS_DIR/redis.pid pid cwd
	[[ -f $pidfile ]] || return 1
	pid=$(<"$pidfile")
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	cwd=$(readlink "/proc/$pid/cwd" 2>/dev/null) || return 1
	[[ $cwd == "$(readlink -f "$REDIS_DIR")" ]] || return 1
	echo "$pid"
}

redis_port() { [[ -f $REDIS_DIR/port ]] && cat "$REDIS_DIR/port"; }

redis_ping() { # PORT
	[[ $(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null) == PONG ]]
}

redis_stop() {
	local pid port
	if ! pid=$(redis_pid); then
		log "redis: not running"
		rm -f "$REDIS_DIR/redis.pid"
		return 0
	fi
	port=$(redis_port || true)
	log "redis: stopping (pid $pid)"
	[[ -n $port ]] && redis-cli -h 127.0.0.1 -p "$port" shutdown nosave >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
	local deadline=$((SECONDS + 10))
	while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		sleep 1
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$REDIS_DIR/redis.pid"
}

redis_start() {
	ensure_redis
	mkdir -p "$REDIS_DIR"
	local pid port
	if pid=$(redis_pid) && port=$(redis_port) && redis_ping "$port"; then
		log "redis: reusing running server (pid $pid, port $port)"
		REDIS_PORT=$port
		return
	fi
	[[ -n ${pid:-} ]] && redis_stop
	rm -f "$REDIS_DIR/redis.pid"
	if [[ $NAME != dev ]]; then
		find "$REDIS_DIR" -mindepth 1 -delete
	fi

	local prev='' preferred='' persist=(--save "" --appendonly no)
	[[ -f $REDIS_DIR/port ]] && prev=$(<"$REDIS_DIR/port")
	if [[ $NAME == dev ]]; then
		preferred=56379
		persist=(--save "" --appendonly yes)
	fi
	local attempt deadline started
	for attempt in 1 2 3; do
		if ((attempt == 1)); then
			port=$(pick_port "$prev" "$preferred")
		else
			port=$(any_free_port)
		fi
		log "redis: starting on 127.0.0.1:$port (log $LOG_DIR/redis.log)"
		redis-server --bind 127.0.0.1 --port "$port" --daemonize yes \
			--dir "$REDIS_DIR" --pidfile "$REDIS_DIR/redis.pid" \
			--logfile "$LOG_DIR/redis.log" "${persist[@]}" 9>&- >/dev/null
		deadline=$((SECONDS + 15))
		started=0
		while ((SECONDS < deadline)); do
			if redis_ping "$port" && redis_pid >/dev/null; then
				started=1
				break
			fi
			# Daemonised: give up early if the server already exited (port taken).
			if [[ -f $REDIS_DIR/redis.pid ]] && ! redis_pid >/dev/null; then
				break
			fi
			sleep 0.1
		done
		if ((started)); then
			echo "$port" >"$REDIS_DIR/port"
			REDIS_PORT=$port
			return
		fi
		log "redis: start on port $port failed (attempt $attempt); last log lines:"
		tail -n 5 "$LOG_DIR/redis.log" >&2 2>/dev/null || true
		redis_stop >/dev/null 2>&1 || true
	done
	die "redis-server did not start; see $LOG_DIR/redis.log"
}

# ---------------------------------------------------------------------------
# commands

write_env() {
	local db="postgres://postgres@127.0.0.1:$PG_PORT/orderflow?sslmode=disable"
	local rd="redis://127.0.0.1:$REDIS_PORT/0"
	cat >"$ENV_FILE.tmp" <<EOF
# OrderFlow local services, instance "$NAME" (written by scripts/services.sh)
export ORDERFLOW_DATABASE_URL='$db'
export ORDERFLOW_REDIS_URL='$rd'
export ORDERFLOW_TEST_DATABASE_URL='$db'
export ORDERFLOW_TEST_REDIS_URL='$rd'
export PGPORT='$PG_PORT'
export REDIS_PORT='$REDIS_PORT'
EOF
	mv "$ENV_FILE.tmp" "$ENV_FILE"
}

lock() {
	mkdir -p "$STATE" "$LOG_DIR"
	exec 9>"$STATE/lock"
	flock -w 300 9 || die "another services.sh holds $STATE/lock"
}

cmd_start() {
	lock
	pg_start
	pg_create_db
	redis_start
	write_env
	log "ready: postgres 127.0.0.1:$PG_PORT, redis 127.0.0.1:$REDIS_PORT (env: $ENV_FILE)"
}

cmd_stop() {
	lock
	pg_stop
	redis_stop
}

cmd_status() {
	local rc=0 pid port
	load_pg_paths
	if pid=$(pg_pid) && port=$(pg_port) && pg_ready "$port"; then
		echo "postgres: running (pid $pid) postgres://postgres@127.0.0.1:$port/orderflow  data $PGDATA_DIR"
	else
		echo "postgres: stopped${PGDATA_DIR:+  data $PGDATA_DIR}"
		rc=3
	fi
	if pid=$(redis_pid) && port=$(redis_port) && redis_ping "$port"; then
		echo "redis:    running (pid $pid) redis://127.0.0.1:$port/0"
	else
		echo "redis:    stopped"
		rc=3
	fi
	return $rc
}

cmd_env() {
	[[ -f $ENV_FILE ]] || die "no env file; run: scripts/services.sh start $NAME"
	cat "$ENV_FILE"
}

case $CMD in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
env) cmd_env ;;
browser) ensure_chromium ;;
*) usage ;;
esac
