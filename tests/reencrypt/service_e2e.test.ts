/**
 * The re-encryption issue end to end, as a user drives it against `deno task start` on the
 * embedded chain: an operator signs in (SIWE), stores a credential and claims admin with the
 * token the first start printed; the admin rotates over HTTP (the chain's K3EpochCounter
 * advances); `deno task reencrypt --url` moves the blob with the operator's session; a census over HTTP shows epoch 1 empty; the destroy over HTTP is recorded
 * on chain. Then the headless signer on the same data directory: it records through the running
 * service's anvil, keeps a pending record while the service is down, and the service records it
 * when it starts again.
 */

import { assert, assertEquals, assertMatch } from "../support/assert.ts";
import { join } from "node:path";
import { type Abi, createPublicClient, http } from "viem";
import { AgentKeysClient, type ChainInfo } from "../../lib/client/mod.ts";
import { tempDir } from "../support/tmp.ts";
import { runTask, signInNewOperator, startServiceProcess } from "../support/service_process.ts";

const task = runTask;

/** K3EpochCounter read with viem, from what `GET /v1/chain` publishes. */
function epochCounter(chain: ChainInfo) {
  const client = createPublicClient({ transport: http(chain.rpc_url!) });
  const contract = chain.contracts.K3EpochCounter;
  return {
    current: async () =>
      Number(
        await client.readContract({
          address: contract.address,
          abi: contract.abi as Abi,
          functionName: "currentEpoch",
        }),
      ),
    destroyedAt: async (epoch: number) =>
      Number(
        await client.readContract({
          address: contract.address,
          abi: contract.abi as Abi,
          functionName: "epochDestroyedAt",
          args: [BigInt(epoch)],
        }),
      ),
    receipt: (hash: string) => client.getTransactionReceipt({ hash: hash as `0x${string}` }),
  };
}

Deno.test("epochs and re-encryption end to end against a started service", async () => {
  await using dir = await tempDir();
  const data = join(dir.path, "data");
  const env = { AGENTKEYS_DATA_DIR: data };
  const service = await startServiceProcess(env);
  try {
    const { api, me, session_jwt, operator_omni } = await signInNewOperator(service.url);
    const { cap } = await me.mintCap("cred-store", {
      operator_omni,
      actor_omni: operator_omni,
      service: "openai",
    });
    const stored = await api.storeCredential(cap, new TextEncoder().encode("sk-live-123"));
    assertEquals(stored.epoch, 1);

    // The operator claims admin with the token the first start printed; it rotates over HTTP.
    const [, token] = await service.waitForOutput(/admin claim token: ([0-9a-f]{64})\n/);
    assertEquals((await me.claimAdmin(token)).is_admin, true);
    const chain = epochCounter(await api.chain());
    assertEquals(await chain.current(), 1);
    const rotated = await me.call<{ active: number; previous: number; tx_hash: string }>(
      "POST",
      "/v1/epochs/rotate",
    );
    assertEquals([rotated.active, rotated.previous], [2, 1]);
    assertEquals(await chain.current(), 2, "K3EpochCounter advanced");
    assertEquals((await chain.receipt(rotated.tx_hash)).status, "success");

    const run = await task("reencrypt", [
      "--url",
      service.url,
      "--operator-omni",
      operator_omni,
      "--old-epoch",
      "1",
      "--new-epoch",
      "2",
    ], { AGENTKEYS_SESSION: session_jwt });
    assertEquals(run.code, 0, run.stderr);
    assertMatch(
      run.stdout,
      /^reencrypted bots\/[0-9a-f]{64}\/credentials\/openai\.enc epoch 1 -> 2/m,
    );
    assertMatch(run.stdout, /summary succeeded: 1 reencrypted/);

    const { census } = await me.call<{ census: { global: Record<string, number> } }>(
      "POST",
      "/v1/epochs/census",
      { scope: "global" },
    );
    assertEquals(census.global["1"] ?? 0, 0);
    assertEquals(census.global["2"], 1);
    const destroyed = await me.call<{ epoch: number; destroyed_at: string; tx_hash: string }>(
      "POST",
      "/v1/epochs/1/destroy",
      {},
    );
    assertEquals(destroyed.epoch, 1);
    assertMatch(destroyed.tx_hash, /^0x[0-9a-f]{64}$/);
    assert((await chain.destroyedAt(1)) > 0, "EpochDestroyed recorded on chain");
    const fetchCap = await me.mintCap("cred-fetch", {
      operator_omni,
      actor_omni: operator_omni,
      service: "openai",
    });
    const fetched = await api.fetchCredential(fetchCap.cap);
    assertEquals(new TextDecoder().decode(fetched.plaintext), "sk-live-123");
    assertEquals(fetched.epoch, 2);

    // Headless, same data directory, service running: recorded through the service's anvil.
    const signed = await task("signer", ["rotate"], env);
    assertEquals(signed.code, 0, signed.stderr);
    assertMatch(signed.stdout, /epoch 3 is active; epoch 2 is retiring/);
    assertMatch(signed.stdout, /recorded on chain: advanceEpoch tx 0x[0-9a-f]{64}/);
    assertEquals(await chain.current(), 3);
    const view = await me.call<{ active: number }>("GET", "/v1/epochs");
    assertEquals(view.active, 3, "the service sees the headless rotation");
  } finally {
    assertEquals((await service.stop()).code, 0);
  }

  // Service down: nothing can be recorded, and it says so; the change waits as pending.
  const offline = await task("signer", ["rotate"], env);
  assertEquals(offline.code, 0, offline.stderr);
  assertMatch(offline.stdout, /epoch 4 is active/);
  assertMatch(offline.stdout, /NOT recorded on chain: the embedded chain runs inside the service/);
  const listed = await task("signer", ["epochs"], env);
  assertMatch(listed.stdout, /pending chain record: advance_epoch epoch 4 \(no_recorder/);

  // With the service back, it records the pending change once, as it starts.
  await using again = await startServiceProcess(env);
  const chain = epochCounter(await new AgentKeysClient(again.url).chain());
  assertEquals(await chain.current(), 4);
  const reconciled = await task("signer", ["reconcile"], env);
  assertEquals(reconciled.code, 0, reconciled.stderr);
  assertMatch(reconciled.stdout, /nothing pending/);
  assertEquals(await chain.current(), 4, "never advanced twice");
});
