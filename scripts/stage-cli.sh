#!/bin/sh
# Builds the `keyport` command (package keyport-cli, release profile) and puts
# it where the installers pick it up: bundle.externalBin in
# src-tauri/keyport-app/tauri.bundle.conf.json names target/cli/keyport, and
# the Tauri CLI looks for target/cli/keyport-<target triple>[.exe]. Every
# installer then carries it beside the app: /usr/bin on .deb/.rpm (and in the
# AppImage), Keyport.app/Contents/MacOS on macOS (signed with the app's
# identity), the install folder for MSI/NSIS.
#   scripts/stage-cli.sh [--target <triple> | --target universal-apple-darwin]
#   tauri build --config src-tauri/keyport-app/tauri.bundle.conf.json [--target …] -- -p keyport-app
# Pass the same --target to both (`-- -p keyport-app`: cargo builds only the
# app there, not the whole workspace again). universal-apple-darwin builds both Mac
# architectures and joins them with lipo (the per-architecture files stay:
# the app's build script copies them during each architecture's build).
# A plain `cargo build` of the app does not need any of this.
set -eu
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

target=""
while [ $# -gt 0 ]; do
    case "$1" in
        --target) target=${2:?--target needs a triple}; shift 2 ;;
        --target=*) target=${1#--target=}; shift ;;
        -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "stage-cli: unknown argument $1" >&2; exit 2 ;;
    esac
done

host=$(rustc -vV | sed -n 's/^host: //p')
dest=target/cli
mkdir -p "$dest"
out=${CARGO_TARGET_DIR:-target}

# stage <triple>: builds for that triple (the host's when it is the host) and
# copies the binary to target/cli/keyport-<triple>[.exe].
stage() {
    triple=$1
    exe=""
    case "$triple" in *windows*) exe=".exe" ;; esac
    if [ "$triple" = "$host" ] && [ -z "$target" ]; then
        cargo build --release --locked -p keyport-cli
        src="$out/release/keyport$exe"
    else
        cargo build --release --locked -p keyport-cli --target "$triple"
        src="$out/$triple/release/keyport$exe"
    fi
    cp "$src" "$dest/keyport-$triple$exe"
    chmod +x "$dest/keyport-$triple$exe"
    echo "stage-cli: $dest/keyport-$triple$exe ($(wc -c < "$dest/keyport-$triple$exe" | tr -d ' ') bytes)"
}

case "${target:-$host}" in
    universal-apple-darwin)
        stage aarch64-apple-darwin
        stage x86_64-apple-darwin
        lipo -create -output "$dest/keyport-universal-apple-darwin" \
            "$dest/keyport-aarch64-apple-darwin" "$dest/keyport-x86_64-apple-darwin"
        echo "stage-cli: $dest/keyport-universal-apple-darwin (lipo)"
        ;;
    *) stage "${target:-$host}" ;;
esac
