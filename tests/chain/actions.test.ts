// The typed chain actions (lib/chain/actions) against a test anvil: each lands, each refusal
// surfaces as viem's ContractFunctionRevertedError with the contract's error name before any
// transaction is sent, and the entry stays browser-safe.
import { fileURLToPath } from "node:url";
import { BaseError, ContractFunctionRevertedError, type Hex } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { registerAgent, revokeAgent, revokeScope, setScope } from "../../lib/chain/actions/mod.ts";
import { deviceKeyHash, serviceHash, signDevicePop } from "../../lib/identity/mod.ts";
import { assert, assertEquals } from "../support/assert.ts";
import { mined, startTestChain, type TestChain, type TestWallet } from "../support/chain.ts";

/** Expects a simulated refusal named `errorName`, and that the sender's nonce did not move. */
async function refused(
  chain: TestChain,
  sender: TestWallet,
  send: () => Promise<unknown>,
  errorName: string,
): Promise<readonly unknown[]> {
  const nonce = await chain.publicClient.getTransactionCount({ address: sender.address });
  const err = await send().then(() => undefined, (e: unknown) => e);
  assert(err instanceof BaseError, `expected a viem error, got ${String(err)}`);
  const revert = err.walk((e) => e instanceof ContractFunctionRevertedError);
  assert(revert instanceof ContractFunctionRevertedError, String(err));
  assertEquals(revert.data?.errorName, errorName);
  // Simulated first: the refusal costs no transaction.
  assertEquals(await chain.publicClient.getTransactionCount({ address: sender.address }), nonce);
  return revert.data?.args ?? [];
}

async function popFor(chain: TestChain, op: TestWallet, label: string, key: Hex, generation = 0) {
  return await signDevicePop(privateKeyToAccount(key), {
    chainId: chain.chainId,
    registry: chain.addresses.AgentRegistry,
    operatorOmni: op.omni,
    label,
    generation,
  });
}

Deno.test("actions: registerAgent, setScope, revokeScope, revokeAgent land on chain", async () => {
  await using chain = await startTestChain();
  const op = await chain.newWallet();
  const key = generatePrivateKey();
  const hash = deviceKeyHash(privateKeyToAccount(key).address);
  await mined(
    chain,
    await registerAgent(op.wallet, {
      address: chain.addresses.AgentRegistry,
      label: "mail-bot",
      generation: 0,
      deviceKeyHash: hash,
      devicePop: await popFor(chain, op, "mail-bot", key),
    }),
  );
  const device = await chain.client.getDevice(hash);
  assert(device !== null && !device.revoked);
  assertEquals(device.operatorOmni, op.omni);
  assertEquals(device.label, "mail-bot");

  await mined(
    chain,
    await setScope(op.wallet, {
      address: chain.addresses.ScopeRegistry,
      actorOmni: device.actorOmni,
      serviceHashes: ["openai", "github"].map(serviceHash),
      readOnly: true,
    }),
  );
  assertEquals(
    await chain.client.isServiceInScope(op.omni, device.actorOmni, serviceHash("openai")),
    {
      allowed: true,
      readOnly: true,
    },
  );

  await mined(
    chain,
    await revokeScope(op.wallet, {
      address: chain.addresses.ScopeRegistry,
      actorOmni: device.actorOmni,
    }),
  );
  assertEquals((await chain.client.getScope(op.omni, device.actorOmni)).serviceHashes, []);

  await mined(
    chain,
    await revokeAgent(op.wallet, { address: chain.addresses.AgentRegistry, deviceKeyHash: hash }),
  );
  assertEquals((await chain.client.getDevice(hash))?.revoked, true);
});

Deno.test("actions: registerAgent refuses a proof for another label or from another key (InvalidDeviceProof)", async () => {
  await using chain = await startTestChain();
  const op = await chain.newWallet();
  const key = generatePrivateKey();
  const hash = deviceKeyHash(privateKeyToAccount(key).address);
  const register = (devicePop: Hex) =>
    registerAgent(op.wallet, {
      address: chain.addresses.AgentRegistry,
      label: "mail-bot",
      generation: 0,
      deviceKeyHash: hash,
      devicePop,
    });
  const otherLabel = await popFor(chain, op, "other-bot", key);
  const otherKey = await popFor(chain, op, "mail-bot", generatePrivateKey());
  const valid = await popFor(chain, op, "mail-bot", key);
  const args = await refused(
    chain,
    op,
    () => register(otherLabel),
    "InvalidDeviceProof",
  );
  assertEquals(args, [hash]);
  await refused(
    chain,
    op,
    () => register(otherKey),
    "InvalidDeviceProof",
  );
  await refused(
    chain,
    op,
    () =>
      registerAgent(op.wallet, {
        address: chain.addresses.AgentRegistry,
        label: "Mail",
        generation: 0,
        deviceKeyHash: hash,
        devicePop: valid,
      }),
    "InvalidLabel",
  );
  assertEquals(await chain.client.getDevice(hash), null);
});

