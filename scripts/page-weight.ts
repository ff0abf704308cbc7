/**
 * Prints the console's JavaScript weight, gzip: per page (the entry, the islands the page
 * renders and every chunk they import statically) and for the whole console (every page's
 * scripts together), against the targets of issue 9: sign-in ≤ 80 KiB, console ≤ 200 KiB.
 * Chunks only reached through a dynamic import no page triggers (viem's optional CCIP and
 * secp256k1 code) are listed apart. Builds the bundle first when it is stale.
 *
 *   deno run -A scripts/page-weight.ts
 *
 * `tests/console/browser.test.ts` measures what Chromium really loads for `/login`.
 *
 * @module
 */

import { gzipSync } from "node:zlib";
import { join } from "node:path";
import { build, BUILD_DIR, inputsHash } from "./build.ts";

/** The islands each page renders (routes/pages/). */
const PAGES: Record<string, string[]> = {
  "/login": ["SignIn"],
  "/": ["TakeCensus", "Logout"],
  "/agents": ["AddAgent", "Logout"],
  "/agents/:label": ["ManageAgent", "Logout"],
  "/credentials": ["StoreCredential", "DeleteCredential", "Logout"],
  "/epochs": ["EpochControls", "Logout"],
  "/jobs/:id": ["JobLog", "Logout"],
  "/migrations": ["Logout"],
  "/migrations/:id": ["JobLog", "Logout"],
  "/audit": ["Logout"],
};
const TARGETS: Record<string, number> = { "/login": 80 * 1024, console: 200 * 1024 };

async function stale(): Promise<boolean> {
  try {
    return (await Deno.readTextFile(join(BUILD_DIR, ".stamp"))).trim() !== await inputsHash();
  } catch {
    return true;
  }
}

const files = new Map<string, { code: string; gzip: number }>();
async function file(name: string) {
  let f = files.get(name);
  if (!f) {
    const bytes = await Deno.readFile(join(BUILD_DIR, name));
    f = { code: new TextDecoder().decode(bytes), gzip: gzipSync(bytes, { level: 9 }).byteLength };
    files.set(name, f);
  }
  return f;
}

/** `name` and every file it imports statically (esbuild's `import…from"./x.js"`, `import"./x.js"`). */
async function closure(name: string, seen = new Set<string>()): Promise<Set<string>> {
  if (seen.has(name)) return seen;
  seen.add(name);
  const { code } = await file(name);
  for (const m of code.matchAll(/(?:from|import)\s*"\.\/([^"]+\.js)"/g)) await closure(m[1], seen);
  return seen;
}

if (import.meta.main) {
  if (await stale()) await build();
  const all = [...Deno.readDirSync(BUILD_DIR)].map((e) => e.name).filter((n) => n.endsWith(".js"));
  const chunkOf = (island: string) => {
    const found = all.find((n) => n.startsWith(`${island}-`));
    if (!found) throw new Error(`no chunk for island ${island} in static/build`);
    return found;
  };
  const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
  const console_ = new Set<string>();
  let failed = false;
  for (const [page, islands] of Object.entries(PAGES)) {
    const loaded = await closure("_client.js");
    for (const island of islands) await closure(chunkOf(island), loaded);
    let total = 0;
    for (const name of loaded) {
      total += (await file(name)).gzip;
      console_.add(name);
    }
    const target = TARGETS[page];
    const verdict = target === undefined ? "" : total <= target ? ` (≤ ${kib(target)})` : " OVER";
    if (target !== undefined && total > target) failed = true;
    console.log(
      `${page.padEnd(8)} ${kib(total).padStart(10)} gzip in ${loaded.size} files${verdict}`,
    );
  }
  let total = 0;
  for (const name of console_) total += (await file(name)).gzip;
  if (total > TARGETS.console) failed = true;
  console.log(
    `console  ${kib(total).padStart(10)} gzip in ${console_.size} files` +
      (total <= TARGETS.console ? ` (≤ ${kib(TARGETS.console)})` : " OVER"),
  );
  let unused = 0;
  const rest = all.filter((n) => !console_.has(n));
  for (const name of rest) unused += (await file(name)).gzip;
  console.log(
    `unloaded ${kib(unused).padStart(10)} gzip in ${rest.length} files (${rest.join(", ")})`,
  );
  if (failed) Deno.exit(1);
}
