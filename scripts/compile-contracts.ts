/**
 * Compiles `contracts/*.sol` with solc-js (pinned in deno.json) and writes the checked-in
 * artifacts `lib/chain/artifacts.json` and `lib/chain/artifacts.ts`:
 *
 * ```sh
 * deno task contracts
 * ```
 *
 * The output is deterministic — fixed compiler settings, sources read in sorted order, every
 * object's keys sorted — so that `tests/chain/artifacts.test.ts` can recompile and compare
 * byte for byte, failing when someone edits a contract and forgets to run this.
 *
 * The `.ts` file carries the ABIs `as const`: viem infers function names, argument and return
 * types from a literal ABI type, which a JSON import (typed as plain arrays) cannot give.
 *
 * @module
 */

import solc from "solc";
import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";

/** The contracts that get artifacts, in the order the artifacts list them. */
export const CONTRACT_NAMES = [
  "AgentRegistry",
  "ScopeRegistry",
  "K3EpochCounter",
  "AuditAnchor",
  "VaultAnchor",
] as const;

/**
 * Sources deployed on their own, after the identity contracts (an existing embedded chain gains
 * them at start): they have their own hash, so adding one does not make `SOURCES_SHA256` — the
 * identity contracts' hash that a recorded deployment is checked against — change.
 */
export const SEPARATE_SOURCES = ["VaultAnchor.sol"] as const;

/**
 * Fixed solc settings. `evmVersion` is pinned (not solc's moving default) so that the bytecode
 * runs on chains that lag behind the newest hardfork; cancun is supported by anvil and by the
 * mainstream EVM chains.
 */
export const SOLC_SETTINGS = {
  evmVersion: "cancun",
  optimizer: { enabled: true, runs: 200 },
  outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
} as const;

/** What a compilation produces: the two artifact files' text, and solc's warnings. */
export interface CompiledArtifacts {
  json: string;
  ts: string;
  warnings: string[];
}

/** A solc error (not a warning), with solc's formatted messages. */
export class ContractCompileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ContractCompileError";
  }
}

const REPO = new URL("../", import.meta.url);

/** Paths of the generated files, relative to the repository root. */
export const ARTIFACT_FILES = {
  json: "lib/chain/artifacts.json",
  ts: "lib/chain/artifacts.ts",
} as const;

/**
 * Compiles every `contracts/*.sol` and returns the artifact texts (nothing is written).
 *
 * ```ts
 * const { json, ts } = await compileContracts();
 * ```
 */
export async function compileContracts(
  contractsDir: URL = new URL("contracts/", REPO),
): Promise<CompiledArtifacts> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(contractsDir)) {
    if (entry.isFile && entry.name.endsWith(".sol")) names.push(entry.name);
  }
  names.sort();
  const sources: Record<string, { content: string }> = {};
  const digest = createHash("sha256");
  const separate: Record<string, string> = {};
  for (const name of names) {
    const content = await Deno.readTextFile(new URL(name, contractsDir));
    sources[name] = { content };
    // Name and content, each NUL-terminated, so that moving text between files changes the hash.
    if ((SEPARATE_SOURCES as readonly string[]).includes(name)) {
      separate[name.replace(/\.sol$/, "")] = createHash("sha256")
        .update(`${name}\0${content}\0`).digest("hex");
    } else digest.update(`${name}\0${content}\0`);
  }
  const sourcesSha256 = digest.digest("hex");

  const input = { language: "Solidity", sources, settings: SOLC_SETTINGS };
  // deno-lint-ignore no-explicit-any
  const output: any = JSON.parse(solc.compile(JSON.stringify(input)));
  const diagnostics: { severity: string; formattedMessage: string }[] = output.errors ?? [];
  const errors = diagnostics.filter((e) => e.severity === "error");
  if (errors.length > 0) {
    throw new ContractCompileError(errors.map((e) => e.formattedMessage).join("\n"));
  }
  const warnings = diagnostics.filter((e) => e.severity !== "error").map((e) => e.formattedMessage);

  const contracts: Record<string, unknown> = {};
  for (const name of CONTRACT_NAMES) {
    const c = output.contracts?.[`${name}.sol`]?.[name];
    if (!c) throw new ContractCompileError(`contracts/${name}.sol does not define ${name}`);
    contracts[name] = {
      abi: c.abi,
      bytecode: `0x${c.evm.bytecode.object}`,
      deployedBytecode: `0x${c.evm.deployedBytecode.object}`,
    };
  }
  const artifacts = {
    solcVersion: solc.version(),
    settings: SOLC_SETTINGS,
    sourcesSha256,
    separateSourcesSha256: separate,
    contracts,
  };
  return { json: `${canonicalJson(artifacts, 2)}\n`, ts: renderTs(artifacts), warnings };
}

