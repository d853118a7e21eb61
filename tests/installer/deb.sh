#!/bin/sh
# Linux installer test: builds the release .deb and .rpm the way the release
# workflow does (scripts/stage-cli.sh, then `tauri build` with
# src-tauri/keyport-app/tauri.bundle.conf.json), checks that they carry both
# programs (/usr/bin/keyport, the command line, and /usr/bin/keyport-app, the
# window) and that the command line links no GUI library, installs the .deb
# with apt, connects an account with the INSTALLED `keyport` against the fake
# provider and prints its token, opens a `dev.keyport:` link with both
# xdg-open and `gio open` and checks the running INSTALLED app received each,
# then removes the package again and reports the sizes.
#   tests/installer/deb.sh
# Needs root or sudo (apt-get install/remove), and what scripts/install-deps.sh
# installs; builds everything else itself (the CLI, the fake provider, the
# bundles). KEYPORT_INSTALLER_NO_BUILD=1 reuses the bundles already in
# target/release/bundle and the binaries in target/ (for iterating on this
# script).
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
DEB_MAX=7000000   # bytes (7 MB): the .deb with both programs
CLI_MAX=6000000   # bytes (6 MB): /usr/bin/keyport, stripped
APP_MAX=12000000  # bytes (12 MB): /usr/bin/keyport-app, stripped
# Libraries the command line must not link (ldd); the app must link webkit.
GUI_LIBS='gtk|gdk|webkit|javascriptcore|soup'

ok()   { echo "ok   - $*"; echo pass >> "$RESULTS"; }
fail() { echo "FAIL - $*" >&2; echo fail >> "$RESULTS"; }
note() { echo "note - $*"; }
size() { stat -c %s "$1"; }
mb()   { awk -v b="$1" 'BEGIN { printf "%.2f MB", b / 1000000 }'; }

# Checks one desktop file: Exec passes the URL (%u), the scheme is declared,
# and desktop-file-validate accepts it.
check_desktop_file() { # <file> <label>
    f=$1 label=$2
    if grep -Eq '^Exec=([^ ]*/)?keyport-app %u$' "$f"; then ok "$label: Exec runs keyport-app with the URL (%u)"
    else fail "$label: Exec is not 'keyport-app %u': $(grep '^Exec=' "$f" || echo none)"; fi
    if grep -Eq "^MimeType=(.*;)?$SCHEME_MIME;" "$f"; then ok "$label: MimeType declares $SCHEME_MIME"
    else fail "$label: no MimeType=$SCHEME_MIME; line: $(grep '^MimeType=' "$f" || echo none)"; fi
    if out=$(desktop-file-validate "$f" 2>&1); then ok "$label: desktop-file-validate"
    else fail "$label: desktop-file-validate: $out"; fi
}