Deno.test("actions: another operator cannot revoke, scope or unscope an agent (NotDeviceOperator, NotYourAgent)", async () => {
  await using chain = await startTestChain();
  const op = await chain.newWallet();
  const stranger = await chain.newWallet();
  const key = generatePrivateKey();
  const hash = deviceKeyHash(privateKeyToAccount(key).address);
  await mined(
    chain,
    await registerAgent(op.wallet, {
      address: chain.addresses.AgentRegistry,
      label: "mail-bot",
      generation: 0,
      deviceKeyHash: hash,
      devicePop: await popFor(chain, op, "mail-bot", key),
    }),
  );
  const actorOmni = (await chain.client.getDevice(hash))!.actorOmni;
  const args = await refused(
    chain,
    stranger,
    () =>
      revokeAgent(stranger.wallet, { address: chain.addresses.AgentRegistry, deviceKeyHash: hash }),
    "NotDeviceOperator",
  );
  assertEquals(args, [hash, stranger.omni]);
  await refused(
    chain,
    stranger,
    () =>
      setScope(stranger.wallet, {
        address: chain.addresses.ScopeRegistry,
        actorOmni,
        serviceHashes: [serviceHash("openai")],
        readOnly: false,
      }),
    "NotYourAgent",
  );
  await refused(
    chain,
    op,
    () => revokeScope(op.wallet, { address: chain.addresses.ScopeRegistry, actorOmni }),
    "NoScope",
  );
  await refused(
    chain,
    op,
    () =>
      setScope(op.wallet, {
        address: chain.addresses.ScopeRegistry,
        actorOmni,
        serviceHashes: [serviceHash("openai"), serviceHash("openai")],
        readOnly: false,
      }),
    "DuplicateService",
  );
  await mined(
    chain,
    await revokeAgent(op.wallet, { address: chain.addresses.AgentRegistry, deviceKeyHash: hash }),
  );
  await refused(
    chain,
    op,
    () => revokeAgent(op.wallet, { address: chain.addresses.AgentRegistry, deviceKeyHash: hash }),
    "AgentAlreadyRevoked",
  );
  await refused(
    chain,
    op,
    () =>
      setScope(op.wallet, {
        address: chain.addresses.ScopeRegistry,
        actorOmni,
        serviceHashes: [],
        readOnly: false,
      }),
    "AgentIsRevoked",
  );
  assertEquals((await chain.client.getDevice(hash))?.revoked, true);
});

Deno.test("actions: the entry is browser-safe (viem, lib/identity and the ABIs only; no Deno or node: APIs)", async () => {
  const entry = fileURLToPath(new URL("../../lib/chain/actions/mod.ts", import.meta.url));
  const info = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", entry],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert(info.success, new TextDecoder().decode(info.stderr));
  const graph = JSON.parse(new TextDecoder().decode(info.stdout)) as {
    modules: { specifier: string }[];
  };
  const root = new URL("../../", import.meta.url).href;
  const allowed = [
    `${root}lib/chain/actions/`,
    `${root}lib/chain/artifacts.ts`,
    `${root}lib/identity/`,
  ];
  const local: string[] = [];
  for (const { specifier } of graph.modules) {
    if (specifier.startsWith("npm:")) {
      assert(/^npm:\/?viem@/.test(specifier), `only viem from npm: ${specifier}`);
      continue;
    }
    assert(allowed.some((a) => specifier.startsWith(a)), `not browser-safe: ${specifier}`);
    local.push(specifier);
  }
  assert(local.length >= 6, local.join(", "));
  for (const specifier of local) {
    const source = await Deno.readTextFile(new URL(specifier));
    assert(!/\bDeno\.|from "node:/.test(source), `${specifier} uses a Deno or node: API`);
  }
});
