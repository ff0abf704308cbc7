/**
 * `deno task build`: bundles the console's islands (`islands/_client.ts` and every island it
 * imports lazily) into `static/build/` with `deno bundle` (esbuild underneath), minified, as ES
 * modules with code splitting: `_client.js` is the fixed entry, every other file carries a
 * content hash in its name (routes/pages/_static.ts serves those as immutable).
 *
 *   deno run -A scripts/build.ts             # always build
 *   deno run -A scripts/build.ts --if-stale  # build only when an input changed (start, test)
 *
 * Staleness is exact and cheap: the inputs are the local modules of the entry's module graph
 * (`deno info --json`, so lib/ modules the islands import count) plus deno.json and deno.lock
 * (dependency versions); their SHA-256 is kept in `static/build/.stamp`. Content hashes, not
 * mtimes, so a fresh clone or a checkout that only touches mtimes does not rebuild.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { join } from "node:path";
import { fileURLToPath as fromFileUrl } from "node:url";

const ROOT = fromFileUrl(new URL("../", import.meta.url));
const ENTRY = "islands/_client.ts";
/**
 * Bundled apart, without shared chunks: the islands load it by URL when an operator sends a
 * transaction. In the split build, every viem module it shared with the sign-in island carried
 * all the wallet code's uses of it, and /login grew from 12 to 73 KiB gzip.
 */
export const LAZY_ENTRIES = ["islands/_chain.ts"];
export const BUILD_DIR = join(ROOT, "static/build");
const STAMP = ".stamp";

async function deno(args: string[]): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), { args, cwd: ROOT, stderr: "piped" })
    .output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(`deno ${args[0]} failed:\n${new TextDecoder().decode(out.stderr)}`);
  }
  return text;
}

/** The hash of every input of the bundle. */
export async function inputsHash(): Promise<string> {
  const files = new Set<string>();
  for (const entry of [ENTRY, ...LAZY_ENTRIES]) {
    const graph = JSON.parse(await deno(["info", "--json", entry])) as {
      modules: { specifier: string }[];
    };
    for (const m of graph.modules) {
      if (m.specifier.startsWith("file:")) files.add(fromFileUrl(m.specifier));
    }
  }
  files.add(join(ROOT, "deno.json")).add(join(ROOT, "deno.lock"));
  const hash = createHash("sha256");
  for (const file of [...files].sort()) {
    hash.update(file.slice(ROOT.length)).update("\0").update(await Deno.readFile(file))
      .update("\0");
  }
  return hash.digest("hex");
}

async function readStamp(): Promise<string | undefined> {
  try {
    await Deno.stat(join(BUILD_DIR, "_client.js"));
    return (await Deno.readTextFile(join(BUILD_DIR, STAMP))).trim();
  } catch {
    return undefined;
  }
}

/**
 * Bundles into a fresh folder, then swaps it in: `deno bundle` never cleans its output, and a
 * half-written bundle must never be served.
 */
export async function build(hash?: string): Promise<void> {
  const next = `${BUILD_DIR}.next-${Deno.pid}`;
  const old = `${BUILD_DIR}.old-${Deno.pid}`;
  await Deno.remove(next, { recursive: true }).catch(() => {});
  await deno([
    "bundle",
    "--quiet",
    "--platform=browser",
    "--minify",
    "--code-splitting",
    "--format=esm",
    `--outdir=${next}`,
    ENTRY,
  ]);
  await deno([
    "bundle",
    "--quiet",
    "--platform=browser",
    "--minify",
    "--format=esm",
    `--outdir=${next}`,
    ...LAZY_ENTRIES,
  ]);
  await Deno.writeTextFile(join(next, STAMP), (hash ?? await inputsHash()) + "\n");
  await Deno.rename(BUILD_DIR, old).catch(() => {});
  await Deno.rename(next, BUILD_DIR);
  await Deno.remove(old, { recursive: true }).catch(() => {});
}

if (import.meta.main) {
  const ifStale = Deno.args.includes("--if-stale");
  const hash = await inputsHash();
  if (ifStale && (await readStamp()) === hash) Deno.exit(0);
  const started = performance.now();
  await build(hash);
  console.error(
    `build: static/build/ from ${ENTRY} in ${Math.round(performance.now() - started)} ms`,
  );
}
