#!/bin/sh
# Keyport against the fake provider: a whole "Connect Gmail" without Google
# credentials. The fake provider signs you in as ana@firm.example at once.
set -eu
cd "$(dirname "$0")/.."
demo="${KEYPORT_DEMO_DIR:-${TMPDIR:-/tmp}/keyport-demo}"
mkdir -p "$demo/data" "$demo/config"
export KEYPORT_DATA_DIR="$demo/data" KEYPORT_CONFIG_DIR="$demo/config"

cargo build --quiet -p fake-provider
./target/debug/fake-provider > "$demo/provider.json" &
provider=$!
trap 'kill $provider 2>/dev/null || true' EXIT INT TERM
i=0
until [ -s "$demo/provider.json" ]; do
    i=$((i + 1)); [ "$i" -gt 100 ] && { echo "the fake provider did not start" >&2; exit 1; }
    sleep 0.1
done
field() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p" "$demo/provider.json"; }
base=$(field base_url)

cat > "$KEYPORT_CONFIG_DIR/integrations.toml" <<TOML
# Written by scripts/demo.sh: Gmail at the local fake provider.
[[integration]]
id = "gmail"
authorize_url = "$base/authorize"
issuer = "$base"
token_url = "$base/token"
revocation_url = "$base/revoke"
userinfo_url = "$base/userinfo"
check_url = "$base/gmail/v1/users/me/profile"
TOML
field client_secret | ./target/debug/keyport client set google --client-id "$(field client_id)" --client-secret-stdin
# Gmail now points at the fake provider: confirm it, as its writer would.
./target/debug/keyport client trust gmail --yes
echo "Fake provider at $base; Keyport data in $demo. Click \"Connect Gmail\"."
./target/debug/keyport-app
