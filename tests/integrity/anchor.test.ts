/**
 * The Merkle commitment and the anchor loop with an injected clock and a fake chain: anchors
 * only when something changed, at most ceil(10,000 / 1,000) + 1 anchors for a burst of 10,000
 * writes, retries with backoff, the state store rollback check; and proofs checked by an
 * independent verifier written here (@noble/hashes, viem's hex helpers) that fails when a path
 * element, the pointer or the anchor is altered.
 *
 * @module
 */

import { sha256 } from "@noble/hashes/sha2.js";
import { concat, hexToBytes, toHex } from "viem";
import { assert, assertEquals, assertRejects } from "../support/assert.ts";
import { tempDir } from "../support/tmp.ts";
import type { BlobInfo, BlobStore, PutConditions } from "../../lib/store/mod.ts";

type StoredBlob = { body: Uint8Array; etag: string };
import { PreconditionFailed } from "../../lib/store/mod.ts";
import { KvAuditLog, KvPointerStore, KvStateStore } from "../../lib/state/mod.ts";
import {
  anchorLagSeconds,
  IntegrityBlocked,
  IntegrityStore,
  PointerAnchors,
  pointerLeaf,
  PointerTree,
} from "../../lib/integrity/mod.ts";
import type { AnchorChain } from "../../lib/integrity/_anchor.ts";

