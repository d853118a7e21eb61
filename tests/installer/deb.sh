#!/bin/sh
# Linux installer test: builds the release .deb and .rpm, checks what they
# contain, installs the .deb with apt, opens a `dev.keyport:` link with both
# xdg-open and `gio open` and checks the running INSTALLED app received each,
# then removes the package again.
#   tests/installer/deb.sh
# Needs root or sudo (apt-get install/remove), and what scripts/install-deps.sh
# installs. KEYPORT_INSTALLER_NO_BUILD=1 reuses the bundles already in
# target/release/bundle (for iterating on this script).
#
# Why the test touches the per-user MIME defaults: a desktop finds the handler
# of `x-scheme-handler/dev.keyport` in ~/.config/mimeapps.list first and then
# in the mimeinfo.cache that `update-desktop-database` writes for
# /usr/share/applications (dpkg runs it through desktop-file-utils' trigger on
# install and removal). A fresh account therefore gets the packaged desktop
# file, and the test checks exactly that before the app ever runs. The app
# itself, when started, registers the scheme at runtime (deep-link
# `register_all()`), which writes ~/.local/share/applications/keyport-handler.desktop
# and makes it the per-user default. To exercise the PACKAGED file while the
# app is running, the test points the per-user default back at it
# (`xdg-mime default <packaged>.desktop x-scheme-handler/dev.keyport`), the
# same thing a user does when picking Keyport in "Open with". The
# runtime-registered handler is then tried too and reported as a note.
# shellcheck disable=SC2015 # `[ test ] && ok … || fail …`: ok() always succeeds
set -eu
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
URL='dev.keyport:/oauth/callback?state=unknownstate456&code=x'
SCHEME_MIME='x-scheme-handler/dev.keyport'
MARK='callback for an unknown flow rejected'
DEB_MAX=5000000   # bytes (5 MB)
BIN_MAX=12000000  # bytes (12 MB)

ok()   { echo "ok   - $*"; echo pass >> "$RESULTS"; }
fail() { echo "FAIL - $*" >&2; echo fail >> "$RESULTS"; }
note() { echo "note - $*"; }
size() { stat -c %s "$1"; }
mb()   { awk -v b="$1" 'BEGIN { printf "%.2f MB", b / 1000000 }'; }

# Checks one desktop file: Exec passes the URL (%u), the scheme is declared,
# and desktop-file-validate accepts it.
check_desktop_file() { # <file> <label>
    f=$1 label=$2
    if grep -Eq '^Exec=[^ ]*keyport %u$' "$f"; then ok "$label: Exec passes the URL (%u)"
    else fail "$label: Exec does not end in %u: $(grep '^Exec=' "$f" || echo none)"; fi
    if grep -Eq "^MimeType=(.*;)?$SCHEME_MIME;" "$f"; then ok "$label: MimeType declares $SCHEME_MIME"
    else fail "$label: no MimeType=$SCHEME_MIME; line: $(grep '^MimeType=' "$f" || echo none)"; fi
    if out=$(desktop-file-validate "$f" 2>&1); then ok "$label: desktop-file-validate"
    else fail "$label: desktop-file-validate: $out"; fi
}

