/**
 * How a headless command finds the chain without a running service: no deployment yet, a
 * runtime record left by a dead service, a live pid whose RPC does not answer, and an external
 * chain that cannot be reached. (The running case is in tests/reencrypt/service_e2e.test.ts.)
 */

import { assert, assertEquals, assertMatch } from "../support/assert.ts";
import { join } from "node:path";
import { loadConfig } from "../../lib/config/mod.ts";
import { CHAIN_FILES } from "../../lib/chain/mod.ts";
import { connectHeadlessChain } from "../../lib/service/_headless.ts";
import { readServiceRuntime, SERVICE_RUNTIME_FILE } from "../../lib/service/_runtime.ts";
import { freePort } from "../support/service_process.ts";
import { tempDir } from "../support/tmp.ts";

const ZERO = "0x" + "00".repeat(20);

async function withDeployment(dir: string) {
  await Deno.mkdir(join(dir, "chain"), { recursive: true });
  await Deno.writeTextFile(
    join(dir, "chain", CHAIN_FILES.deployment),
    JSON.stringify({
      chainId: 31337,
      addresses: {
        AgentRegistry: ZERO,
        ScopeRegistry: ZERO,
        K3EpochCounter: ZERO,
        AuditAnchor: ZERO,
      },
    }),
  );
}

async function runtime(dir: string, pid: number, rpcUrl: string) {
  await Deno.writeTextFile(
    join(dir, SERVICE_RUNTIME_FILE),
    JSON.stringify({ pid, host: Deno.hostname(), started_at: "x", rpc_url: rpcUrl }),
  );
}

Deno.test("headless chain: nothing deployed yet, or the service is not running", async () => {
  await using dir = await tempDir();
  const config = loadConfig({ AGENTKEYS_DATA_DIR: dir.path });
  const fresh = await connectHeadlessChain(config);
  assertEquals([fresh.recorder, fresh.agents], [undefined, undefined]);
  assertMatch(fresh.reason!, /no embedded chain yet/);

  await withDeployment(dir.path);
  const none = await connectHeadlessChain(config);
  assertEquals(none.recorder, undefined);
  assertMatch(none.reason!, /the service, which is not running/);

  // A record left by a service that died: its pid is gone.
  const dead = new Deno.Command("true").spawn();
  const deadPid = dead.pid;
  await dead.status;
  await runtime(dir.path, deadPid, "http://127.0.0.1:9");
  assertEquals((await readServiceRuntime(dir.path))?.pid, deadPid);
  const stale = await connectHeadlessChain(config);
  assertEquals(stale.recorder, undefined);
  assertMatch(stale.reason!, /not running/);

  // A live pid whose RPC URL answers nothing (the port was never an anvil of ours).
  await runtime(dir.path, Deno.pid, `http://127.0.0.1:${freePort()}`);
  const silent = await connectHeadlessChain(config);
  assertEquals(silent.recorder, undefined);
  assertMatch(silent.reason!, /does not answer/);
  await silent.close();
});

Deno.test("headless chain: an unreachable external chain is reported, not thrown", async () => {
  await using dir = await tempDir();
  const config = loadConfig({
    AGENTKEYS_DATA_DIR: dir.path,
    AGENTKEYS_RPC_URL: `http://127.0.0.1:${freePort()}`,
    AGENTKEYS_AGENT_REGISTRY: ZERO,
    AGENTKEYS_SCOPE_REGISTRY: ZERO,
    AGENTKEYS_K3_EPOCH_COUNTER: ZERO,
    AGENTKEYS_AUDIT_ANCHOR: ZERO,
  });
  const chain = await connectHeadlessChain(config);
  assertEquals([chain.recorder, chain.agents], [undefined, undefined]);
  assert(chain.reason?.includes("cannot be reached"), chain.reason);
});
