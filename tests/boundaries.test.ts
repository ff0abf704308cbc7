/**
 * The import boundaries of the architecture, read from the source: which component may reach
 * which, who may open the K3 keystore, and what code meant for the browser may pull in. Each
 * violation prints as `file: imports X (rule)`.
 *
 * @module
 */

import { dirname, join, relative, resolve } from "node:path";
import { assertEquals } from "./support/assert.ts";

const ROOT = resolve(dirname(new URL(import.meta.url).pathname), "..");
/** Folders whose modules are checked. */
const SCANNED = ["lib", "routes", "islands"];
/** Meant for the browser (ARCHITECTURE §10): they may use fetch and viem, nothing server-only. */
const BROWSER = ["lib/identity/", "lib/client/", "islands/"];
/** Server-only components: importing one makes a module server-only. */
const SERVER_ONLY = ["lib/signer/", "lib/store/", "lib/worker/", "lib/datadir/"];
/** `Deno.*` calls that touch the file system. */
const DENO_FILE_API =
  /\bDeno\.(open|openSync|create|createSync|readFile|readFileSync|readTextFile|readTextFileSync|writeFile|writeFileSync|writeTextFile|writeTextFileSync|readDir|readDirSync|mkdir|mkdirSync|remove|removeSync|rename|renameSync|stat|statSync|lstat|lstatSync|makeTempDir|makeTempFile|truncate|chmod|copyFile|realPath|link|symlink)\b/;
/** Opening or creating the sealed K3 keystore. */
const KEYSTORE_OPEN = /\bEpochKeystore\.(open|create)\s*\(|\bnew\s+EpochKeystore\s*\(/;

interface Module {
  /** Path relative to the repository, with `/`. */
  path: string;
  /** Code without comments and string contents outside import specifiers. */
  code: string;
  /** Import specifiers: static, re-exports, side-effect and dynamic imports. */
  imports: string[];
  /** The specifiers imported only by `import type` / `export type` (erased from any bundle). */
  typeOnly: Set<string>;
}

async function* walk(dir: string): AsyncGenerator<string> {
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(join(ROOT, dir)));
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return;
    throw err;
  }
  for (const entry of entries) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) yield* walk(path);
    else if (/\.tsx?$/.test(entry.name)) yield path;
  }
}

/**
 * Blanks out comments (doc examples show imports that are not imports), keeping strings so the
 * import specifiers survive. Template literals are kept as they are.
 */