# The command line links no GUI library: ldd lists none of $GUI_LIBS.
check_no_gui() { # <binary> <label>
    if [ ! -x "$1" ]; then fail "$2: $1 missing"; return; fi
    if ! out=$(ldd "$1" 2>&1); then fail "$2: ldd $1 failed: $out"; return; fi
    gui=$(printf '%s\n' "$out" | grep -Ei "$GUI_LIBS" | awk '{ print $1 }' | tr '\n' ' ')
    if [ -z "$gui" ]; then ok "$2: ldd lists no gtk/gdk/webkit/javascriptcore/soup library ($(printf '%s\n' "$out" | grep -c '=>') libraries)"
    else fail "$2: links GUI libraries: $gui"; fi
}
# ...and the app does (so the check above can tell them apart).
check_gui() { # <binary> <label>
    if ldd "$1" 2>/dev/null | grep -qi 'webkit'; then ok "$2: ldd lists webkit (the window, as expected)"
    else fail "$2: ldd lists no webkit library: is this the app?"; fi
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
    others() { # keyport and keyport-app processes other than the main one
        pgrep -x 'keyport(-app)?' | grep -vx "$APP_PID" || true
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

    # The fake provider (a local stand-in for Google that approves at once as
    # ana@firm.example), the Gmail entry pointed at it, and the OAuth client.
    cli_connect_and_token() {
        KP=/usr/bin/keyport
        "$FAKE_PROVIDER" --port 0 --client-id "$KEYPORT_GOOGLE_CLIENT_ID" \
            --client-secret "$KEYPORT_GOOGLE_CLIENT_SECRET" >"$HOME/provider.json" 2>"$HOME/provider.err" &
        FP_PID=$!
        i=0
        until [ -s "$HOME/provider.json" ]; do
            i=$((i + 1))
            if [ "$i" -gt 100 ] || ! kill -0 "$FP_PID" 2>/dev/null; then
                fail "the fake provider did not start: $(tr '\n' ' ' < "$HOME/provider.err")"
                return 0
            fi
            sleep 0.1
        done
        field() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p" "$HOME/provider.json"; }
        base=$(field base_url)
        cat > "$KEYPORT_CONFIG_DIR/integrations.toml" <<TOML
[[integration]]
id = "gmail"
authorize_url = "$base/authorize"
issuer = "$base"
token_url = "$base/token"
revocation_url = "$base/revoke"
userinfo_url = "$base/userinfo"
check_url = "$base/gmail/v1/users/me/profile"
TOML
        # No `client set`: the package's built-in client is the one in use.
        if out=$("$KP" client list 2>&1) && printf '%s\n' "$out" | grep -q "^google .*built in .*$KEYPORT_GOOGLE_CLIENT_ID"; then
            ok "keyport client list: the built-in Google client (no client set)"
        else fail "keyport client list shows no built-in Google client: $out"; fi
        if printf '%s' "$out" | grep -q "$KEYPORT_GOOGLE_CLIENT_SECRET"; then
            fail "keyport client list printed the built-in client secret"
        fi
        # The catalog points Gmail at the fake provider: confirm it, as its writer.
        if out=$("$KP" client trust gmail --yes 2>&1); then ok "keyport client trust gmail (fake provider at $base)"
        else fail "keyport client trust gmail: $out"; fi

        # connect: the URL comes on stdout; fetching it follows the
        # provider's redirect to the CLI's loopback listener.
        "$KP" connect gmail --redirect loopback --no-browser --timeout 60 \
            >"$HOME/connect.out" 2>"$HOME/connect.err" &
        CONNECT_PID=$!
        i=0
        while ! grep -q '^http' "$HOME/connect.out" 2>/dev/null; do
            i=$((i + 1))
            if [ "$i" -gt 200 ] || ! kill -0 "$CONNECT_PID" 2>/dev/null; then break; fi
            sleep 0.1
        done
        auth=$(grep -m1 '^http' "$HOME/connect.out" 2>/dev/null || true)
        if [ -n "$auth" ]; then
            code=$(curl -sS -L --max-redirs 5 --max-time 30 -o "$HOME/callback.html" -w '%{http_code}' "$auth" 2>"$HOME/curl.err" || true)
            [ "$code" = 200 ] || note "the loopback page answered HTTP $code: $(tr '\n' ' ' < "$HOME/curl.err")"
        fi
        rc=0
        wait "$CONNECT_PID" || rc=$?
        if [ "$rc" -eq 0 ] && grep -q 'Connected gmail as ana@firm.example' "$HOME/connect.out"; then
            ok "keyport connect gmail --redirect loopback --no-browser: $(grep -m1 Connected "$HOME/connect.out")"
        else
            fail "keyport connect gmail exited $rc: $(tr '\n' ' ' < "$HOME/connect.out") $(tr '\n' ' ' < "$HOME/connect.err")"
        fi

        if out=$("$KP" list 2>&1) && printf '%s\n' "$out" | grep -q 'ana@firm.example'; then
            ok "keyport list shows ana@firm.example"
        else fail "keyport list does not show ana@firm.example: $out"; fi

        tok=$("$KP" token ana@firm.example 2>"$HOME/token.err") || tok=""
        if [ -n "$tok" ] && [ "$(printf '%s\n' "$tok" | wc -l)" -eq 1 ]; then
            ok "keyport token ana@firm.example printed a token (${#tok} characters)"
            who=$(curl -sS --max-time 10 -H "Authorization: Bearer $tok" "$base/userinfo" 2>/dev/null || true)
            if printf '%s' "$who" | grep -q '"email":"ana@firm.example"'; then
                ok "the provider accepts that token (userinfo: ana@firm.example)"
            else fail "the provider rejects that token: $who"; fi
            again=$("$KP" token ana@firm.example 2>/dev/null || true)
            if [ "$again" = "$tok" ]; then ok "keyport token again: the same (cached) token"
            else fail "keyport token again printed a different token (expected the cached one)"; fi
        else
            fail "keyport token ana@firm.example printed no token: $(tr '\n' ' ' < "$HOME/token.err")"
        fi
        kill "$FP_PID" 2>/dev/null || true
    }

    # 1. A fresh account finds the packaged desktop file, before any app run.
    d=$(xdg-mime query default "$SCHEME_MIME" 2>/dev/null || true)
    if [ "$d" = "$DESKTOP_NAME" ]; then ok "fresh account: xdg-mime default for $SCHEME_MIME is $d"
    else fail "fresh account: xdg-mime default for $SCHEME_MIME is '$d', expected $DESKTOP_NAME"; fi
    if gio mime "$SCHEME_MIME" 2>/dev/null | grep -q "$DESKTOP_NAME"; then
        ok "fresh account: gio lists $DESKTOP_NAME for $SCHEME_MIME"
    else fail "fresh account: gio does not list $DESKTOP_NAME: $(gio mime "$SCHEME_MIME" 2>&1 | tr '\n' ' ')"; fi

    # 2. The installed command line: connect Gmail at the fake provider
    #    without a browser (loopback redirect; curl plays the browser), then
    #    `keyport list` and `keyport token` from /usr/bin.
    cli_connect_and_token

    # 3. Start the installed app through `keyport` (no arguments: it execs
    #    keyport-app from its own folder, so the pid stays the same) and wait
    #    until its window is up.
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
    exe=$(readlink "/proc/$APP_PID/exe" 2>/dev/null || true)
    if [ "$exe" = /usr/bin/keyport-app ]; then
        ok "/usr/bin/keyport (no arguments) started the installed /usr/bin/keyport-app (pid $APP_PID)"
    else
        fail "/usr/bin/keyport started pid $APP_PID, which runs '$exe', not /usr/bin/keyport-app"
    fi

    # 4. The runtime registration made its own handler the per-user default;
    #    point the default back at the packaged file and deliver through it.
    after=$(xdg-mime query default "$SCHEME_MIME" 2>/dev/null || true)
    if [ "$after" != "$DESKTOP_NAME" ]; then
        note "after the app started, the per-user default is '$after' (runtime register_all()), not the packaged $DESKTOP_NAME"
        xdg-mime default "$DESKTOP_NAME" "$SCHEME_MIME"
    fi
    deliver "xdg-open via $DESKTOP_NAME" xdg-open || true
    deliver "gio open via $DESKTOP_NAME" gio open || true
    # The command line with a lone link execs keyport-app, which forwards it.
    deliver "/usr/bin/keyport <link> (through keyport-app)" /usr/bin/keyport || true
    n=$(count)
    if [ "$n" -eq 3 ]; then ok "log has 3 \"$MARK\" lines after the three deliveries"
    else fail "log has $n \"$MARK\" lines after the three deliveries, expected 3"; fi

    # 5. Note only: the handler the app registers at runtime.
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
HOST=$(rustc -vV | sed -n 's/^host: //p')
STAGED="$ROOT/target/cli/keyport-$HOST"
export FAKE_PROVIDER="$ROOT/target/release/fake-provider"
# Built the way the release workflow builds it, with a built-in Google
# client (here one the fake provider is told to know): the installed
# Keyport then signs in with no `client set` at all.
export KEYPORT_GOOGLE_CLIENT_ID="${KEYPORT_GOOGLE_CLIENT_ID:-1234567890-keyportbuiltin.apps.googleusercontent.com}"
export KEYPORT_GOOGLE_CLIENT_SECRET="${KEYPORT_GOOGLE_CLIENT_SECRET:-keyport-builtin-test-secret}"
touch "$WORK/stamp"
# build <label> <command…>: runs it with its output in $WORK/build.log.
build() {
    label=$1; shift
    echo "==> $label"
    t0=$(date +%s)
    if ! "$@" >"$WORK/build.log" 2>&1; then
        tail -n 40 "$WORK/build.log" >&2
        echo "installer: 0 passed, 1 failed ($label failed)"
        exit 1
    fi
    echo "    done in $(( $(date +%s) - t0 )) s"
}
if [ "${KEYPORT_INSTALLER_NO_BUILD:-}" != 1 ]; then
    # As the release workflow: the CLI staged for bundle.externalBin, then the
    # app (only its package: `-- -p keyport-app`) and the bundles.
    build "scripts/stage-cli.sh (keyport, release; ~3 min from clean)" "$ROOT/scripts/stage-cli.sh"
    build "tauri build --bundles deb,rpm (keyport-app, release; ~6 min from clean, ~1-2 min to re-link)" \
        "$TAURI" build --ci --bundles deb,rpm --config src-tauri/keyport-app/tauri.bundle.conf.json -- -p keyport-app
    fresh="-newer $WORK/stamp"
else
    fresh=""
fi
# The fake provider, for `keyport connect` / `keyport token` below.
if [ "${KEYPORT_INSTALLER_NO_BUILD:-}" != 1 ] || [ ! -x "$FAKE_PROVIDER" ]; then
    build "cargo build --release -p fake-provider" cargo build --release --locked -p fake-provider
fi

# The command line as built links no GUI library: the staged copy (the one
# the packages carry) and target/release/keyport (the same build after
# stage-cli.sh; a `cargo build --release --workspace` also writes it).
check_no_gui "$STAGED" "release CLI $(realpath --relative-to="$ROOT" "$STAGED")"
if [ -x "$ROOT/target/release/keyport" ]; then
    check_no_gui "$ROOT/target/release/keyport" "release CLI target/release/keyport"
fi
check_gui "$ROOT/target/release/keyport-app" "release app target/release/keyport-app"
# shellcheck disable=SC2086
DEB=$(find "$BUNDLE/deb" -maxdepth 1 -name '*.deb' $fresh -printf '%T@ %p\n' 2>/dev/null | sort -rn | head -n1 | cut -d' ' -f2-)
# shellcheck disable=SC2086
RPM=$(find "$BUNDLE/rpm" -maxdepth 1 -name '*.rpm' $fresh -printf '%T@ %p\n' 2>/dev/null | sort -rn | head -n1 | cut -d' ' -f2-)
[ -n "$DEB" ] && ok "built $(basename "$DEB")" || fail "no .deb in $BUNDLE/deb"
[ -n "$RPM" ] && ok "built $(basename "$RPM")" || fail "no .rpm in $BUNDLE/rpm"
[ -n "$DEB" ] || { echo "installer: $(grep -c pass "$RESULTS") passed, $(grep -c fail "$RESULTS") failed"; exit 1; }

# Package contents.
PKG=$(dpkg-deb -f "$DEB" Package)
# The tray icon's library is loaded at run time (dlopen), so no soname check
# finds it: the bundler adds it to the packages when the app has a tray icon.
DEPENDS=$(dpkg-deb -f "$DEB" Depends)
case ", $DEPENDS," in
    *", libayatana-appindicator3-1,"*) ok ".deb depends on libayatana-appindicator3-1 (the tray icon)" ;;
    *) fail ".deb does not depend on libayatana-appindicator3-1; Depends: $DEPENDS" ;;
