/**
 * Fixtures for the re-encryption tests: an fs store and keystore in a temp dir, in-memory KV
 * state, a counting store wrapper, and a mixed population of blobs across epochs, classes and
 * actors whose plaintexts are remembered for checking.
 *
 * @module
 */

import { join } from "node:path";
import { EpochKeystore } from "../../lib/signer/mod.ts";
import {
  type BlobInfo,
  type BlobStore,
  FsBlobStore,
  type ListOptions,
  type PutConditions,
} from "../../lib/store/mod.ts";
import {
  KvActorIndex,
  KvAuditLog,
  KvCensusStore,
  KvJobStore,
  KvStateStore,
  KvWriteLedger,
} from "../../lib/state/mod.ts";
import {
  type BlobLocation,
  credentialLocation,
  inboundLocation,
  memoryLocation,
  openBlob,
  parseBlobKey,
  sealBlob,
} from "../../lib/worker/mod.ts";
import { envelopeEpochTag } from "../../lib/crypto/mod.ts";
import { tempDir } from "../support/tmp.ts";

export const OPERATOR = "0x" + "a1".repeat(32);
export const AGENT_1 = "0x" + "b2".repeat(32);
export const AGENT_2 = "0x" + "c3".repeat(32);
/** An agent of another operator: operator-scoped runs must not touch it. */
export const OTHER_OPERATOR = "0x" + "d4".repeat(32);
export const STRANGER = "0x" + "e5".repeat(32);

const hex = (omni: string) => omni.slice(2);
const utf8 = new TextEncoder();
const text = new TextDecoder();

export interface Env extends AsyncDisposable {
  dir: string;
  store: FsBlobStore;
  keystore: EpochKeystore;
  /** The keystore file and its seal key, to open a second instance ("another process"). */
  keystorePath: string;
  sealKey: Uint8Array;
  state: KvStateStore;
  kv: Deno.Kv;
  actors: KvActorIndex;
  ledger: KvWriteLedger;
  censusStore: KvCensusStore;
  jobStore: KvJobStore;
  audit: KvAuditLog;
  /** key → the plaintext last written there. */
  plaintexts: Map<string, string>;
  /** Seals `plaintext` for `loc` under `epoch` (default active) and writes it unconditionally. */
  write(loc: BlobLocation, plaintext: string, epoch?: number): Promise<void>;
  /** Decrypts what is stored at `key` with the keystore. */
  read(key: string): Promise<{ epoch: number; plaintext: string }>;
  /** The epoch byte of the stored blob. */
  tag(key: string): Promise<number>;
  /** Every key under bots/ with its raw bytes, for before/after comparisons. */
  snapshot(): Promise<Map<string, string>>;
}

/** An empty environment: fs store, keystore at epoch 1 active, in-memory KV. */
export async function makeEnv(): Promise<Env> {
  const tmp = await tempDir("agentkeys-reencrypt-");
  const store = new FsBlobStore(join(tmp.path, "blobs"));
  const keystorePath = join(tmp.path, "signer/keystore.json");
  const sealKey = crypto.getRandomValues(new Uint8Array(32));
  const keystore = await EpochKeystore.open({ path: keystorePath, sealKey });
  const state = await KvStateStore.open();
  const kv = state.kv;
  const plaintexts = new Map<string, string>();
  const env: Env = {
    dir: tmp.path,
    store,
    keystore,
    keystorePath,
    sealKey,
    state,
    kv,
    actors: new KvActorIndex(kv),
    ledger: new KvWriteLedger(kv),
    censusStore: new KvCensusStore(kv),
    jobStore: new KvJobStore(kv),
    audit: new KvAuditLog(kv),
    plaintexts,
    async write(loc, plaintext, epoch) {
      const { blob } = sealBlob(keystore, loc, utf8.encode(plaintext), epoch);
      await store.put(loc.key, blob);
      plaintexts.set(loc.key, plaintext);
    },
    async read(key) {
      const loc = parseBlobKey(key)!;
      const stored = await store.get(key);
      const opened = openBlob(keystore, loc, stored!.body);
      return { epoch: opened.epoch, plaintext: text.decode(opened.plaintext) };
    },
    async tag(key) {
      return envelopeEpochTag((await store.get(key))!.body);
    },
    async snapshot() {
      const out = new Map<string, string>();
      for await (const info of store.list("bots/")) {
        out.set(info.key, (await store.get(info.key))!.body.toHex());
      }
      return out;
    },
    async [Symbol.asyncDispose]() {
      state.close();
      await store.close();
      await tmp[Symbol.asyncDispose]();
    },
  };
  return env;
}

/** Where each blob of {@linkcode mixedFixture} is expected to end up. */
export interface Mixed {
  /** Under epoch 2 (the run's old epoch), readable: re-encrypted by a run 2 → 3. */
  old: string[];
  /** Already under epoch 3. */
  fresh: string[];
  /** Under epoch 1 (retiring too, but not the run's old epoch). */
  other: string[];
  /** Epoch 2 with a flipped ciphertext byte. */
  tampered: string;
  /** A key the store accepts but the object layout does not (uppercase service name). */
  malformed: string;
  /** 5 bytes: not an envelope. */
  short: string;
  /** Epoch 2 blobs of another operator's agent. */
  foreign: string[];
}

