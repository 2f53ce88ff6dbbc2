#!/usr/bin/env bash
# make test: start the "test" PostgreSQL and Redis instance on free loopback
# ports, run go vet and the whole test suite against it, stop it, and exit
# with the tests' status. Extra arguments and $GOTESTFLAGS go to `go test`:
#   scripts/test.sh -run TestPlaceOrder ./app/...
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$REPO"

trap '"$REPO/scripts/services.sh" stop test || true' EXIT
"$REPO/scripts/services.sh" start test
# shellcheck disable=SC1091
source "$REPO/.state/test/env"

go vet ./...

# Arguments that name packages (./x/..., github.com/...) replace ./...;
# flags alone apply to ./...
pkgs=(./...)
for a in "$@"; do
	if [[ $a == ./* || $a == ../* || $a == github.com/* ]]; then
		pkgs=()
		break
	fi
done

rc=0
# shellcheck disable=SC2086 # GOTESTFLAGS is a list of flags
go test -race -count=1 -timeout 20m ${GOTESTFLAGS:-} "${pkgs[@]}" "$@" || rc=$?
exit "$rc"
