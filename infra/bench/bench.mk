# Load bench: the on-sale scenarios against dev stacks it starts itself (multi-process, the
# MongoDB stand-in on PostgreSQL at 127.0.0.1:5432, fresh databases). Included by the
# Makefile; see infra/bench/README.md. The bench is its own module, outside go.work.
BENCH_FLAGS ?=

.PHONY: bench

## bench: distinct, rush, propagation, listing, expiry and onsale scenarios; summary in infra/bench/results/ (BENCH_FLAGS='-h' lists the flags)
bench:
	cd infra/bench && GOWORK=off $(GO) run . $(BENCH_FLAGS)
