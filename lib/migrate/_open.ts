/**
 * What a headless `migrate-legacy` works with: the data directory's store and keystore behind a
 * `VaultWorker` (so new copies take the worker's one write path: seal, put, write ledger, and the
 * integrity pointers of the data directory's store), the legacy source store, and the chain.
 *
 * @module
 */

import { capKeySet } from "../cap/mod.ts";
import type { S3Config } from "../config/mod.ts";
import type { Headless } from "../epochs/mod.ts";
import { SessionDenylist } from "../state/mod.ts";
import { type BlobStore, S3BlobStore } from "../store/mod.ts";
import { VaultWorker, WorkerError } from "../worker/mod.ts";
import type { MigrateDeps } from "./_engine.ts";
import type { LegacySigner } from "./_legacy.ts";

/**
 * A worker that accepts no cap at all (no broker key, every re-check refuses): the migration
 * uses only its service-side write and read paths.
 */
export function migrationWorker(h: Headless): VaultWorker {
  return new VaultWorker({
    store: h.store,
    keys: h.keystore,
    state: h.state,
    capKeys: capKeySet({ keys: [] }),
    limits: h.config.limits,
    authority: {
      recheck: () => Promise.reject(new WorkerError("cap_invalid", "no caps in a migration")),
    },
    ledger: h.ledger,
    sessions: new SessionDenylist(h.state),
  });
}

/** The legacy bucket's store, or `undefined` to migrate in place. */
export function openLegacySource(s3: S3Config | undefined): Promise<BlobStore | undefined> {
  if (s3 === undefined) return Promise.resolve(undefined);
  const store = new S3BlobStore({
    endpoint: s3.endpoint,
    region: s3.region,
    bucket: s3.bucket,
    forcePathStyle: s3.forcePathStyle,
    credentials: s3.credentials,
  });
  return Promise.resolve(store);
}

/** The engine's dependencies from a headless data directory. */
export function headlessMigrateDeps(
  h: Headless,
  signer: LegacySigner,
  source?: BlobStore,
  warn?: (message: string) => void,
): MigrateDeps {
  if (!h.chain?.agents) {
    // Mapping agents needs the registry; the operator alone could do without, but a silent
    // "unmapped" for every agent wallet would be worse than a clear stop.
    throw new Error(
      `the chain is not reachable (${h.chain?.reason ?? "no chain"}); start the service first`,
    );
  }
  return {
    source: source ?? h.store,
    target: h.store,
    worker: migrationWorker(h),
    signer,
    identity: h.chain.agents,
    audit: h.audit,
    warn,
  };
}