/** JSON with object keys sorted at every depth (array order is kept: it is meaningful). */
function canonicalJson(value: unknown, indent?: number): string {
  return JSON.stringify(sortKeys(value), null, indent);
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return Object.fromEntries(entries.map(([k, v]) => [k, sortKeys(v)]));
  }
  return value;
}

function lowerFirst(name: string): string {
  return name[0].toLowerCase() + name.slice(1);
}

function renderTs(
  artifacts: {
    solcVersion: string;
    sourcesSha256: string;
    separateSourcesSha256: Record<string, string>;
    contracts: Record<string, unknown>;
  },
): string {
  const lines = [
    "// deno-fmt-ignore-file",
    "/**",
    " * GENERATED by `deno task contracts` (scripts/compile-contracts.ts) — do not edit.",
    " * ABIs `as const` so that viem infers function and event types; bytecode for deployment.",
    " *",
    " * @module",
    " */",
    "",
    "/** The solc-js version that produced these artifacts. */",
    `export const SOLC_VERSION = ${JSON.stringify(artifacts.solcVersion)};`,
    "",
    "/** sha256 over the contract sources (see scripts/compile-contracts.ts). */",
    `export const SOURCES_SHA256 = ${JSON.stringify(artifacts.sourcesSha256)};`,
    "",
    "/** sha256 of each contract deployed on its own (see SEPARATE_SOURCES). */",
    `export const SEPARATE_SOURCES_SHA256 = ${
      canonicalJson(artifacts.separateSourcesSha256)
    } as const;`,
  ];
  for (const name of CONTRACT_NAMES) {
    const c = artifacts.contracts[name] as { abi: unknown; bytecode: string };
    lines.push(
      "",
      `/** ABI of ${name}. */`,
      `export const ${lowerFirst(name)}Abi = ${canonicalJson(c.abi, 2)} as const;`,
      "",
      `/** Creation bytecode of ${name}. */`,
      `export const ${lowerFirst(name)}Bytecode = ${JSON.stringify(c.bytecode)} as const;`,
    );
  }
  lines.push(
    "",
    "/** Every contract's ABI and creation bytecode, by contract name. */",
    "export const ARTIFACTS = {",
    ...CONTRACT_NAMES.map((n) =>
      `  ${n}: { abi: ${lowerFirst(n)}Abi, bytecode: ${lowerFirst(n)}Bytecode },`
    ),
    "} as const;",
    "",
  );
  return lines.join("\n");
}

if (import.meta.main) {
  const started = performance.now();
  const { json, ts, warnings } = await compileContracts();
  for (const w of warnings) console.warn(w);
  const root = fileURLToPath(REPO);
  await Deno.mkdir(`${root}lib/chain`, { recursive: true });
  await Deno.writeTextFile(`${root}${ARTIFACT_FILES.json}`, json);
  await Deno.writeTextFile(`${root}${ARTIFACT_FILES.ts}`, ts);
  console.log(
    `compiled ${CONTRACT_NAMES.length} contracts with solc ${solc.version()} in ${
      Math.round(performance.now() - started)
    } ms: ${ARTIFACT_FILES.json}, ${ARTIFACT_FILES.ts}`,
  );
}
