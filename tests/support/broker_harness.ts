/**
 * A whole in-process service for broker tests: keyrings in a temp dir, in-memory KV, fs store,
 * a fake identity layer, the broker and the worker (with the chain re-check) behind the real
 * HTTP app. `await using s = await testService();`
 *
 * With `epochs`, also the epoch and re-encryption routes, built like `lib/service` builds them:
 * write ledger, census store, audit log, chain ∪ KV actor directory (the fake identity is the
 * chain), a `JobRunner` and an `EpochAdmin` recording through `epochs.recorder` (absent: nothing
 * is recorded on chain).
 *
 * @module
 */

import { join } from "node:path";
import { generatePrivateKey, type PrivateKeyAccount, privateKeyToAccount } from "viem/accounts";
import {
  AdminClaimFiles,
  type AdminClaimStatus,
  Broker,
  OIDC_TOKEN_S,
  OPERATOR_SESSION_S,
  SigningKeyring,
} from "../../lib/broker/mod.ts";
import { EpochKeystore } from "../../lib/signer/mod.ts";
import { type BlobStore, FsBlobStore } from "../../lib/store/mod.ts";
import {
  KvAuditLog,
  type KvCensusStore,
  KvChainPending,
  KvPointerStore,
  KvStateStore,
  KvWriteLedger,
} from "../../lib/state/mod.ts";
import type { JobRunner, JobRunnerDeps } from "../../lib/reencrypt/mod.ts";
import { type EpochAdmin, type EpochRecorder, openEpochs } from "../../lib/epochs/mod.ts";
import {
  AgentPurger,
  ChainCapAuthority,
  CredentialLister,
  VaultWorker,
} from "../../lib/worker/mod.ts";
import { createApp } from "../../routes/app.ts";
import { BlobProofs, PointerAnchors } from "../../lib/integrity/mod.ts";
import { MigrationJobs } from "../../lib/migrate/mod.ts";
import { defaultGuards, type Guards } from "../../lib/config/mod.ts";
import { FakeIdentity } from "./fake_identity.ts";
import { LIMITS } from "./harness.ts";
import { tempDir } from "./tmp.ts";

export const PUBLIC_URL = "http://127.0.0.1:8787";

/** The optional epoch and job pieces of {@linkcode testService}. */
export interface TestEpochs {
  runner: JobRunner;
  admin: EpochAdmin;
  ledger: KvWriteLedger;
  censusStore: KvCensusStore;
  audit: KvAuditLog;
  pending: KvChainPending;
}

export interface TestEpochOptions {
  /** Records epoch changes "on chain"; absent: nothing is recorded. */
  recorder?: EpochRecorder;
  runner?: Partial<Omit<JobRunnerDeps, "jobs" | "engine" | "audit">>;
  /** SSE keep-alive comment interval. */
  keepAliveMs?: number;
}

export interface TestService extends AsyncDisposable {
  identity: FakeIdentity;
  /** The seal key of K1, K2 and the K3 keystore (`k1.json`, `k2.json`, `ks.json` in `dir`). */
  sealKey: Uint8Array;
  dir: string;
  broker: Broker;
  /** What the start made of the admin claim (`created`: the token, in `adminClaimDir`). */
  adminClaim: AdminClaimStatus;
  /** Where the admin claim files live (like a data directory). */
  adminClaimDir: string;
  /** The audit log the broker writes admin claims to (the epoch routes' too). */
  audit: KvAuditLog;
  keystore: EpochKeystore;
  /** The blob store (wrapped when `wrapStore` was given). */
  store: BlobStore;
  state: KvStateStore;
  worker: VaultWorker;
  /** Present when `epochs` was asked for. */
  epochs?: TestEpochs;
  app: ReturnType<typeof createApp>;
  /** Moves the broker's clock (ms). */
  advance(ms: number): void;
  call(
    method: string,
    path: string,
    token?: string,
    body?: unknown,
  ): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }>;
  /** SIWE login through the HTTP API; returns the session token. */
  loginOperator(account: PrivateKeyAccount): Promise<string>;
  /** Device login through the HTTP API; returns the session token. */
  loginDevice(device: PrivateKeyAccount): Promise<string>;
  /** `fetch`-style access to the app (raw responses, e.g. event streams). */
  request(path: string, init?: RequestInit): Promise<Response>;
}

