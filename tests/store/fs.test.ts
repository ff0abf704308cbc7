/**
 * {@linkcode FsBlobStore}: the shared conformance suite, then what only a local directory can
 * show: no temp files left, a write that dies midway, compare-and-swap across processes.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { FsBlobStore, PreconditionFailed } from "../../lib/store/mod.ts";
import { InvalidKey, StoreUnavailable } from "../../lib/store/_errors.ts";
import { conformance } from "./conformance.ts";

// Children import the fs store and the errors only: no import map (and no npm) needed.
const CHILD_IMPORTS = ["_fs.ts", "_errors.ts"].map((file) =>
  new URL(`../../lib/store/${file}`, import.meta.url).href
);
const enc = new TextEncoder();
const dec = new TextDecoder();

let base: string | undefined;
let stores = 0;
conformance(
  "FsBlobStore",
  async () => {
    base ??= await Deno.makeTempDir({ prefix: "agentkeys-fs-conformance-" });
    return new FsBlobStore(join(base, String(stores++), "blobs"));
  },
  {
    teardown: async () => {
      if (base !== undefined) await Deno.remove(base, { recursive: true });
    },
  },
);

/** A temp dir for one test, removed afterwards. */
async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "agentkeys-fs-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Every file below `dir`, relative, sorted. */
async function filesUnder(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(join(dir, prefix))) {
    const path = prefix === "" ? entry.name : `${prefix}/${entry.name}`;
    if (entry.isDirectory) out.push(...await filesUnder(dir, path));
    else out.push(path);
  }
  return out.sort();
}

