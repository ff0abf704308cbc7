/**
 * The behaviour every {@linkcode BlobStore} must have, as one suite that `fs.test.ts` and
 * `s3.test.ts` both run: the same cases, the same assertions, only the store differs.
 *
 * @module
 */

import assert from "node:assert/strict";
import { type BlobInfo, type BlobStore, PreconditionFailed } from "../../lib/store/mod.ts";
import { InvalidKey } from "../../lib/store/_errors.ts";
import { compareKeys } from "../../lib/store/_key.ts";
import { ReadCountingStore } from "../support/counting_store.ts";
// The census is internal to lib/epochs (its public face is EpochAdmin, which needs a keystore,
// KV and a chain): the read cost is the store's, so it is measured on every store here.
import { takeCensus } from "../../lib/epochs/_census.ts";

/** Makes a new, empty store for one case; the suite closes it afterwards. */
export type StoreFactory = () => Promise<BlobStore>;

export interface ConformanceOptions {
  /** Runs once after every case, pass or fail (e.g. stops a cluster). */
  teardown?: () => Promise<void>;
  /** Deno's op and resource sanitizers; off for stores whose client keeps sockets pooled. */
  sanitize?: boolean;
}

/** Writers in the CAS races. */
const WRITERS = 20;
/** Keys in the listing cases. */
const LIST_KEYS = 2_500;
/** Concurrent writes when seeding. */
const SEED_CONCURRENCY = 32;

const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * Registers one `Deno.test` named `"<name> conformance"` with a step per case; each step gets a
 * fresh store from `makeStore`.
 *
 * @example
 * ```ts
 * conformance("FsBlobStore", async () => new FsBlobStore(await Deno.makeTempDir()));
 * ```
 */
export function conformance(
  name: string,
  makeStore: StoreFactory,
  options: ConformanceOptions = {},
): void {
  Deno.test({
    name: `${name} conformance`,
    sanitizeOps: options.sanitize ?? true,
    sanitizeResources: options.sanitize ?? true,
    async fn(t) {
      try {
        for (const [caseName, body] of Object.entries(CASES)) {
          await t.step(caseName, async () => {
            const store = await makeStore();
            try {
              await body(store, name);
            } finally {
              await store.close();
            }
          });
        }
      } finally {
        await options.teardown?.();
      }
    },
  });
}