# ---------------------------------------------------------------------------
# Inside the headless session (own D-Bus, keyring, Xvfb, throw-away HOME).
if [ "${1:-}" = "--in-session" ]; then
    unset BROWSER
    export KEYPORT_DATA_DIR="$HOME/keyport-data" KEYPORT_CONFIG_DIR="$HOME/keyport-config"
    mkdir -p "$KEYPORT_DATA_DIR" "$KEYPORT_CONFIG_DIR"
    LOG="$KEYPORT_DATA_DIR/keyport.log"
    count() { if [ -f "$LOG" ]; then grep -c "$MARK" "$LOG" || true; else echo 0; fi; }
    wait_count() { # <n> <seconds>
        i=0
        while [ "$(count)" -lt "$1" ]; do
            i=$((i + 1)); [ "$i" -gt $(($2 * 10)) ] && return 1
            sleep 0.1
        done
    }
    others() { # keyport processes other than the main one
        pgrep -x keyport | grep -vx "$APP_PID" || true
    }
    deliver() { # <label> <command…>: runs the opener, waits for one more log line
        label=$1; shift
        before=$(count)
        if ! timeout 20 "$@" "$URL" >"$HOME/opener.out" 2>&1; then
            fail "$label: the opener failed: $(tr '\n' ' ' < "$HOME/opener.out")"
            return 1
        fi
        if wait_count $((before + 1)) 20; then
            # The forwarding process exits once it has handed the URL over.
            i=0
            while [ -n "$(others)" ] && [ "$i" -lt 100 ]; do i=$((i + 1)); sleep 0.1; done
            if [ -n "$(others)" ]; then
                # shellcheck disable=SC2046
                fail "$label: a second keyport process is still running (not forwarded to the running app): $(ps -o pid=,etime=,args= -p $(others | tr '\n' ' ') | tr '\n' ' ')"
                for p in $(others); do kill "$p" 2>/dev/null || true; done
                return 1
            fi
            if ! kill -0 "$APP_PID" 2>/dev/null; then
                fail "$label: the running app exited"
                return 1
            fi
            ok "$label: the running app received the link"
        else
            fail "$label: the running app did not log \"$MARK\" within 20 s"
            return 1
        fi
    }

    # 1. A fresh account finds the packaged desktop file, before any app run.
    d=$(xdg-mime query default "$SCHEME_MIME" 2>/dev/null || true)
    if [ "$d" = "$DESKTOP_NAME" ]; then ok "fresh account: xdg-mime default for $SCHEME_MIME is $d"
    else fail "fresh account: xdg-mime default for $SCHEME_MIME is '$d', expected $DESKTOP_NAME"; fi
    if gio mime "$SCHEME_MIME" 2>/dev/null | grep -q "$DESKTOP_NAME"; then
        ok "fresh account: gio lists $DESKTOP_NAME for $SCHEME_MIME"
    else fail "fresh account: gio does not list $DESKTOP_NAME: $(gio mime "$SCHEME_MIME" 2>&1 | tr '\n' ' ')"; fi

    # 2. Start the installed app and wait until its window is up.
    /usr/bin/keyport >"$HOME/app.out" 2>&1 &
    APP_PID=$!
    i=0
    until grep -q "Keyport window started" "$LOG" 2>/dev/null; do
        i=$((i + 1))
        if [ "$i" -gt 600 ] || ! kill -0 "$APP_PID" 2>/dev/null; then
            fail "the installed app did not start: $(tail -n 5 "$HOME/app.out" "$LOG" 2>/dev/null | tr '\n' ' ')"
            kill "$APP_PID" 2>/dev/null || true
            exit 0
        fi
        sleep 0.1
    done
    ok "/usr/bin/keyport started (pid $APP_PID)"

    # 3. The runtime registration made its own handler the per-user default;
    #    point the default back at the packaged file and deliver through it.
    after=$(xdg-mime query default "$SCHEME_MIME" 2>/dev/null || true)
    if [ "$after" != "$DESKTOP_NAME" ]; then
        note "after the app started, the per-user default is '$after' (runtime register_all()), not the packaged $DESKTOP_NAME"
        xdg-mime default "$DESKTOP_NAME" "$SCHEME_MIME"
    fi
    deliver "xdg-open via $DESKTOP_NAME" xdg-open || true
    deliver "gio open via $DESKTOP_NAME" gio open || true
    n=$(count)
    if [ "$n" -eq 2 ]; then ok "log has 2 \"$MARK\" lines after both deliveries"
    else fail "log has $n \"$MARK\" lines after both deliveries, expected 2"; fi

    # 4. Note only: the handler the app registers at runtime.
    if [ -n "$after" ] && [ "$after" != "$DESKTOP_NAME" ] \
        && [ -f "$XDG_DATA_HOME/applications/$after" ]; then
        note "runtime handler: $(grep '^Exec=' "$XDG_DATA_HOME/applications/$after")"
        xdg-mime default "$after" "$SCHEME_MIME"
        for opener in "xdg-open" "gio open"; do
            before=$(count)
            # shellcheck disable=SC2086
            timeout 20 $opener "$URL" >/dev/null 2>&1 || true
            if wait_count $((before + 1)) 10; then note "runtime handler via $opener: delivered"
            else note "runtime handler via $opener: NOT delivered"; fi
            sleep 1
            for p in $(others); do kill "$p" 2>/dev/null || true; done
        done
    fi

    kill "$APP_PID" 2>/dev/null || true
    i=0
    while kill -0 "$APP_PID" 2>/dev/null && [ "$i" -lt 50 ]; do i=$((i + 1)); sleep 0.1; done
    kill -9 "$APP_PID" 2>/dev/null || true
    exit 0
