/**
 * Builds the components of one service process from a {@linkcode Config}: blob store, signer
 * keystore, state, broker keys, worker, chain, and the epoch and re-encryption machinery
 * (`EpochAdmin`, `JobRunner`). No HTTP here — `routes/` wraps what this returns.
 *
 * ```ts
 * const service = await openService(loadConfig(Deno.env.toObject()));
 * // … serve createApp(service) …
 * await service.close();
 * ```
 *
 * @module
 */

import { join } from "node:path";
import { type Config, defaultIntegrityPolicy } from "../config/mod.ts";
import { type CapClaims, VerifiedTokenCache } from "../cap/mod.ts";
import {
  AdminClaimFiles,
  type AdminClaimStatus,
  Broker,
  OIDC_TOKEN_S,
  OPERATOR_SESSION_S,
  SigningKeyring,
} from "../broker/mod.ts";
import { type OpenChain, openChain } from "../chain/mod.ts";
import { KEYRING_FILES, openDataDir } from "../datadir/mod.ts";
import type { EpochKeystore } from "../signer/mod.ts";
import type { BlobStore } from "../store/mod.ts";
import {
  type BlobPointer,
  KvActorIndex,
  KvAuditLog,
  KvCensusStore,
  type KvJobStore,
  type KvPointerStore,
  type KvStateStore,
  KvWriteLedger,
  SessionDenylist,
} from "../state/mod.ts";
import type { ActorDirectory, JobRunner, JobRunnerDeps } from "../reencrypt/mod.ts";
import { type EpochAdmin, openEpochs } from "../epochs/mod.ts";
import { AgentPurger, ChainCapAuthority, CredentialLister, VaultWorker } from "../worker/mod.ts";
import { removeServiceRuntime, writeServiceRuntime } from "./_runtime.ts";
import { anchorLagSeconds, BlobProofs, PointerAnchors } from "../integrity/mod.ts";
import {
  forwardSecrecyWindow,
  LifecycleScheduler,
  LifecycleStore,
  TouchingStore,
  TtlSweeper,
} from "../lifecycle/mod.ts";
import { observeAudit, ServiceMetrics } from "../metrics/mod.ts";

export const VERSION = "0.1.0";

export { openHeadlessWithChain } from "./_headless.ts";
export { adminClaimNotice } from "./_admin_notice.ts";

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
  /**
   * Admins at this start: `created` carries the admin claim token made by this very start (print
   * it once); later starts see `pending` without the value.
   */
  adminClaim: AdminClaimStatus;
  /** Every store, lazy re-wrap and eager rewrite, for the destroy guard and the actor index. */
  ledger: KvWriteLedger;
  /** Chain (operator + `agentsOf`) ∪ the KV index of actors seen writing. */
  actors: ActorDirectory;
  censusStore: KvCensusStore;
  jobStore: KvJobStore;
  audit: KvAuditLog;
  /** Re-encryption jobs; abandoned ones were recovered at start. */
  runner: JobRunner;
  /** Rotation, census, destruction, reconcile; records on this service's chain. */
  admin: EpochAdmin;
  /** Deletes a revoked agent's blobs for its operator (`POST /v1/agents/purge`). */
  purger: AgentPurger;
  /** Lists an actor's credentials for its operator (`GET /v1/cred/list`, the console). */
  lister: CredentialLister;
  /**
   * Vault integrity (lib/integrity): the Merkle tree over the pointers, the anchor loop, proofs
   * and `status()` (anchor lag, last error, a write block after a detected rollback).
   */
  anchors: PointerAnchors;
  /** Blob proofs for operators (`GET /v1/cred/proof` and the memory and inbound variants). */
  proofs: BlobProofs;
  /** The epoch lifecycle scheduler (running unless `ServiceOptions.lifecycle` is false). */
  lifecycle: LifecycleScheduler;
  /** What `GET /metrics` exposes. */
  metrics: ServiceMetrics;
  /** Cancels running jobs, then closes KV, the store and the chain. */
  close(): Promise<void>;
}

/** Options of {@linkcode openService} (tests). */
interface ServiceOptions {
  /** Extra job runner settings. */
  runner?: Partial<Omit<JobRunnerDeps, "jobs" | "engine" | "audit">>;
  /** Run the lifecycle scheduler's passes (default true). */
  lifecycle?: boolean;
  /** Time between the scheduler's passes (default 5 s). */
  lifecycleIntervalMs?: number;
}

