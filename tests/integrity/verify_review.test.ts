/**
 * Sixth review (issue 11): `cred verify` against a service that answers what it likes. The
 * verifier must judge the stored bytes against the root the chain holds *now*: an honest proof
 * from an earlier anchor, replayed after the blob was written again and anchored, must not verify
 * a rollback of the bytes to that earlier version. The chain here is the service's anvil, read
 * directly (what the chain proxy forwards).
 *
 * @module
 */

import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "../support/assert.ts";
import { loadConfig } from "../../lib/config/mod.ts";
import { openService, type Service } from "../../lib/service/mod.ts";
import { credentialLocation, sealBlob } from "../../lib/worker/mod.ts";
import type { AgentKeysClient } from "../../lib/client/mod.ts";
import { verifyBlob } from "../../lib/cli/_verify.ts";
import { tempDir } from "../support/tmp.ts";

const OPERATOR = "0x" + "ab".repeat(32);

async function put(s: Service, value: string): Promise<string> {
  const loc = credentialLocation(OPERATOR.slice(2), "openai");
  await s.store.put(loc.key, sealBlob(s.keystore, loc, new TextEncoder().encode(value)).blob);
  return loc.key;
}

/** A client whose service answers `proof` to every proof request. */
function serviceAnswering(s: Service, proof: () => unknown): AgentKeysClient {
  return {
    call: () => Promise.resolve(JSON.parse(JSON.stringify(proof()))),
    chain: () => Promise.resolve({ chain_id: s.chain.client.chainId, rpc_url: s.chain.rpcUrl }),
  } as unknown as AgentKeysClient;
}

async function verify(api: AgentKeysClient, blobs: string) {
  const lines: string[] = [];
  const code = await verifyBlob(
    api,
    { actor_omni: OPERATOR, service: "openai" },
    { dir: blobs },
    (l) => lines.push(l),
  );
  return { code, text: lines.join("\n") };
}

Deno.test("verify review: an older anchor's proof, replayed after a newer anchor, does not verify rolled-back bytes", async () => {
  await using dir = await tempDir("agentkeys-integrity-v6-");
  const s = await openService(
    loadConfig({
      AGENTKEYS_DATA_DIR: dir.path,
      AGENTKEYS_PORT: "0",
      AGENTKEYS_ADMINS: "0x" + "11".repeat(20),
    }),
    { lifecycle: false },
  );
  try {
    const blobs = join(dir.path, "blobs");
    const key = await put(s, "sk-old");
    await s.anchors.anchorNow();
    const target = { dataClass: "credentials" as const, service: "openai" };
    const old = await s.proofs.prove(OPERATOR, OPERATOR, target);
    const oldBytes = await Deno.readFile(join(blobs, key));
    const honest = await verify(serviceAnswering(s, () => old), blobs);
    assertEquals(honest.code, 0, honest.text);

    await put(s, "sk-new");
    await s.anchors.anchorNow();
    const current = await s.proofs.prove(OPERATOR, OPERATOR, target);
    assert(current.anchor!.seq > old.anchor!.seq);
    assertEquals((await verify(serviceAnswering(s, () => current), blobs)).code, 0);

    // The store's operator rolls the bytes back; the service replays the earlier proof.
    await Deno.writeFile(join(blobs, key), oldBytes);
    const replay = await verify(serviceAnswering(s, () => old), blobs);
    assertEquals(replay.code, 1, replay.text);
    assertMatch(replay.text, /not the chain's latest anchor/);
  } finally {
    await s.close();
  }
});
