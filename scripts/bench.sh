#!/usr/bin/env bash
# make bench: benchmarks against a fresh "test" PostgreSQL and Redis instance.
# Placeholder: runs cmd/orderflow-bench when it exists, else every Go
# benchmark once. Extra arguments go to the benchmark command.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$REPO"

trap '"$REPO/scripts/services.sh" stop test || true' EXIT
"$REPO/scripts/services.sh" start test
# shellcheck disable=SC1091
source "$REPO/.state/test/env"

rc=0
if [[ -d cmd/orderflow-bench ]]; then
	go run ./cmd/orderflow-bench "$@" || rc=$?
else
	# shellcheck disable=SC2086
	go test -run '^$' -bench . -benchtime=1x ${GOTESTFLAGS:-} ./... "$@" || rc=$?
fi
exit "$rc"
