/**
 * Prints the README's settings table from `lib/config`'s SETTINGS, so the documentation is
 * generated from the code that reads the environment: `deno run scripts/settings-table.ts`.
 *
 * @module
 */

import { SETTINGS } from "../lib/config/mod.ts";

/** The markdown table of every setting. */
export function settingsTable(): string {
  const rows = SETTINGS.map((s) => `| \`${s.name}\` | ${s.default} | ${s.description} |`);
  return ["| variable | default | meaning |", "|---|---|---|", ...rows].join("\n");
}

if (import.meta.main) console.log(settingsTable());
