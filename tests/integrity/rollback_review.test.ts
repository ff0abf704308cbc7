/**
 * Sixth review (issue 11): a state store restored from an older copy must stay detectable at the
 * service's next start even when something wrote to it in between — a headless command run while
 * the service was stopped (it opens the data directory without the chain check), or a service
 * start that could not reach the chain. The old start check compared counts only (the chain's
 * anchored `seq` against the local change counter), so writes made after the restore pushed the
 * counter past the anchored one and the rollback passed for good.
 *
 * @module
 */

import { assert, assertEquals, assertRejects } from "../support/assert.ts";
import { openHeadlessWithChain, type Service } from "../../lib/service/mod.ts";
import { openTestService, serviceConfig, stateBackup } from "./_service.ts";
import { signerMain } from "../../lib/cli/mod.ts";
import { openDataDir } from "../../lib/datadir/mod.ts";
import { credentialLocation, sealBlob } from "../../lib/worker/mod.ts";
import { tempDir } from "../support/tmp.ts";
import { FsBlobStore } from "../../lib/store/mod.ts";
import { KvAuditLog, KvPointerStore, KvStateStore } from "../../lib/state/mod.ts";
import { IntegrityStore, PointerAnchors, pointerLeaf } from "../../lib/integrity/mod.ts";
import type { AnchorChain } from "../../lib/integrity/_anchor.ts";

const OPERATOR = "ab".repeat(32);

async function put(
  s: Pick<Service, "store" | "keystore">,
  service: string,
  value: string,
): Promise<void> {
  const loc = credentialLocation(OPERATOR, service);
  await s.store.put(loc.key, sealBlob(s.keystore, loc, new TextEncoder().encode(value)).blob);
}

/**
 * One credential written and anchored, the state store copied, `later` written and anchored, then
 * the copy put back (the service stopped): the chain is ahead of the state store. Answers the
 * anchored seq.
 */
async function restoredBehindChain(dir: string, later: string[]) {
  let s = await openTestService(dir);
  await put(s, "a", "1");
  await s.anchors.anchorNow();
  await s.close();
  const backup = await stateBackup(dir);
  s = await openTestService(dir);
  for (const name of later) await put(s, name, "2");
  await s.anchors.anchorNow();
  const anchoredSeq = s.anchors.status().anchored_seq;
  await s.close();
  await backup.restore();
  return anchoredSeq;
}

Deno.test("rollback review: a restored state store stays detected after a headless command wrote to it", async () => {
  await using dir = await tempDir("agentkeys-integrity-rb6-");
  // After the backup: three more writes, anchored (the chain now holds seq 4).
  const anchoredSeq = await restoredBehindChain(dir.path, ["b", "c", "d"]);
  // With the service stopped, a headless command (they all open the data directory this way)
  // writes more blobs than the chain is ahead by.
  const core = await openDataDir(serviceConfig(dir.path), { create: false });
  try {
    for (let i = 0; i < anchoredSeq + 2; i++) await put(core, `h${i}`, "3");
    assert((await core.pointers.seq()).seq > anchoredSeq);
  } finally {
    await core.close();
  }
  const s = await openTestService(dir.path);
  try {
    const blocked = s.anchors.status().blocked;
    assert(blocked?.includes("restored from an older copy"), `not blocked: ${blocked}`);
  } finally {
    await s.close();
  }
});

/** The contracts' latest anchors; `down` makes every call fail (an unreachable chain). */
class Chain implements AnchorChain {
  pointers = { root: `0x${"00".repeat(32)}`, seq: 0, count: 0 };
  audit = { head: `0x${"00".repeat(32)}`, count: 0 };
  down = false;
  /** The next pointer anchor is mined, and the call fails (an RPC error waiting for the receipt). */
  lostReceipt = false;
  sent = 0;
  #up<T>(value: T): Promise<T> {
    return this.down ? Promise.reject(new Error("chain unreachable")) : Promise.resolve(value);
  }
  anchorPointers(root: `0x${string}`, seq: number, count: number) {
    if (seq <= this.pointers.seq) return Promise.reject(new Error("SeqNotIncreasing"));
    if (this.down) return Promise.reject(new Error("chain unreachable"));
    this.pointers = { root, seq, count };
    this.sent++;
    if (this.lostReceipt) {
      this.lostReceipt = false;
      return Promise.reject(new Error("receipt: connection reset"));
    }
    return this.#up({ txHash: `0x${"ab".repeat(32)}`, blockNumber: 1 });
  }
  anchor(head: `0x${string}`, count: number) {
    this.audit = { head, count };
    return this.#up({ txHash: `0x${"cd".repeat(32)}`, blockNumber: 1 });
  }
  latestPointerAnchor() {
    return this.#up(this.pointers);
  }
  latestAnchor() {
    return this.#up(this.audit);
  }
}

/** A state store (in memory), the checked store over `blobs`, and the anchor loop on `chain`. */
async function open(blobs: string, chain: Chain, kv?: KvStateStore) {
  const state = kv ?? await KvStateStore.open();
  const pointers = new KvPointerStore(state.kv, { leafOf: pointerLeaf });
  const store = new IntegrityStore(new FsBlobStore(blobs), {
    pointers,
    writeBlock: () => pointers.writeBlock(),
  });
  const anchors = new PointerAnchors({
    pointers,
    audit: new KvAuditLog(state.kv),
    chain,
    everyMs: 60_000,
    writes: 1000,
  });
  await anchors.open();
  store.listen((p) => anchors.onCommit(p));
  return { state, pointers, store, anchors };
}