/** A blob store in memory (the anchor loop does not care where bytes live). */
class MemoryStore implements BlobStore {
  readonly kind = "fs" as const;
  readonly #m = new Map<string, Uint8Array>();
  get(key: string): Promise<StoredBlob | null> {
    const b = this.#m.get(key);
    return Promise.resolve(b ? { body: b, etag: toHex(sha256(b)) } : null);
  }
  getRange(): Promise<null> {
    return Promise.resolve(null);
  }
  head(): Promise<BlobInfo | null> {
    return Promise.resolve(null);
  }
  put(key: string, body: Uint8Array, c?: PutConditions): Promise<{ etag: string }> {
    if (c?.ifNoneMatch && this.#m.has(key)) return Promise.reject(new PreconditionFailed(key));
    this.#m.set(key, body);
    return Promise.resolve({ etag: toHex(sha256(body)) });
  }
  delete(key: string): Promise<boolean> {
    return Promise.resolve(this.#m.delete(key));
  }
  async *list(): AsyncIterable<BlobInfo> {}
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** Records anchors like the contracts would (seq / count must grow). */
class FakeChain implements AnchorChain {
  pointerTxs: { root: string; seq: number; count: number }[] = [];
  auditTxs: { head: string; count: number }[] = [];
  failNext = 0;
  anchorPointers(root: `0x${string}`, seq: number, count: number) {
    if (this.failNext > 0) {
      this.failNext--;
      return Promise.reject(new Error("chain unavailable"));
    }
    const last = this.pointerTxs.at(-1)?.seq ?? 0;
    if (seq <= last) return Promise.reject(new Error(`SeqNotIncreasing(${seq}, ${last})`));
    this.pointerTxs.push({ root, seq, count });
    return Promise.resolve({ txHash: `0x${"ab".repeat(32)}`, blockNumber: this.pointerTxs.length });
  }
  anchor(head: `0x${string}`, count: number) {
    const last = this.auditTxs.at(-1)?.count ?? 0;
    if (count <= last) return Promise.reject(new Error("CountNotIncreasing"));
    this.auditTxs.push({ head, count });
    return Promise.resolve({ txHash: `0x${"cd".repeat(32)}`, blockNumber: 1 });
  }
  latestPointerAnchor() {
    const a = this.pointerTxs.at(-1);
    return Promise.resolve(a ?? { root: `0x${"00".repeat(32)}`, seq: 0, count: 0 });
  }
  latestAnchor() {
    return Promise.resolve(this.auditTxs.at(-1) ?? { head: `0x${"00".repeat(32)}`, count: 0 });
  }
}

async function setup(options: { chain?: FakeChain; writes?: number } = {}) {
  const state = await KvStateStore.open();
  const pointers = new KvPointerStore(state.kv, { leafOf: pointerLeaf });
  const audit = new KvAuditLog(state.kv);
  let now = 1_000_000;
  const chain = options.chain ?? new FakeChain();
  const store = new IntegrityStore(new MemoryStore(), {
    pointers,
    writeBlock: () => pointers.writeBlock(),
  });
  const anchors = new PointerAnchors({
    pointers,
    audit,
    chain,
    everyMs: 60_000,
    writes: options.writes ?? 1000,
    now: () => now,
  });
  await anchors.open();
  store.listen((p) => anchors.onCommit(p));
  return {
    state,
    pointers,
    audit,
    chain,
    store,
    anchors,
    advance(ms: number) {
      now += ms;
    },
    async [Symbol.asyncDispose]() {
      await anchors.close();
      state.close();
    },
  };
}

const key = (i: number) => `bots/${"cd".repeat(32)}/memory/ns/n-${i}.enc`;
const bytes = (i: number) => new TextEncoder().encode(`blob ${i}`);

Deno.test("anchors: nothing changed → no anchor; a change → one anchor at the next tick", async () => {
  await using t = await setup();
  t.advance(61_000);
  await t.anchors.tick();
  assertEquals([t.chain.pointerTxs.length, t.chain.auditTxs.length], [0, 0]);
  await t.store.put(key(1), bytes(1));
  await t.anchors.tick(); // not due yet: 1 write, no time passed
  assertEquals(t.chain.pointerTxs.length, 0);
  t.advance(60_000);
  await t.anchors.tick();
  assertEquals(t.chain.pointerTxs.length, 1);
  assertEquals(t.chain.auditTxs.length, 1);
  assertEquals(t.chain.pointerTxs[0].seq, 1);
  t.advance(60_000);
  await t.anchors.tick(); // nothing new
  assertEquals(t.chain.pointerTxs.length, 1);
  assertEquals(t.anchors.status().pending_writes, 0);
});

Deno.test("anchors: without a chain, writes past the anchor count leave the event loop running", async () => {
  await using tmp = await tempDir();
  // In a Worker: a starved event loop (a due anchor that cannot be sent used to start the next
  // one at once, forever, in microtasks) is then a failure here, not a hung test.
  const worker = new Worker(new URL("./_no_chain_worker.ts", import.meta.url), { type: "module" });
  try {
    const answer = await new Promise<{ count: number } | null>((resolve) => {
      const timer = setTimeout(() => resolve(null), 20_000);
      worker.onmessage = (e) => {
        clearTimeout(timer);
        resolve(e.data);
      };
      worker.postMessage({ dir: tmp.path });
    });
    assert(answer, "the worker's event loop never ran its timer (starved)");
    assertEquals(answer.count, 8);
  } finally {
    worker.terminate();
  }
});

Deno.test("anchors: a burst of 10,000 writes sends at most ceil(10000/1000)+1 anchors", async () => {
  await using t = await setup();
  const inFlight: Promise<unknown>[] = [];
  for (let i = 0; i < 10_000; i++) {
    inFlight.push(t.store.put(key(i % 2500), bytes(i)));
    if (inFlight.length >= 32) await Promise.all(inFlight.splice(0));
  }
  await Promise.all(inFlight);
  await t.anchors.anchorNow(); // settle whatever the last batch left
  t.advance(60_000);
  await t.anchors.tick();
  const txs = t.chain.pointerTxs.length;
  console.log(`10,000 writes → ${txs} pointer anchors, ${t.chain.auditTxs.length} audit anchors`);
  assert(txs <= Math.ceil(10_000 / 1000) + 1, `${txs} anchors`);
  assert(txs >= 2, "the write count triggers anchors before the time does");
  const last = t.chain.pointerTxs.at(-1)!;
  assertEquals(last.seq, 10_000);
  assertEquals(last.count, 2500);
  assertEquals(last.root, (await t.anchors.currentRoot()).root);
  // The anchored root is the root of the pointers rebuilt from scratch.
  const all = await Array.fromAsync(t.pointers.all());
  assertEquals(last.root, toHex(PointerTree.from(all).rootHash()));
});

Deno.test("anchors: a failed anchor is retried with backoff and shows in the status", async () => {
  const chain = new FakeChain();
  chain.failNext = 2;
  await using t = await setup({ chain });
  await t.store.put(key(1), bytes(1));
  t.advance(60_000);
  await t.anchors.tick();
  let s = t.anchors.status();
  assertEquals([s.failures, s.last_error, s.pending_writes], [1, "chain unavailable", 1]);
  await t.anchors.tick(); // backing off: no attempt
  assertEquals(t.anchors.status().failures, 1);
  t.advance(1000);
  await t.anchors.tick();
  assertEquals(t.anchors.status().failures, 2);
  t.advance(1500); // backoff is now 2 s
  await t.anchors.tick();
  assertEquals(t.anchors.status().failures, 2);
  t.advance(600);
  await t.anchors.tick();
  s = t.anchors.status();
  assertEquals([s.failures, s.last_error, s.anchored_seq, chain.pointerTxs.length], [
    0,
    null,
    1,
    1,
  ]);
});

/** The independent verifier: the hashing of docs/INTEGRITY.md, written again from the text. */
function verify(
  proof: {
    pointer: {
      key: string;
      version: number;
      epoch: number | null;
      sha256: string | null;
      size: number;
    };
    siblings: string[];
  },
  anchoredRoot: string,
): boolean {
  const enc = new TextEncoder();
  const p = proof.pointer;
  const path = sha256(enc.encode(p.key));
  const value = sha256(enc.encode(
    `agentkeys.pointer.v1|${p.key}|${p.version}|${p.epoch ?? "-"}|${
      p.sha256 ?? "deleted"
    }|${p.size}`,
  ));
  let h = sha256(concat([new Uint8Array([0]), path, value]));
  for (let d = proof.siblings.length - 1; d >= 0; d--) {
    const bit = (path[d >> 3] >> (7 - (d % 8))) & 1;
    const s = hexToBytes(proof.siblings[d] as `0x${string}`);
    h = sha256(concat([new Uint8Array([1]), bit ? s : h, bit ? h : s]));
  }
  return toHex(h) === anchoredRoot;
}

Deno.test("proofs: a proof verifies against the anchored root, and fails when anything is altered", async () => {
  await using t = await setup();
  for (let i = 0; i < 200; i++) await t.store.put(key(i), bytes(i));
  await t.store.delete(key(7));
  await t.anchors.anchorNow();
  const anchored = t.chain.pointerTxs.at(-1)!.root;
  for (const i of [0, 7, 199]) {
    const proof = (await t.anchors.proof(key(i)))!;
    assert(proof.anchor !== null, "covered by the latest anchor");
    assertEquals(proof.anchor.root, anchored);
    assert(verify(proof, anchored), `proof of ${i}`);
    // Any path element altered:
    for (let d = 0; d < proof.siblings.length; d++) {
      const siblings = [...proof.siblings];
      siblings[d] = `0x${(BigInt(siblings[d]) ^ 1n).toString(16).padStart(64, "0")}`;
      assert(!verify({ ...proof, siblings }, anchored), `altered sibling ${d}`);
    }
    // The pointer altered (the hash of older bytes, another version, another size):
    assert(!verify({ ...proof, pointer: { ...proof.pointer, sha256: "00".repeat(32) } }, anchored));
    assert(
      !verify(
        { ...proof, pointer: { ...proof.pointer, version: proof.pointer.version - 1 } },
        anchored,
      ),
    );
    assert(
      !verify({ ...proof, pointer: { ...proof.pointer, size: proof.pointer.size + 1 } }, anchored),
    );
    // Another anchor (an older root):
    assert(!verify(proof, `0x${"11".repeat(32)}`));
  }
  // A write after the anchor: proven against the current root until the next anchor.
  await t.store.put(key(0), bytes(1000));
  const fresh = (await t.anchors.proof(key(0)))!;
  assertEquals(fresh.anchor, null);
  assert(verify(fresh, fresh.root));
  assert(!verify(fresh, anchored));
  // Others keep their anchored proof although the tree changed since.
  const other = (await t.anchors.proof(key(5)))!;
  assertEquals(other.anchor?.root, anchored);
  assert(verify(other, anchored));
});

Deno.test("rollback of the state store: detected at start against the chain, writes refused until acknowledged", async () => {
  const chain = new FakeChain();
  await using t = await setup({ chain });
  for (let i = 0; i < 5; i++) await t.store.put(key(i), bytes(i));
  await t.anchors.anchorNow();
  // The chain saw more than this (restored) state store holds.
  chain.pointerTxs.push({ root: `0x${"99".repeat(32)}`, seq: 50, count: 50 });
  const reason = await t.anchors.checkAgainstChain();
  assert(reason?.includes("restored from an older copy"), reason ?? "none");
  assertEquals(t.anchors.status().blocked, reason);
  await assertRejects(() => t.store.put(key(9), bytes(9)), IntegrityBlocked);
  assert((await t.store.get(key(1))) !== null, "reads still work");
  assert(await t.pointers.unblock("0xadmin"));
  await t.store.put(key(9), bytes(9));
  const kinds = (await Array.fromAsync(t.audit.entries())).map((e) => e.kind);
  assert(kinds.includes("integrity_rollback_detected"));
  assert(kinds.includes("integrity_acknowledged"));
  assert((await t.audit.verify()).ok);
});

Deno.test("rollback check: an equal seq with another root, and an audit log behind its anchor, are detected", async () => {
  {
    const chain = new FakeChain();
    await using t = await setup({ chain });
    await t.store.put(key(1), bytes(1));
    await t.anchors.anchorNow();
    assertEquals(await t.anchors.checkAgainstChain(), null);
    chain.pointerTxs[0].root = `0x${"77".repeat(32)}`;
    assert((await t.anchors.checkAgainstChain())?.includes("altered"));
  }
  {
    const chain = new FakeChain();
    await using t = await setup({ chain });
    chain.auditTxs.push({ head: `0x${"55".repeat(32)}`, count: 99 });
    assert((await t.anchors.checkAgainstChain())?.includes("audit log has 0 entries"));
  }
});

Deno.test("anchorLagSeconds: null when not anchoring, 0 when nothing waits, else time since the last anchor", () => {
  const base = {
    enabled: true,
    anchored_seq: 5,
    anchored_at: "2026-01-01T00:00:00.000Z",
    tx_hash: null,
    pending_writes: 0,
    last_error: null,
    failures: 0,
    next_attempt_at: null,
    blocked: null,
  };
  const at = Date.parse("2026-01-01T00:01:30.000Z");
  assertEquals(anchorLagSeconds({ ...base, enabled: false }, at, 0), null);
  assertEquals(anchorLagSeconds(base, at, 0), 0);
  assertEquals(anchorLagSeconds({ ...base, pending_writes: 3 }, at, 0), 90);
  assertEquals(
    anchorLagSeconds({ ...base, anchored_at: null, pending_writes: 1 }, at, at - 10_000),
    10,
  );
});
