#!/usr/bin/env bash
# make test: start the "test" PostgreSQL and Redis instance on free loopback
# ports, run go vet and the whole test suite against it; then start a local
# 3-master Redis Cluster (scripts/redis-cluster.sh) and run the packages that
# use Redis again against the cluster, with the event streams split into 3
# shards. Stop everything and exit with the tests' status. Extra arguments
# and $GOTESTFLAGS go to `go test`:
#   scripts/test.sh -run TestPlaceOrder ./app/...
# ORDERFLOW_TEST_CLUSTER chooses the cluster pass: auto (default: only when
# no packages are named), 1 (always, with the same arguments), 0 (never).
# ORDERFLOW_TEST_INSTANCE names the services instance (default: test).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$REPO"

INSTANCE=${ORDERFLOW_TEST_INSTANCE:-test}
cleanup() {
	"$REPO/scripts/redis-cluster.sh" stop "$INSTANCE" || true
	"$REPO/scripts/services.sh" stop "$INSTANCE" || true
}
trap cleanup EXIT
"$REPO/scripts/services.sh" start "$INSTANCE"
# The console's browser test needs chromium; it fails, not skips, without.
"$REPO/scripts/services.sh" browser "$INSTANCE"
# shellcheck disable=SC1091
source "$REPO/.state/$INSTANCE/env"

go vet ./...

# Arguments that name packages (./x/..., github.com/...) replace ./...;
# flags alone apply to ./...
pkgs=(./...)
named=0
for a in "$@"; do
	if [[ $a == ./* || $a == ../* || $a == github.com/* ]]; then
		pkgs=()
		named=1
		break
	fi
done

rc=0
echo "== single Redis" >&2
# shellcheck disable=SC2086 # GOTESTFLAGS is a list of flags
go test -race -count=1 -timeout 20m ${GOTESTFLAGS:-} "${pkgs[@]}" "$@" || rc=$?

cluster=${ORDERFLOW_TEST_CLUSTER:-auto}
if [[ $cluster == auto ]]; then
	cluster=$((1 - named))
fi
if [[ $cluster == 1 ]]; then
	# The packages whose tests talk to Redis; the HTTP adapter's cache tests
	# cut a single server's connections through a proxy, so they stay in the
	# single-node pass.
	cluster_pkgs=(./adapters/redis/... ./adapters/streams/... ./app/... ./projections/...
		./internal/golden/... ./cmd/orderflow-relay/... ./cmd/orderflow-projector/... ./cmd/orderflow-api/...)
	((named)) && cluster_pkgs=()
	"$REPO/scripts/redis-cluster.sh" start "$INSTANCE"
	# shellcheck disable=SC1091
	source "$REPO/.state/$INSTANCE/cluster.env"
	export ORDERFLOW_TEST_STREAM_SHARDS=${ORDERFLOW_TEST_STREAM_SHARDS:-3}
	echo "== Redis Cluster ($ORDERFLOW_TEST_REDIS_URL), $ORDERFLOW_TEST_STREAM_SHARDS stream shards" >&2
	# shellcheck disable=SC2086 # GOTESTFLAGS is a list of flags
	go test -race -count=1 -timeout 20m ${GOTESTFLAGS:-} "${cluster_pkgs[@]}" "$@" || rc=$?
fi
exit "$rc"
