#!/usr/bin/env bash
# make bench: every benchmark suite (write, read, relay, projector, mix)
# against a throwaway PostgreSQL and Redis ("bench" instance, free loopback
# ports), stopped again on exit, into one report.
#
#   scripts/bench.sh [SUITE] [orderflow-bench flags]   full run, about 15 minutes
#   BENCH_QUICK=1 scripts/bench.sh                      smoke run, under 2 minutes
#
# SUITE is all (the default), write, read, relay, projector or mix. Results are
# printed and written to bench/results/; see bin/orderflow-bench --help for
# the flags (make bench ARGS='read --clients=8').
# ORDERFLOW_BENCH_INSTANCE names the services instance (default: bench), so
# that two runs from one checkout do not stop each other's servers.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$REPO"
NAME=${ORDERFLOW_BENCH_INSTANCE:-bench}

trap '"$REPO/scripts/services.sh" stop "$NAME" || true' EXIT
"$REPO/scripts/services.sh" start "$NAME"
# shellcheck disable=SC1090
source "$REPO/.state/$NAME/env"

# The mix suite counts PostgreSQL's executed statements with
# pg_stat_statements, which only a server start can load: restart the
# throwaway server once with it (the setting lives in its data directory,
# which services.sh recreates on every fresh start).
PG_BIN=${PG_BIN:-/usr/lib/postgresql/${PG_MAJOR:-15}/bin}
psql_bench() { "$PG_BIN/psql" -X -q -tA -v ON_ERROR_STOP=1 "$ORDERFLOW_DATABASE_URL" "$@"; }
if [[ $(psql_bench -c "SHOW shared_preload_libraries") != *pg_stat_statements* ]]; then
	echo "bench: restarting PostgreSQL with pg_stat_statements" >&2
	psql_bench -c "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'"
	pgdata="$(<"$REPO/.state/$NAME/pgbase")/data"
	restart=("$PG_BIN/pg_ctl" restart -D "$pgdata" -m fast -w -t 60 -l "$(<"$REPO/.state/$NAME/pgbase")/postgres.log")
	if [[ $EUID -eq 0 ]]; then
		(cd / && runuser -u orderflow -- "${restart[@]}" >/dev/null)
	else
		"${restart[@]}" >/dev/null
	fi
	[[ $(psql_bench -c "SHOW shared_preload_libraries") == *pg_stat_statements* ]] ||
		echo "bench: pg_stat_statements did not load; the mix suite will not count queries" >&2
fi

echo "bench: building bin/" >&2
go build -o bin/ ./cmd/...

args=()
if [[ ${BENCH_QUICK:-0} != 0 ]]; then
	args+=(--quick)
fi
rc=0
# The suite, if given, must come first; flags follow it.
bin/orderflow-bench "$@" "${args[@]}" || rc=$?
exit "$rc"
