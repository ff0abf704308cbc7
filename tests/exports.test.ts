/**
 * Each `mod.ts` under `lib/` (nested ones included) exports only what other components use
 * (issue 8): every name it exports is imported by code outside its folder that is not a test
 * (another `lib/` folder, `routes/`, `islands/`, `scripts/`, `bench/`, `main.ts`). Tests import
 * internals from the `_` files. The exported names come from `deno doc --json` (TypeScript-aware,
 * re-exports resolved); the imports are read from the source. A name kept on purpose is listed in
 * {@linkcode KEPT} with its reason.
 *
 * @module
 */

import { dirname, join, relative, resolve } from "node:path";
import { assertEquals } from "./support/assert.ts";

const ROOT = resolve(dirname(new URL(import.meta.url).pathname), "..");
/** Where the users of a component's exports live; tests/ is not among them. */
const USERS = ["lib", "routes", "islands", "scripts", "bench", "main.ts"];

/** Exported although no other component imports them, and why. */
const KEPT: Record<string, Record<string, string>> = {
  "lib/identity/mod.ts": {
    Omni: "the omni type issue 8 puts in lib/identity",
    devicePopMessage: "the exact message AgentRegistry checks, for wallets that sign it themselves",
    DevicePopParams: "the parameters of signDevicePop and devicePopMessage",
  },
  "lib/service/mod.ts": { Service: "what openService returns" },
  "lib/datadir/mod.ts": { DataDirCore: "what openDataDir returns" },
  "lib/config/mod.ts": {
    defaultLifecyclePolicy:
      "the lifecycle defaults beside defaultIntegrityPolicy; tests build on it",
  },
};

async function* walk(path: string): AsyncGenerator<string> {
  const info = await Deno.stat(join(ROOT, path)).catch(() => undefined);
  if (!info) return;
  if (info.isFile) {
    if (/\.tsx?$/.test(path)) yield path;
    return;
  }
  for await (const entry of Deno.readDir(join(ROOT, path))) yield* walk(`${path}/${entry.name}`);
}

/** Comments blanked out (doc examples show imports), strings kept for the specifiers. */
function stripComments(source: string): string {
  return source.replace(
    /\/\*[\s\S]*?\*\/|\/\/[^\n]*|("(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`(?:[^`\\]|\\.)*`)/g,
    (_match, string) => string ?? " ",
  );
}

/** The names in `{ a, type B, c as d }`, as the exporting module spells them. */
function clauseNames(clause: string): string[] {
  return clause.split(",").map((part) => part.trim().replace(/^type\s+/, "").split(/\s+as\s+/)[0])
    .filter((name) => name !== "");
}

/**
 * `[specifier, name]` for every name `code` takes from another module: named imports and
 * re-exports, `ns.name` of a namespace import, and destructured dynamic imports.
 */
export function namedImports(code: string): [string, string][] {
  const out: [string, string][] = [];
  const named =
    /\b(?:import|export)\s+(?:type\s+)?(?:[\w$]+\s*,\s*)?\{([^}]*)\}\s*from\s*["']([^"']+)["']/g;
  for (const m of code.matchAll(named)) {
    for (const name of clauseNames(m[1])) out.push([m[2], name]);
  }
  for (const m of code.matchAll(/\bimport\s+\*\s+as\s+([\w$]+)\s+from\s*["']([^"']+)["']/g)) {
    for (const use of code.matchAll(new RegExp(`\\b${m[1]}\\.([\\w$]+)`, "g"))) {
      out.push([m[2], use[1]]);
    }
  }
  const dynamic = [
    /\{([^{}]*)\}\s*=\s*await\s+import\(\s*["']([^"']+)["']\s*\)/g,
    /import\(\s*["']([^"']+)["']\s*\)\.then\(\s*\(\s*\{([^}]*)\}/g,
  ];
  for (const m of code.matchAll(dynamic[0])) {
    for (const name of clauseNames(m[1])) out.push([m[2], name]);
  }
  for (const m of code.matchAll(dynamic[1])) {
    for (const name of clauseNames(m[2])) out.push([m[1], name]);
  }
  return out;
}

/** The names each `mod.ts` exports, from `deno doc --json`. */
async function exportedNames(mods: string[]): Promise<Map<string, Set<string>>> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "--json", ...mods],
    cwd: ROOT,
  }).output();
  if (code !== 0) throw new Error(new TextDecoder().decode(stderr));
  const doc = JSON.parse(new TextDecoder().decode(stdout)) as {
    nodes: Record<
      string,
      { symbols: { name: string; declarations: { declarationKind: string }[] }[] }
    >;
  };
  const out = new Map<string, Set<string>>();
  for (const [url, node] of Object.entries(doc.nodes)) {
    const names = node.symbols.filter((s) =>
      s.declarations.some((d) => d.declarationKind !== "private")
    ).map((s) => s.name);
    out.set(relative(ROOT, new URL(url).pathname), new Set(names));
  }
  return out;
}

