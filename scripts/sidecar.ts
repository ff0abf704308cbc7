/**
 * `deno task sidecar …` — see lib/sidecar/mod.ts and docs/SIDECAR.md.
 *
 * @module
 */

import { ConfigError, loadCliConfig } from "../lib/config/mod.ts";
import { sidecarMain } from "../lib/sidecar/mod.ts";

if (import.meta.main) {
  let env;
  try {
    env = loadCliConfig(Deno.env.toObject());
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(`agentkeys sidecar: ${err.message}`);
    Deno.exit(2);
  }
  Deno.exit(await sidecarMain(Deno.args, env));
}
