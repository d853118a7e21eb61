#!/bin/sh
# Runs a command inside a throw-away desktop session: a throw-away HOME, its
# own D-Bus session bus, an unlocked GNOME Keyring (Secret Service) and an
# Xvfb display unless DISPLAY is already set.
#   scripts/headless-session.sh <command> [args…]
#
# The keyring is started by D-Bus activation from a service file in the
# throw-away HOME, unlocked with a throw-away password. GNOME Keyring 42–50
# can abort when many short-lived clients connect and disconnect at once (an
# upstream race, `gkd_secret_service_get_pkcs11_session: assertion 'client'
# failed`); on a desktop, systemd or D-Bus starts it again. Here the next
# call starts it again from the same service file: same HOME, same stored
# items, unlocked — so the suites exercise Keyport's reconnect-and-retry
# rather than dying with the daemon.
set -eu
if [ -z "${KEYPORT_IN_SESSION:-}" ]; then
    export KEYPORT_IN_SESSION=1
    # Tools installed under the real HOME stay reachable.
    export RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}" CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}"
    export npm_config_cache="${npm_config_cache:-$HOME/.npm}"
    export HOME="$(mktemp -d /tmp/keyport-home.XXXXXX)"
    export XDG_DATA_HOME="$HOME/.local/share" XDG_CONFIG_HOME="$HOME/.config" XDG_CACHE_HOME="$HOME/.cache"
    export XDG_RUNTIME_DIR="$HOME/.run"
    mkdir -p "$XDG_RUNTIME_DIR" "$XDG_DATA_HOME/applications" "$XDG_DATA_HOME/dbus-1/services" \
        "$HOME/.keyport-session"
    chmod 700 "$XDG_RUNTIME_DIR"
    # The user's service directory comes first: this file wins over the
    # system's org.freedesktop.secrets.service.
    cat >"$HOME/.keyport-session/keyring" <<'SH'
#!/bin/sh
printf 'keyport-test' | exec gnome-keyring-daemon --foreground --unlock --components=secrets
SH
    chmod +x "$HOME/.keyport-session/keyring"
    cat >"$XDG_DATA_HOME/dbus-1/services/org.freedesktop.secrets.service" <<SVC
[D-BUS Service]
Name=org.freedesktop.secrets
Exec=$HOME/.keyport-session/keyring
SVC
    exec dbus-run-session -- "$0" "$@"
fi
export WEBKIT_DISABLE_DMABUF_RENDERER=1 NO_AT_BRIDGE=1

cleanup() {
    [ -n "${XVFB_PID:-}" ] && kill "$XVFB_PID" 2>/dev/null || true
    rm -rf "$HOME"
}
trap cleanup EXIT INT TERM

# Start the Secret Service now and wait until it answers.
i=0
until dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
        org.freedesktop.DBus.StartServiceByName string:org.freedesktop.secrets uint32:0 >/dev/null 2>&1 &&
      dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
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
