/**
 * One in-process vault for tests: fs store in a temp dir, a fresh keystore, in-memory state, a
 * test K1 and the real HTTP app. `await using v = await testVault();`
 *
 * @module
 */

import { join } from "node:path";
import { EpochKeystore } from "../../lib/signer/mod.ts";
import { type BlobStore, FsBlobStore } from "../../lib/store/mod.ts";
import { KvStateStore, KvWriteLedger, SessionDenylist } from "../../lib/state/mod.ts";
import { VaultWorker } from "../../lib/worker/mod.ts";
import type { CapAuthority } from "../../lib/worker/_vault.ts";
import type { CapGrant } from "../../lib/cap/_claims.ts";
import { createApp } from "../../routes/app.ts";
import { type TestCapKey, testCapKey } from "./caps.ts";
import { tempDir } from "./tmp.ts";
import { NO_CHAIN_AUTHORITY } from "./worker_deps.ts";

export const LIMITS = {
  credentials: 64 * 1024,
  memory: 1024 * 1024,
  inbound: 1024 * 1024,
  keyring: 1024 * 1024,
};

export interface TestVault extends AsyncDisposable {
  dir: string;
  store: BlobStore;
  keystore: EpochKeystore;
  worker: VaultWorker;
  caps: TestCapKey;
  /** Mints a cap for `grant` (defaults: store credentials ACTOR/openai). */
  cap(grant?: Partial<CapGrant>, ttlSeconds?: number): Promise<string>;
  /** POSTs JSON to the app with the cap as bearer; returns status and parsed body. */
  post(
    path: string,
    cap: string | undefined,
    body?: unknown,
  ): Promise<{ status: number; body: Record<string, unknown> }>;
  app: ReturnType<typeof createApp>;
}

export async function testVault(
  options: { store?: (dir: string) => BlobStore; authority?: CapAuthority } = {},
): Promise<TestVault> {
  const tmp = await tempDir();
  const store = options.store?.(tmp.path) ?? new FsBlobStore(join(tmp.path, "blobs"));
  const keystore = await EpochKeystore.open({
    path: join(tmp.path, "signer/keystore.json"),
    sealKey: crypto.getRandomValues(new Uint8Array(32)),
  });
  const state = await KvStateStore.open();
  const caps = await testCapKey();
  const worker = new VaultWorker({
    store,
    keys: keystore,
    state,
    capKeys: caps.keys,
    limits: LIMITS,
    authority: options.authority ?? NO_CHAIN_AUTHORITY,
    ledger: new KvWriteLedger(state.kv),
    sessions: new SessionDenylist(state),
  });
  const app = createApp({
    worker,
    // app.request("/path") is http://localhost/path: loopback on port 80 (routes/host.ts).
    port: 80,
    limits: LIMITS,
    health: {
      version: "test",
      roles: ["signer", "worker"],
      store: store.kind,
      chainId: null,
      activeEpoch: () => keystore.activeEpoch,
    },
  });
  return {
    dir: tmp.path,
    store,
    keystore,
    worker,
    caps,
    app,
    cap: (grant = {}, ttlSeconds) => caps.mint(grant, { ttlSeconds }),
    async post(path, cap, body = {}) {
      const headers: Record<string, string> = { "content-type": "application/json" };
      if (cap !== undefined) headers.authorization = `Bearer ${cap}`;
      const res = await app.request(path, {
        method: "POST",
        headers,
        body: typeof body === "string" ? body : JSON.stringify(body),
      });
      return { status: res.status, body: await res.json() };
    },
    async [Symbol.asyncDispose]() {
      state.close();
      await store.close();
      await tmp[Symbol.asyncDispose]();
    },
  };
}

/** Standard padded base64 of a UTF-8 string. */
export function b64(text: string): string {
  return new TextEncoder().encode(text).toBase64();
}
