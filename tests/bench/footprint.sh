#!/bin/sh
# Footprint figures for `make bench` (printed, never asserted): binary and
# package sizes, the UI bundle, cold start to first paint, and the running
# app's memory (its process plus WebKit's, summed) idle and with 1,000
# connections. Runs inside scripts/headless-session.sh (display, bus, keyring).
set -eu
cd "$(dirname "$0")/../.."
BIN="${KEYPORT_BIN:-target/release/keyport}"
[ -x "$BIN" ] || { echo "footprint: build $BIN first (cargo build --release)" >&2; exit 1; }
RUNS="${FOOTPRINT_RUNS:-7}"
WORK=$(mktemp -d /tmp/keyport-footprint.XXXXXX)
trap 'pkill -f "$WORK" 2>/dev/null || true; rm -rf "$WORK"' EXIT

kb() { echo "$1" | awk '{ printf "%.2f MB", $1 / 1000000 }'; }
echo "== Footprint"
echo "release binary                $(kb "$(stat -c %s "$BIN")")  ($BIN)"
deb=$(ls target/release/bundle/deb/*.deb 2>/dev/null | head -n 1 || true)
if [ -n "$deb" ]; then
    echo ".deb                          $(kb "$(stat -c %s "$deb")")  ($deb)"
else
    echo ".deb                          (not built: make test-installer builds it)"
fi
js=0
for f in ui/dist/assets/*.js ui/dist/assets/*.css ui/dist/index.html; do
    [ -f "$f" ] && js=$((js + $(gzip -9 -c "$f" | wc -c)))
done
echo "UI bundle, gzipped            $(echo "$js" | awk '{ printf "%.1f KB", $1 / 1000 }')"

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
    "$BIN" >"$1/app.out" 2>&1 &
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
echo "cold start → first paint      median $(echo "$times" | tr ' ' '\n' | grep . | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }') ms over $RUNS runs (each: $times ms)"

set -- $(start_app "$WORK/idle")
sleep 5
echo "idle memory, no connections   $(memory "$1")"
stop_app "$1"

# 1,000 connections (rows only; checked recently so the scheduler stays idle).
mkdir -p "$WORK/many/data" "$WORK/many/config"
KEYPORT_DATA_DIR="$WORK/many/data" KEYPORT_CONFIG_DIR="$WORK/many/config" "$BIN" list >/dev/null
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
