#!/bin/sh
# Installs what building and testing Keyport needs on Debian/Ubuntu, skipping
# what is already there: system packages (apt), the UI's npm packages, and
# tauri-driver. Safe to run again; `make run` and `make test` call it.
#   scripts/install-deps.sh [mutants]   # `mutants`: cargo-mutants too (make mutants)
set -eu
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

# Build: WebKitGTK and friends; the tray icon's library, loaded at run time
# (libayatana-appindicator3-1). Tests: a virtual display, a session bus, a
# Secret Service, WebKit's WebDriver, Chromium for the UI tests, and the
# desktop tools deep links go through; a real IMAP server (Dovecot, started
# by the broker tests on a loopback port with their own configuration); the
# desktop's side of the tray icon and window closing (tests/e2e/tray_host.py:
# python3-dbus, python3-gi, python3-xlib).
PACKAGES="build-essential pkg-config curl file libwebkit2gtk-4.1-dev librsvg2-dev
libayatana-appindicator3-dev libayatana-appindicator3-1 libssl-dev xvfb xauth dbus dbus-x11 webkit2gtk-driver
xdg-utils desktop-file-utils libglib2.0-bin gnome-keyring chromium imagemagick rpm x11-utils
python3 python3-venv python3-yaml python3-dbus python3-gi python3-xlib procps dovecot-imapd dovecot-submissiond
msmtp neomutt isync libsasl2-modules-kdexoauth2 openssl"

missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    missing="$missing nodejs npm"
fi
if [ -n "$missing" ]; then
    echo "==> apt-get install:$missing"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
    if [ -x "$HOME/.cargo/bin/cargo" ]; then
        PATH="$HOME/.cargo/bin:$PATH"
    else
        echo "==> installing Rust (rustup)"
        curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal -c rustfmt,clippy
        PATH="$HOME/.cargo/bin:$PATH"
    fi
fi
for c in rustfmt clippy; do
    if ! cargo "$c" --version >/dev/null 2>&1 && command -v rustup >/dev/null 2>&1; then
        rustup component add "$c"
    fi
done

# The UI's packages (npm ci rejects the lock npm 11 writes for @tauri-apps/cli).
if [ ! -d ui/node_modules ] || [ ui/package-lock.json -nt ui/node_modules/.package-lock.json ]; then
    echo "==> npm install (ui)"
    npm --prefix ui install --no-audit --no-fund --loglevel=error
fi

if ! command -v cargo-fuzz >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/cargo-fuzz" ]; then
    echo "==> cargo install cargo-fuzz"
    cargo install cargo-fuzz --locked --quiet
fi

if ! command -v tauri-driver >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/tauri-driver" ]; then
    echo "==> cargo install tauri-driver"
    cargo install tauri-driver --version ^2 --locked --quiet
fi

if [ "${1:-}" = mutants ] && ! command -v cargo-mutants >/dev/null 2>&1 \
        && [ ! -x "$HOME/.cargo/bin/cargo-mutants" ]; then
    echo "==> cargo install cargo-mutants"
    cargo install cargo-mutants --locked --quiet
fi
