/**
 * Runs in a Worker for tests/integrity/anchor.test.ts: writes past the anchor count with no
 * chain, then reports whether a timer still fires (a starved event loop never answers, and
 * the test, which waits on another thread, can say so instead of hanging).
 *
 * @module
 */

import { IntegrityStore, PointerAnchors, pointerLeaf } from "../../lib/integrity/mod.ts";
import { KvAuditLog, KvPointerStore, KvStateStore } from "../../lib/state/mod.ts";
import { FsBlobStore } from "../../lib/store/mod.ts";

const self = globalThis as unknown as {
  postMessage(m: unknown): void;
  onmessage: ((e: MessageEvent<{ dir: string }>) => void) | null;
};
self.onmessage = async (e) => {
  const state = await KvStateStore.open();
  const pointers = new KvPointerStore(state.kv, { leafOf: pointerLeaf });
  const store = new IntegrityStore(new FsBlobStore(e.data.dir), { pointers });
  const anchors = new PointerAnchors({
    pointers,
    audit: new KvAuditLog(state.kv),
    everyMs: 60_000,
    writes: 3,
  });
  await anchors.open();
  store.listen((p) => anchors.onCommit(p));
  for (let i = 0; i < 8; i++) {
    await store.put(`bots/${"cd".repeat(32)}/memory/ns/n-${i}.enc`, new Uint8Array([i]));
  }
  setTimeout(async () => {
    self.postMessage({ count: (await anchors.currentRoot()).count });
  }, 20);
};
