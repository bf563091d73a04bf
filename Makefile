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

# Debian/Ubuntu packages: the build (Tauri 2 needs WebKitGTK 4.1 and an
# appindicator), and the desktop end-to-end test (a virtual display, a
# D-Bus session with a notification daemon, WebKit's WebDriver).
APT_BUILD := build-essential pkg-config curl wget file libwebkit2gtk-4.1-dev libxdo-dev libssl-dev \
	libayatana-appindicator3-dev librsvg2-dev git
APT_E2E := xvfb xauth x11-utils xdotool dbus dbus-x11 libnotify-bin dunst webkit2gtk-driver
TAURI_DRIVER := $(TOOLS)/bin/tauri-driver
# A one-node Slurm cluster on 127.0.0.1 for the scale-out tests.
APT_CLUSTER := slurm-wlm munge slurmrestd slurm-wlm-jwt-plugin

.PHONY: cluster-deps cluster-up cluster-down cluster-test help run run-headless test deps deps-test ui-deps ui ui-test e2e-desktop lint unit bench eval-router train-router bundle fmt clean

help:
	@echo "make run    - install what is missing, build, start the desktop app on the default home"
	@echo "make run-headless - the same for the headless engine (cortex run)"
	@echo "make test   - install what is missing, run lint and every test"
	@echo "make bench  - run the benchmarks (numbers go to bench/results/)"
	@echo "make eval-router - routing accuracy on the labeled sets"
	@echo "make train-router - retrain the router's model from tests/data/routing (deterministic)"

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

deps-test: deps ui-deps
ifeq ($(UNAME),Linux)
	$(call apt_install,$(APT_E2E))
	@[ -x $(TAURI_DRIVER) ] || { echo "installing tauri-driver"; $(CARGO) install tauri-driver --locked --root $(TOOLS) >/dev/null; }
endif
	@$(CARGO) fmt --version >/dev/null 2>&1 || rustup component add rustfmt
	@$(CARGO) clippy --version >/dev/null 2>&1 || rustup component add clippy
	@command -v npm >/dev/null || { echo "npm not found: install Node.js 20 or newer"; exit 1; }
	@if [ "$$($(CLAUDE_BIN) --version 2>/dev/null | cut -d' ' -f1)" != "$(CLAUDE_CODE_VERSION)" ]; then \
	  echo "installing @anthropic-ai/claude-code@$(CLAUDE_CODE_VERSION)"; \
	  mkdir -p $(TOOLS)/claude-code; \
	  npm install --silent --no-audit --no-fund --prefix $(TOOLS)/claude-code @anthropic-ai/claude-code@$(CLAUDE_CODE_VERSION) >/dev/null; \
	fi

cluster-deps:
ifeq ($(UNAME),Linux)
	$(call apt_install,$(APT_CLUSTER))
endif

ui-deps:
	@command -v npm >/dev/null || { echo "npm not found: install Node.js 20 or newer"; exit 1; }
	@if [ ! -d ui/node_modules ] || [ ui/package-lock.json -nt ui/node_modules/.package-lock.json ]; then \
	  echo "installing the UI's npm packages"; \
	  (cd ui && { npm ci --no-audit --no-fund --silent || npm install --no-audit --no-fund --silent; }); fi
# (npm 11 can refuse its own lockfile over optional platform packages that
#  are missing from it; `npm install` then resolves the same pinned versions.)

ui: ui-deps
	cd ui && npm run build

# ---- the two commands -----------------------------------------------------

run: deps ui
	$(CARGO) build -p cortex-desktop -p cortex-cli
	./target/debug/cortex-desktop

# The headless engine, for servers and scripts.
run-headless: deps
	$(CARGO) build --release -p cortex-cli
	./target/release/cortex run

test: deps-test lint unit ui-test cluster-test e2e-desktop

lint: ui
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

ui-test: ui-deps
	cd ui && npm run typecheck && npm test

# The real app under Xvfb, through WebDriver, with a D-Bus session and a
# notification daemon; screenshots and logs in target/desktop-e2e/.
e2e-desktop: deps-test ui
	$(CARGO) build -p cortex-desktop -p cortex-cli -p cortex-tests --bins
	tests/desktop/run.sh target/debug/cortex-desktop target/debug/cortex target/debug/fake-agent $(TAURI_DRIVER) \
	  target/debug/close-window

# A one-node Slurm cluster on 127.0.0.1 (config, state and logs in
# target/slurm), and the tests of workers as its jobs.
SLURM_DIR := $(CURDIR)/target/slurm
cluster-up: cluster-deps
	tests/cluster/slurm.sh up $(SLURM_DIR)

cluster-down:
	tests/cluster/slurm.sh down $(SLURM_DIR)

cluster-test: cluster-deps
ifeq ($(UNAME),Linux)
	$(CARGO) build -p cortex-cli -p cortex-tests --bins
	$(CARGO) test -p cortex-tests --test cluster --no-run
	tests/cluster/run.sh $(SLURM_DIR) $(CARGO) test -p cortex-tests --test cluster -- --ignored --test-threads 2
else
	@echo "cluster-test: the Slurm cluster runs on Linux only; not run here"
endif

unit:
	$(CARGO) build --workspace --bins
	CORTEX_CLAUDE_BIN=$(CLAUDE_BIN) $(CARGO) test --workspace

bench: deps
	$(CARGO) bench -p cortex-core -p cortex-engine

# Routing quality on our labeled sets, and on the shared dev corpora when
# they are next to the repository.
eval-router: deps
	$(CARGO) build -p cortex-cli
	./target/debug/cortex eval --defaults --folds 0 --stream tests/data/routing/blind.jsonl tests/data/routing/holdout.jsonl tests/data/routing/golden.jsonl
	./target/debug/cortex router cv
	@if ls ../shared/routing/dev-*.jsonl >/dev/null 2>&1; then \
	  ./target/debug/cortex eval --defaults --folds 0 --with-scope --stream --pool ../shared/routing/dev-*.jsonl; \
	else echo "(../shared/routing not found: dev corpora skipped)"; fi

# The router's model, from the training data in tests/data/routing; the same
# data gives the same bytes (crates/core/data/router-model.bin).
train-router: deps
	$(CARGO) build -p cortex-cli
	./target/debug/cortex router train

fmt:
	$(CARGO) fmt --all

bundle: deps ui
	cd src-tauri && ../ui/node_modules/.bin/tauri build

clean:
	$(CARGO) clean
	rm -rf $(TOOLS) ui/node_modules ui/dist
