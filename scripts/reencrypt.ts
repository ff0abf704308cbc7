/**
 * `deno task reencrypt`: see `lib/reencrypt/cli.ts` for flags, output and exit codes.
 * Ctrl-C (or SIGTERM) cancels the running job cleanly; a second Ctrl-C exits at once.
 *
 * @module
 */

import { EXIT, main } from "../lib/reencrypt/cli.ts";

const controller = new AbortController();
const onSignal = () => {
  if (controller.signal.aborted) Deno.exit(EXIT.cancelled);
  controller.abort();
};
Deno.addSignalListener("SIGINT", onSignal);
Deno.addSignalListener("SIGTERM", onSignal);
const code = await main(Deno.args, { env: Deno.env.toObject(), signal: controller.signal });
Deno.exit(code);