esac
if [ -n "$RPM" ]; then
    if rpm -qpR "$RPM" 2>/dev/null | grep -q '^libayatana-appindicator3\.so\.1'; then ok ".rpm requires libayatana-appindicator3.so.1 (the tray icon)"
    else fail ".rpm does not require libayatana-appindicator3.so.1: $(rpm -qpR "$RPM" 2>/dev/null | tr '\n' ' ')"; fi
fi
dpkg-deb -x "$DEB" "$WORK/deb"
for b in keyport keyport-app; do
    if [ -f "$WORK/deb/usr/bin/$b" ] && [ -x "$WORK/deb/usr/bin/$b" ]; then ok ".deb ships /usr/bin/$b (executable)"
    else fail ".deb lacks an executable /usr/bin/$b: $(dpkg-deb -c "$DEB" | grep usr/bin/ | awk '{ print $1, $NF }' | tr '\n' ' ')"; fi
done
if cmp -s "$WORK/deb/usr/bin/keyport" "$STAGED"; then ok ".deb /usr/bin/keyport is the staged CLI build"
else fail ".deb /usr/bin/keyport differs from $STAGED"; fi
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
    rpm_bins=$(rpm -qlp "$RPM" 2>/dev/null | grep '^/usr/bin/' | tr '\n' ' ')
    for b in keyport keyport-app; do
        case " $rpm_bins " in
            *" /usr/bin/$b "*) ok ".rpm ships /usr/bin/$b" ;;
            *) fail ".rpm lacks /usr/bin/$b (has: $rpm_bins)" ;;
        esac
    done
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
    for b in keyport keyport-app; do
        [ -x "/usr/bin/$b" ] && ok "/usr/bin/$b installed and executable" || fail "/usr/bin/$b missing after install"
    done
    if v=$(/usr/bin/keyport --version 2>&1) && [ "$v" = "keyport $(dpkg-deb -f "$DEB" Version)" ]; then
        ok "/usr/bin/keyport --version: $v"
    else fail "/usr/bin/keyport --version: '$v', expected 'keyport $(dpkg-deb -f "$DEB" Version)'"; fi
    check_no_gui /usr/bin/keyport "installed /usr/bin/keyport"
    check_gui /usr/bin/keyport-app "installed /usr/bin/keyport-app"
    if [ -f "/usr/share/applications/$DESKTOP_NAME" ]; then ok "/usr/share/applications/$DESKTOP_NAME installed"
    else fail "/usr/share/applications/$DESKTOP_NAME missing after install"; fi
    if grep -qs "^$SCHEME_MIME=.*$DESKTOP_NAME" /usr/share/applications/mimeinfo.cache; then
        ok "mimeinfo.cache maps $SCHEME_MIME to $DESKTOP_NAME (dpkg trigger ran update-desktop-database)"
    else
        fail "/usr/share/applications/mimeinfo.cache does not map $SCHEME_MIME (is desktop-file-utils installed?)"
    fi

    export DESKTOP_NAME RESULTS FAKE_PROVIDER
    "$ROOT/scripts/headless-session.sh" "$ROOT/tests/installer/deb.sh" --in-session \
        || fail "the headless session failed"

    # The WebDriver journey on the installed app, signing in with the client
    # built into the package (no `client set`): tests/e2e/connect.test.mjs
    # pointed at /usr/bin, in a session of its own.
    TD=$(command -v tauri-driver || echo "$HOME/.cargo/bin/tauri-driver")
    if KEYPORT_APP_BIN=/usr/bin/keyport-app KEYPORT_CLI_BIN=/usr/bin/keyport \
        KEYPORT_FAKE_PROVIDER_BIN="$FAKE_PROVIDER" TAURI_DRIVER="$TD" \
        KEYPORT_E2E_BUILTIN_CLIENT_ID="$KEYPORT_GOOGLE_CLIENT_ID" \
        KEYPORT_E2E_BUILTIN_CLIENT_SECRET="$KEYPORT_GOOGLE_CLIENT_SECRET" \
        "$ROOT/scripts/headless-session.sh" node --test --test-concurrency=1 --test-reporter=tap \
            "$ROOT/tests/e2e/connect.test.mjs" >"$WORK/e2e.log" 2>&1 \
        && grep -q '^# fail 0' "$WORK/e2e.log" && grep -Eq '^# pass [1-9]' "$WORK/e2e.log"; then
        ok "WebDriver: Connect Gmail in the installed app with its built-in client ($(grep -E '^# pass' "$WORK/e2e.log"))"
    else
        tail -n 40 "$WORK/e2e.log" >&2
        fail "WebDriver: Connect Gmail in the installed app with its built-in client (see above)"
    fi
    CLI_SIZE=$(size /usr/bin/keyport)
    APP_SIZE=$(size /usr/bin/keyport-app)

    echo "==> apt-get remove $PKG"
    if DEBIAN_FRONTEND=noninteractive $SUDO apt-get remove -y -qq "$PKG" >"$WORK/apt.log" 2>&1; then
        INSTALLED=0
        ok "apt-get remove $PKG"
    else
        cat "$WORK/apt.log" >&2
        fail "apt-get remove $PKG"
    fi
    for b in keyport keyport-app; do
        [ ! -e "/usr/bin/$b" ] && ok "/usr/bin/$b gone after removal" \
            || fail "/usr/bin/$b still there after removal"
    done
    [ ! -e "/usr/share/applications/$DESKTOP_NAME" ] && ok "$DESKTOP_NAME gone after removal" \
        || fail "/usr/share/applications/$DESKTOP_NAME still there after removal"
