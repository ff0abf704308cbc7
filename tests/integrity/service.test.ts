/**
 * Integrity in the real service on the embedded chain (anvil): anchors land in VaultAnchor and
 * AuditAnchor, `/healthz` reports them, a proof from `GET /v1/cred/proof` verifies against the
 * root read from the chain with viem (an independent verifier), a data directory deployed
 * before VaultAnchor existed gains it at start, and a state store restored from a backup is
 * detected at start and refuses writes until `deno task signer integrity-ack`.
 *
 * @module
 */

import { join } from "node:path";
import { sha256 } from "@noble/hashes/sha2.js";
import { concat, createPublicClient, hexToBytes, http, toHex } from "viem";
import { assert, assertEquals, assertRejects } from "../support/assert.ts";
import { type Service } from "../../lib/service/mod.ts";
import { openTestService } from "./_service.ts";
import { vaultAnchorAbi } from "../../lib/chain/artifacts.ts";
import { IntegrityBlocked } from "../../lib/integrity/mod.ts";
import { credentialLocation, sealBlob } from "../../lib/worker/mod.ts";
import { tempDir } from "../support/tmp.ts";
import { signerMain } from "../../lib/cli/mod.ts";
import { openHeadlessWithChain } from "../../lib/service/mod.ts";

/** Runs `deno task signer …` in this process; returns the exit code and what it printed. */
async function signer(dir: string, ...args: string[]): Promise<{ code: number; text: string }> {
  const out: string[] = [];
  const sink = { write: (t: string) => (out.push(t), Promise.resolve()) };
  const code = await signerMain(args, {
    env: { AGENTKEYS_DATA_DIR: dir },
    stdout: sink,
    stderr: sink,
    openHeadless: openHeadlessWithChain,
  });
  return { code, text: out.join("") };
}

async function open(dir: string): Promise<Service> {
  return await openTestService(dir);
}

const OPERATOR = "0x" + "ab".repeat(32);

async function putCred(s: Service, service: string, value: string): Promise<void> {
  const loc = credentialLocation(OPERATOR.slice(2), service);
  await s.store.put(loc.key, sealBlob(s.keystore, loc, new TextEncoder().encode(value)).blob);
}

/** The verifier of docs/INTEGRITY.md, written again from the text. */
function fold(
  p: { key: string; version: number; epoch: number | null; sha256: string | null; size: number },
  siblings: string[],
): string {
  const enc = new TextEncoder();
  const path = sha256(enc.encode(p.key));
  const value = sha256(
    enc.encode(
      `agentkeys.pointer.v1|${p.key}|${p.version}|${p.epoch ?? "-"}|${
        p.sha256 ?? "deleted"
      }|${p.size}`,
    ),
  );
  let h = sha256(concat([new Uint8Array([0]), path, value]));
  for (let d = siblings.length - 1; d >= 0; d--) {
    const bit = (path[d >> 3] >> (7 - (d % 8))) & 1;
    const s = hexToBytes(siblings[d] as `0x${string}`);
    h = sha256(concat([new Uint8Array([1]), bit ? s : h, bit ? h : s]));
  }
  return toHex(h);
}

Deno.test("service: anchors land on the embedded chain and a proof verifies against the chain's root", async () => {
  await using dir = await tempDir("agentkeys-integrity-svc-");
  const s = await open(dir.path);
  try {
    assert(s.chain.client.addresses.VaultAnchor, "VaultAnchor deployed on first boot");
    for (let i = 0; i < 5; i++) await putCred(s, `svc-${i}`, `secret ${i}`);
    const record = (await s.anchors.anchorNow())!;
    assertEquals([record.seq, record.count], [5, 5]);
    const status = s.anchors.status();
    assertEquals([status.enabled, status.anchored_seq, status.pending_writes], [true, 5, 0]);
    assertEquals(status.tx_hash, record.tx_hash);

    const proof = await s.proofs.prove(OPERATOR, OPERATOR, {
      dataClass: "credentials",
      service: "svc-3",
    });
    // The verifier reads the root from the chain itself (here straight from anvil).
    const chain = createPublicClient({ transport: http(s.chain.rpcUrl) });
    const [root, seq] = await chain.readContract({
      address: proof.vault_anchor as `0x${string}`,
      abi: vaultAnchorAbi,
      functionName: "latestAnchor",
    });
    assertEquals(Number(seq), 5);
    assertEquals(fold(proof.pointer, proof.siblings), root);
    assertEquals(proof.anchor?.block, record.block);
    const tampered = { ...proof.pointer, sha256: "00".repeat(32) };
    assert(fold(tampered, proof.siblings) !== root);
    // The audit log's head is anchored in the same cadence.
    const audit = await s.chain.client.latestAnchor();
    assertEquals(audit.count, (await s.audit.head()).seq);
    // Nothing changed: no new anchor.
    assertEquals(await s.anchors.anchorNow(), null);
  } finally {
    await s.close();
  }
});

