#!/usr/bin/env bash
# make faults: the fault suite. Starts the "faults" PostgreSQL instance in its
# crash-safe mode (ORDERFLOW_SERVICES_KEEP_DATA=1: a restart keeps the data,
# commits are synchronous), builds the three binaries with -race, and runs
# TestFaults (build tag "faults") in cmd/internal/systemtest, which runs its
# own Redis (AOF everysec), kills every component in turn under load and
# prints a table of what held. Process logs go to .state/faults/logs/run-*/.
# Extra arguments go to `go test`.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$REPO"
NAME=${ORDERFLOW_FAULTS_INSTANCE:-faults}

trap '"$REPO/scripts/services.sh" stop "$NAME" || true' EXIT
ORDERFLOW_SERVICES_KEEP_DATA=1 "$REPO/scripts/services.sh" start "$NAME"
# shellcheck disable=SC1090
source "$REPO/.state/$NAME/env"

export ORDERFLOW_FAULTS_INSTANCE=$NAME
ORDERFLOW_FAULTS_LOG_DIR=$REPO/.state/$NAME/logs/run-$(date -u +%Y%m%dT%H%M%S)
export ORDERFLOW_FAULTS_LOG_DIR
mkdir -p "$ORDERFLOW_FAULTS_LOG_DIR"
echo "faults: process logs in $ORDERFLOW_FAULTS_LOG_DIR" >&2

go test -race -count=1 -tags faults -timeout 15m -run '^TestFaults$' -v ./cmd/internal/systemtest/ "$@"
