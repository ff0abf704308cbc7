/**
 * The checked-in artifacts must be exactly what `deno task contracts` produces from the current
 * sources: recompile (solc-js, about a second) and compare byte for byte.
 */

import { assert, assertEquals } from "../support/assert.ts";
import { ARTIFACT_FILES, compileContracts } from "../../scripts/compile-contracts.ts";
import { ARTIFACTS, SOLC_VERSION, SOURCES_SHA256 } from "../../lib/chain/artifacts.ts";

const root = new URL("../../", import.meta.url);

Deno.test("lib/chain/artifacts.{json,ts} are up to date with contracts/*.sol", async () => {
  const fresh = await compileContracts();
  assertEquals(fresh.warnings, [], "solc warnings in contracts/");
  for (const kind of ["json", "ts"] as const) {
    const onDisk = await Deno.readTextFile(new URL(ARTIFACT_FILES[kind], root));
    if (onDisk !== fresh[kind]) {
      throw new Error(`${ARTIFACT_FILES[kind]} is stale: run \`deno task contracts\``);
    }
  }
});

Deno.test("the sources hash follows the sources", async () => {
  // (Determinism itself is what the test above checks: the files on disk came from another run.)
  // A copy of contracts/ with one comment changed must give another sources hash.
  const dir = await Deno.makeTempDir({ prefix: "agentkeys-contracts-" });
  try {
    for await (const e of Deno.readDir(new URL("contracts/", root))) {
      let text = await Deno.readTextFile(new URL(`contracts/${e.name}`, root));
      if (e.name === "AuditAnchor.sol") text += "\n// changed\n";
      await Deno.writeTextFile(`${dir}/${e.name}`, text);
    }
    const changed = await compileContracts(new URL(`file://${dir}/`));
    const parsed = JSON.parse(changed.json);
    assert(parsed.sourcesSha256 !== SOURCES_SHA256, "sources hash ignores a source change");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the generated module matches the JSON artifact", async () => {
  const json = JSON.parse(await Deno.readTextFile(new URL(ARTIFACT_FILES.json, root)));
  assertEquals(json.solcVersion, SOLC_VERSION);
  assertEquals(json.sourcesSha256, SOURCES_SHA256);
  assert(SOLC_VERSION.startsWith("0.8.37+"), `unexpected solc ${SOLC_VERSION}`);
  for (const [name, artifact] of Object.entries(ARTIFACTS)) {
    assertEquals(artifact.abi, json.contracts[name].abi, `${name} ABI`);
    assertEquals(artifact.bytecode, json.contracts[name].bytecode, `${name} bytecode`);
    assert(/^0x[0-9a-f]{200,}$/.test(artifact.bytecode), `${name} has no bytecode`);
  }
});
