/**
 * Builds the components of one service process from a {@linkcode Config}: blob store, signer
 * keystore, state, broker key and worker. No HTTP here — `routes/` wraps what this returns.
 *
 * ```ts
 * const service = await openService(loadConfig(Deno.env.toObject()));
 * // … serve createApp(service) …
 * await service.close();
 * ```
 *
 * @module
 */

import { join, resolve } from "node:path";
import type { Config } from "../config/mod.ts";
import { type CapClaims, VerifiedTokenCache } from "../cap/mod.ts";
import { Broker, OIDC_TOKEN_S, OPERATOR_SESSION_S, SigningKeyring } from "../broker/mod.ts";
import { type OpenChain, openChain } from "../chain/mod.ts";
import { EpochKeystore, KEYSTORE_FILE, loadSealKey } from "../signer/mod.ts";
import { type BlobStore, FsBlobStore, S3BlobStore } from "../store/mod.ts";
import { KvStateStore, KvWriteLedger } from "../state/mod.ts";
import { ChainCapAuthority, VaultWorker } from "../worker/mod.ts";

export const VERSION = "0.1.0";

/** The running components of one process. */
export interface Service {
  config: Config;
  store: BlobStore;
  keystore: EpochKeystore;
  state: KvStateStore;
  /** K1: sessions and caps. */
  k1: SigningKeyring;
  /** K2: OIDC tokens for STS. */
  k2: SigningKeyring;
  worker: VaultWorker;
  chain: OpenChain;
  broker: Broker;
  close(): Promise<void>;
}

/** Opens (creating on first start) every component the configuration names. */
export async function openService(config: Config): Promise<Service> {
  const dataDir = resolve(config.dataDir);
  await Deno.mkdir(dataDir, { recursive: true, mode: 0o700 });
  const keystorePath = join(dataDir, KEYSTORE_FILE);
  const sealKey = await loadSealKey({ configured: config.sealKey, dataDir, keystorePath });
  const keystore = await EpochKeystore.open({ path: keystorePath, sealKey });
  const k1 = await SigningKeyring.open({
    path: join(dataDir, "broker/k1.json"),
    sealKey,
    purpose: "k1",
    retainSeconds: OPERATOR_SESSION_S, // the longest-lived token K1 signs
  });
  const k2 = await SigningKeyring.open({
    path: join(dataDir, "broker/k2.json"),
    sealKey,
    purpose: "k2",
    withCertificate: true,
    retainSeconds: OIDC_TOKEN_S,
  });
  const store = await openStore(config, dataDir);
  const state = await KvStateStore.open(join(dataDir, "state.kv"));
  let chain: OpenChain;
  try {
    chain = await openChain(config, { warn: (message) => console.warn(message) });
  } catch (err) {
    state.close();
    await store.close();
    throw err;
  }
  // One process: the worker need not re-verify the caps its own broker just signed.
  const capCache = new VerifiedTokenCache<CapClaims>(10_000);
  const worker = new VaultWorker({
    store,
    keys: keystore,
    state,
    capKeys: k1.verifier,
    capCache,
    limits: config.limits,
    // Revocation and scope removal bite at the next read, not when the cap expires.
    authority: new ChainCapAuthority(chain.client),
    warn: (message) => console.warn(message),
    ledger: new KvWriteLedger(state.kv),
  });
  const broker = new Broker({
    publicUrl: config.publicUrl,
    identity: chain.client,
    k1,
    k2,
    state,
    admins: config.admins,
    activeEpoch: () => keystore.activeEpoch,
    capCache,
  });
  return {
    config,
    store,
    keystore,
    state,
    k1,
    k2,
    worker,
    chain,
    broker,
    async close() {
      state.close();
      await store.close();
      await chain.close();
    },
  };
}

async function openStore(config: Config, dataDir: string): Promise<BlobStore> {
  if (!config.s3) return new FsBlobStore(join(dataDir, "blobs"));
  const store = new S3BlobStore({
    endpoint: config.s3.endpoint,
    region: config.s3.region,
    bucket: config.s3.bucket,
    forcePathStyle: config.s3.forcePathStyle,
    credentials: config.s3.credentials,
  });
  await store.ensureBucket();
  return store;
}