fi

# Sizes (MB = 1,000,000 bytes). Without an install, the files in the .deb.
CLI_SIZE=${CLI_SIZE:-$(size "$WORK/deb/usr/bin/keyport" 2>/dev/null || echo 0)}
APP_SIZE=${APP_SIZE:-$(size "$WORK/deb/usr/bin/keyport-app" 2>/dev/null || echo 0)}
DEB_SIZE=$(size "$DEB")
echo "size: CLI /usr/bin/keyport $CLI_SIZE bytes ($(mb "$CLI_SIZE"))"
echo "size: app /usr/bin/keyport-app $APP_SIZE bytes ($(mb "$APP_SIZE"))"
echo "size: .deb $(basename "$DEB") $DEB_SIZE bytes ($(mb "$DEB_SIZE"))"
[ -n "$RPM" ] && echo "size: .rpm $(basename "$RPM") $(size "$RPM") bytes ($(mb "$(size "$RPM")"))"
[ "$CLI_SIZE" -gt 0 ] && [ "$CLI_SIZE" -lt "$CLI_MAX" ] && ok "CLI binary is under $(mb $CLI_MAX)" \
    || fail "CLI binary is $(mb "$CLI_SIZE"), over the $(mb $CLI_MAX) target"
[ "$APP_SIZE" -gt 0 ] && [ "$APP_SIZE" -lt "$APP_MAX" ] && ok "app binary is under $(mb $APP_MAX)" \
    || fail "app binary is $(mb "$APP_SIZE"), over the $(mb $APP_MAX) target"
[ "$DEB_SIZE" -lt "$DEB_MAX" ] && ok ".deb (both programs) is under $(mb $DEB_MAX)" \
    || fail ".deb is $(mb "$DEB_SIZE"), over the $(mb $DEB_MAX) target"

p=$(grep -c pass "$RESULTS" || true)
f=$(grep -c fail "$RESULTS" || true)
echo "installer: $p passed, $f failed"
[ "$f" -eq 0 ]
