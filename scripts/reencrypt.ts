/**
 * `deno task reencrypt`: see `lib/cli/_reencrypt.ts` for flags, output and exit codes.
 * Ctrl-C (or SIGTERM) cancels the running job cleanly; a second Ctrl-C exits at once.
 * In-process runs list an operator's agents from the chain when it is reachable (the service's
 * embedded anvil or the external chain), together with the local index of actors seen writing.
 *
 * @module
 */

import { EXIT, reencryptMain } from "../lib/cli/mod.ts";
import { openHeadlessWithChain } from "../lib/service/mod.ts";

const controller = new AbortController();
const onSignal = () => {
  if (controller.signal.aborted) Deno.exit(EXIT.cancelled);
  controller.abort();
};
Deno.addSignalListener("SIGINT", onSignal);
Deno.addSignalListener("SIGTERM", onSignal);
const code = await reencryptMain(Deno.args, {
  env: Deno.env.toObject(),
  signal: controller.signal,
  openHeadless: openHeadlessWithChain,
});
Deno.exit(code);
