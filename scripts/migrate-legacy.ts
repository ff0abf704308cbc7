/**
 * `deno task migrate-legacy`: see `lib/cli/_migrate.ts` for flags, output and exit codes. Runs
 * in-process on the data directory, reaching the chain like `deno task reencrypt`.
 *
 * @module
 */

import { migrateLegacyMain } from "../lib/cli/mod.ts";
import { openHeadlessWithChain } from "../lib/service/mod.ts";

Deno.exit(
  await migrateLegacyMain(Deno.args, {
    env: Deno.env.toObject(),
    openHeadless: openHeadlessWithChain,
  }),
);
