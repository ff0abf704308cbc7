/**
 * `deno task signer`: epoch administration (rotate, census, drop-old-k3, reconcile,
 * audit-verify); see `lib/cli/_signer.ts`. Epoch changes are recorded on the chain the
 * configuration names: an external chain (with `AGENTKEYS_GOVERNANCE_KEY`), or the embedded
 * anvil of the service running on this data directory. When that is not reachable they are
 * kept as pending chain records and the output says so (`lib/service/_headless.ts`).
 *
 * @module
 */

import { signerMain } from "../lib/cli/mod.ts";
import { openHeadlessWithChain } from "../lib/service/mod.ts";

Deno.exit(
  await signerMain(Deno.args, { env: Deno.env.toObject(), openHeadless: openHeadlessWithChain }),
);
