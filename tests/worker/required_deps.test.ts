/**
 * The worker's revocation re-check, write ledger and session denylist are required: a worker
 * cannot be built without them, and every cap and write goes through them.
 */

import { assertEquals, assertRejects, assertThrows } from "../support/assert.ts";
import { SESSION_ID, testCapKey } from "../support/caps.ts";
import { LIMITS } from "../support/harness.ts";
import { tempDir } from "../support/tmp.ts";
import { join } from "node:path";
import type { CapClaims } from "../../lib/cap/mod.ts";
import { EpochKeystore } from "../../lib/signer/mod.ts";
import { FsBlobStore } from "../../lib/store/mod.ts";
import { KvStateStore, type WriteLedger } from "../../lib/state/mod.ts";
import type { WriteRecord } from "../../lib/state/_ledger.ts";
import { VaultWorker, WorkerError } from "../../lib/worker/mod.ts";
import type { VaultWorkerDeps } from "../../lib/worker/_vault.ts";

async function setup() {
  const tmp = await tempDir();
  const store = new FsBlobStore(join(tmp.path, "blobs"));
  const keys = await EpochKeystore.open({
    path: join(tmp.path, "signer/keystore.json"),
    sealKey: crypto.getRandomValues(new Uint8Array(32)),
  });
  const state = await KvStateStore.open();
  const caps = await testCapKey();
  const rechecked: CapClaims[] = [];
  const writes: WriteRecord[] = [];
  const revokedSessions = new Set<string>();
  const deps: VaultWorkerDeps = {
    store,
    keys,
    state,
    capKeys: caps.keys,
    limits: LIMITS,
    authority: {
      recheck(claims) {
        rechecked.push(claims);
        if (claims.service === "revoked") {
          return Promise.reject(new WorkerError("out_of_scope", "the agent was revoked"));
        }
        return Promise.resolve();
      },
    },
    ledger: {
      recordWrite(write) {
        writes.push(write);
        return Promise.resolve();
      },
      lastWrite: () => Promise.resolve(undefined),
    } satisfies WriteLedger,
    sessions: { isRevoked: (sid) => Promise.resolve(revokedSessions.has(sid)) },
  };
  return {
    deps,
    caps,
    rechecked,
    writes,
    revokedSessions,
    async [Symbol.asyncDispose]() {
      await store.close();
      state.close();
      await tmp[Symbol.asyncDispose]();
    },
  };
}

Deno.test("VaultWorker: refuses to be built without authority, ledger or sessions", async () => {
  await using env = await setup();
  for (const missing of ["authority", "ledger", "sessions"] as const) {
    const deps: Partial<VaultWorkerDeps> = { ...env.deps };
    delete deps[missing];
    assertThrows(
      () => new VaultWorker(deps as VaultWorkerDeps),
      TypeError,
      `VaultWorker needs ${missing}`,
    );
  }
  // All present: it builds.
  new VaultWorker(env.deps);
});

Deno.test("VaultWorker: every cap is re-checked, every store recorded, logged-out sessions refused", async () => {
  await using env = await setup();
  const worker = new VaultWorker(env.deps);
  const sk = new TextEncoder().encode("sk-test");

  const stored = await worker.credStore(await env.caps.mint({}), sk);
  assertEquals(env.rechecked.map((c) => c.service), ["openai"]);
  assertEquals(env.writes.length, 1);
  assertEquals(env.writes[0].epoch, stored.epoch);

  const refused = await assertRejects(
    async () => worker.credStore(await env.caps.mint({ service: "revoked" }), sk),
    WorkerError,
  );
  assertEquals((refused as WorkerError).code, "out_of_scope");
  assertEquals(env.writes.length, 1, "a refused cap writes nothing");

  const cap = await env.caps.mint({ op: "fetch" });
  assertEquals((await worker.credFetch(cap)).epoch, stored.epoch);
  env.revokedSessions.add(SESSION_ID);
  const loggedOut = await assertRejects(() => worker.credFetch(cap), WorkerError);
  assertEquals((loggedOut as WorkerError).code, "session_revoked");
});
