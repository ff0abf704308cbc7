/**
 * What the console's pages load their data through (lib/ components; pages never reach stores
 * or the chain themselves).
 *
 * @module
 */

import type { Broker, Session } from "../../lib/broker/mod.ts";
import type { OpenChain } from "../../lib/chain/mod.ts";
import type { EpochAdmin } from "../../lib/epochs/mod.ts";
import type { JobRunner } from "../../lib/reencrypt/mod.ts";
import type { CredentialLister } from "../../lib/worker/mod.ts";
import type { KvAuditLog } from "../../lib/state/mod.ts";
import type { LifecycleStatus } from "../../lib/lifecycle/mod.ts";
import type { RingRecord } from "../../lib/keyrings/mod.ts";
import type { AnchorStatus } from "../../lib/integrity/mod.ts";
import type { MigrationJobs } from "../../lib/migrate/mod.ts";

export interface PageDeps {
  broker: Broker;
  /** The service's public URL: pages are served on its origin only. */
  publicUrl: string;
  chain?: OpenChain;
  epochs?: { admin: EpochAdmin; runner: JobRunner };
  /** The credentials pages' listings (absent: they show none). */
  credentials?: CredentialLister;
  /** The audit page's entries (absent: it shows none). */
  audit?: Pick<KvAuditLog, "page">;
  /** The epoch lifecycle scheduler's status (absent: the overview shows no lifecycle card). */
  lifecycle?: { status(): Promise<LifecycleStatus> };
  /** Vault integrity's anchor status (absent: the overview shows no integrity warnings). */
  integrity?: () => AnchorStatus;
  /** The keyring pages' records (`VaultWorker.keyrings`; absent: they show none). */
  keyrings?: {
    list(operatorOmni: string): Promise<string[]>;
    read(operatorOmni: string, ring: string, actorOmni: string): Promise<RingRecord>;
  };
  /** The migrations pages' jobs (`/v1/migrate/jobs`' own; absent: they show none). */
  migrations?: Pick<MigrationJobs, "list" | "get" | "events">;
}

export type { Session };
