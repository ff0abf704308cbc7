/**
 * The anchor loop's retry after a partial anchor (issue 11 review): the pointers' anchor mined,
 * the audit anchor failed. The retry must not send the pointer anchor again — VaultAnchor refuses
 * a `seq` that does not grow, so while no new pointer commit came, every retry failed on it and
 * the audit log's head was never anchored.
 *
 * @module
 */

import { join } from "node:path";
import { assertEquals } from "../support/assert.ts";
import { tempDir } from "../support/tmp.ts";
import { FsBlobStore } from "../../lib/store/mod.ts";
import { KvAuditLog, KvPointerStore, KvStateStore } from "../../lib/state/mod.ts";
import { IntegrityStore, PointerAnchors, pointerLeaf } from "../../lib/integrity/mod.ts";
import type { AnchorChain } from "../../lib/integrity/_anchor.ts";

/** Refuses what the contracts refuse (`seq` / `count` must grow); `auditFailures` fail first. */
class Chain implements AnchorChain {
  pointerTxs: { root: string; seq: number; count: number }[] = [];
  auditTxs: { head: string; count: number }[] = [];
  auditFailures = 0;
  anchorPointers(root: `0x${string}`, seq: number, count: number) {
    const last = this.pointerTxs.at(-1)?.seq ?? 0;
    if (seq <= last) return Promise.reject(new Error(`SeqNotIncreasing(${seq}, ${last})`));
    this.pointerTxs.push({ root, seq, count });
    return Promise.resolve({ txHash: `0x${"ab".repeat(32)}`, blockNumber: 1 });
  }
  anchor(head: `0x${string}`, count: number) {
    if (this.auditFailures > 0) {
      this.auditFailures--;
      return Promise.reject(new Error("rpc timeout"));
    }
    const last = this.auditTxs.at(-1)?.count ?? 0;
    if (count <= last) return Promise.reject(new Error(`CountNotIncreasing(${count}, ${last})`));
    this.auditTxs.push({ head, count });
    return Promise.resolve({ txHash: `0x${"cd".repeat(32)}`, blockNumber: 2 });
  }
  latestPointerAnchor() {
    return Promise.resolve(
      this.pointerTxs.at(-1) ?? { root: `0x${"00".repeat(32)}`, seq: 0, count: 0 },
    );
  }
  latestAnchor() {
    return Promise.resolve(this.auditTxs.at(-1) ?? { head: `0x${"00".repeat(32)}`, count: 0 });
  }
}

/**
 * A state store, a blob store wrapped in `IntegrityStore`, and `PointerAnchors` on `chain` with a
 * clock the test moves (`world.now`); every commit is told to the anchor loop, as in the service.
 */
async function anchorWorld(
  chain: AnchorChain,
  options: {
    audit?: (log: KvAuditLog) => Pick<KvAuditLog, "head">;
    writeBlock?: boolean;
  } = {},
) {
  const tmp = await tempDir();
  const state = await KvStateStore.open();
  const base = new FsBlobStore(join(tmp.path, "blobs"));
  const pointers = new KvPointerStore(state.kv, { leafOf: pointerLeaf });
  const log = new KvAuditLog(state.kv);
  const world = {
    now: 1_000_000,
    pointers,
    audit: log,
    anchors: undefined as unknown as PointerAnchors,
    store: new IntegrityStore(base, {
      pointers,
      ...(options.writeBlock ? { writeBlock: () => pointers.writeBlock() } : {}),
    }),
    async [Symbol.asyncDispose]() {
      await world.anchors.close();
      await base.close();
      state.close();
      await tmp[Symbol.asyncDispose]();
    },
  };
  world.anchors = new PointerAnchors({
    pointers,
    audit: options.audit?.(log) ?? log,
    chain,
    everyMs: 60_000,
    writes: 1000,
    now: () => world.now,
  });
  await world.anchors.open();
  world.store.listen((p) => world.anchors.onCommit(p));
  return world;
}

Deno.test("anchors: after the pointer anchor was mined and the audit anchor failed, the retry sends only the audit anchor", async () => {
  const chain = new Chain();
  await using w = await anchorWorld(chain);
  const { anchors, store, pointers, audit } = w;
  await store.put("bots/aa/memory/ns/x.enc", new Uint8Array([1]));
  chain.auditFailures = 1;
  w.now += 60_000;
  await anchors.tick();
  assertEquals([chain.pointerTxs.length, chain.auditTxs.length], [1, 0]);
  assertEquals(anchors.status().failures, 1);
  w.now += 1_000; // the backoff; nothing was written meanwhile
  await anchors.tick();
  const s = anchors.status();
  assertEquals([s.failures, s.last_error, s.anchored_seq], [0, null, 1]);
  assertEquals([chain.pointerTxs.length, chain.auditTxs.length], [1, 1]);
  assertEquals(chain.auditTxs[0].count, (await audit.head()).seq);
  // What the state store recorded names both transactions.
  const saved = (await pointers.latestAnchor())!;
  assertEquals([saved.seq, saved.audit_count], [1, (await audit.head()).seq]);
});

