/**
 * The Agents pages' pure parts without a browser: the page model (order, next free generation,
 * no scope), the Add an agent form check, the services field, the key file's format and what a
 * chain refusal says.
 */

import { BaseError, ContractFunctionExecutionError, ContractFunctionRevertedError } from "viem";
import { assert, assertEquals, assertMatch } from "../support/assert.ts";
import { agentsModel, type MeAgent, shortHash } from "../../routes/pages/agents.tsx";
import {
  chainFailure,
  checkAddAgent,
  contractErrorName,
  keyFileName,
  keyFileText,
  parseServices,
} from "../../islands/_agents.ts";
import { ApiAnswerError } from "../../islands/_api.ts";
import { agentRegistryAbi } from "../../lib/chain/artifacts.ts";
import { encodeErrorResult } from "viem";

const viewer = { address: "0x00000000000000000000000000000000000000aa", isAdmin: false };
const agent = (label: string, generation: number, services: string[] = []): MeAgent => ({
  actor_omni: `0x${String(generation).padStart(64, label.length.toString(16))}`,
  label,
  generation,
  device_key_hash: `0x${"d".repeat(64)}`,
  revoked: generation === 0 && label === "mail-bot",
  registered_at: "2026-03-02T14:05:00.000Z",
  scope: { services, read_only: false },
});

Deno.test("agents model: by label, newest generation first; the next free generation per label; no services is no scope", () => {
  const model = agentsModel({
    viewer,
    operatorOmni: `0x${"1".repeat(64)}`,
    agents: [agent("zeta", 0, ["openai"]), agent("mail-bot", 0), agent("mail-bot", 2)],
  });
  assertEquals(model.agents.map((a) => [a.label, a.generation]), [
    ["mail-bot", 2],
    ["mail-bot", 0],
    ["zeta", 0],
  ]);
  assertEquals(model.nextGeneration, { "mail-bot": 3, zeta: 1 });
  assertEquals(model.agents[2].scope, { services: ["openai"], readOnly: false });
  assertEquals(model.agents[0].scope, null);
  assertEquals(model.agents[1].revoked, true);
  assertEquals(shortHash(`0x${"ab".repeat(32)}`), "0xabab…abab");
});

Deno.test("add agent form: label, generation, pasted address and proof are checked before the wallet", () => {
  const base = {
    label: "mail-bot",
    generation: "0",
    mode: "generate" as const,
    address: "",
    pop: "",
  };
  assertEquals(checkAddAgent(base), {
    ok: true,
    label: "mail-bot",
    generation: 0,
    device: { kind: "generate" },
  });
  for (const label of ["", "Mail", "a_b", "x".repeat(33)]) {
    const r = checkAddAgent({ ...base, label });
    assertEquals(r.ok ? "ok" : r.field, "label", label);
  }
  for (const generation of ["", "-1", "1.5", "two"]) {
    const r = checkAddAgent({ ...base, generation });
    assertEquals(r.ok ? "ok" : r.field, "generation", generation);
  }
  const paste = { ...base, mode: "paste" as const };
  const address = "0x" + "ab".repeat(20);
  const pop = "0x" + "cd".repeat(65);
  const bad = checkAddAgent({ ...paste, address: "0x1234", pop });
  assertEquals(bad.ok ? "ok" : bad.field, "address");
  const badPop = checkAddAgent({ ...paste, address, pop: "0x1234" });
  assertEquals(badPop.ok ? "ok" : badPop.field, "pop");
  assertEquals(checkAddAgent({ ...paste, address: ` ${address} `, pop }), {
    ok: true,
    label: "mail-bot",
    generation: 0,
    device: { kind: "paste", address, pop },
  });
});

Deno.test("services field: commas or spaces, duplicates once, the one name rule", () => {
  assertEquals(parseServices("openai, github  openai"), { services: ["openai", "github"] });
  assertEquals(parseServices("  "), { services: [] });
  const bad = parseServices("openai, Open AI, a..b");
  assert("error" in bad);
  assertMatch(bad.error, /^Not a service name: Open, AI, a\.\.b\./);
});

Deno.test("device key file: agent add's name and format", () => {
  assertEquals(keyFileName("mail-bot", 2), "mail-bot-2.key");
  assertEquals(keyFileText(`0x${"a".repeat(64)}`), `0x${"a".repeat(64)}\n`);
});

Deno.test("chain failures: the contract's error name in words, a declined wallet, the service's refusal", () => {
  const reverted = new ContractFunctionExecutionError(
    new ContractFunctionRevertedError({
      abi: agentRegistryAbi,
      functionName: "registerAgent",
      data: encodeErrorResult({
        abi: agentRegistryAbi,
        errorName: "InvalidDeviceProof",
        args: [`0x${"0".repeat(63)}1`],
      }),
    }),
    { abi: agentRegistryAbi, functionName: "registerAgent", args: [] },
  );
  assertEquals(contractErrorName(reverted), "InvalidDeviceProof");
  assertMatch(
    chainFailure(reverted, "registration"),
    /^The chain refused the registration \(InvalidDeviceProof\): The device's proof does not match/,
  );
  assertEquals(
    chainFailure(Object.assign(new Error("User rejected"), { code: 4001 }), "revocation"),
    "You declined the revocation in your wallet, so nothing was sent.",
  );
  assertEquals(
    chainFailure(new ApiAnswerError(403, "agent_not_revoked", "revoke it first"), "purge"),
    "The service refused the purge: revoke it first",
  );
  assertMatch(
    chainFailure(new BaseError("connection lost"), "scope change"),
    /^The scope change failed: connection lost/,
  );
  assertEquals(contractErrorName(new Error("plain")), undefined);
});