const CASES: Record<string, (store: BlobStore, name: string) => Promise<void>> = {
  async "put and get round trip; etag changes with the bytes"(store) {
    const key = "bots/a1/credentials/github.enc";
    const first = await store.put(key, enc.encode("first version"));
    assert.match(first.etag, /^[^"\s]+$/, "etags are bare");
    const got = await store.get(key);
    assert.deepEqual(got, { body: enc.encode("first version"), etag: first.etag });

    const info = await store.head(key);
    assert.equal(info?.key, key);
    assert.equal(info?.size, 13);
    // No etag from head: on fs it would mean hashing every byte (see BlobInfo).
    assert.deepEqual(Object.keys(info!).sort(), ["key", "lastModified", "size"]);
    assert.ok(info!.lastModified instanceof Date);
    assert.ok(Math.abs(info!.lastModified.getTime() - Date.now()) < 60_000, "a recent mtime");

    const second = await store.put(key, enc.encode("second version"));
    assert.notEqual(second.etag, first.etag);
    assert.deepEqual(await store.get(key), {
      body: enc.encode("second version"),
      etag: second.etag,
    });
    assert.equal((await store.head(key))?.size, 14);

    // One byte changed, same length: still a different etag.
    const third = await store.put(key, enc.encode("second versioN"));
    assert.notEqual(third.etag, second.etag);

    const empty = await store.put("empty", new Uint8Array(0));
    assert.deepEqual(await store.get("empty"), { body: new Uint8Array(0), etag: empty.etag });
    assert.equal((await store.head("empty"))?.size, 0);
  },

  async "delete with ifMatch removes only the version it names (the TTL sweep's CAS)"(store) {
    const key = "bots/a1/memory/ns/n.enc";
    const first = await store.put(key, enc.encode("first"));
    const second = await store.put(key, enc.encode("second"));
    await assert.rejects(store.delete(key, { ifMatch: first.etag }), PreconditionFailed);
    assert.deepEqual(await store.get(key), { body: enc.encode("second"), etag: second.etag });
    assert.equal(await store.delete(key, { ifMatch: second.etag }), true);
    assert.equal(await store.get(key), null);
    assert.equal(await store.delete(key, { ifMatch: second.etag }), false);
  },

  async "missing keys: get, head, getRange give null; delete gives false"(store) {
    assert.equal(await store.get("no/such/key"), null);
    assert.equal(await store.head("no/such/key"), null);
    assert.equal(await store.getRange("no/such/key", 0, 0), null);
    assert.equal(await store.delete("no/such/key"), false);

    await store.put("gone/soon", enc.encode("x"));
    assert.equal(await store.delete("gone/soon"), true);
    assert.equal(await store.get("gone/soon"), null);
    assert.equal(await store.head("gone/soon"), null);
    assert.equal(await store.delete("gone/soon"), false);
    // "gone" is only a path component of a former key, never an object.
    assert.equal(await store.get("gone"), null);
    assert.equal(await store.head("gone"), null);
  },

  async "range reads"(store) {
    const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
    await store.put("ranges", bytes);
    const range = (start: number, end: number) => store.getRange("ranges", start, end);

    // Exactly body and size: no etag (see RangeBlob).
    assert.deepEqual(await range(0, 0), { body: bytes.slice(0, 1), size: 256 });
    assert.deepEqual(await range(10, 19), { body: bytes.slice(10, 20), size: 256 });
    assert.deepEqual(await range(255, 255), { body: bytes.slice(255), size: 256 });
    // Past the end: cut at the end; starting past the end: no bytes (but the size).
    assert.deepEqual(await range(250, 10_000), { body: bytes.slice(250), size: 256 });
    assert.deepEqual(await range(256, 300), { body: new Uint8Array(0), size: 256 });
    assert.deepEqual(await range(0, 1_000_000), { body: bytes, size: 256 });

    await store.put("ranges-empty", new Uint8Array(0));
    assert.deepEqual(await store.getRange("ranges-empty", 0, 0), {
      body: new Uint8Array(0),
      size: 0,
    });

    await assert.rejects(range(5, 4), RangeError);
    await assert.rejects(range(-1, 4), RangeError);
    await assert.rejects(range(0.5, 4), RangeError);
  },

  async "conditional writes: ifNoneMatch and ifMatch succeed and refuse"(store) {
    const key = "bots/a1/memory/notes/today.enc";
    const created = await store.put(key, enc.encode("v1"), { ifNoneMatch: "*" });
    const refused = await rejection(store.put(key, enc.encode("v1-again"), { ifNoneMatch: "*" }));
    assert.ok(refused instanceof PreconditionFailed);
    assert.equal(refused.code, "precondition_failed");
    assert.equal(refused.key, key);
    assert.deepEqual(await store.get(key), { body: enc.encode("v1"), etag: created.etag });

    const updated = await store.put(key, enc.encode("v2"), { ifMatch: created.etag });
    assert.notEqual(updated.etag, created.etag);
    // The etag read before the update is stale now.
    await assert.rejects(
      store.put(key, enc.encode("v3"), { ifMatch: created.etag }),
      PreconditionFailed,
    );
    await assert.rejects(
      store.put(key, enc.encode("v3"), { ifMatch: "0123456789abcdef0123456789abcdef" }),
      PreconditionFailed,
    );
    assert.deepEqual(await store.get(key), { body: enc.encode("v2"), etag: updated.etag });

    // ifMatch on a key that does not exist: nothing matches.
    await assert.rejects(
      store.put("never/written", enc.encode("x"), { ifMatch: updated.etag }),
      PreconditionFailed,
    );
    assert.equal(await store.get("never/written"), null);

    // After a delete, ifNoneMatch succeeds again.
    assert.equal(await store.delete(key), true);
    await store.put(key, enc.encode("v4"), { ifNoneMatch: "*" });

    // Misuse is a programming error, not a lost race.
    await assert.rejects(
      store.put(key, enc.encode("x"), { ifMatch: updated.etag, ifNoneMatch: "*" }),
      TypeError,
    );
    await assert.rejects(
      store.put(key, enc.encode("x"), { ifMatch: `"${updated.etag}"` }),
      TypeError,
    );
  },

  async "CAS: 20 parallel ifNoneMatch writers, exactly one wins"(store, name) {
    const key = "race/create";
    const results = await Promise.allSettled(
      Array.from(
        { length: WRITERS },
        (_, i) => store.put(key, enc.encode(`writer ${i}`), { ifNoneMatch: "*" }),
      ),
    );
    const winner = checkOneWinner(results);
    const stored = await store.get(key);
    assert.equal(stored?.etag, winner.result.etag);
    assert.equal(dec.decode(stored!.body), `writer ${winner.index}`);
    console.log(`${name}: ifNoneMatch race: 1 of ${WRITERS} won (writer ${winner.index})`);
  },

  async "CAS: 20 parallel ifMatch writers, exactly one wins"(store, name) {
    const key = "race/update";
    const base = await store.put(key, enc.encode("base"));
    const results = await Promise.allSettled(
      Array.from(
        { length: WRITERS },
        (_, i) => store.put(key, enc.encode(`writer ${i}`), { ifMatch: base.etag }),
      ),
    );
    const winner = checkOneWinner(results);
    const stored = await store.get(key);
    assert.equal(stored?.etag, winner.result.etag);
    assert.equal(dec.decode(stored!.body), `writer ${winner.index}`);
    console.log(`${name}: ifMatch race: 1 of ${WRITERS} won (writer ${winner.index})`);
  },

  async "CAS: read-modify-write counter loses no update"(store) {
    // Each worker increments until it has landed its share: a lost update would show as a lower
    // final count; a double-applied one as a higher count.
    const key = "race/counter";
    const workers = 8;
    const perWorker = 4;
    await store.put(key, enc.encode("0"), { ifNoneMatch: "*" });
    let conflicts = 0;
    await Promise.all(Array.from({ length: workers }, async () => {
      for (let done = 0; done < perWorker;) {
        const current = (await store.get(key))!;
        const next = Number(dec.decode(current.body)) + 1;
        try {
          await store.put(key, enc.encode(String(next)), { ifMatch: current.etag });
          done++;
        } catch (err) {
          if (!(err instanceof PreconditionFailed)) throw err;
          conflicts++;
        }
      }
    }));
    assert.equal(dec.decode((await store.get(key))!.body), String(workers * perWorker));
    // Every round has one winner, so with 8 concurrent workers some attempts must have lost.
    assert.ok(conflicts > 0, "the workers raced");
  },

  async "listing: 2,500 keys in byte order, across pages, with prefixes and startAfter"(
    store,
    name,
  ) {
    const keys = listingKeys();
    const expected = [...keys].sort(compareKeys);
    // The set is built so that UTF-16 order (JavaScript's default sort) gets it wrong.
    assert.notDeepEqual([...keys].sort(), expected);
    await forEachLimited(keys, SEED_CONCURRENCY, (key) => store.put(key, enc.encode(key)));
    await store.put("outside/the/prefix", enc.encode("x"));

    let started = performance.now();
    const all = await collect(store.list("L/", { pageSize: 1000 }));
    const elapsed = performance.now() - started;
    assert.deepEqual(all.map((info) => info.key), expected);
    for (const info of all.slice(0, 50)) {
      assert.equal(info.size, enc.encode(info.key).length);
      assert.ok(info.lastModified instanceof Date);
    }
    console.log(`${name}: listed ${all.length} keys (pageSize 1000) in ${elapsed.toFixed(0)} ms`);

    started = performance.now();
    assert.deepEqual(await listKeys(store, "L/", { pageSize: 97 }), expected);
    console.log(
      `${name}: listed ${expected.length} keys (pageSize 97) in ` +
        `${(performance.now() - started).toFixed(0)} ms`,
    );
    assert.deepEqual(await listKeys(store, ""), [...expected, "outside/the/prefix"]);

    // Prefix boundaries: "L/a/b/" is a directory, "L/a/b" is a string prefix.
    const under = (prefix: string) => expected.filter((key) => key.startsWith(prefix));
    assert.deepEqual(await listKeys(store, "L/a/b/", { pageSize: 50 }), under("L/a/b/"));
    assert.ok(under("L/a/b/").every((key) => !key.startsWith("L/a/bc/")));
    assert.deepEqual(await listKeys(store, "L/a/b"), under("L/a/b"));
    assert.ok(under("L/a/b").some((key) => key.startsWith("L/a/bc/")));
    assert.ok(under("L/a/b").some((key) => key.startsWith("L/a/b-")));
    assert.deepEqual(
      await listKeys(store, "L/a/b/deep/x/y/k1", { pageSize: 7 }),
      under(
        "L/a/b/deep/x/y/k1",
      ),
    );
    assert.ok(under("L/a/b/deep/x/y/k1").length > 14, "spans several small pages");
    assert.deepEqual(await listKeys(store, "L/\u00fc"), under("L/\u00fc"));
    assert.deepEqual(await listKeys(store, "L/nothing/"), []);
    assert.deepEqual(await listKeys(store, "L/a/b/k0000/"), [], "a file is no directory");
    // A prefix that is itself a key lists that key (and longer ones).
    assert.deepEqual(await listKeys(store, expected[7]), under(expected[7]));

    // startAfter: an existing key (exclusive), a key between two, with small pages.
    assert.deepEqual(
      await listKeys(store, "L/", { startAfter: expected[1234] }),
      expected.slice(1235),
    );
    assert.deepEqual(
      await listKeys(store, "L/", { startAfter: "L/a/b/deep/", pageSize: 100 }),
      expected.filter((key) => compareKeys(key, "L/a/b/deep/") > 0),
    );
    assert.deepEqual(
      await listKeys(store, "L/a/", { startAfter: "L/a/bc" }),
      under("L/a/").filter((key) => compareKeys(key, "L/a/bc") > 0),
    );
    assert.deepEqual(await listKeys(store, "L/", { startAfter: expected.at(-1) }), []);
    assert.deepEqual(await listKeys(store, "L/", { startAfter: "A" }), expected);

    await assert.rejects(listKeys(store, "L/", { pageSize: 0 }), RangeError);
    await assert.rejects(listKeys(store, "L/", { pageSize: 1001 }), RangeError);
  },

  async "large objects: 6 MiB round trip and range read"(store) {
    const size = 6 * 1024 * 1024 + 123;
    const bytes = randomBytes(size);
    const { etag } = await store.put("large/blob", bytes);
    const got = await store.get("large/blob");
    assert.equal(got?.etag, etag);
    assert.ok(equalBytes(got!.body, bytes), "same 6 MiB back");
    assert.equal((await store.head("large/blob"))?.size, size);

    const start = 5 * 1024 * 1024 + 7;
    const range = await store.getRange("large/blob", start, start + 999);
    assert.equal(range?.size, size);
    assert.ok(equalBytes(range!.body, bytes.subarray(start, start + 1000)));
    const tail = await store.getRange("large/blob", size - 10, size + 10);
    assert.ok(equalBytes(tail!.body, bytes.subarray(size - 10)));

    // CAS on a large object.
    const replaced = randomBytes(size);
    const second = await store.put("large/blob", replaced, { ifMatch: etag });
    await assert.rejects(store.put("large/blob", bytes, { ifMatch: etag }), PreconditionFailed);
    assert.equal((await store.get("large/blob"))?.etag, second.etag);
  },

  async "a census reads one byte per blob and never a whole one"(store) {
    const blobs = 50;
    const actor = "ab".repeat(32);
    await forEachLimited(Array.from({ length: blobs }, (_, i) => i), SEED_CONCURRENCY, (i) => {
      // A 1 KiB envelope-sized blob whose first byte is its epoch (1 or 2).
      const body = randomBytes(1024);
      body[0] = 1 + (i % 2);
      return store.put(`bots/${actor}/credentials/s${i}.enc`, body);
    });
    const counting = new ReadCountingStore(store);
    const census = await takeCensus({ store: counting, keys: { epochForTag: (tag) => tag } });
    assert.deepEqual(census.global, { "1": blobs / 2, "2": blobs / 2 });
    assert.equal(counting.gets, 0, "no whole-object get");
    assert.equal(counting.ranges, blobs);
    assert.equal(counting.bytes, blobs, "one byte read per blob");
  },

  async "key rules: the same keys are valid and invalid on every store"(store) {
    const invalid = [
      "",
      "/absolute",
      "a//b",
      "trailing/",
      "..",
      ".",
      "../escape",
      "a/../b",
      "a/./b",
      "a/..",
      "back\\slash",
      "nul\u0000byte",
      "new\nline",
      "tab\tkey",
      "del\u007f",
      "c1\u0085",
      "lone\ud800surrogate",
      "replacement\ufffd",
      "x".repeat(1025),
      Array.from({ length: 5 }, (_, i) => "defgh"[i].repeat(204)).join("/") + "i",
      `a/${"y".repeat(256)}`,
    ];
    for (const key of invalid) {
      const label = JSON.stringify(key).slice(0, 40);
      await assert.rejects(store.put(key, enc.encode("x")), InvalidKey, `put ${label}`);
      await assert.rejects(store.get(key), InvalidKey, `get ${label}`);
      await assert.rejects(store.head(key), InvalidKey, `head ${label}`);
      await assert.rejects(store.getRange(key, 0, 0), InvalidKey, `getRange ${label}`);
      await assert.rejects(store.delete(key), InvalidKey, `delete ${label}`);
    }
    for (const prefix of ["/", "a//", "../", "a/../", "back\\", "nul\u0000"]) {
      await assert.rejects(listKeys(store, prefix), InvalidKey, `list ${JSON.stringify(prefix)}`);
    }

    const valid = [
      ".hidden",
      "a/.x",
      "a/..x",
      "...",
      "with space/and+plus=eq&amp;%20percent?q#frag",
      "\u00fcnic\u00f6de/\u{1F600}/\uE000",
      "x".repeat(255),
      // Exactly 1,024 bytes: five 204-byte segments and four slashes.
      Array.from({ length: 5 }, (_, i) => "defgh"[i].repeat(204)).join("/"),
    ];
    for (const key of valid) {
      const { etag } = await store.put(key, enc.encode(key));
      assert.deepEqual(await store.get(key), { body: enc.encode(key), etag }, key);
    }
    assert.deepEqual(await listKeys(store, ""), [...valid].sort(compareKeys));
  },
};

function checkOneWinner(
  results: PromiseSettledResult<{ etag: string }>[],
): { index: number; result: { etag: string } } {
  const winners = results.flatMap((r, index) =>
    r.status === "fulfilled" ? [{ index, result: r.value }] : []
  );
  const losers = results.filter((r) => r.status === "rejected");
  assert.equal(winners.length, 1, `exactly one writer wins, got ${winners.length}`);
  for (const loser of losers) {
    assert.ok(
      loser.reason instanceof PreconditionFailed,
      `losers get PreconditionFailed, got ${loser.reason}`,
    );
  }
  return winners[0];
}

/** 2,500 keys whose order exercises directory boundaries, `-`/`.`/`/` ordering and UTF-8. */
function listingKeys(): string[] {
  const keys: string[] = [];
  for (let i = 0; i < LIST_KEYS; i++) {
    // Unpadded base-36 numbers interleave ("k1", "k10", "k2"), and short names sort before long.
    const n = `k${i.toString(36)}`;
    switch (i % 10) {
      case 0:
        keys.push(`L/a/b/${i < 10 ? `k000${i}` : n}`);
        break;
      case 1:
        keys.push(`L/a/bc/${n}`);
        break;
      case 2:
        keys.push(`L/a/b-${n}`);
        break;
      case 3:
        keys.push(`L/a/b.${n}`);
        break;
      case 4:
        keys.push(`L/a/b/deep/x/y/${n}`);
        break;
      case 5:
        keys.push(`L/a/B/${n}`);
        break;
      case 6:
        keys.push(`L/a0/${n}`);
        break;
      case 7:
        keys.push(`L/a-/${n}`);
        break;
      case 8:
        keys.push(`L/\u00fc/${n}`);
        break;
      default:
        // U+E000 sorts before U+1F600 in UTF-8 but after it in UTF-16.
        keys.push(`L/z/${["\uE000", "\u{1F600}", "~"][Math.floor(i / 10) % 3]}${n}`);
    }
  }
  return keys;
}

async function collect(iterable: AsyncIterable<BlobInfo>): Promise<BlobInfo[]> {
  const out: BlobInfo[] = [];
  for await (const info of iterable) out.push(info);
  return out;
}

async function listKeys(
  store: BlobStore,
  prefix: string,
  options?: { pageSize?: number; startAfter?: string },
): Promise<string[]> {
  return (await collect(store.list(prefix, options))).map((info) => info.key);
}

async function forEachLimited<T>(
  items: T[],
  limit: number,
  fn: (item: T) => Promise<unknown>,
): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) await fn(items[next++]);
  }));
}

async function rejection(promise: Promise<unknown>): Promise<PreconditionFailed> {
  try {
    await promise;
  } catch (err) {
    return err as PreconditionFailed;
  }
  throw new assert.AssertionError({ message: "expected the write to be refused" });
}

function randomBytes(size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  // getRandomValues fills at most 64 KiB per call.
  for (let offset = 0; offset < size; offset += 65_536) {
    crypto.getRandomValues(bytes.subarray(offset, Math.min(size, offset + 65_536)));
  }
  return bytes;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
