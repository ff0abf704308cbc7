/**
 * What telling legacy blobs apart costs the census (issue 13): `deno run -A bench/census_legacy.ts
 * [--blobs N] [--size BYTES] [--rounds R]`.
 *
 * On the fs store in a temp dir, `--blobs` credentials of `--size` bytes under epoch 1 are
 * censused two ways, alternating for `--rounds` rounds so other load hits both alike:
 *
 * - **1-byte** (the baseline): the census without KEK access labels every blob by its first byte;
 * - **authenticated**: the census with the keystore, which reads every credential whose first byte
 *   is 1 or 2 whole and authenticates it (lib/worker/_legacy.ts) — what the service does now.
 *
 * Then the same store after two rotations and an eager re-encryption to epoch 3 (tag 3: nothing to
 * authenticate), the steady state of a deployment past epoch 2. Prints blobs/s and the ratios.
 *
 * @module
 */

import { join } from "node:path";
import { parseArgs } from "node:util";
import { EpochKeystore } from "../lib/signer/mod.ts";
import { FsBlobStore } from "../lib/store/mod.ts";
import { takeCensus } from "../lib/epochs/_census.ts";
import { runReencrypt } from "../lib/reencrypt/mod.ts";
import { credentialLocation, sealBlob } from "../lib/worker/mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    blobs: { type: "string", default: "3000" },
    size: { type: "string", default: "1024" },
    rounds: { type: "string", default: "4" },
  },
});
const BLOBS = Number(values.blobs);
const SIZE = Number(values.size);
const ROUNDS = Number(values.rounds);
const ACTOR = "ab".repeat(32);

const dir = await Deno.makeTempDir({ prefix: "agentkeys-bench-census-" });
try {
  const store = new FsBlobStore(join(dir, "blobs"));
  const keystore = await EpochKeystore.open({
    path: join(dir, "keystore.json"),
    sealKey: crypto.getRandomValues(new Uint8Array(32)),
  });
  const plaintext = crypto.getRandomValues(new Uint8Array(SIZE));
  for (let i = 0; i < BLOBS; i++) {
    const loc = credentialLocation(ACTOR, `svc-${i}`);
    await store.put(loc.key, sealBlob(keystore, loc, plaintext).blob);
  }
  const time = async (keys: Parameters<typeof takeCensus>[0]["keys"]) => {
    const t0 = performance.now();
    const census = await takeCensus({ store, keys });
    const ms = performance.now() - t0;
    if (Object.values(census.global!).reduce((a, b) => a + b, 0) !== BLOBS) {
      throw new Error(`census counted ${JSON.stringify(census.global)}`);
    }
    return ms;
  };
  const oneByte = { epochForTag: (t: number) => keystore.epochForTag(t) };
  const measure = async (label: string) => {
    let base = 0, auth = 0;
    for (let r = 0; r < ROUNDS; r++) {
      // Alternate which goes first, so warm-up and page cache favour neither.
      if (r % 2 === 0) {
        base += await time(oneByte);
        auth += await time(keystore);
      } else {
        auth += await time(keystore);
        base += await time(oneByte);
      }
    }
    const rate = (ms: number) => Math.round((BLOBS * ROUNDS * 1000) / ms);
    console.log(
      `${label}: 1-byte ${rate(base)} blobs/s, authenticated ${rate(auth)} blobs/s, ` +
        `ratio authenticated/1-byte time ${(auth / base).toFixed(2)}`,
    );
    return auth / base;
  };
  console.log(`${BLOBS} credentials of ${SIZE} bytes, fs store, ${ROUNDS} rounds each`);
  await measure("epoch 1 (tag 1: every credential read whole)");
  await keystore.rotate();
  await keystore.rotate();
  await runReencrypt(
    { operatorOmni: "all", oldEpoch: 1, newEpoch: 3 },
    { store, keys: keystore, actors: { actorsOf: () => Promise.resolve([]) }, warn: () => {} },
    () => {},
  );
  await measure("epoch 3 (tag 3: nothing to authenticate)");
  await store.close();
} finally {
  await Deno.remove(dir, { recursive: true });
}
