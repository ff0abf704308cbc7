/**
 * A real data directory for the command-line tests: keystore, fs store and `state.kv` built the
 * way `openHeadless` opens them, filled with epoch-1 blobs of one operator and its agents, then
 * rotated to epoch 2. `verify()` reopens it and checks every blob.
 *
 * @module
 */

import { loadConfig } from "../../lib/config/mod.ts";
import { type Headless, type HeadlessOptions, openHeadless } from "../../lib/epochs/mod.ts";
import {
  credentialLocation,
  inboundLocation,
  memoryLocation,
  openBlob,
  parseBlobKey,
  sealBlob,
} from "../../lib/worker/mod.ts";
import { envelopeEpochTag } from "../../lib/crypto/mod.ts";
import { assertEquals } from "../support/assert.ts";
import { tempDir } from "../support/tmp.ts";
import { AGENT_1, AGENT_2, OPERATOR } from "./fixture.ts";

export interface DataDir extends AsyncDisposable {
  dir: string;
  /** Environment for `main` or a subprocess: data dir and seal key, nothing else of ours. */
  env: Record<string, string>;
  keys: string[];
  plaintexts: Map<string, string>;
  /** Opens the data dir in this process (close it before a subprocess runs). */
  open(options?: HeadlessOptions): Promise<Headless>;
  /** Every blob is at `epoch` and decrypts to what was stored. */
  verify(epoch: number): Promise<void>;
}

/** A data dir with `count` epoch-1 blobs (all three classes, three actors), rotated to 2. */
export async function makeDataDir(count: number): Promise<DataDir> {
  const tmp = await tempDir("agentkeys-datadir-");
  const env = {
    AGENTKEYS_DATA_DIR: tmp.path,
    AGENTKEYS_SEAL_KEY: crypto.getRandomValues(new Uint8Array(32)).toHex(),
  };
  const config = loadConfig(env);
  const open = (options: HeadlessOptions = {}) => openHeadless(config, options);
  const plaintexts = new Map<string, string>();
  const keys: string[] = [];
  const h = await open({ create: true });
  try {
    const owned = [OPERATOR, AGENT_1, AGENT_2];
    for (let i = 0; i < count; i++) {
      const actor = owned[i % 3].slice(2);
      const loc = i % 3 === 0
        ? credentialLocation(actor, `svc-${i}`)
        : i % 3 === 1
        ? memoryLocation(actor, "notes", `n-${i}`)
        : inboundLocation(actor, `m-${i}`);
      const plaintext = `secret ${i} ${crypto.randomUUID()}`;
      await h.store.put(
        loc.key,
        sealBlob(h.keystore, loc, new TextEncoder().encode(plaintext)).blob,
      );
      await h.ledger.recordWrite({ epoch: 1, operatorOmni: OPERATOR, actorOmni: owned[i % 3] });
      plaintexts.set(loc.key, plaintext);
      keys.push(loc.key);
    }
    await h.keystore.rotate();
  } finally {
    await h.close();
  }
  return {
    dir: tmp.path,
    env,
    keys,
    plaintexts,
    open,
    async verify(epoch: number) {
      const v = await open();
      try {
        for (const key of keys) {
          const stored = await v.store.get(key);
          assertEquals(envelopeEpochTag(stored!.body), epoch, key);
          const plain = openBlob(v.keystore, parseBlobKey(key)!, stored!.body).plaintext;
          assertEquals(new TextDecoder().decode(plain), plaintexts.get(key), key);
        }
      } finally {
        await v.close();
      }
    },
    [Symbol.asyncDispose]: () => tmp[Symbol.asyncDispose](),
  };
}

/** Collects what `main` writes. */
export function capture() {
  let out = "";
  let err = "";
  return {
    stdout: {
      write: (t: string) => {
        out += t;
        return Promise.resolve();
      },
    },
    stderr: {
      write: (t: string) => {
        err += t;
        return Promise.resolve();
      },
    },
    get out() {
      return out;
    },
    get err() {
      return err;
    },
  };
}
