#!/usr/bin/env bash
# make bench: the write benchmark against a throwaway PostgreSQL and Redis
# ("bench" instance, free loopback ports), stopped again on exit.
#
#   scripts/bench.sh [orderflow-bench flags]      full run, 1-2 minutes (at most about 5)
#   BENCH_QUICK=1 scripts/bench.sh                smoke run, under a minute
#
# Results are printed and written to bench/results/; see
# bin/orderflow-bench --help for the flags (make bench ARGS='--clients=8').
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
bin/orderflow-bench write "${args[@]}" "$@" || rc=$?
exit "$rc"
