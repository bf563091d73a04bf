# Cortex: `make run` starts Cortex on the default coordination home;
# `make test` runs every test. Both install what is missing first, and every
# install step is idempotent (it checks before it installs).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

CARGO ?= cargo
# The Claude Code CLI the end-to-end tests run, pinned.
CLAUDE_CODE_VERSION := 2.1.197
TOOLS := $(CURDIR)/.tools
CLAUDE_BIN := $(TOOLS)/claude-code/node_modules/.bin/claude
UNAME := $(shell uname -s)

# Debian/Ubuntu packages the build needs (none yet beyond a C toolchain).
APT_BUILD := build-essential pkg-config

.PHONY: help run test deps deps-test lint unit e2e e2e-claude bench eval-router fmt clean

help:
	@echo "make run    - install what is missing, build, start Cortex on the default home"
	@echo "make test   - install what is missing, run lint and every test"
	@echo "make bench  - run the benchmarks (numbers go to bench/results/)"
	@echo "make eval-router - routing accuracy on the labeled sets"

# ---- installation (idempotent) ------------------------------------------

define apt_install
	@if command -v apt-get >/dev/null 2>&1; then \
	  missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	  if [ -n "$$missing" ]; then \
	    echo "installing:$$missing"; \
	    SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	    $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  fi; \
	fi
endef

deps:
	@command -v $(CARGO) >/dev/null || { echo "cargo not found: install Rust with rustup (https://rustup.rs)"; exit 1; }
ifeq ($(UNAME),Linux)
	$(call apt_install,$(APT_BUILD))
endif

deps-test: deps
	@$(CARGO) fmt --version >/dev/null 2>&1 || rustup component add rustfmt
	@$(CARGO) clippy --version >/dev/null 2>&1 || rustup component add clippy
	@command -v npm >/dev/null || { echo "npm not found: install Node.js 20 or newer"; exit 1; }
	@if [ "$$($(CLAUDE_BIN) --version 2>/dev/null | cut -d' ' -f1)" != "$(CLAUDE_CODE_VERSION)" ]; then \
	  echo "installing @anthropic-ai/claude-code@$(CLAUDE_CODE_VERSION)"; \
	  mkdir -p $(TOOLS)/claude-code; \
	  npm install --silent --no-audit --no-fund --prefix $(TOOLS)/claude-code @anthropic-ai/claude-code@$(CLAUDE_CODE_VERSION) >/dev/null; \
	fi

# ---- the two commands -----------------------------------------------------

run: deps
	$(CARGO) build --release -p cortex-cli
	./target/release/cortex run

test: deps-test lint unit

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

unit:
	$(CARGO) build --workspace --bins
	CORTEX_CLAUDE_BIN=$(CLAUDE_BIN) $(CARGO) test --workspace

bench: deps
	$(CARGO) bench -p cortex-core -p cortex-engine

# Routing quality on our labeled sets, and on the shared dev corpora when
# they are next to the repository.
eval-router: deps
	$(CARGO) build -p cortex-cli
	./target/debug/cortex eval --defaults --stream tests/data/routing/golden.jsonl tests/data/routing/holdout.jsonl
	@if ls ../shared/routing/dev-*.jsonl >/dev/null 2>&1; then \
	  ./target/debug/cortex eval --defaults --with-scope --stream ../shared/routing/dev-*.jsonl; \
	else echo "(../shared/routing not found: dev corpora skipped)"; fi

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
	rm -rf $(TOOLS)
