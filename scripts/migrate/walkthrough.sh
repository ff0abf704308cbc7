#!/usr/bin/env bash
# The "done when" of issue 13 (docs/MIGRATION.md), end to end on a fresh data directory:
# a service, an operator and one agent on the embedded chain, a store holding credentials the
# reference implementation wrote (made by tests/migrate/legacy_writer.ts, an independent
# implementation of its format), one migrate-legacy command, then every credential read back.
#   bash scripts/migrate/walkthrough.sh [WORKDIR]      (port 8899; WORKDIR default: a temp dir)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
W=${1:-$(mktemp -d /tmp/agentkeys-walk-XXXXXX)}
mkdir -p "$W"
export AGENTKEYS_DATA_DIR=$W/data AGENTKEYS_PORT=8899 AGENTKEYS_URL=http://127.0.0.1:8899
export AGENTKEYS_CLI_HOME=$W/cli
cd "$ROOT"
deno task start >"$W/service.log" 2>&1 &
SERVICE=$!
trap 'kill $SERVICE 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do curl -fs "$AGENTKEYS_URL/healthz" >/dev/null && break; sleep 0.5; done

# 1. Keys and legacy blobs, as the reference implementation left them.
cat >"$W/legacy.ts" <<'TS'
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { FsBlobStore } from "../lib/store/mod.ts";
import { legacyBlob } from "../tests/migrate/legacy_writer.ts";
const [dir] = Deno.args;
const op = generatePrivateKey(), legacy = generatePrivateKey();
const agentWallet = privateKeyToAccount(generatePrivateKey()).address.toLowerCase();
await Deno.writeTextFile(`${dir}/operator.key`, op, { mode: 0o600 });
await Deno.writeTextFile(`${dir}/legacy.key`, legacy, { mode: 0o600 });
const operator = privateKeyToAccount(op).address.toLowerCase();
await Deno.writeTextFile(`${dir}/wallets.env`, `OPERATOR=${operator}\nAGENT_WALLET=${agentWallet}\n`);
const store = new FsBlobStore(`${dir}/data/blobs`);
const signer = privateKeyToAccount(legacy);
for (
  const [w, s, v] of [[operator, "openai", 1], [operator, "stripe", 2], [agentWallet, "slack", 2], [agentWallet, "github", 1]] as const
) {
  const b = await legacyBlob(signer, w, s, v, `${s} secret of ${w.slice(0, 8)}`);
  await store.put(b.key, b.bytes);
  console.log(`legacy ${b.key}`);
}
TS
cp "$W/legacy.ts" "$ROOT/scripts/.walk-legacy.ts"
deno run -A scripts/.walk-legacy.ts "$W"
rm -f "$ROOT/scripts/.walk-legacy.ts"
# shellcheck disable=SC1091
source "$W/wallets.env"

# 2. The operator signs in and registers the agent the agent wallet becomes.
deno task cli login --key-file "$W/operator.key"
deno task cli agent add mail-bot --out "$W" --key-file "$W/operator.key"
deno task cli scope set mail-bot slack github --key-file "$W/operator.key"

# 3. The one command.
deno task migrate-legacy --operator "$OPERATOR" --legacy-signer-key "$W/legacy.key" \
  --map "$AGENT_WALLET=mail-bot" --delete-legacy

# 4. Every credential back through AgentKeys: the operator's own, and the agent's as the agent.
deno task cli cred get openai
deno task cli cred get stripe
deno task cli cred get slack --device-key "$W/mail-bot-0.key"
deno task cli cred get github --device-key "$W/mail-bot-0.key"
deno task cli census
echo "walk-through done in $W"