/** Opens (creating on first start) every component the configuration names. */
export async function openService(config: Config, options: ServiceOptions = {}): Promise<Service> {
  const core = await openDataDir(config, { create: true });
  const { dataDir, sealKey, keystore, store, state } = core;
  let chain: OpenChain | undefined;
  let runner: JobRunner | undefined;
  try {
    const k1 = await SigningKeyring.open({
      path: join(dataDir, KEYRING_FILES.k1),
      sealKey,
      purpose: "k1",
      retainSeconds: OPERATOR_SESSION_S, // the longest-lived token K1 signs
    });
    const k2 = await SigningKeyring.open({
      path: join(dataDir, KEYRING_FILES.k2),
      sealKey,
      purpose: "k2",
      withCertificate: true,
      retainSeconds: OIDC_TOKEN_S,
    });
    chain = await openChain(config, { warn: (message) => console.warn(message) });
    const kv = state.kv;
    const audit = new KvAuditLog(kv);
    const ledger = new KvWriteLedger(kv);
    // One process: the worker need not re-verify the caps its own broker just signed.
    const capCache = new VerifiedTokenCache<CapClaims>(10_000);
    // Shared too: a logout at the broker refuses that session's caps at the worker at once.
    const sessionDenylist = new SessionDenylist(state);
    const lifecycleStore = new LifecycleStore(kv);
    const startedAt = Date.now();
    const opened: { anchors?: PointerAnchors } = {};
    const ttls = { memory: config.lifecycle.ttlMemoryMs, inbound: config.lifecycle.ttlInboundMs };
    const sweeping = ttls.memory !== null || ttls.inbound !== null;
    const metrics = new ServiceMetrics({
      latestCensus: () => new KvCensusStore(kv).latestGlobal(),
      window: () => forwardSecrecyWindow(keystore.list(), Date.now(), config.lifecycle),
      activeEpoch: () => keystore.activeEpoch,
      // Filled in below, once the anchors are open (they need the chain and the audit log).
      anchorLagSeconds: () =>
        Promise.resolve(
          opened.anchors ? anchorLagSeconds(opened.anchors.status(), Date.now(), startedAt) : null,
        ),
    });
    // Job ends and sweep tombstones feed counters as they are audited.
    const meteredAudit = observeAudit(audit, (kind, data) => metrics.audited(kind, data));
    const worker = new VaultWorker({
      // The worker's reads and writes are what keep a memory or inbound blob from being idle.
      store: sweeping ? new TouchingStore(store, lifecycleStore, ttls) : store,
      keys: keystore,
      state,
      capKeys: k1.verifier,
      capCache,
      limits: config.limits,
      // Revocation and scope removal bite at the next read, not when the cap expires.
      authority: new ChainCapAuthority(chain.client),
      warn: (message) => console.warn(message),
      ledger,
      sessions: sessionDenylist,
    });
    const broker = new Broker({
      publicUrl: config.publicUrl,
      identity: chain.client,
      k1,
      k2,
      state,
      admins: config.admins,
      adminClaim: new AdminClaimFiles(dataDir),
      audit,
      activeEpoch: () => keystore.activeEpoch,
      capCache,
      sessionDenylist,
      oidcAudiences: config.oidcAudiences,
      maxPendingLogins: config.guards.maxPendingLogins,
    });
    // Here and not in lib/datadir: headless commands open the data directory too and must
    // never create the token.
    const adminClaim = await broker.admins.prepare();
    const epochs = await openEpochs({
      store,
      keystore,
      kv,
      agents: chain.client,
      audit: meteredAudit,
      ledger,
      recorder: chain.client,
      runner: { ...options.runner, warn: (message) => console.warn(message) },
    });
    runner = epochs.runner;
    const { actors, censusStore, jobStore, admin } = epochs;
    const purger = new AgentPurger({
      store,
      identity: chain.client,
      audit,
      warn: (message) => console.warn(message),
    });
    const lister = new CredentialLister({ store, identity: chain.client, keys: keystore });
    // An epoch change made while the chain was unreachable (e.g. `deno task signer rotate` with
    // the service stopped) is recorded now; whatever still cannot be is reported, never hidden.
    await reconcileAtStart(admin);
    // Lets a headless `deno task signer` record on this service's embedded chain.
    if (chain.embedded) await writeServiceRuntime(dataDir, { rpcUrl: chain.rpcUrl });
    const actorIndex = new KvActorIndex(kv);
    const lifecycle = new LifecycleScheduler({
      policy: config.lifecycle,
      admin,
      runner,
      kv,
      audit: meteredAudit,
      sweeper: sweeping
        ? new TtlSweeper({ store, touches: lifecycleStore, audit: meteredAudit, ttls })
        : undefined,
      onStep: (step, outcome, seconds) => metrics.lifecycleStep(step, outcome, seconds),
      // Only revocations of agents with data here rotate (the write ledger's actor index).
      servesActor: async (operatorOmni, actorOmni) =>
        (await actorIndex.actorsOf(operatorOmni)).includes(actorOmni),
    });
    const anchors = await openAnchors(config, core, chain, audit);
    opened.anchors = anchors;
    const unwatch = lifecycle.watchRevocations(chain.client);
    if (options.lifecycle !== false) lifecycle.start(options.lifecycleIntervalMs);
    const openedChain = chain;
    const openedRunner = runner;
    return {
      config,
      store,
      keystore,
      state,
      k1,
      k2,
      worker,
      chain: openedChain,
      broker,
      adminClaim,
      ledger,
      actors,
      censusStore,
      jobStore,
      audit,
      runner: openedRunner,
      admin,
      purger,
      lister,
      lifecycle,
      metrics,
      anchors,
      proofs: new BlobProofs({
        anchors,
        identity: chain.client,
        chainId: chain.client.chainId,
        vaultAnchor: chain.client.addresses.VaultAnchor,
      }),
      async close() {
        unwatch();
        await anchors.close();
        await lifecycle.stop();
        await openedRunner.close();
        if (openedChain.embedded) await removeServiceRuntime(dataDir);
        await core.close();
        await openedChain.close();
      },
    };
  } catch (err) {
    await runner?.close();
    await core.close();
    await chain?.close();
    throw err;
  }
}

