# OrderFlow. PostgreSQL and Redis run as local processes started by
# scripts/services.sh (see docs/adr/0001-local-services-without-docker.md).
#
#   make run     start everything locally with demo data; Ctrl-C stops it
#   make test    go vet + the whole test suite against throwaway servers
#                (extra go test arguments: make test ARGS='-run TestX ./app/...')
#   make build   build the binaries into bin/
#   make lint    gofmt, go vet, staticcheck
#   make bench   benchmarks against throwaway servers
#   make fuzz    every fuzz target for FUZZTIME each (scripts/fuzz.sh)
#   make faults  the fault suite: kill -9 every component under load (scripts/faults.sh)
#   make stop    stop the dev servers left by an interrupted make run

SHELL := /bin/bash
GO ?= go
STATICCHECK_VERSION ?= latest
STATICCHECK := $(shell $(GO) env GOPATH)/bin/staticcheck

.PHONY: run test build lint bench stop faults fuzz

run:
	scripts/run.sh

test:
	scripts/test.sh $(ARGS)

build:
	$(GO) build -o bin/ ./cmd/...

lint:
	@out="$$(gofmt -l .)"; \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@command -v staticcheck >/dev/null || [ -x "$(STATICCHECK)" ] || \
		$(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) || \
		$(GO) install honnef.co/go/tools/cmd/staticcheck@2025.1.1
	@if command -v staticcheck >/dev/null; then staticcheck ./...; else "$(STATICCHECK)" ./...; fi

bench:
	scripts/bench.sh $(ARGS)

stop:
	scripts/services.sh stop dev

faults:
	scripts/faults.sh $(ARGS)

fuzz:
	scripts/fuzz.sh $(ARGS)
