#!/bin/sh
# Footprint figures for `make bench` (printed, never asserted): sizes of the
# two programs (`keyport`, the command line; `keyport-app`, the window) and
# of the .deb carrying both, the UI bundle, whole-process times of the
# command line (`keyport --version`, and `keyport token` served from the
# keyring against the fake provider), cold start to first paint, and the
# running app's memory (its process plus WebKit's, summed) idle and with
# 1,000 connections. Runs inside scripts/headless-session.sh (display, bus,
# keyring).
set -eu
cd "$(dirname "$0")/../.."
CLI="${KEYPORT_BIN:-target/release/keyport}"
APP="${KEYPORT_APP:-target/release/keyport-app}"
PROVIDER="${KEYPORT_FAKE_PROVIDER:-target/release/fake-provider}"
for b in "$CLI" "$APP"; do
    [ -x "$b" ] || { echo "footprint: build $b first (cargo build --release --workspace)" >&2; exit 1; }
done
RUNS="${FOOTPRINT_RUNS:-7}"
CLI_RUNS="${FOOTPRINT_CLI_RUNS:-21}"
WORK=$(mktemp -d /tmp/keyport-footprint.XXXXXX)
trap 'pkill -f "$WORK" 2>/dev/null || true; [ -n "${FP_PID:-}" ] && kill "$FP_PID" 2>/dev/null; rm -rf "$WORK"' EXIT