export async function testService(
  options: {
    admins?: string[];
    /** Audiences the OIDC issuer may name (AGENTKEYS_OIDC_AUDIENCES); default its own. */
    oidcAudiences?: string[];
    publicUrl?: string;
    /** Wraps the fs store (e.g. a `FaultyStore` that delays puts). */
    wrapStore?: (store: BlobStore) => BlobStore;
    /** Mounts the epoch and re-encryption routes. */
    epochs?: TestEpochOptions | true;
    /** Rate limits and caps instead of the defaults (their clock is `advance`'s). */
    guards?: Partial<Guards>;
  } = {},
): Promise<TestService> {
  const publicUrl = options.publicUrl ?? PUBLIC_URL;
  const tmp = await tempDir();
  let offset = 0;
  const now = () => new Date(Date.now() + offset);
  const sealKey = crypto.getRandomValues(new Uint8Array(32));
  const k1 = await SigningKeyring.open({
    path: join(tmp.path, "k1.json"),
    sealKey,
    purpose: "k1",
    retainSeconds: OPERATOR_SESSION_S,
  });
  const k2 = await SigningKeyring.open({
    path: join(tmp.path, "k2.json"),
    sealKey,
    purpose: "k2",
    withCertificate: true,
    retainSeconds: OIDC_TOKEN_S,
  });
  const state = await KvStateStore.open(undefined, () => now().getTime());
  const keystore = await EpochKeystore.open({ path: join(tmp.path, "ks.json"), sealKey });
  const identity = new FakeIdentity();
  const base = new FsBlobStore(join(tmp.path, "blobs"));
  const store = options.wrapStore ? options.wrapStore(base) : base;
  const epochOptions = options.epochs === true ? {} : options.epochs;
  const ledger = new KvWriteLedger(state.kv);
  const audit = new KvAuditLog(state.kv);
  const broker = new Broker({
    publicUrl,
    identity,
    k1,
    k2,
    state,
    admins: options.admins ?? [],
    oidcAudiences: options.oidcAudiences,
    adminClaim: new AdminClaimFiles(tmp.path, now),
    audit,
    activeEpoch: () => keystore.activeEpoch,
    now,
    maxPendingLogins: options.guards?.maxPendingLogins,
  });
  const adminClaim = await broker.admins.prepare();
  const worker = new VaultWorker({
    store,
    keys: keystore,
    state,
    capKeys: k1.verifier,
    limits: LIMITS,
    authority: new ChainCapAuthority(identity),
    now,
    ledger,
    sessions: broker.sessions.denylist,
  });
  let epochs: TestEpochs | undefined;
  if (epochOptions) {
    const kv = state.kv;
    const { runner, admin, censusStore } = await openEpochs({
      store,
      keystore,
      kv,
      agents: identity,
      audit,
      ledger,
      recorder: epochOptions.recorder,
      runner: epochOptions.runner,
    });
    epochs = { runner, admin, ledger, censusStore, audit, pending: new KvChainPending(kv) };
  }
  const app = createApp({
    worker,
    broker,
    purger: new AgentPurger({ store, identity, audit }),
    migrations: new MigrationJobs((signer) => ({
      source: store,
      target: store,
      worker,
      signer,
      identity,
      audit,
    })),
    lister: new CredentialLister({ store, identity, keys: keystore }),
    proofs: new BlobProofs({
      anchors: new PointerAnchors({
        pointers: new KvPointerStore(state.kv),
        audit,
        everyMs: 60_000,
        writes: 1000,
      }),
      identity,
      chainId: identity.chainId,
    }),
    agentEvents: identity,
    epochs: epochs && {
      admin: epochs.admin,
      runner: epochs.runner,
      keepAliveMs: epochOptions?.keepAliveMs,
    },
    // app.request("/path") is http://localhost/path: loopback on port 80 (routes/host.ts).
    port: 80,
    limits: LIMITS,
    guards: { ...defaultGuards(), ...options.guards },
    now: () => now().getTime(),
    health: {
      version: "test",
      roles: ["broker", "signer", "worker"],
      store: "fs",
      chainId: identity.chainId,
      activeEpoch: () => keystore.activeEpoch,
    },
  });
  const call: TestService["call"] = async (method, path, token, body) => {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers["content-type"] = "application/json";
    if (token) headers.authorization = `Bearer ${token}`;
    const res = await app.request(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : {}, headers: res.headers };
  };
  return {
    identity,
    sealKey,
    dir: tmp.path,
    broker,
    adminClaim,
    adminClaimDir: tmp.path,
    audit,
    keystore,
    store,
    state,
    worker,
    epochs,
    app,
    call,
    request: async (path, init) => await app.request(path, init),
    advance(ms) {
      offset += ms;
    },
    async loginOperator(account) {
      const start = await call("POST", "/v1/auth/siwe/start", undefined, {
        address: account.address,
        chain_id: 31337,
      });
      if (start.status !== 200) throw new Error(JSON.stringify(start.body));
      const signature = await account.signMessage({ message: start.body.message as string });
      const verify = await call("POST", "/v1/auth/siwe/verify", undefined, {
        request_id: start.body.request_id,
        signature,
      });
      if (verify.status !== 200) throw new Error(JSON.stringify(verify.body));
      return verify.body.session_jwt as string;
    },
    async loginDevice(device) {
      const start = await call("POST", "/v1/auth/device/start", undefined, {
        device_address: device.address,
      });
      if (start.status !== 200) throw new Error(JSON.stringify(start.body));
      const signature = await device.signMessage({ message: start.body.message as string });
      const verify = await call("POST", "/v1/auth/device/verify", undefined, {
        request_id: start.body.request_id,
        signature,
      });
      if (verify.status !== 200) throw new Error(JSON.stringify(verify.body));
      return verify.body.session_jwt as string;
    },
    async [Symbol.asyncDispose]() {
      await epochs?.runner.close();
      state.close();
      await store.close();
      await tmp[Symbol.asyncDispose]();
    },
  };
}

/** A fresh random wallet. */
export function newAccount(): PrivateKeyAccount {
  return privateKeyToAccount(generatePrivateKey());
}
