/**
 * What the integrity tests that run a whole service share: a service on a temp data directory
 * with the embedded defaults (anvil, fs store, port 0, one admin, no lifecycle passes), and a
 * copy of the state store put back later (the rollback a restore from an old backup makes).
 *
 * @module
 */

import { join } from "node:path";
import { type Config, loadConfig } from "../../lib/config/mod.ts";
import { openService, type Service } from "../../lib/service/mod.ts";

/** The configuration of a test service on `dir`. */
export function serviceConfig(dir: string): Config {
  return loadConfig({
    AGENTKEYS_DATA_DIR: dir,
    AGENTKEYS_PORT: "0",
    AGENTKEYS_ADMINS: "0x" + "11".repeat(20),
  });
}

/** A service on `dir` (created on first use) without lifecycle passes. */
export function openTestService(dir: string): Promise<Service> {
  return openService(serviceConfig(dir), { lifecycle: false });
}

/** Copies the state store's files now; `restore()` puts that copy back in their place. */
export async function stateBackup(dir: string): Promise<{ restore(): Promise<void> }> {
  const files = () =>
    [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.startsWith("state.kv"));
  const backup = join(dir, "backup");
  await Deno.mkdir(backup);
  for (const f of files()) await Deno.copyFile(join(dir, f), join(backup, f));
  return {
    async restore() {
      for (const f of files()) await Deno.remove(join(dir, f));
      for (const f of Deno.readDirSync(backup)) {
        await Deno.copyFile(join(backup, f.name), join(dir, f.name));
      }
    },
  };
}