/** Runs TypeScript `code` in a fresh Deno process; `mod` in the code is the store module. */
async function runChild(
  code: string,
  options: { args?: string[]; shellPrefix?: string } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const script = [
    ...CHILD_IMPORTS.map((url, i) => `import * as m${i} from ${JSON.stringify(url)};`),
    `const mod = { ${CHILD_IMPORTS.map((_, i) => `...m${i}`).join(", ")} };`,
    code,
  ].join("\n");
  const deno = [Deno.execPath(), "eval", "--no-config", "--no-lock", "--ext=ts", script];
  const command = options.shellPrefix
    // The prefix sets limits for the child, then execs it (limits survive exec).
    ? new Deno.Command("bash", {
      args: ["-c", `${options.shellPrefix}; exec "$@"`, "child", ...deno, ...(options.args ?? [])],
    })
    : new Deno.Command(deno[0], { args: [...deno.slice(1), ...(options.args ?? [])] });
  const out = await command.output();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("FsBlobStore: etag is the bare SHA-256 hex of the bytes", async () => {
  await withTempDir(async (dir) => {
    const store = new FsBlobStore(join(dir, "blobs"));
    try {
      const { etag } = await store.put("k", enc.encode("abc"));
      assert.equal(etag, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
      assert.equal((await store.get("k"))?.etag, etag);
    } finally {
      await store.close();
    }
  });
});

Deno.test("FsBlobStore: objects are plain files; temp and lock files stay outside the root", async () => {
  await withTempDir(async (dir) => {
    const root = join(dir, "blobs");
    const store = new FsBlobStore(root);
    try {
      const a = await store.put("bots/a1/credentials/github.enc", enc.encode("one"));
      await store.put("bots/a1/credentials/github.enc", enc.encode("two"), { ifMatch: a.etag });
      await assert.rejects(store.put("bots/a1/credentials/github.enc", enc.encode("x"), {
        ifMatch: a.etag,
      }));
      await store.put("bots/a1/memory/ns/n.enc", enc.encode("three"), { ifNoneMatch: "*" });
      await store.put("bots/a1/inbound/m1.enc", enc.encode("four"));
      await store.delete("bots/a1/inbound/m1.enc");

      assert.deepEqual(await filesUnder(root), [
        "bots/a1/credentials/github.enc",
        "bots/a1/memory/ns/n.enc",
      ]);
      assert.equal(
        await Deno.readTextFile(join(root, "bots/a1/credentials/github.enc")),
        "two",
      );
      // Nothing left behind in the staging dir; the lock files are beside the root too.
      assert.deepEqual(await filesUnder(`${root}.staging`), []);
      assert.ok((await filesUnder(`${root}.locks`)).every((f) => f.endsWith(".lock")));
    } finally {
      await store.close();
    }
  });
});

Deno.test("FsBlobStore: a key cannot be both an object and a directory", async () => {
  await withTempDir(async (dir) => {
    const store = new FsBlobStore(join(dir, "blobs"));
    try {
      await store.put("a/b", enc.encode("x"));
      await assert.rejects(store.put("a", enc.encode("y")), InvalidKey);
      await store.put("f", enc.encode("x"));
      await assert.rejects(store.put("f/g", enc.encode("y")), InvalidKey);
      assert.equal(await store.get("a"), null);
      assert.equal(await store.delete("a"), false);
      assert.deepEqual(await filesUnder(`${join(dir, "blobs")}.staging`), []);
    } finally {
      await store.close();
    }
  });
});

Deno.test("FsBlobStore: listing skips symlinks and names no key can have", async () => {
  await withTempDir(async (dir) => {
    const root = join(dir, "blobs");
    const store = new FsBlobStore(root);
    try {
      await store.put("d/ok", enc.encode("x"));
      await Deno.writeTextFile(join(root, "d", "back\\slash"), "foreign");
      await Deno.writeTextFile(join(root, "d", "new\nline"), "foreign");
      await Deno.writeTextFile(join(dir, "outside"), "secret");
      await Deno.symlink(join(dir, "outside"), join(root, "d", "link"));
      await Deno.symlink(dir, join(root, "d", "dirlink"));
      const keys: string[] = [];
      for await (const info of store.list("")) keys.push(info.key);
      assert.deepEqual(keys, ["d/ok"]);
    } finally {
      await store.close();
    }
  });
});

Deno.test("FsBlobStore: a write that fails midway leaves the old object intact", async () => {
  await withTempDir(async (dir) => {
    const root = join(dir, "blobs");
    const store = new FsBlobStore(root);
    const old = await store.put("victim", enc.encode("old contents"));
    await store.close();

    // The child may write at most 64 KiB per file (ulimit -f counts 1 KiB blocks; SIGXFSZ is
    // ignored so the write fails with EFBIG instead of killing it), then tries to write 1 MiB.
    const child = await runChild(
      `
      const store = new mod.FsBlobStore(Deno.args[0]);
      try {
        await store.put("victim", new Uint8Array(1 << 20).fill(7));
        console.log(JSON.stringify({ ok: true }));
      } catch (err) {
        console.log(JSON.stringify({ ok: false, name: err.name, message: err.message }));
      } finally {
        await store.close();
      }
      `,
      { args: [root], shellPrefix: "ulimit -f 64; trap '' XFSZ" },
    );
    assert.equal(child.code, 0, child.stderr);
    const result = JSON.parse(child.stdout.trim().split("\n").at(-1)!);
    assert.equal(result.ok, false, "the 1 MiB write must fail under a 64 KiB file-size limit");
    assert.equal(result.name, StoreUnavailable.name);
    assert.match(result.message, /too large/i);

    const reopened = new FsBlobStore(root);
    try {
      assert.deepEqual(await reopened.get("victim"), {
        body: enc.encode("old contents"),
        etag: old.etag,
      });
      assert.deepEqual(await filesUnder(`${root}.staging`), [], "the temp file was removed");
      assert.deepEqual(await filesUnder(root), ["victim"]);
    } finally {
      await reopened.close();
    }
  });
});

Deno.test("FsBlobStore: compare-and-swap holds across processes", async () => {
  await withTempDir(async (dir) => {
    const root = join(dir, "blobs");
    const setup = new FsBlobStore(root);
    await setup.put("counter", enc.encode("0"));
    await setup.close();

    const processes = 2;
    const workers = 4;
    const increments = 25;
    const raceKeys = 10;
    // Each child waits for the go file so that both really run at the same time.
    const child = `
      const [root, id, goFile] = Deno.args;
      const store = new mod.FsBlobStore(root);
      await Deno.writeTextFile(goFile + "." + id, "ready");
      while (true) {
        try { await Deno.stat(goFile); break; } catch { await new Promise((r) => setTimeout(r, 2)); }
      }
      const enc = new TextEncoder();
      const dec = new TextDecoder();
      const wins = [];
      const races = Array.from({ length: ${raceKeys} }, (_, k) =>
        store.put("race/" + k, enc.encode(id), { ifNoneMatch: "*" }).then(
          () => wins.push(k),
          (err) => { if (!(err instanceof mod.PreconditionFailed)) throw err; },
        ));
      let conflicts = 0;
      const counters = Array.from({ length: ${workers} }, async () => {
        for (let done = 0; done < ${increments};) {
          const current = await store.get("counter");
          const next = String(Number(dec.decode(current.body)) + 1);
          try {
            await store.put("counter", enc.encode(next), { ifMatch: current.etag });
            done++;
          } catch (err) {
            if (!(err instanceof mod.PreconditionFailed)) throw err;
            conflicts++;
          }
        }
      });
      await Promise.all([...races, ...counters]);
      await store.close();
      console.log(JSON.stringify({ wins, conflicts }));
    `;
    const goFile = join(dir, "go");
    const children = Array.from(
      { length: processes },
      (_, id) => runChild(child, { args: [root, String(id), goFile] }),
    );
    // Start both at once; a child that dies before it is ready ends the wait too.
    let exited = false;
    const all = Promise.all(children).finally(() => (exited = true));
    const deadline = Date.now() + 30_000;
    for (let id = 0; id < processes && !exited && Date.now() < deadline; id++) {
      while (!exited && Date.now() < deadline && !(await exists(`${goFile}.${id}`))) {
        await new Promise((r) => setTimeout(r, 5));
      }
    }
    await Deno.writeTextFile(goFile, "go");
    const results = await all;
    const reports = results.map((r) => {
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout.trim()) as { wins: number[]; conflicts: number };
    });

    const store = new FsBlobStore(root);
    try {
      const total = processes * workers * increments;
      assert.equal(dec.decode((await store.get("counter"))!.body), String(total));
      const wins = reports.flatMap((r) => r.wins).sort((a, b) => a - b);
      assert.deepEqual(wins, Array.from({ length: raceKeys }, (_, k) => k), "one winner per key");
      for (let k = 0; k < raceKeys; k++) {
        const winner = reports.findIndex((r) => r.wins.includes(k));
        assert.equal(dec.decode((await store.get(`race/${k}`))!.body), String(winner));
      }
      console.log(
        `fs cross-process CAS: ${total} increments, ` +
          `${reports.map((r) => r.conflicts).join("+")} conflicts, no update lost`,
      );
    } finally {
      await store.close();
    }
  });
});

Deno.test("FsBlobStore: head and getRange see another process's replacement", async () => {
  await withTempDir(async (dir) => {
    const root = join(dir, "blobs");
    const store = new FsBlobStore(root);
    try {
      const first = await store.put("k", enc.encode("AAAA"));
      assert.equal((await store.head("k"))?.size, 4);
      assert.deepEqual((await store.getRange("k", 0, 0))?.body, enc.encode("A"));
      const child = await runChild(
        `const s = new mod.FsBlobStore(Deno.args[0]);
         console.log((await s.put("k", new TextEncoder().encode("BBBB"))).etag);
         await s.close();`,
        { args: [root] },
      );
      assert.equal(child.code, 0, child.stderr);
      const second = child.stdout.trim();
      assert.notEqual(second, first.etag);
      assert.equal((await store.get("k"))?.etag, second);
      assert.deepEqual(await store.getRange("k", 0, 0), { body: enc.encode("B"), size: 4 });
      // A CAS on the etag read before the replacement is refused.
      await assert.rejects(
        store.put("k", enc.encode("CCCC"), { ifMatch: first.etag }),
        PreconditionFailed,
      );
    } finally {
      await store.close();
    }
  });
});

Deno.test("FsBlobStore: temp files a crash left behind are swept once old", async () => {
  await withTempDir(async (dir) => {
    const root = join(dir, "blobs");
    await Deno.mkdir(`${root}.staging`, { recursive: true });
    const old = `${root}.staging/crashed.tmp`;
    const fresh = `${root}.staging/in-use.tmp`;
    await Deno.writeTextFile(old, "half");
    await Deno.writeTextFile(fresh, "half");
    const twoHoursAgo = new Date(Date.now() - 2 * 60 * 60 * 1000);
    await Deno.utime(old, twoHoursAgo, twoHoursAgo);
    const store = new FsBlobStore(root);
    try {
      await store.put("k", enc.encode("x"));
      assert.deepEqual(await filesUnder(`${root}.staging`), ["in-use.tmp"]);
    } finally {
      await store.close();
    }
  });
});

Deno.test("FsBlobStore: a closed store refuses work", async () => {
  await withTempDir(async (dir) => {
    const store = new FsBlobStore(join(dir, "blobs"));
    await store.put("k", enc.encode("x"));
    await store.close();
    await assert.rejects(store.get("k"), StoreUnavailable);
  });
});

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Bytes this process has read through read(2) and friends so far (Linux `/proc/self/io`). */
async function bytesRead(): Promise<number> {
  const io = await Deno.readTextFile("/proc/self/io");
  return Number(/^rchar: (\d+)$/m.exec(io)![1]);
}

Deno.test("FsBlobStore: getRange and head read no more than asked, even with a cold store", async () => {
  await withTempDir(async (dir) => {
    const root = join(dir, "blobs");
    const size = 6 * 1024 * 1024;
    const bytes = new Uint8Array(size).fill(7);
    // Written behind the store's back, as after a restart: nothing about the file is cached.
    await Deno.mkdir(join(root, "bots"), { recursive: true });
    await Deno.writeFile(join(root, "bots", "big.enc"), bytes);
    const store = new FsBlobStore(root);
    try {
      await store.head("bots/none"); // opens the root (mkdir, staging sweep) before measuring
      const before = await bytesRead();
      const range = await store.getRange("bots/big.enc", 0, 0);
      const info = await store.head("bots/big.enc");
      const read = (await bytesRead()) - before;
      assert.deepEqual(range, { body: Uint8Array.of(7), size });
      assert.equal(info?.size, size);
      // Hashing the file for an etag would read all 6 MiB; one byte plus /proc/self/io is far below.
      assert.ok(read < 64 * 1024, `read ${read} bytes for a 1-byte range and a head`);
      // The measurement can see a whole-file read: get reads every byte.
      const beforeGet = await bytesRead();
      await store.get("bots/big.enc");
      assert.ok((await bytesRead()) - beforeGet >= size, "rchar counts this process's reads");
    } finally {
      await store.close();
    }
  });
});
