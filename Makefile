# Every target works on a fresh clone; see README.md.
SHELL := /bin/bash
GO    ?= go
PKGS  := ticketing/...
PKGS_PG := ticketing/common/... ticketing/services/...
TOOLS := $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/ticketing-tools
STATICCHECK_VERSION := v0.8.2
# The stripe-mock the payments tests are written against (stripemock.Version says the same).
STRIPE_MOCK_VERSION := v0.203.0
FUZZTIME ?= 10s

.PHONY: dev dev-clean run-services test test-tools test-preflight test-cluster fuzz lint bench e2e build tidy screenshots bench-web dlq

# The dev stack is built into bin/ and run from there (not with go run, which turns Ctrl-C
# into "Error 1"). DEV_FLAGS go to it: `make dev DEV_FLAGS='-addr 127.0.0.1:9080'`; see
# `go run ./infra/devstack -h`.
DEVSTACK := bin/devstack
DEV_FLAGS ?=

# build-devstack compiles the dev stack into $(DEVSTACK), saying so: the first build compiles
# FerretDB, NATS and the six services, later ones take seconds.
define build-devstack
mkdir -p bin
if [ -x $(DEVSTACK) ]; then echo "building the dev stack..."; \
else echo "building the dev stack (the first build takes a few minutes)..."; fi
start=$$(date +%s); $(GO) build -o $(DEVSTACK) ./infra/devstack && \
echo "built $(DEVSTACK) in $$(( $$(date +%s) - start ))s"
endef

## dev: the whole platform in one process, the storefront on http://localhost:8080/ (data kept
## in .devstack/)
dev:
	@$(build-devstack)
	@exec $(DEVSTACK) $(DEV_FLAGS)

## dev-clean: the same, starting from empty data
dev-clean:
	@$(build-devstack)
	@exec $(DEVSTACK) -clean $(DEV_FLAGS)

## run-services: six binaries as separate processes (two replicas of orders and tickets)
## against the NATS and Redis on 127.0.0.1 (NATS_URL, REDIS_ADDR), checked before building,
## behind the same gateway
run-services:
	@bash scripts/check-nats-redis.sh
	@$(build-devstack)
	@exec $(DEVSTACK) -multi $(DEV_FLAGS)

## dlq: the dead letters on the bus at NATS_URL (BUS_PREFIX): `make dlq` lists them,
## `make dlq ARGS='show 12'`, `ARGS='replay 12 13'`, `ARGS='replay -all -consumer tickets-order-created'`,
## `ARGS='discard 12'`
ARGS ?= list
dlq:
	@$(GO) run ./infra/dlq $(ARGS)

## build: every service binary into bin/, static and stripped (as in the images)
build:
	@mkdir -p bin
	for s in auth tickets orders expiration payments web; do \
		CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o bin/$$s ./services/$$s/cmd/$$s || exit 1; done

## test: every module's tests with the race detector (MongoDB stand-in on SQLite), then those
## of common and the services again with the stand-in on the PostgreSQL at 127.0.0.1:5432;
## first test-preflight, then test-tools
test: test-preflight test-tools
	STRIPE_MOCK=$(STRIPE_MOCK) $(GO) test -race -count=1 -timeout 30m $(PKGS)
	STRIPE_MOCK=$(STRIPE_MOCK) TESTKIT_MONGO_BACKEND=postgresql $(GO) test -race -count=1 -timeout 30m $(PKGS_PG)

## test-preflight: stops at once, with the command that installs it, when redis-server or
## the PostgreSQL of the second pass is missing
test-preflight:
	@bash scripts/test-preflight.sh

STRIPE_MOCK := $(TOOLS)/stripe-mock-$(STRIPE_MOCK_VERSION)
$(STRIPE_MOCK):
	GOBIN=$(TOOLS)/bin-stripe-mock $(GO) install github.com/stripe/stripe-mock@$(STRIPE_MOCK_VERSION)
	mv $(TOOLS)/bin-stripe-mock/stripe-mock $@

## test-tools: builds the tools the tests call (stripe-mock, pinned) once into $(TOOLS)
test-tools: $(STRIPE_MOCK)

## test-cluster: the fault tests on distributed engines (build tag cluster; `make test` skips
## them): a 3-node JetStream cluster and Redis behind 3 Sentinels, started by the tests
## (nats-server built from the pinned module, redis-server from PATH), whose stream leaders
## and Redis primary are killed under traffic; about 10 minutes on 2 cores
test-cluster:
	$(GO) test -tags cluster -count=1 -timeout 20m -run 'NATSCluster|RedisSentinel' ticketing/common/testkit
	$(GO) test -tags cluster -count=1 -timeout 20m -run TestClusterFaults -v ticketing/infra/devstack

## fuzz: every fuzz target for FUZZTIME (10s) each
fuzz:
	FUZZTIME=$(FUZZTIME) bash scripts/fuzz.sh

## screenshots: the storefront's browser tests (headless Chromium) refresh docs/screenshots/
screenshots:
	STOREFRONT_SCREENSHOTS=$(CURDIR)/docs/screenshots $(GO) test -count=1 -run '^TestStorefront' ./infra/devstack

## bench-web: GET / of the storefront with 1,000 tickets listed, on the dev stack (p99 printed)
bench-web:
	$(GO) test -count=1 -run '^$$' -bench BenchmarkStorefrontHome -benchtime 2000x ./infra/devstack

STATICCHECK := $(TOOLS)/staticcheck-$(STATICCHECK_VERSION)
$(STATICCHECK):
	GOBIN=$(TOOLS)/bin-staticcheck $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	mv $(TOOLS)/bin-staticcheck/staticcheck $@

## lint: gofmt, go vet and staticcheck (pinned) on every module, and go mod tidy is a no-op
lint: $(STATICCHECK)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(STATICCHECK) $(PKGS)
	bash scripts/tidy-check.sh
	$(GO) test -count=1 ticketing/common/arch

## tidy: go mod tidy in every module
tidy:
	for m in $$(go list -m -f '{{.Dir}}'); do (cd $$m && $(GO) mod tidy) || exit 1; done

-include infra/k8s.mk
-include infra/bench/bench.mk