Deno.test("anchors: after integrity-ack, a running service takes the acknowledged anchors as its base (not blocked, no anchor the chain refuses)", async () => {
  const chain = new Chain();
  await using w = await anchorWorld(chain, { writeBlock: true });
  const { anchors, store, pointers } = w;
  for (let i = 0; i < 3; i++) await store.put(`bots/aa/memory/ns/${i}.enc`, new Uint8Array([i]));
  await anchors.anchorNow();
  // The state store is found older than the chain (pointers and audit log), at start.
  chain.pointerTxs.push({ root: `0x${"99".repeat(32)}`, seq: 50, count: 50 });
  chain.auditTxs.push({ head: `0x${"55".repeat(32)}`, count: 99 });
  assertEquals(typeof await anchors.checkAgainstChain(), "string");
  // The admin acknowledges while the service runs; writes resume.
  await pointers.unblock("0xadmin");
  await store.put("bots/aa/memory/ns/after.enc", new Uint8Array([9]));
  w.now += 60_000;
  await anchors.tick();
  const s = anchors.status();
  assertEquals([s.blocked, s.failures, s.last_error], [null, 0, null]);
  assertEquals(chain.pointerTxs.at(-1)!.seq, 51);
  // The audit log is still behind the acknowledged count: its anchors wait until it grows.
  assertEquals(chain.auditTxs.length, 2);
});

/** Mines the next pointer / audit anchor, then answers an error (a receipt wait that timed out). */
class LostReceipts extends Chain {
  losePointer = 0;
  loseAudit = 0;
  override async anchorPointers(root: `0x${string}`, seq: number, count: number) {
    const mined = await super.anchorPointers(root, seq, count);
    if (this.losePointer-- > 0) throw new Error("timed out waiting for the receipt");
    return mined;
  }
  override async anchor(head: `0x${string}`, count: number) {
    const mined = await super.anchor(head, count);
    if (this.loseAudit-- > 0) throw new Error("timed out waiting for the receipt");
    return mined;
  }
}

Deno.test("anchors: an anchor mined although its sender saw an error is recognised on the retry, not re-sent until the next write", async () => {
  const chain = new LostReceipts();
  await using w = await anchorWorld(chain);
  const { anchors, store, pointers, audit } = w;
  await store.put("bots/aa/memory/ns/x.enc", new Uint8Array([1]));
  for (const lose of ["losePointer", "loseAudit"] as const) {
    chain[lose] = 1;
    w.now += 60_000;
    await anchors.tick();
    assertEquals(anchors.status().failures, 1, lose);
    w.now += 1_000; // the backoff; nothing was written meanwhile
    await anchors.tick();
    const s = anchors.status();
    assertEquals([s.failures, s.last_error], [0, null], lose);
    if (lose === "losePointer") {
      await store.put("bots/aa/memory/ns/y.enc", new Uint8Array([2])); // the next round
    }
  }
  assertEquals(chain.pointerTxs.map((t) => t.seq), [1, 2]);
  const saved = (await pointers.latestAnchor())!;
  assertEquals([saved.seq, saved.audit_count], [2, (await audit.head()).seq]);
  assertEquals(chain.auditTxs.at(-1)!.count, (await audit.head()).seq);
});

Deno.test("anchors: a state store error during an anchor attempt is a failure like a chain error (backoff, status, retried)", async () => {
  const chain = new Chain();
  let busy = 0;
  await using w = await anchorWorld(chain, {
    audit: (log) => ({
      head: () => busy-- > 0 ? Promise.reject(new Error("state store busy")) : log.head(),
    }),
  });
  const { anchors, store } = w;
  await store.put("bots/aa/memory/ns/x.enc", new Uint8Array([1]));
  busy = 1;
  w.now += 60_000;
  await anchors.tick();
  const s = anchors.status();
  assertEquals([s.failures, s.last_error], [1, "state store busy"]);
  assertEquals(s.next_attempt_at, new Date(w.now + 1_000).toISOString());
  w.now += 1_000; // retried after the backoff, not after the next interval
  await anchors.tick();
  assertEquals([anchors.status().failures, chain.pointerTxs.length], [0, 1]);
});
