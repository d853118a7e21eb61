# Keyport. `make run` opens the app; `make test` runs every test. Both
# install what is missing first (scripts/install-deps.sh).
SHELL := /bin/sh
export PATH := $(HOME)/.cargo/bin:$(PATH)
CARGO ?= cargo
SESSION := scripts/headless-session.sh

.PHONY: bindings run test deps ui build bundle lint test-rust test-ui test-e2e test-installer test-fuzz demo bench clean mutants

deps:
	@scripts/install-deps.sh

ui: deps
	npm --prefix ui run build

build: ui
	$(CARGO) build --workspace

# This machine's installers (Linux: .deb, .rpm, AppImage in
# target/release/bundle), as the release workflow builds them: the `keyport`
# CLI staged for bundle.externalBin, then only the app package bundled, with
# the CLI beside it.
bundle: deps
	scripts/stage-cli.sh
	ui/node_modules/.bin/tauri build --config src-tauri/keyport-app/tauri.bundle.conf.json -- -p keyport-app

# Opens the Keyport window (debug build).
run: build
	./target/debug/keyport-app

# The UI is built first: the binary embeds ui/dist.
lint: ui
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	npm --prefix ui run check

# Unit and integration tests of every crate; never the benchmark (make bench).
test-rust: build
	$(SESSION) $(CARGO) test --workspace

test-ui: deps
	npm --prefix ui test

test-e2e: build
	tests/e2e/run.sh

# The release workflow's syntax, then the .deb built (both programs),
# installed, `keyport token` run from it, driven through xdg-open and gio
# open, and removed (needs root or sudo).
test-installer: deps
	tests/installer/check-workflow.sh
	tests/installer/deb.sh

# Each fuzz target for a short, bounded time (tests/fuzz/README.md).
test-fuzz: deps
	scripts/fuzz.sh

# Mutation testing of the core's security-critical code with the tests that
# cover it (scripts/mutants.sh; hours, not part of `make test`). Results in
# target/mutants/, recorded in docs/RELIABILITY.md.
mutants:
	@scripts/install-deps.sh mutants
	scripts/mutants.sh $(GROUPS)

# Everything CI runs.
test: lint test-rust test-ui test-e2e test-fuzz test-installer
	@echo "make test: all suites passed"

# The app against the fake provider: a whole connect without Google credentials.
demo: build
	scripts/demo.sh

# Figures, printed (never asserted): connect flow against Google's own
# library, token broker, refresh storm, 1,000 connections, the Connections
# view with 200 connections in Chromium (ui/tests/bench), then footprint
# (sizes of both programs and the .deb, CLI process times, cold start to
# first paint, memory). stage-cli.sh rebuilds target/release/keyport on its
# own, as the installers ship it (the workspace build unifies its features
# with the app's).
bench: ui
	test -x target/bench-venv/bin/python || python3 -m venv target/bench-venv
	target/bench-venv/bin/pip install --quiet --disable-pip-version-check google-auth-oauthlib
	KEYPORT_PEER_PYTHON=$(CURDIR)/target/bench-venv/bin/python $(SESSION) $(CARGO) bench -p keyport-cli --bench keyport
	npm --prefix ui run bench
	$(CARGO) build --release --workspace
	scripts/stage-cli.sh
	$(SESSION) tests/bench/footprint.sh

clean:
	$(CARGO) clean
	rm -rf ui/dist ui/node_modules gen

# ui/src/lib/bindings.ts anew from the Rust types (cargo test fails when it is stale).
bindings:
	KEYPORT_WRITE_BINDINGS=1 $(CARGO) test -p keyport-app bindings