Deno.test("service: a data directory deployed before VaultAnchor gains it at start; identity contracts stay", async () => {
  await using dir = await tempDir("agentkeys-integrity-old-");
  let s = await open(dir.path);
  const before = s.chain.client.addresses;
  await s.close();
  const path = join(dir.path, "chain", "deployment.json");
  const d = JSON.parse(await Deno.readTextFile(path));
  delete d.addresses.VaultAnchor;
  delete d.vaultAnchorSha256;
  await Deno.writeTextFile(path, JSON.stringify(d, null, 2));
  s = await open(dir.path);
  try {
    const after = s.chain.client.addresses;
    assertEquals(after.AgentRegistry, before.AgentRegistry);
    assertEquals(after.AuditAnchor, before.AuditAnchor);
    assert(after.VaultAnchor && after.VaultAnchor !== before.VaultAnchor, "a new VaultAnchor");
    const recorded = JSON.parse(await Deno.readTextFile(path));
    assertEquals(recorded.addresses.VaultAnchor, after.VaultAnchor);
    await putCred(s, "x", "y");
    assert(await s.anchors.anchorNow());
  } finally {
    await s.close();
  }
});

Deno.test("service: a state store restored from an older copy is detected at start; writes wait for integrity-ack", async () => {
  await using dir = await tempDir("agentkeys-integrity-rb-");
  const kvFiles = () =>
    [...Deno.readDirSync(dir.path)].map((e) => e.name).filter((n) => n.startsWith("state.kv"));
  let s = await open(dir.path);
  await putCred(s, "a", "1");
  await s.anchors.anchorNow();
  await s.close();
  // The backup: the KV files after one anchored write.
  const backup = join(dir.path, "backup");
  await Deno.mkdir(backup);
  for (const f of await kvFiles()) await Deno.copyFile(join(dir.path, f), join(backup, f));
  s = await open(dir.path);
  await putCred(s, "b", "2");
  await s.anchors.anchorNow();
  await s.close();
  for (const f of await kvFiles()) await Deno.remove(join(dir.path, f));
  for (const f of Deno.readDirSync(backup)) {
    await Deno.copyFile(join(backup, f.name), join(dir.path, f.name));
  }
  s = await open(dir.path);
  try {
    const blocked = s.anchors.status().blocked;
    assert(blocked?.includes("restored from an older copy"), String(blocked));
    await assertRejects(() => putCred(s, "c", "3"), IntegrityBlocked);
  } finally {
    await s.close();
  }
  const ack = await signer(dir.path, "integrity-ack");
  assertEquals(ack.code, 0, ack.text);
  assert(ack.text.includes("writes resume"), ack.text);
  s = await open(dir.path);
  try {
    assertEquals(s.anchors.status().blocked, null);
    await putCred(s, "c", "3");
  } finally {
    await s.close();
  }
});

Deno.test("service: audit-verify checks the log against the chain's anchor; truncated by one entry it fails and names it", async () => {
  await using dir = await tempDir("agentkeys-integrity-audit-");
  const s = await open(dir.path);
  try {
    await putCred(s, "a", "1");
    await putCred(s, "b", "2");
    await s.anchors.anchorNow();
    const ok = await signer(dir.path, "audit-verify");
    assertEquals(ok.code, 0, ok.text);
    assert(ok.text.includes("matches the chain's latest anchor"), ok.text);
    // Truncate by one entry, keeping the local hash chain consistent (head moved back).
    const head = await s.audit.head();
    const prev = (await s.state.kv.get<{ hash: string }>(["audit", "entry", head.seq - 1])).value!;
    await s.state.kv.atomic()
      .delete(["audit", "entry", head.seq])
      .set(["audit", "head"], { seq: head.seq - 1, hash: prev.hash })
      .commit();
    const bad = await signer(dir.path, "audit-verify");
    assertEquals(bad.code, 1, bad.text);
    assert(bad.text.includes(`TRUNCATED: entry ${head.seq} is anchored`), bad.text);
  } finally {
    await s.close();
  }
});
