/**
 * Migration from the reference implementation's wallet-keyed layout (issue 13, ARCHITECTURE
 * §16): the legacy format (read only) and the engine that moves such blobs into envelope v2.
 *
 * ```ts
 * import { runMigration } from "./lib/migrate/mod.ts";
 * const summary = await runMigration(deps, { operator: "0xab…", map: { "0xcd…": "mail-bot" } }, print);
 * ```
 *
 * @module
 */

export {
  InvalidMigrateParams,
  type MigrateBlobEvent,
  type MigrateDeps,
  type MigrateSummary,
  runMigration,
} from "./_engine.ts";
export { type LegacySigner } from "./_legacy.ts";
export { headlessMigrateDeps, openLegacySource } from "./_open.ts";
export {
  type MigrationEvent,
  type MigrationJob,
  MigrationJobs,
  MigrationRunning,
} from "./_jobs.ts";
