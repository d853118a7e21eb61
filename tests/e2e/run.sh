#!/bin/sh
# End-to-end tests of the real app (WebDriver smoke test + deep links), run
# inside a throw-away desktop session (scripts/headless-session.sh: private
# D-Bus session bus, unlocked gnome-keyring, Xvfb).
#   tests/e2e/run.sh [extra node --test args…]
# Needs: target/debug/keyport-app and keyport (or $KEYPORT_APP_BIN, $KEYPORT_CLI_BIN), tauri-driver on PATH,
# in ~/.cargo/bin or at $TAURI_DRIVER, /usr/bin/WebKitWebDriver, node >= 20.
set -eu
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"

export KEYPORT_APP_BIN="${KEYPORT_APP_BIN:-$ROOT/target/debug/keyport-app}"
export KEYPORT_CLI_BIN="${KEYPORT_CLI_BIN:-$ROOT/target/debug/keyport}"
for bin in "$KEYPORT_APP_BIN" "$KEYPORT_CLI_BIN"; do
    if [ ! -x "$bin" ]; then
        echo "e2e: $bin not found; run \`cargo build\` first" >&2
        exit 1
    fi
done
# Resolve tauri-driver now: headless-session.sh replaces HOME.
if [ -z "${TAURI_DRIVER:-}" ]; then
    TAURI_DRIVER="$(command -v tauri-driver || true)"
    [ -n "$TAURI_DRIVER" ] || [ ! -x "$HOME/.cargo/bin/tauri-driver" ] || TAURI_DRIVER="$HOME/.cargo/bin/tauri-driver"
fi
if [ -z "$TAURI_DRIVER" ]; then
    echo "e2e: tauri-driver not found; install it: cargo install tauri-driver --version ^2 --locked" >&2
    exit 1
fi
export TAURI_DRIVER

# One test file at a time: every app instance in the session shares the
# single-instance D-Bus name, so two at once would forward to each other.
exec scripts/headless-session.sh node --test --test-concurrency=1 --test-reporter=tap \
    "$@" tests/e2e/*.test.mjs