fi

# ---------------------------------------------------------------------------
# Outside: build, inspect, install, run the session part, remove.
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export PATH="$HOME/.cargo/bin:$PATH"
WORK=$(mktemp -d /tmp/keyport-installer.XXXXXX)
export RESULTS="$WORK/results"
: > "$RESULTS"
PKG=""
INSTALLED=0
finish() {
    if [ "$INSTALLED" = 1 ] && [ -n "$PKG" ]; then
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get remove -y -qq "$PKG" >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
}
trap finish EXIT
trap 'exit 130' INT TERM

TAURI="$ROOT/ui/node_modules/.bin/tauri"
[ -x "$TAURI" ] || { echo "installer: $TAURI missing (run scripts/install-deps.sh)" >&2; exit 1; }

BUNDLE="$ROOT/target/release/bundle"
touch "$WORK/stamp"
if [ "${KEYPORT_INSTALLER_NO_BUILD:-}" != 1 ]; then
    echo "==> tauri build --bundles deb,rpm (release; ~8 min from clean, ~1-2 min to re-link)"
    t0=$(date +%s)
    if ! "$TAURI" build --ci --bundles deb,rpm >"$WORK/build.log" 2>&1; then
        tail -n 40 "$WORK/build.log" >&2
        echo "installer: 0 passed, 1 failed (tauri build failed)"
        exit 1
    fi
    echo "    built in $(( $(date +%s) - t0 )) s"
    fresh="-newer $WORK/stamp"
else
    fresh=""
fi
# shellcheck disable=SC2086
DEB=$(find "$BUNDLE/deb" -maxdepth 1 -name '*.deb' $fresh -printf '%T@ %p\n' 2>/dev/null | sort -rn | head -n1 | cut -d' ' -f2-)
# shellcheck disable=SC2086
RPM=$(find "$BUNDLE/rpm" -maxdepth 1 -name '*.rpm' $fresh -printf '%T@ %p\n' 2>/dev/null | sort -rn | head -n1 | cut -d' ' -f2-)
[ -n "$DEB" ] && ok "built $(basename "$DEB")" || fail "no .deb in $BUNDLE/deb"
[ -n "$RPM" ] && ok "built $(basename "$RPM")" || fail "no .rpm in $BUNDLE/rpm"
[ -n "$DEB" ] || { echo "installer: $(grep -c pass "$RESULTS") passed, $(grep -c fail "$RESULTS") failed"; exit 1; }