/**
 * `mod: name` for every exported name no other component uses, nor {@linkcode KEPT} lists.
 * `users` maps a file (relative path) to its source with comments stripped.
 */
export function unusedExports(
  exports: Map<string, Set<string>>,
  users: Map<string, string>,
  kept: Record<string, Record<string, string>> = KEPT,
): string[] {
  const used = new Set<string>();
  for (const [path, code] of users) {
    for (const [specifier, name] of namedImports(code)) {
      if (!specifier.startsWith(".")) continue;
      const target = relative(ROOT, resolve(ROOT, dirname(path), specifier));
      if (!path.startsWith(`${dirname(target)}/`)) used.add(`${target}: ${name}`);
    }
  }
  const out: string[] = [];
  for (const [mod, names] of exports) {
    for (const name of names) {
      if (!used.has(`${mod}: ${name}`) && !(name in (kept[mod] ?? {}))) out.push(`${mod}: ${name}`);
    }
  }
  return out.sort();
}

Deno.test("exports: the check sees a name only tests use, and one nobody uses", () => {
  const exports = new Map([
    ["lib/a/mod.ts", new Set(["used", "typeUsed", "viaNamespace", "dynamic", "testOnly", "none"])],
  ]);
  const users = new Map([
    ["lib/b/x.ts", `import { used, type typeUsed as T } from "../a/mod.ts";`],
    ["routes/y.ts", `import * as a from "../lib/a/mod.ts";\na.viaNamespace();`],
    ["scripts/z.ts", `const { dynamic } = await import("../lib/a/mod.ts");`],
    // Its own folder does not count.
    ["lib/a/_inner.ts", `import { none } from "./mod.ts";`],
  ]);
  assertEquals(unusedExports(exports, users, {}), ["lib/a/mod.ts: none", "lib/a/mod.ts: testOnly"]);
  assertEquals(unusedExports(exports, users, { "lib/a/mod.ts": { none: "", testOnly: "" } }), []);
});

Deno.test("exports: each mod.ts under lib/ exports only what other components use", async () => {
  // Nested entries too (lib/chain/actions/mod.ts, the browser's entry to the chain actions); their
  // users are the code outside their own folder.
  const mods: string[] = [];
  for await (const path of walk("lib")) if (path.endsWith("/mod.ts")) mods.push(path);
  const users = new Map<string, string>();
  for (const dir of USERS) {
    for await (const path of walk(dir)) {
      users.set(path, stripComments(await Deno.readTextFile(join(ROOT, path))));
    }
  }
  const found = unusedExports(await exportedNames(mods), users);
  if (found.length > 0) console.log(found.join("\n"));
  assertEquals(found, []);
  // A name listed in KEPT that is gone, or used after all, is a stale entry.
  const unkept = new Set(unusedExports(await exportedNames(Object.keys(KEPT)), users, {}));
  const stale = Object.entries(KEPT).flatMap(([mod, names]) =>
    Object.keys(names).map((name) => `${mod}: ${name}`).filter((entry) => !unkept.has(entry))
  );
  assertEquals(stale, []);
});
