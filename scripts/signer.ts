/**
 * `deno task signer`: epoch administration (rotate, census, drop-old-k3, reconcile,
 * audit-verify); see `lib/reencrypt/signer_cli.ts`. Headless, nothing is recorded on chain until
 * a chain recorder is passed here (the output says so).
 *
 * @module
 */

import { signerMain } from "../lib/reencrypt/signer_cli.ts";

Deno.exit(await signerMain(Deno.args, { env: Deno.env.toObject() }));