function stripComments(source: string): string {
  let out = "";
  let i = 0;
  while (i < source.length) {
    const c = source[i];
    const next = source[i + 1];
    if (c === "/" && next === "*") {
      const end = source.indexOf("*/", i + 2);
      i = end < 0 ? source.length : end + 2;
      out += " ";
    } else if (c === "/" && next === "/") {
      while (i < source.length && source[i] !== "\n") i++;
    } else if (c === '"' || c === "'" || c === "`") {
      let j = i + 1;
      while (j < source.length && source[j] !== c) j += source[j] === "\\" ? 2 : 1;
      out += source.slice(i, j + 1);
      i = j + 1;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

function importsOf(code: string): string[] {
  const found: string[] = [];
  const patterns = [
    /(?:^|[;\n}])\s*(?:import|export)\s[^;]*?\bfrom\s*["']([^"']+)["']/g,
    /(?:^|[;\n])\s*import\s*["']([^"']+)["']/g,
    /\bimport\s*\(\s*["']([^"']+)["']\s*\)/g,
  ];
  for (const pattern of patterns) {
    for (const match of code.matchAll(pattern)) found.push(match[1]);
  }
  return found;
}

/** Specifiers that every import or re-export of is a whole-statement `import type`/`export type`. */
function typeOnlyOf(code: string): Set<string> {
  const typed = new Set<string>();
  const statement = /(?:^|[;\n}])\s*(import|export)\s+(type\s)?[^;]*?\bfrom\s*["']([^"']+)["']/g;
  const valued = new Set<string>();
  for (const m of code.matchAll(statement)) (m[2] ? typed : valued).add(m[3]);
  for (const v of valued) typed.delete(v);
  for (const m of code.matchAll(/\bimport\s*\(\s*["']([^"']+)["']\s*\)/g)) typed.delete(m[1]);
  for (const m of code.matchAll(/(?:^|[;\n])\s*import\s*["']([^"']+)["']/g)) typed.delete(m[1]);
  return typed;
}

async function loadModules(): Promise<Map<string, Module>> {
  const modules = new Map<string, Module>();
  for (const dir of SCANNED) {
    for await (const path of walk(dir)) {
      const code = stripComments(await Deno.readTextFile(join(ROOT, path)));
      modules.set(path, { path, code, imports: importsOf(code), typeOnly: typeOnlyOf(code) });
    }
  }
  return modules;
}

/** A relative specifier as a repository path; `undefined` for npm:, node: and bare ones. */
function target(from: string, specifier: string): string | undefined {
  if (!specifier.startsWith(".")) return undefined;
  return relative(ROOT, resolve(ROOT, dirname(from), specifier)).split("\\").join("/");
}

/** `lib/<name>` for a file in a component, `routes` or `islands` otherwise. */
function componentOf(path: string): string {
  const parts = path.split("/");
  return parts[0] === "lib" ? `lib/${parts[1]}` : parts[0];
}

function isServerComponent(path: string | undefined): boolean {
  return path !== undefined && SERVER_ONLY.some((dir) => path.startsWith(dir));
}

function violations(modules: Map<string, Module>): string[] {
  const out: string[] = [];
  // Server-only, transitively: a module that imports a server-only module is one too.
  const serverOnly = new Map<string, string>(); // path -> why
  for (const m of modules.values()) {
    if (SERVER_ONLY.some((dir) => m.path.startsWith(dir))) serverOnly.set(m.path, "component");
    else if (m.imports.some((s) => s === "node:fs" || s.startsWith("node:fs/"))) {
      serverOnly.set(m.path, "node:fs");
    } else if (DENO_FILE_API.test(m.code)) serverOnly.set(m.path, "Deno file API");
  }
  for (let changed = true; changed;) {
    changed = false;
    for (const m of modules.values()) {
      if (serverOnly.has(m.path)) continue;
      // Through a value import, or any import of a server-only component (types included: a
      // browser module has no business with their types either). A type-only import of a module
      // that is server-only merely because it touches files ships none of its code.
      const via = m.imports
        .filter((s) => !m.typeOnly.has(s) || isServerComponent(target(m.path, s)))
        .map((s) => target(m.path, s))
        .find((t) => t && serverOnly.has(t));
      if (via) {
        serverOnly.set(m.path, `via ${via}`);
        changed = true;
      }
    }
  }

  for (const m of modules.values()) {
    const from = componentOf(m.path);
    if (KEYSTORE_OPEN.test(m.code) && from !== "lib/datadir" && from !== "lib/signer") {
      out.push(`${m.path}: imports EpochKeystore.open (only lib/datadir opens the keystore)`);
    }
    for (const specifier of m.imports) {
      const t = target(m.path, specifier);
      const browser = BROWSER.some((dir) => m.path.startsWith(dir));
      if (browser && (specifier === "node:fs" || specifier.startsWith("node:fs/"))) {
        out.push(`${m.path}: imports ${specifier} (browser module imports server-only)`);
      }
      if (t === undefined) continue;
      const to = componentOf(t);
      if ((from === "lib/broker" || from === "routes") && to === "lib/signer") {
        out.push(`${m.path}: imports ${t} (${from} must not import lib/signer)`);
      }
      if (to !== from && t.startsWith("lib/") && !t.endsWith("/mod.ts")) {
        out.push(`${m.path}: imports ${t} (only another component's mod.ts)`);
      }
      if (browser && serverOnly.has(t) && (!m.typeOnly.has(specifier) || isServerComponent(t))) {
        out.push(
          `${m.path}: imports ${t} (browser module imports server-only: ${serverOnly.get(t)})`,
        );
      }
    }
  }
  return out.sort();
}

Deno.test("boundaries: the rules see violations in sample code", () => {
  const sample = (path: string, source: string): [string, Module] => {
    const code = stripComments(source);
    return [path, { path, code, imports: importsOf(code), typeOnly: typeOnlyOf(code) }];
  };
  const modules = new Map([
    sample(
      "lib/broker/x.ts",
      `/** \`\`\`ts\n * import { a } from "../store/_fs.ts";\n * \`\`\` */\n` +
        `import { EpochKeystore } from "../signer/mod.ts";\nconst k = await EpochKeystore.open({});`,
    ),
    sample("routes/y.ts", `export { b } from "../lib/worker/_vault.ts";`),
    sample("lib/client/z.ts", `import type { S } from "../store/mod.ts";\nimport "node:fs";`),
    sample("lib/identity/w.ts", `const m = await import("../datadir/mod.ts");`),
    sample("lib/datadir/mod.ts", `export const k = await EpochKeystore.open({});`),
    sample("lib/store/mod.ts", `export {};`),
    sample("lib/signer/mod.ts", `export {};`),
    sample("islands/Bad.tsx", `import { open } from "../lib/signer/mod.ts";`),
    // lib/state touches files (server-only by its code, not by component): types may be shared.
    sample("lib/state/mod.ts", `export const f = () => Deno.openSync("x");\nexport type J = 1;`),
    sample(
      "lib/client/types.ts",
      `import type { J } from "../state/mod.ts";\nexport type { J } from "../state/mod.ts";`,
    ),
    sample("islands/Jobs.tsx", `import { f } from "../lib/state/mod.ts";`),
    sample(
      "islands/Mixed.tsx",
      `import type { J } from "../lib/state/mod.ts";\nimport { f } from "../lib/state/mod.ts";`,
    ),
  ]);
  assertEquals(violations(modules), [
    "islands/Bad.tsx: imports lib/signer/mod.ts (browser module imports server-only: component)",
    "islands/Jobs.tsx: imports lib/state/mod.ts (browser module imports server-only: Deno file API)",
    "islands/Mixed.tsx: imports lib/state/mod.ts (browser module imports server-only: Deno file API)",
    "islands/Mixed.tsx: imports lib/state/mod.ts (browser module imports server-only: Deno file API)",
    "lib/broker/x.ts: imports EpochKeystore.open (only lib/datadir opens the keystore)",
    "lib/broker/x.ts: imports lib/signer/mod.ts (lib/broker must not import lib/signer)",
    "lib/client/z.ts: imports lib/store/mod.ts (browser module imports server-only: component)",
    "lib/client/z.ts: imports node:fs (browser module imports server-only)",
    "lib/identity/w.ts: imports lib/datadir/mod.ts (browser module imports server-only: component)",
    "routes/y.ts: imports lib/worker/_vault.ts (only another component's mod.ts)",
  ]);
});

Deno.test("boundaries: lib/, routes/ and islands/ keep the architecture's import rules", async () => {
  const found = violations(await loadModules());
  if (found.length > 0) console.log(found.join("\n"));
  assertEquals(found, []);
});
