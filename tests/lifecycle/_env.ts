/**
 * An in-process lifecycle environment on a fake clock: fs store and keystore in a temp dir, KV,
 * the epoch components (`openEpochs`) and a {@linkcode LifecycleScheduler}, every one of them
 * reading the same clock, so a test moves time with `advance` and never sleeps.
 *
 * @module
 */

import { join } from "node:path";
import { EpochKeystore } from "../../lib/signer/mod.ts";
import { FsBlobStore } from "../../lib/store/mod.ts";
import { KvActorIndex, KvAuditLog, KvStateStore } from "../../lib/state/mod.ts";
import { type EpochRecorder, openEpochs } from "../../lib/epochs/mod.ts";
import type { Epochs } from "../../lib/epochs/_open.ts";
import { type BlobLocation, openBlob, parseBlobKey, sealBlob } from "../../lib/worker/mod.ts";
import { LifecycleScheduler } from "../../lib/lifecycle/mod.ts";
import type { LifecycleDeps } from "../../lib/lifecycle/_scheduler.ts";
import { defaultLifecyclePolicy, type LifecyclePolicy } from "../../lib/config/mod.ts";
import { tempDir } from "../support/tmp.ts";

export const DAY = 86400_000;
export const HOUR = 3600_000;

/** A clock tests move by hand. */
export class FakeClock {
  constructor(public ms = Date.parse("2026-01-01T00:00:00Z")) {}
  now = (): Date => new Date(this.ms);
  advance(ms: number): void {
    this.ms += ms;
  }
}

export interface LifecycleEnv extends AsyncDisposable {
  dir: string;
  clock: FakeClock;
  store: FsBlobStore;
  keystore: EpochKeystore;
  kv: Deno.Kv;
  epochs: Epochs;
  audit: KvAuditLog;
  scheduler: LifecycleScheduler;
  /** A second scheduler (another process's) on the same KV, store and keystore file. */
  another(holder: string, deps?: Partial<LifecycleDeps>): LifecycleScheduler;
  write(loc: BlobLocation, plaintext: string, epoch?: number): Promise<void>;
  read(key: string): Promise<{ epoch: number; plaintext: string }>;
  /** Audit entries of `kind`, oldest first. */
  entries(kind: string): Promise<Record<string, unknown>[]>;
}

export async function lifecycleEnv(options: {
  policy?: Partial<LifecyclePolicy>;
  recorder?: EpochRecorder;
  scheduler?: Partial<LifecycleDeps>;
} = {}): Promise<LifecycleEnv> {
  const tmp = await tempDir("agentkeys-lifecycle-");
  const clock = new FakeClock();
  const store = new FsBlobStore(join(tmp.path, "blobs"));
  const keystore = await EpochKeystore.open({
    path: join(tmp.path, "signer/keystore.json"),
    sealKey: crypto.getRandomValues(new Uint8Array(32)),
    now: clock.now,
  });
  const state = await KvStateStore.open();
  const kv = state.kv;
  const audit = new KvAuditLog(kv, { now: clock.now });
  const epochs = await openEpochs({
    store,
    keystore,
    kv,
    actors: new KvActorIndex(kv),
    audit,
    recorder: options.recorder,
    runner: { now: clock.now, warn: () => {} },
  });
  const policy = { ...defaultLifecyclePolicy(), ...options.policy };
  const make = (holder: string, deps: Partial<LifecycleDeps> = {}) =>
    new LifecycleScheduler({
      policy,
      admin: epochs.admin,
      runner: epochs.runner,
      kv,
      audit,
      now: clock.now,
      holder,
      warn: () => {},
      ...options.scheduler,
      ...deps,
    });
  const utf8 = new TextEncoder();
  return {
    dir: tmp.path,
    clock,
    store,
    keystore,
    kv,
    epochs,
    audit,
    scheduler: make("test-1"),
    another: make,
    async write(loc, plaintext, epoch) {
      const { blob } = sealBlob(keystore, loc, utf8.encode(plaintext), epoch);
      await store.put(loc.key, blob);
    },
    async read(key) {
      const stored = await store.get(key);
      const opened = openBlob(keystore, parseBlobKey(key)!, stored!.body);
      return { epoch: opened.epoch, plaintext: new TextDecoder().decode(opened.plaintext) };
    },
    async entries(kind) {
      const out: Record<string, unknown>[] = [];
      for await (
        const e of kv.list<{ kind: string; data: Record<string, unknown> }>({
          prefix: ["audit", "entry"],
        })
      ) {
        if (e.value.kind === kind) out.push(e.value.data);
      }
      return out;
    },
    async [Symbol.asyncDispose]() {
      await epochs.runner.close();
      state.close();
      await store.close();
      await tmp[Symbol.asyncDispose]();
    },
  };
}