const bytes = (s: string) => new TextEncoder().encode(s);
const blobKey = (i: number) => `bots/${OPERATOR}/credentials/s${i}.enc`;

Deno.test("rollback review: a start that could not reach the chain checks before its first anchor, and sends none over a restored copy", async () => {
  await using dir = await tempDir("agentkeys-integrity-rb6u-");
  const chain = new Chain();
  // The state store that anchored seq 5, then a copy of it as it was at seq 1.
  const live = await open(dir.path, chain);
  const old = await KvStateStore.open();
  const copy = await open(dir.path, chain, old);
  await copy.store.put(blobKey(0), bytes("0"));
  for (let i = 0; i < 5; i++) await live.store.put(blobKey(i), bytes(`v${i}`));
  await live.anchors.anchorNow();
  assertEquals(chain.pointers.seq, 5);
  await live.anchors.close();
  live.state.close();
  // The restored copy grows past the anchored seq while its start cannot reach the chain.
  for (let i = 10; i < 16; i++) await copy.store.put(blobKey(i), bytes(`h${i}`));
  await copy.anchors.close();
  chain.down = true;
  const restarted = await open(dir.path, chain, old);
  await assertRejects(() => restarted.anchors.checkAgainstChain());
  chain.down = false;
  const sent = chain.sent;
  assertEquals(await restarted.anchors.anchorNow(), null);
  assertEquals(chain.sent, sent, "an anchor over the restored copy replaced the chain's evidence");
  assert(restarted.anchors.status().blocked?.includes("restored from an older copy"));
  await restarted.anchors.close();
  old.close();
});

Deno.test("rollback review: an anchor mined but not recorded (a crash in between) is no false alarm at the next start", async () => {
  await using dir = await tempDir("agentkeys-integrity-rb6c-");
  const chain = new Chain();
  const s = await open(dir.path, chain);
  await s.store.put(blobKey(0), bytes("0"));
  await s.anchors.anchorNow();
  const recorded = (await s.pointers.latestAnchor())!;
  await s.store.put(blobKey(1), bytes("1"));
  await s.anchors.anchorNow();
  // The crash: the second anchor is on chain, the record of it never reached KV — what is
  // there is the first anchor's record and the pending record written before sending.
  await s.pointers.saveAnchor(recorded);
  await s.pointers.savePendingAnchor({
    root: chain.pointers.root,
    seq: chain.pointers.seq,
    audit_head: chain.audit.head,
    audit_count: chain.audit.count,
  });
  await s.anchors.close();
  const again = await open(dir.path, chain, s.state);
  try {
    assertEquals(await again.anchors.checkAgainstChain(), null);
    // Without the record made before sending, the same chain is a restored copy.
    for await (const e of again.state.kv.list({ prefix: ["integrity", "anchor_pending"] })) {
      await again.state.kv.delete(e.key);
    }
    assert((await again.anchors.checkAgainstChain())?.includes("not one this state store sent"));
  } finally {
    await again.anchors.close();
    s.state.close();
  }
});

Deno.test("rollback review: an integrity-ack while the service runs clears the block it reports, not only the writes", async () => {
  await using dir = await tempDir("agentkeys-integrity-rb6a-");
  await restoredBehindChain(dir.path, ["b"]);
  const s = await openTestService(dir.path);
  try {
    assert(s.anchors.status().blocked !== null);
    const out: string[] = [];
    const sink = { write: (t: string) => (out.push(t), Promise.resolve()) };
    const code = await signerMain(["integrity-ack"], {
      env: { AGENTKEYS_DATA_DIR: dir.path },
      stdout: sink,
      stderr: sink,
      openHeadless: openHeadlessWithChain,
    });
    assertEquals(code, 0, out.join(""));
    await new Promise((r) => setTimeout(r, 1500));
    await put(s, "c", "3"); // writes resume within a second
    await s.anchors.tick();
    assertEquals(s.anchors.status().blocked, null);
  } finally {
    await s.close();
  }
});

Deno.test("rollback review: an anchor mined while its receipt was lost, then a retry that failed, is no false alarm at the next start", async () => {
  await using dir = await tempDir("agentkeys-integrity-rb6l-");
  const chain = new Chain();
  const s = await open(dir.path, chain);
  await s.store.put(blobKey(0), bytes("0"));
  await s.anchors.anchorNow();
  await s.store.put(blobKey(1), bytes("1"));
  chain.lostReceipt = true;
  await assertRejects(() => s.anchors.anchorNow());
  assertEquals(chain.pointers.seq, 2, "mined although the call failed");
  await s.store.put(blobKey(2), bytes("2"));
  chain.down = true;
  await assertRejects(() => s.anchors.anchorNow()); // the retry (seq 3) is not sent
  await s.anchors.close();
  chain.down = false;
  const again = await open(dir.path, chain, s.state);
  try {
    assertEquals(await again.anchors.checkAgainstChain(), null);
  } finally {
    await again.anchors.close();
    s.state.close();
  }
});
