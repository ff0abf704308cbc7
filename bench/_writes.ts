/**
 * What the integrity write-cost benches share: a throwaway keystore and sealed blobs of one size,
 * and the rate and CPU of `ops` writes made `writers` at a time.
 *
 * @module
 */

import { join } from "node:path";
import process from "node:process";
import { EpochKeystore } from "../lib/signer/mod.ts";
import { memoryLocation, sealBlob } from "../lib/worker/mod.ts";

/** A write rate and this process's CPU per write. */
export interface WriteRate {
  ops: number;
  cpuUs: number;
  /** The kernel's part (system time): the syscalls, fsyncs among them. */
  sysUs: number;
}

/** A temp directory with a keystore, and blobs sealed as the worker seals them. */
export interface BenchBlobs {
  dir: string;
  /** The sealed blob of write `i` under `tag`, and its key. */
  blob(tag: string, i: number): { key: string; blob: Uint8Array };
  /**
   * Writes `ops` blobs under `tag`, `writers` at a time, through `put`: the rate and the CPU.
   * Sealing is inside the measurement (every variant pays it alike).
   */
  writes(
    tag: string,
    put: (key: string, blob: Uint8Array) => Promise<unknown>,
    ops: number,
    writers: number,
  ): Promise<WriteRate>;
}

/** Opens a keystore in a new temp directory (`prefix`) for blobs of `size` plaintext bytes. */
export async function benchBlobs(prefix: string, size: number): Promise<BenchBlobs> {
  const dir = await Deno.makeTempDir({ prefix });
  const keystore = await EpochKeystore.open({
    path: join(dir, "keystore.json"),
    sealKey: crypto.getRandomValues(new Uint8Array(32)),
  });
  const actor = "ab".repeat(32);
  const plaintext = crypto.getRandomValues(new Uint8Array(size));
  const blob = (tag: string, i: number) => {
    const loc = memoryLocation(actor, tag, `n-${i}`);
    return { key: loc.key, blob: sealBlob(keystore, loc, plaintext).blob };
  };
  const writes = async (
    tag: string,
    put: (key: string, blob: Uint8Array) => Promise<unknown>,
    ops: number,
    writers: number,
  ): Promise<WriteRate> => {
    let next = 0;
    const cpu = process.cpuUsage();
    const t0 = performance.now();
    await Promise.all(Array.from({ length: writers }, async () => {
      while (next < ops) {
        const one = blob(tag, next++);
        await put(one.key, one.blob);
      }
    }));
    const used = process.cpuUsage(cpu);
    return {
      ops: ops / ((performance.now() - t0) / 1000),
      cpuUs: (used.user + used.system) / ops,
      sysUs: used.system / ops,
    };
  };
  return { dir, blob, writes };
}
