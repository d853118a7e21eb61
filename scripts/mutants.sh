#!/bin/sh
# Mutation testing (cargo-mutants) of the core's security-critical code with
# the tests that cover it: callback parsing, state and flow claiming, tokens
# and refresh locking, revocation, the catalog's rules (reserved parameters,
# https) and the reply size caps. `make mutants`; not part of `make test`.
#
#   scripts/mutants.sh [group…]      groups: callback flow tokens revocation catalog http
#
# Each group mutates a few functions and runs only the tests that cover them
# (cargo test filters), one mutant at a time, in a copy of the sources under
# target/mutants/tree (the work tree is never mutated) with its own target
# directory kept between runs, so a mutant costs an incremental build plus
# its tests. Results: target/mutants/<group>/mutants.out/ (caught.txt,
# missed.txt, timeout.txt, unviable.txt); a summary is printed at the end.
# On this 2-core machine a whole run takes about 2–3 hours (the first build
# of the copy adds ~10 minutes); run one group to iterate on its tests.
# Runs inside scripts/headless-session.sh: the integration tests need the
# Secret Service.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
if [ -z "${KEYPORT_IN_SESSION:-}" ]; then
    exec scripts/headless-session.sh "$0" "$@"
fi
export PATH="$CARGO_HOME/bin:$PATH"
command -v cargo-mutants >/dev/null 2>&1 || scripts/install-deps.sh mutants

OUT="$ROOT/target/mutants"
TREE="$OUT/tree"
export CARGO_TARGET_DIR="$OUT/target"

# group; functions to mutate (regex on cargo-mutants' names); test filters
groups() {
    cat <<'EOF'
callback;callback\.rs.*(parse_deep_link|parse_query|is_deep_link);callback:: bad_callbacks cli::open_url attack_surface::
flow;flow\.rs.*Keyport::(complete_with|cancel|clear_flow_secret|fail_flow|flow_lock|begin_flow)\b;flow:: bad_callbacks crash:: attack_surface::a_deep_link connect::gmail
tokens;tokens\.rs.*(Keyport::(token_for|connection_lock|refresh_with_retries)|cooldown|expires_within|still_valid|ensure_usable|no_refresh_lock);tokens:: health:: crash::a_refresh broker::keyport_api
revocation;revocation\.rs.*Keyport::(settle_revocation|revoke|disconnect)\b;health::disconnect health::reconnect crash::a_disconnect cli::reset
catalog;catalog/mod\.rs.*(resolve|is_loopback_host)\b;catalog:: connect::a_custom connect::settings
http;http\.rs.*Incoming::;http:: bad_callbacks
EOF
}

# A fresh copy of the sources (uncommitted changes included), target kept.
mkdir -p "$TREE"
find "$TREE" -mindepth 1 -maxdepth 1 ! -name target -exec rm -rf {} +
tar -c --exclude=./target --exclude=./.git --exclude=./ui/node_modules \
    --exclude=./tests/fuzz/target --exclude=./gen . | tar -x -C "$TREE"

wanted="$*"
groups | while IFS=';' read -r group re tests; do
    case " ${wanted:-$group} " in *" $group "*) ;; *) continue ;; esac
    echo "== mutants: $group"
    rm -rf "${OUT:?}/$group"
    mkdir -p "$OUT/$group"
    # shellcheck disable=SC2086 # the test filters are words
    (cd "$TREE" && cargo mutants --in-place --no-shuffle --baseline=skip \
        -p keyport-core --test-package keyport-core --test-package keyport-cli \
        --re "$re" --exclude-re 'replace (<<|>>|\+|-|\*|/) with [^ ]+ in Keyport::(refresh_with_retries|connection_lock)' \
        --timeout 300 --build-timeout 900 --output "$OUT/$group" \
        -- -- --skip concurrency:: $tests) || true
done

echo "== mutants: summary"
for d in "$OUT"/*/mutants.out; do
    [ -d "$d" ] || continue
    g=$(basename "$(dirname "$d")")
    n() { if [ -f "$d/$1" ]; then grep -c . "$d/$1" || true; else echo 0; fi; }
    echo "$g: $(n caught.txt) caught, $(n missed.txt) missed, $(n timeout.txt) timeout, $(n unviable.txt) unviable"
    [ -s "$d/missed.txt" ] && sed 's/^/  missed: /' "$d/missed.txt"
done
