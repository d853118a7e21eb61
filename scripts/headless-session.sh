#!/bin/sh
# Runs a command inside a throw-away desktop session: its own D-Bus session
# bus, an unlocked GNOME Keyring (Secret Service) with a throw-away HOME, and
# an Xvfb display unless DISPLAY is already set.
#   scripts/headless-session.sh <command> [args…]
set -eu
if [ -z "${KEYPORT_IN_SESSION:-}" ]; then
    export KEYPORT_IN_SESSION=1
    exec dbus-run-session -- "$0" "$@"
fi

# Tools installed under the real HOME stay reachable.
export RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}" CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}"
export npm_config_cache="${npm_config_cache:-$HOME/.npm}"
export HOME="$(mktemp -d /tmp/keyport-home.XXXXXX)"
export XDG_DATA_HOME="$HOME/.local/share" XDG_CONFIG_HOME="$HOME/.config" XDG_CACHE_HOME="$HOME/.cache"
export XDG_RUNTIME_DIR="$HOME/.run"
mkdir -p "$XDG_RUNTIME_DIR" "$XDG_DATA_HOME/applications" && chmod 700 "$XDG_RUNTIME_DIR"
export WEBKIT_DISABLE_DMABUF_RENDERER=1 NO_AT_BRIDGE=1

cleanup() {
    [ -n "${XVFB_PID:-}" ] && kill "$XVFB_PID" 2>/dev/null || true
    [ -n "${KEYRING_PID:-}" ] && kill "$KEYRING_PID" 2>/dev/null || true
    rm -rf "$HOME"
}
trap cleanup EXIT INT TERM

# Secret Service: gnome-keyring, unlocked with a throw-away password.
eval "$(printf 'keyport-test' | gnome-keyring-daemon --unlock --components=secrets)"
KEYRING_PID="${GNOME_KEYRING_PID:-}"
i=0
until dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
        org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q true; do
    i=$((i + 1)); [ "$i" -gt 100 ] && { echo "Secret Service did not start" >&2; exit 1; }
    sleep 0.1
done

if [ -z "${DISPLAY:-}" ]; then
    n=99
    while [ -e "/tmp/.X11-unix/X$n" ] || [ -e "/tmp/.X$n-lock" ]; do n=$((n + 1)); done
    Xvfb ":$n" -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
    XVFB_PID=$!
    export DISPLAY=":$n"
    i=0
    until [ -e "/tmp/.X11-unix/X$n" ]; do
        i=$((i + 1)); [ "$i" -gt 100 ] && { echo "Xvfb did not start" >&2; exit 1; }
        sleep 0.1
    done
fi

"$@"