/**
 * Epochs 1 and 2 retiring, 3 active; the operator and two agents (recorded in the actor index)
 * with blobs in all three classes; a tampered, a malformed-key and a too-short blob; and another
 * operator's agent with old blobs. A run is `--old-epoch 2 --new-epoch 3`.
 */
export async function mixedFixture(env: Env): Promise<Mixed> {
  const m: Mixed = {
    old: [],
    fresh: [],
    other: [],
    tampered: "",
    malformed: "",
    short: "",
    foreign: [],
  };
  const owned = [OPERATOR, AGENT_1, AGENT_2];
  for (const a of owned.slice(1)) await env.actors.record(OPERATOR, a);
  await env.actors.record(OTHER_OPERATOR, STRANGER);
  // Epoch 1.
  for (const a of owned) {
    const loc = credentialLocation(hex(a), "legacy");
    await env.write(loc, `legacy secret of ${a}`);
    m.other.push(loc.key);
  }
  await env.keystore.rotate(); // 2 active
  for (const a of owned) {
    for (
      const loc of [
        credentialLocation(hex(a), "openai"),
        credentialLocation(hex(a), "github"),
        memoryLocation(hex(a), "notes", "todo"),
        memoryLocation(hex(a), "notes", "ideas"),
        inboundLocation(hex(a), "msg-1"),
      ]
    ) {
      await env.write(loc, `v1 of ${loc.key}`);
      m.old.push(loc.key);
    }
  }
  for (const loc of [credentialLocation(hex(STRANGER), "openai")]) {
    await env.write(loc, `stranger ${loc.key}`);
    m.foreign.push(loc.key);
  }
  const tampered = credentialLocation(hex(AGENT_1), "tampered");
  const { blob } = sealBlob(env.keystore, tampered, utf8.encode("will be tampered"));
  blob[blob.length - 3] ^= 0x40;
  await env.store.put(tampered.key, blob);
  m.tampered = tampered.key;
  m.malformed = `bots/${hex(AGENT_2)}/credentials/Bad_Name.enc`;
  const bad = sealBlob(
    env.keystore,
    credentialLocation(hex(AGENT_2), "bad-name"),
    utf8.encode("x"),
  );
  await env.store.put(m.malformed, bad.blob);
  m.short = `bots/${hex(OPERATOR)}/inbound/short.enc`;
  await env.store.put(m.short, new Uint8Array([2, 0, 0, 0, 0]));
  await env.keystore.rotate(); // 3 active
  for (const a of owned) {
    const loc = credentialLocation(hex(a), "fresh");
    await env.write(loc, `fresh secret of ${a}`);
    m.fresh.push(loc.key);
  }
  return m;
}

/** Writes `count` epoch-1 credentials for OPERATOR and its agents, then rotates to epoch 2. */
export async function simpleFixture(env: Env, count: number): Promise<string[]> {
  const owned = [OPERATOR, AGENT_1, AGENT_2];
  for (const a of owned.slice(1)) await env.actors.record(OPERATOR, a);
  const keys: string[] = [];
  for (let i = 0; i < count; i++) {
    const actor = owned[i % owned.length];
    const loc = i % 2 === 0
      ? credentialLocation(hex(actor), `svc-${i}`)
      : memoryLocation(hex(actor), "ns", `item-${i}`);
    await env.write(loc, `secret number ${i} ${crypto.randomUUID()}`);
    keys.push(loc.key);
  }
  await env.keystore.rotate();
  return keys;
}

/** A store wrapper counting calls per operation (and which puts carried conditions). */
export class CountingStore implements BlobStore {
  counts = { get: 0, getRange: 0, head: 0, put: 0, delete: 0, list: 0 };
  constructor(readonly inner: BlobStore) {}
  get kind() {
    return this.inner.kind;
  }
  get(key: string) {
    this.counts.get++;
    return this.inner.get(key);
  }
  getRange(key: string, start: number, end: number) {
    this.counts.getRange++;
    if (start !== 0 || end !== 0) throw new Error(`unexpected range ${start}-${end}`);
    return this.inner.getRange(key, start, end);
  }
  head(key: string) {
    this.counts.head++;
    return this.inner.head(key);
  }
  put(key: string, body: Uint8Array, conditions?: PutConditions) {
    this.counts.put++;
    return this.inner.put(key, body, conditions);
  }
  delete(key: string) {
    this.counts.delete++;
    return this.inner.delete(key);
  }
  list(prefix: string, options?: ListOptions): AsyncIterable<BlobInfo> {
    this.counts.list++;
    return this.inner.list(prefix, options);
  }
  close() {
    return this.inner.close();
  }
}
