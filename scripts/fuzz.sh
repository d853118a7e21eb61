#!/bin/sh
# Runs each cargo-fuzz target for FUZZ_SECONDS (default 20) from the seeds in
# tests/fuzz/corpus. New inputs go to a scratch folder, not the repository.
# The toolchain is stable: RUSTC_BOOTSTRAP=1 enables the sanitizer flags.
set -eu
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH" RUSTC_BOOTSTRAP=1
seconds="${FUZZ_SECONDS:-20}"
# The app's lock file pins the fuzz build to the same versions.
cp Cargo.lock tests/fuzz/Cargo.lock
cargo fuzz build --fuzz-dir tests/fuzz
scratch=$(mktemp -d /tmp/keyport-fuzz.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
passed=0; failed=0
for target in callback_url token_response catalog; do
    mkdir -p "$scratch/$target"
    if cargo fuzz run --fuzz-dir tests/fuzz "$target" "$scratch/$target" "tests/fuzz/corpus/$target" \
            -- -max_total_time="$seconds" -rss_limit_mb=2048 >"$scratch/$target.log" 2>&1; then
        echo "fuzz $target: $(grep -E '^Done' "$scratch/$target.log" | tail -n 1)"
        passed=$((passed + 1))
    else
        tail -n 40 "$scratch/$target.log" >&2
        echo "fuzz $target: FAILED (crash input in tests/fuzz/artifacts/$target/)"
        failed=$((failed + 1))
    fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
