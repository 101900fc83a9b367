# keyward: `make dev` runs it locally, `make test` runs every test. Both set up what they
# need first (scripts/setup.sh), idempotently.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# worker-build would download these; point it at the ones setup installed instead.
export WASM_BINDGEN_BIN ?= $(HOME)/.cargo/bin/wasm-bindgen
export ESBUILD_BIN ?= $(CURDIR)/node_modules/.bin/esbuild
export WASM_OPT_BIN ?= $(CURDIR)/node_modules/.bin/wasm-opt
export WRANGLER_SEND_METRICS := false
export PATH := $(HOME)/.cargo/bin:$(PATH)

WORKER_BUNDLE := worker/build/index.js
WORKER_SOURCES := $(shell find core/src worker/src -name '*.rs') core/Cargo.toml worker/Cargo.toml Cargo.lock \
  schemas/openapi.json $(wildcard portal/*.html portal/*.css portal/*.js)

.PHONY: help setup build worker cli dev test test-native test-e2e lint bench bench-core bench-edge bench-api bench-me bench-sync bench-import bench-limits bench-size bench-scan deploy-dry-run

help:
	@echo "make dev    build, start the Worker locally (127.0.0.1:8787), load keys.yaml, print a curl line"
	@echo "make test   every test: fmt, clippy, unit, CLI and end-to-end (the real Worker in workerd)"
	@echo "make bench  criterion benches and the edge load test (see BENCHMARKS.md)"

setup:
	@scripts/setup.sh

$(WORKER_BUNDLE): $(WORKER_SOURCES)
	cd worker && worker-build --release
	@touch $@

worker: setup $(WORKER_BUNDLE)

cli: setup
	cargo build -p keyward

build: worker cli

dev: cli
	@scripts/dev.sh

lint: setup
	cargo fmt --all --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy -p keyward-worker --target wasm32-unknown-unknown -- -D warnings
	RUSTDOCFLAGS='-D warnings' cargo doc -p keyward-core --no-deps
	RUSTDOCFLAGS='-D warnings' cargo doc -p keyward-core --no-deps --features schema,sqlite,scan

test-native: setup
	cargo test -p keyward-core -p keyward

test-e2e: build
	cargo test -p keyward-e2e -- --test-threads=2

# The production bundle builds from wrangler.toml without network, for the default and a
# deployed environment.
deploy-dry-run: setup
	@for env in "" production; do \
	  d=$$(mktemp -d) && npx wrangler deploy --dry-run --outdir "$$d" $${env:+--env $$env} && rm -rf "$$d" || exit 1; \
	done

test: lint test-native test-e2e deploy-dry-run

bench-core: setup
	cargo bench -p keyward-core --bench hot_paths

bench-edge: build
	bench/edge.sh

bench-api: worker
	bench/api.sh

bench-me: worker cli
	bench/me.sh

bench-sync: worker
	bench/sync.sh

bench-import: worker
	bench/import.sh 10000

bench-limits: worker
	bench/limits.sh

bench-size: worker
	bench/wasm-size.sh

bench-scan: setup
	bench/scan.sh

bench: bench-core bench-edge bench-api bench-me bench-sync bench-import bench-limits bench-size bench-scan
