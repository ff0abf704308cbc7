/** Integrity settings in lib/config: defaults, validation, the optional external VaultAnchor. */

import { assertEquals, assertThrows } from "../support/assert.ts";
import { ConfigError, loadConfig } from "../../lib/config/mod.ts";

const EXTERNAL = {
  AGENTKEYS_RPC_URL: "http://127.0.0.1:8545",
  AGENTKEYS_AGENT_REGISTRY: "0x" + "11".repeat(20),
  AGENTKEYS_SCOPE_REGISTRY: "0x" + "22".repeat(20),
  AGENTKEYS_K3_EPOCH_COUNTER: "0x" + "33".repeat(20),
  AGENTKEYS_AUDIT_ANCHOR: "0x" + "44".repeat(20),
};

Deno.test("config: integrity defaults and overrides", () => {
  assertEquals(loadConfig({}).integrity, {
    mode: "adopt",
    anchorEveryMs: 60_000,
    anchorWrites: 1000,
  });
  assertEquals(
    loadConfig({
      AGENTKEYS_INTEGRITY: "strict",
      AGENTKEYS_ANCHOR_EVERY: "5m",
      AGENTKEYS_ANCHOR_WRITES: "50",
    }).integrity,
    { mode: "strict", anchorEveryMs: 300_000, anchorWrites: 50 },
  );
  assertThrows(() => loadConfig({ AGENTKEYS_INTEGRITY: "off" }), ConfigError, "adopt or strict");
  assertThrows(() => loadConfig({ AGENTKEYS_ANCHOR_EVERY: "60" }), ConfigError, "unit");
  assertThrows(() => loadConfig({ AGENTKEYS_ANCHOR_WRITES: "0" }), ConfigError);
});

Deno.test("config: AGENTKEYS_VAULT_ANCHOR is optional on an external chain, refused on the embedded one", () => {
  assertEquals(loadConfig(EXTERNAL).chain.addresses?.VaultAnchor, undefined);
  const vault = "0x" + "AB".repeat(20);
  assertEquals(
    loadConfig({ ...EXTERNAL, AGENTKEYS_VAULT_ANCHOR: vault }).chain.addresses?.VaultAnchor,
    vault.toLowerCase(),
  );
  assertThrows(
    () => loadConfig({ ...EXTERNAL, AGENTKEYS_VAULT_ANCHOR: "0x12" }),
    ConfigError,
    "EVM address",
  );
  assertThrows(
    () => loadConfig({ AGENTKEYS_VAULT_ANCHOR: vault }),
    ConfigError,
    "needs AGENTKEYS_RPC_URL",
  );
});
