#!/usr/bin/env bash
# make bench: every benchmark suite (write, read, relay, projector) against a
# throwaway PostgreSQL and Redis ("bench" instance, free loopback ports),
# stopped again on exit, into one report.
#
#   scripts/bench.sh [SUITE] [orderflow-bench flags]   full run, about 15 minutes
#   BENCH_QUICK=1 scripts/bench.sh                      smoke run, under 2 minutes
#
# SUITE is all (the default), write, read, relay or projector. Results are
# printed and written to bench/results/; see bin/orderflow-bench --help for
# the flags (make bench ARGS='read --clients=8').
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$REPO"

trap '"$REPO/scripts/services.sh" stop bench || true' EXIT
"$REPO/scripts/services.sh" start bench
# shellcheck disable=SC1091
source "$REPO/.state/bench/env"

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
