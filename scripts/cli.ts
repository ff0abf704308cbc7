/**
 * `deno task cli …` — see lib/cli/mod.ts for the commands.
 *
 * @module
 */

import { ConfigError, loadCliConfig } from "../lib/config/mod.ts";
import { main } from "../lib/cli/mod.ts";

if (import.meta.main) {
  let env;
  try {
    env = loadCliConfig(Deno.env.toObject());
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(`agentkeys: ${err.message}`);
    Deno.exit(2);
  }
  const code = await main(Deno.args, env);
  Deno.exit(code);
}
