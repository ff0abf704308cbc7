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
import { type Service } from "../../lib/service/mod.ts";
import { openTestService } from "./_service.ts";
import { credentialLocation, sealBlob } from "../../lib/worker/mod.ts";
import type { AgentKeysClient } from "../../lib/client/mod.ts";
import { type ChainPin, verifyBlob } from "../../lib/cli/_verify.ts";
import { createPublicClient, createWalletClient, defineChain, http } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { vaultAnchorAbi, vaultAnchorBytecode } from "../../lib/chain/artifacts.ts";
import { foldProof, leafHash } from "../../lib/integrity/mod.ts";
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

async function verify(api: AgentKeysClient, blobs: string, pin: ChainPin = {}) {
  const lines: string[] = [];
  const code = await verifyBlob(
    api,
    { actor_omni: OPERATOR, service: "openai" },
    { dir: blobs },
    (l) => lines.push(l),
    pin,
  );
  return { code, text: lines.join("\n") };
}

Deno.test("verify review: an older anchor's proof, replayed after a newer anchor, does not verify rolled-back bytes", async () => {
  await using dir = await tempDir("agentkeys-integrity-v6-");
  const s = await openTestService(dir.path);
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

Deno.test("verify review: a VaultAnchor of the service's own that anchors a forged root fails against a pinned contract (and another chain id fails)", async () => {
  await using dir = await tempDir("agentkeys-integrity-v6p-");
  const s = await openTestService(dir.path);
  try {
    const blobs = join(dir.path, "blobs");
    const key = await put(s, "sk-real");
    await s.anchors.anchorNow();
    const real = await s.proofs.prove(OPERATOR, OPERATOR, {
      dataClass: "credentials",
      service: "openai",
    });
    // The store's operator replaces the bytes; the service forges a pointer for them, a
    // one-leaf tree, and anchors its root in a VaultAnchor it deployed itself.
    const forgedBytes = new TextEncoder().encode("bytes the service wants verified");
    await Deno.writeFile(join(blobs, key), forgedBytes);
    const pointer = {
      ...real.pointer,
      sha256: new Uint8Array(await crypto.subtle.digest("SHA-256", forgedBytes)).toHex(),
      size: forgedBytes.length,
    };
    const forgedRoot = `0x${foldProof(key, leafHash(pointer), []).toHex()}` as const;
    const account = privateKeyToAccount(generatePrivateKey());
    await fetch(s.chain.rpcUrl, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "anvil_setBalance",
        params: [account.address, "0xde0b6b3a7640000"],
      }),
    }).then((r) => r.body?.cancel());
    const chain = defineChain({
      id: s.chain.client.chainId,
      name: "anvil",
      nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
      rpcUrls: { default: { http: [s.chain.rpcUrl] } },
    });
    const wallet = createWalletClient({ account, chain, transport: http(s.chain.rpcUrl) });
    const reader = createPublicClient({ chain, transport: http(s.chain.rpcUrl) });
    const deployTx = await wallet.deployContract({
      abi: vaultAnchorAbi,
      bytecode: vaultAnchorBytecode,
      args: [account.address],
    });
    const fake = (await reader.waitForTransactionReceipt({ hash: deployTx })).contractAddress!;
    const tx = await wallet.writeContract({
      address: fake,
      abi: vaultAnchorAbi,
      functionName: "anchorPointers",
      args: [forgedRoot, 1n, 1n],
    });
    const mined = await reader.waitForTransactionReceipt({ hash: tx });
    const forged = {
      ...real,
      pointer,
      root: forgedRoot,
      siblings: [],
      anchor: { ...real.anchor!, root: forgedRoot, seq: 1, block: Number(mined.blockNumber) },
      vault_anchor: fake,
    };
    const service = serviceAnswering(s, () => forged);
    // Unpinned, the verifier can only take the service's word for the contract, and says so.
    const unpinned = await verify(service, blobs);
    assertMatch(unpinned.text, /as the service names them; pin them with --vault-anchor/);
    const pinned = await verify(service, blobs, {
      vaultAnchor: real.vault_anchor!,
      rpcUrl: s.chain.rpcUrl,
    });
    assertEquals(pinned.code, 1, pinned.text);
    assertMatch(
      pinned.text,
      /FAILED: the service names VaultAnchor 0x[0-9a-fA-F]{40}, not the pinned/,
    );
    // A proof that names another chain than the node's.
    const elsewhere = await verify(serviceAnswering(s, () => ({ ...real, chain_id: 1 })), blobs);
    assertEquals(elsewhere.code, 1, elsewhere.text);
    assertMatch(elsewhere.text, /the proof names chain 1, the node at the RPC URL is 31337/);
  } finally {
    await s.close();
  }
});
