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
  const code = await main(Deno.args, env, {
    out: (line) => console.log(line),
    err: (line) => console.error(line),
    stdin: async () => new Uint8Array(await new Response(Deno.stdin.readable).arrayBuffer()),
  });
  Deno.exit(code);
}
