/**
 * `migrate-legacy` as its own process against a fixture's data directory, with the fixture's
 * chain rebuilt (a FakeIdentity with the same operator and labels): the kill -9 test's victim.
 * `deno run -A tests/migrate/_child.ts '<json>' -- <migrate-legacy args>`
 *
 * @module
 */

import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { openHeadless } from "../../lib/epochs/mod.ts";
import { migrateLegacyMain } from "../../lib/cli/mod.ts";
import { FakeIdentity } from "../support/fake_identity.ts";

const spec = JSON.parse(Deno.args[0]) as { operator: string; labels: string[] };
const identity = new FakeIdentity();
for (const label of spec.labels) {
  identity.register(spec.operator, label, privateKeyToAccount(generatePrivateKey()).address);
}
const chain = () =>
  Promise.resolve({ agents: identity, description: "fake chain", close: () => Promise.resolve() });
Deno.exit(
  await migrateLegacyMain(Deno.args.slice(2), {
    env: Deno.env.toObject(),
    openHeadless: (c, o) => openHeadless(c, { ...o, chain }),
  }),
);