# Package contents.
PKG=$(dpkg-deb -f "$DEB" Package)
dpkg-deb -x "$DEB" "$WORK/deb"
set -- "$WORK"/deb/usr/share/applications/*.desktop
if [ "$#" -eq 1 ] && [ -f "$1" ]; then
    DESKTOP_NAME=$(basename "$1")
    ok ".deb ($PKG) ships /usr/share/applications/$DESKTOP_NAME"
    check_desktop_file "$1" ".deb $DESKTOP_NAME"
else
    fail ".deb should ship exactly one desktop file, has: $*"
    DESKTOP_NAME=none
fi
if [ -n "$RPM" ]; then
    mkdir -p "$WORK/rpm"
    # rpm2cpio gives a "newc" cpio archive; unpack the desktop file without cpio.
    rpm2cpio "$RPM" | python3 -c '
import sys, os
data, out, pos = sys.stdin.buffer.read(), sys.argv[1], 0
while pos + 110 <= len(data):
    h = data[pos:pos + 110]
    size, nlen = int(h[54:62], 16), int(h[94:102], 16)
    name = data[pos + 110:pos + 110 + nlen - 1].decode()
    pos = (pos + 110 + nlen + 3) & ~3
    if name == "TRAILER!!!":
        break
    if name.endswith(".desktop") and "/applications/" in name:
        with open(os.path.join(out, os.path.basename(name)), "wb") as f:
            f.write(data[pos:pos + size])
    pos = (pos + size + 3) & ~3
' "$WORK/rpm"
    set -- "$WORK"/rpm/*.desktop
    if [ "$#" -eq 1 ] && [ -f "$1" ]; then
        ok ".rpm ($(rpm -qp --qf '%{NAME}' "$RPM" 2>/dev/null)) ships $(basename "$1")"
        check_desktop_file "$1" ".rpm $(basename "$1")"
    else
        fail ".rpm should ship exactly one desktop file, has: $*"
    fi
fi

# Install.
echo "==> apt-get install ./$(realpath --relative-to="$ROOT" "$DEB")"
if DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$DEB" >"$WORK/apt.log" 2>&1; then
    INSTALLED=1
    ok "apt-get install $(basename "$DEB")"
else
    cat "$WORK/apt.log" >&2
    fail "apt-get install $(basename "$DEB")"
fi
if [ "$INSTALLED" = 1 ]; then
    [ -x /usr/bin/keyport ] && ok "/usr/bin/keyport installed" || fail "/usr/bin/keyport missing after install"
    if [ -f "/usr/share/applications/$DESKTOP_NAME" ]; then ok "/usr/share/applications/$DESKTOP_NAME installed"
    else fail "/usr/share/applications/$DESKTOP_NAME missing after install"; fi
    if grep -qs "^$SCHEME_MIME=.*$DESKTOP_NAME" /usr/share/applications/mimeinfo.cache; then
        ok "mimeinfo.cache maps $SCHEME_MIME to $DESKTOP_NAME (dpkg trigger ran update-desktop-database)"
    else
        fail "/usr/share/applications/mimeinfo.cache does not map $SCHEME_MIME (is desktop-file-utils installed?)"
    fi

    export DESKTOP_NAME RESULTS
    "$ROOT/scripts/headless-session.sh" "$ROOT/tests/installer/deb.sh" --in-session \
        || fail "the headless session failed"
    BIN_SIZE=$(size /usr/bin/keyport)

    echo "==> apt-get remove $PKG"
    if DEBIAN_FRONTEND=noninteractive $SUDO apt-get remove -y -qq "$PKG" >"$WORK/apt.log" 2>&1; then
        INSTALLED=0
        ok "apt-get remove $PKG"
    else
        cat "$WORK/apt.log" >&2
        fail "apt-get remove $PKG"
    fi
    [ ! -e /usr/bin/keyport ] && ok "/usr/bin/keyport gone after removal" \
        || fail "/usr/bin/keyport still there after removal"
    [ ! -e "/usr/share/applications/$DESKTOP_NAME" ] && ok "$DESKTOP_NAME gone after removal" \
        || fail "/usr/share/applications/$DESKTOP_NAME still there after removal"
fi

# Sizes.
DEB_SIZE=$(size "$DEB")
echo "size: .deb $(basename "$DEB") $DEB_SIZE bytes ($(mb "$DEB_SIZE"))"
[ -n "$RPM" ] && echo "size: .rpm $(basename "$RPM") $(size "$RPM") bytes ($(mb "$(size "$RPM")"))"
[ "$DEB_SIZE" -lt "$DEB_MAX" ] && ok ".deb is under $(mb $DEB_MAX)" \
    || fail ".deb is $(mb "$DEB_SIZE"), over the $(mb $DEB_MAX) target"
if [ -n "${BIN_SIZE:-}" ]; then
    echo "size: installed /usr/bin/keyport $BIN_SIZE bytes ($(mb "$BIN_SIZE"))"
    [ "$BIN_SIZE" -lt "$BIN_MAX" ] && ok "installed binary is under $(mb $BIN_MAX)" \
        || fail "installed binary is $(mb "$BIN_SIZE"), over the $(mb $BIN_MAX) target"
fi

p=$(grep -c pass "$RESULTS" || true)
f=$(grep -c fail "$RESULTS" || true)
echo "installer: $p passed, $f failed"
[ "$f" -eq 0 ]