/**
 * Builds the Merkle tree over the pointers, checks the state store against the latest anchors
 * on chain (a restored backup blocks writes until an admin acknowledges) and starts the anchor
 * loop. Anchors need the VaultAnchor contract and the governance key; without them the tree is
 * kept (proofs against the current root) and the status says why nothing is anchored.
 */
async function openAnchors(
  config: Config,
  core: { store: { listen(fn: (p: BlobPointer) => void): void }; pointers: KvPointerStore },
  chain: OpenChain,
  audit: KvAuditLog,
): Promise<PointerAnchors> {
  const policy = config.integrity ?? defaultIntegrityPolicy();
  const client = chain.client;
  const usable = client.addresses.VaultAnchor !== undefined && client.governance !== undefined;
  const anchors = new PointerAnchors({
    pointers: core.pointers,
    audit,
    chain: usable ? client : undefined,
    noChainReason: client.addresses.VaultAnchor === undefined
      ? "no VaultAnchor contract on this chain (set AGENTKEYS_VAULT_ANCHOR)"
      : "no governance key (AGENTKEYS_GOVERNANCE_KEY): anchors cannot be sent",
    everyMs: policy.anchorEveryMs,
    writes: policy.anchorWrites,
    warn: (message) => console.warn(message),
  });
  await anchors.open();
  core.store.listen((pointer) => anchors.onCommit(pointer));
  try {
    const reason = await anchors.checkAgainstChain();
    if (reason) {
      console.error(
        `agentkeys: writes are refused: ${reason}. Investigate, then acknowledge with \`deno task signer integrity-ack\``,
      );
    }
  } catch (err) {
    console.warn(`could not check the state store against the chain: ${(err as Error).message}`);
  }
  anchors.start();
  return anchors;
}

async function reconcileAtStart(admin: EpochAdmin): Promise<void> {
  try {
    const result = await admin.reconcile();
    for (const item of result.items) {
      const what = `${item.record.kind} epoch ${item.record.epoch}`;
      if (item.outcome === "recorded") console.log(`reconciled pending chain record: ${what}`);
      else console.warn(`pending chain record ${what} is still not on chain: ${item.outcome}`);
    }
  } catch (err) {
    console.warn(`could not reconcile pending chain records: ${(err as Error).message}`);
  }
}