kb() { echo "$1" | awk '{ printf "%.2f MB", $1 / 1000000 }'; }
median() { tr ' ' '\n' | grep . | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
now_ms() { date +%s%N | cut -c1-13; }
echo "== Footprint"
echo "CLI binary (keyport)          $(kb "$(stat -c %s "$CLI")")  ($CLI)"
echo "app binary (keyport-app)      $(kb "$(stat -c %s "$APP")")  ($APP)"
staged=$(ls target/cli/keyport-* 2>/dev/null | head -n 1 || true)
[ -n "$staged" ] && echo "CLI as packaged               $(kb "$(stat -c %s "$staged")")  ($staged)"
deb=$(ls target/release/bundle/deb/*.deb 2>/dev/null | head -n 1 || true)
if [ -n "$deb" ]; then
    echo ".deb (both programs)          $(kb "$(stat -c %s "$deb")")  ($deb)"
else
    echo ".deb                          (not built: make test-installer builds it)"
fi
js=0
for f in ui/dist/assets/*.js ui/dist/assets/*.css ui/dist/index.html; do
    [ -f "$f" ] && js=$((js + $(gzip -9 -c "$f" | wc -c)))
done
echo "UI bundle, gzipped            $(echo "$js" | awk '{ printf "%.1f KB", $1 / 1000 }')"

# Whole-process wall time of the command line, median of $CLI_RUNS runs (ms).
cli_median() { # <args…>
    t=""
    for _ in $(seq 1 "$CLI_RUNS"); do
        t0=$(now_ms); "$CLI" "$@" >/dev/null 2>&1 || return 1; t1=$(now_ms)
        t="$t $((t1 - t0))"
    done
    echo "$t" | median
}
echo "keyport --version             median $(cli_median --version) ms over $CLI_RUNS runs"

# `keyport token` with the token in the keyring (no provider call): one
# connection made against the fake provider (loopback; curl is the browser).
if [ -x "$PROVIDER" ] && command -v curl >/dev/null 2>&1; then
    export KEYPORT_DATA_DIR="$WORK/cli/data" KEYPORT_CONFIG_DIR="$WORK/cli/config"
    mkdir -p "$KEYPORT_DATA_DIR" "$KEYPORT_CONFIG_DIR"
    "$PROVIDER" --port 0 >"$WORK/provider.json" 2>/dev/null &
    FP_PID=$!
    i=0; until [ -s "$WORK/provider.json" ] || [ "$i" -gt 100 ]; do i=$((i + 1)); sleep 0.1; done
    field() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p" "$WORK/provider.json"; }
    base=$(field base_url)
    printf '[[integration]]\nid = "gmail"\nauthorize_url = "%s/authorize"\nissuer = "%s"\ntoken_url = "%s/token"\nrevocation_url = "%s/revoke"\nuserinfo_url = "%s/userinfo"\ncheck_url = "%s/gmail/v1/users/me/profile"\n' \
        "$base" "$base" "$base" "$base" "$base" "$base" > "$KEYPORT_CONFIG_DIR/integrations.toml"
    field client_secret | "$CLI" client set google --client-id "$(field client_id)" --client-secret-stdin >/dev/null
    "$CLI" client trust gmail --yes >/dev/null
    "$CLI" connect gmail --redirect loopback --no-browser --timeout 30 >"$WORK/connect.out" 2>/dev/null &
    cpid=$!
    i=0; until grep -q '^http' "$WORK/connect.out" 2>/dev/null || [ "$i" -gt 100 ]; do i=$((i + 1)); sleep 0.1; done
    curl -s -L -o /dev/null --max-time 20 "$(grep -m1 '^http' "$WORK/connect.out")" || true
    if wait "$cpid" && "$CLI" token ana@firm.example >/dev/null 2>&1; then
        echo "keyport token (cached)        median $(cli_median token ana@firm.example) ms over $CLI_RUNS runs"
    else
        echo "keyport token (cached)        (could not connect to the fake provider)"
    fi
    kill "$FP_PID" 2>/dev/null || true
    unset KEYPORT_DATA_DIR KEYPORT_CONFIG_DIR
else
    echo "keyport token (cached)        (build $PROVIDER: cargo build --release -p fake-provider)"
fi

# The process tree of $1: its pid and every descendant's.
tree() {
    echo "$1"
    for c in $(pgrep -P "$1" 2>/dev/null); do tree "$c"; done
}
# Sums RSS and PSS (kB) over a process tree.
memory() {
    rss=0; pss=0
    for p in $(tree "$1"); do
        r=$(awk '/^Rss:/ { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
        s=$(awk '/^Pss:/ { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
        rss=$((rss + ${r:-0})); pss=$((pss + ${s:-0}))
    done
    echo "RSS $((rss / 1024)) MiB, PSS $((pss / 1024)) MiB"
}

# Starts the app on data dir $1; waits for its first paint; echoes "pid ms".
start_app() {
    export KEYPORT_DATA_DIR="$1/data" KEYPORT_CONFIG_DIR="$1/config"
    mkdir -p "$KEYPORT_DATA_DIR" "$KEYPORT_CONFIG_DIR"
    "$APP" >"$1/app.out" 2>&1 &
    pid=$!
    i=0
    while ! grep -q "first paint" "$KEYPORT_DATA_DIR/keyport.log" 2>/dev/null; do
        i=$((i + 1))
        if [ "$i" -gt 300 ] || ! kill -0 "$pid" 2>/dev/null; then
            echo "footprint: the app did not paint" >&2; cat "$1/app.out" >&2; exit 1
        fi
        sleep 0.05
    done
    ms=$(sed -n 's/.*first_paint_ms="\{0,1\}\([0-9]*\).*/\1/p' "$KEYPORT_DATA_DIR/keyport.log" | head -n 1)
    echo "$pid $ms"
}

stop_app() {
    kill "$1" 2>/dev/null || true
    i=0; while kill -0 "$1" 2>/dev/null && [ "$i" -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
}

times=""
for n in $(seq 1 "$RUNS"); do
    set -- $(start_app "$WORK/start-$n")
    times="$times $2"
    stop_app "$1"
done
echo "cold start → first paint      median $(echo "$times" | median) ms over $RUNS runs (each: $times ms)"

set -- $(start_app "$WORK/idle")
sleep 5
echo "idle memory, no connections   $(memory "$1")"
stop_app "$1"

# 1,000 connections (rows only; checked recently so the scheduler stays idle).
mkdir -p "$WORK/many/data" "$WORK/many/config"
KEYPORT_DATA_DIR="$WORK/many/data" KEYPORT_CONFIG_DIR="$WORK/many/config" "$CLI" list >/dev/null
python3 - "$WORK/many/data/keyport.sqlite3" <<'PY'
import sqlite3, sys, time, uuid
db = sqlite3.connect(sys.argv[1])
now = int(time.time() * 1000)
db.executemany(
    "INSERT INTO connections (id, integration, provider, status, subject, email, requested_scopes, granted_scopes, "
    "redirect_mode, last_checked_at, last_check_ok, created_at, updated_at) VALUES (?, 'gmail', 'google', 'active', ?, ?, "
    "'[\"https://www.googleapis.com/auth/gmail.readonly\"]', '[\"https://www.googleapis.com/auth/gmail.readonly\"]', "
    "'loopback', ?, 1, ?, ?)",
    [(str(uuid.uuid4()), str(10000 + i), f"mailbox{i}@firm.example", now, now, now) for i in range(1000)],
)
db.commit()
PY
set -- $(start_app "$WORK/many")
sleep 5
echo "memory with 1,000 connections $(memory "$1")"
stop_app "$1"
