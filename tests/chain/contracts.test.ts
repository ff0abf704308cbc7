/**
 * The four identity contracts on a fresh anvil: every function, every revert path, every event.
 * Operators are generated keys funded with anvil_setBalance; governance is the deployer.
 */

import { type Hex, hexToString, parseEventLogs, zeroAddress, zeroHash } from "viem";
import { generatePrivateKey, type LocalAccount, privateKeyToAccount } from "viem/accounts";
import { assert, assertEquals, assertRejects } from "../support/assert.ts";
import { ChainRevertError } from "../../lib/chain/_client.ts";
import {
  agentRegistryAbi,
  auditAnchorAbi,
  auditAnchorBytecode,
  k3EpochCounterAbi,
  k3EpochCounterBytecode,
  scopeRegistryAbi,
} from "../../lib/chain/artifacts.ts";
import {
  agentActorOmni,
  deviceKeyHash,
  devicePopMessage,
  serviceHash,
  signDevicePop,
} from "../../lib/identity/mod.ts";
import {
  expectRevert,
  mined,
  registerAgent,
  revokeAgent,
  revokeScope,
  setScope,
  startTestChain,
  type TestChain,
  type TestWallet,
} from "../support/chain.ts";

const by = (w: TestWallet) => ({ account: w.account, chain: w.wallet.chain });
const newDeviceHash = () => deviceKeyHash(privateKeyToAccount(generatePrivateKey()).address);
const newDevice = () => privateKeyToAccount(generatePrivateKey());

/** The device's valid proof for this registration (what the CLI and console send). */
function popFor(chain: TestChain, w: TestWallet, device: LocalAccount, label: string, gen: number) {
  return signDevicePop(device, {
    chainId: w.wallet.chain!.id,
    registry: chain.addresses.AgentRegistry,
    operatorOmni: w.omni,
    label,
    generation: gen,
  });
}

function getDevice(chain: TestChain, hash: `0x${string}`) {
  return chain.publicClient.readContract({
    address: chain.addresses.AgentRegistry,
    abi: agentRegistryAbi,
    functionName: "getDevice",
    args: [hash],
  });
}

/**
 * Sends registerAgent unchecked. A device account signs a valid proof; a bare hash goes with
 * `pop` (default: none), for the reverts that come before or from the proof check.
 */
async function registerRaw(
  chain: TestChain,
  w: TestWallet,
  label: string,
  gen: number,
  device: `0x${string}` | LocalAccount,
  pop: Hex = "0x",
) {
  const isHash = typeof device === "string";
  return await w.wallet.writeContract({
    ...by(w),
    address: chain.addresses.AgentRegistry,
    abi: agentRegistryAbi,
    functionName: "registerAgent",
    args: [
      label,
      gen,
      isHash ? device : deviceKeyHash(device.address),
      isHash ? pop : await popFor(chain, w, device, label, gen),
    ],
  });
}

function setScopeRaw(
  chain: TestChain,
  w: TestWallet,
  actor: `0x${string}`,
  hashes: `0x${string}`[],
  readOnly = false,
) {
  return w.wallet.writeContract({
    ...by(w),
    address: chain.addresses.ScopeRegistry,
    abi: scopeRegistryAbi,
    functionName: "setScope",
    args: [actor, hashes, readOnly],
  });
}

function inScope(chain: TestChain, op: `0x${string}`, actor: `0x${string}`, service: string) {
  return chain.publicClient.readContract({
    address: chain.addresses.ScopeRegistry,
    abi: scopeRegistryAbi,
    functionName: "isServiceInScope",
    args: [op, actor, serviceHash(service)],
  });
}

function getScope(chain: TestChain, op: `0x${string}`, actor: `0x${string}`) {
  return chain.publicClient.readContract({
    address: chain.addresses.ScopeRegistry,
    abi: scopeRegistryAbi,
    functionName: "getScope",
    args: [op, actor],
  });
}

Deno.test("AgentRegistry: registerAgent stores the device, lists it, returns and emits the actor omni", async () => {
  await using chain = await startTestChain();
  const op = await chain.newWallet();
  const device = newDevice();
  const hash = deviceKeyHash(device.address);
  const expectedActor = agentActorOmni(op.omni, "mail-bot", 3);

  const { result } = await chain.publicClient.simulateContract({
    ...by(op),
    address: chain.addresses.AgentRegistry,
    abi: agentRegistryAbi,
    functionName: "registerAgent",
    args: ["mail-bot", 3, hash, await popFor(chain, op, device, "mail-bot", 3)],
  });
  assertEquals(result, expectedActor);

  const receipt = await mined(chain, await registerRaw(chain, op, "mail-bot", 3, device));
  const block = await chain.publicClient.getBlock({ blockNumber: receipt.blockNumber });
  const events = parseEventLogs({ abi: agentRegistryAbi, logs: receipt.logs });
  assertEquals(events.length, 1);
  assertEquals(events[0].eventName, "AgentRegistered");
  assertEquals(events[0].args, {
    operatorOmni: op.omni,
    actorOmni: expectedActor,
    deviceKeyHash: hash,
    label: "mail-bot",
    generation: 3,
  });

  assertEquals(await getDevice(chain, hash), [
    op.omni,
    expectedActor,
    "mail-bot",
    3,
    false,
    block.timestamp,
  ]);
  const second = await registerAgent(chain, op, "mail-bot", 4);
  assertEquals(
    await chain.publicClient.readContract({
      address: chain.addresses.AgentRegistry,
      abi: agentRegistryAbi,
      functionName: "agentsOf",
      args: [op.omni],
    }),
    [hash, second.deviceKeyHash],
  );
  assertEquals(
    await chain.publicClient.readContract({
      address: chain.addresses.AgentRegistry,
      abi: agentRegistryAbi,
      functionName: "agentByActor",
      args: [expectedActor],
    }),
    [op.omni, hash, false],
  );
  assertEquals(
    await chain.publicClient.readContract({
      address: chain.addresses.AgentRegistry,
      abi: agentRegistryAbi,
      functionName: "masterWalletOf",
      args: [op.omni],
    }),
    op.address,
  );
  // Unknown device and operator: zeros and an empty list, not a revert.
  assertEquals(await getDevice(chain, newDeviceHash()), [zeroHash, zeroHash, "", 0, false, 0n]);
  const stranger = await chain.newWallet();
  assertEquals(
    await chain.publicClient.readContract({
      address: chain.addresses.AgentRegistry,
      abi: agentRegistryAbi,
      functionName: "agentsOf",
      args: [stranger.omni],
    }),
    [],
  );
  // Indexed fields: the event is findable by operator omni and by device hash.
  const byOperator = await chain.publicClient.getContractEvents({
    address: chain.addresses.AgentRegistry,
    abi: agentRegistryAbi,
    eventName: "AgentRegistered",
    args: { operatorOmni: op.omni },
    fromBlock: 0n,
  });
  assertEquals(byOperator.map((e) => e.args.deviceKeyHash), [hash, second.deviceKeyHash]);
  const byDevice = await chain.publicClient.getContractEvents({
    address: chain.addresses.AgentRegistry,
    abi: agentRegistryAbi,
    eventName: "AgentRegistered",
    args: { deviceKeyHash: second.deviceKeyHash },
    fromBlock: 0n,
  });
  assertEquals(byDevice.map((e) => e.args.generation), [4]);
});

Deno.test("AgentRegistry: registerAgent reverts on bad labels, zero or reused device hashes, reused actors", async () => {
  await using chain = await startTestChain();
  const op = await chain.newWallet();
  const other = await chain.newWallet();
  for (const label of ["", "Bot", "bot_1", "bot.1", "bot 1", "x".repeat(33), "bot/0", "ä"]) {
    const [arg] = await expectRevert(
      registerRaw(chain, op, label, 0, newDeviceHash()),
      "InvalidLabel",
    );
    assertEquals(arg, label);
  }
  // The boundaries of the label pattern are accepted.
  await registerAgent(chain, op, "x".repeat(32));
  await registerAgent(chain, op, "0-9");
  await expectRevert(registerRaw(chain, op, "bot", 0, zeroHash), "ZeroDeviceKeyHash");

  const agent = await registerAgent(chain, op, "bot", 0);
  for (const who of [op, other]) {
    const [arg] = await expectRevert(
      registerRaw(chain, who, "fresh", 0, agent.deviceKeyHash),
      "DeviceAlreadyRegistered",
    );
    assertEquals(arg, agent.deviceKeyHash);
  }
  const [actor] = await expectRevert(
    registerRaw(chain, op, "bot", 0, newDevice()),
    "AgentAlreadyRegistered",
  );
  assertEquals(actor, agent.actorOmni);
  // Another operator may use the same label and generation: its actor omni differs.
  const theirs = await registerAgent(chain, other, "bot", 0);
  assert(theirs.actorOmni !== agent.actorOmni);
});

Deno.test("AgentRegistry: registerAgent needs the device's own proof for this very registration", async () => {
  await using chain = await startTestChain();
  const op = await chain.newWallet();
  const other = await chain.newWallet();
  const device = newDevice();
  const hash = deviceKeyHash(device.address);
  const pop = (p: Partial<Parameters<typeof devicePopMessage>[0]>, signer = device) =>
    signer.signMessage({
      message: devicePopMessage({
        chainId: op.wallet.chain!.id,
        registry: chain.addresses.AgentRegistry,
        operatorOmni: op.omni,
        label: "bot",
        generation: 0,
        ...p,
      }),
    });

  // The contract builds exactly the message the clients sign.
  const onChain = await chain.publicClient.readContract({
    address: chain.addresses.AgentRegistry,
    abi: agentRegistryAbi,
    functionName: "devicePopMessage",
    args: [op.omni, "bot", 7],
  });
  assertEquals(
    hexToString(onChain),
    devicePopMessage({
      chainId: op.wallet.chain!.id,
      registry: chain.addresses.AgentRegistry,
      operatorOmni: op.omni,
      label: "bot",
      generation: 7,
    }),
  );

  const good = await pop({});
  // The squat the review reproduced: a hash registered with no proof, or with a proof by
  // another key, or a valid proof that was made for another registration.
  const refusals: [string, Hex][] = [
    ["no proof", "0x"],
    ["truncated", good.slice(0, 130) as Hex],
    ["another key", await pop({}, newDevice())],
    ["another label", await pop({ label: "bot2" })],
    ["another generation", await pop({ generation: 1 })],
    ["another operator", await pop({ operatorOmni: other.omni })],
    ["another chain", await pop({ chainId: 1 })],
    ["another registry", await pop({ registry: zeroAddress })],
    ["malleable twin", malleate(good)],
  ];
  for (const [why, bad] of refusals) {
    const [arg] = await expectRevert(
      registerRaw(chain, op, "bot", 0, hash, bad),
      "InvalidDeviceProof",
    ).catch((err) => {
      throw new Error(`${why}: ${err.message}`);
    });
    assertEquals(arg, hash, why);
  }
  // Another operator cannot use a proof the device gave to `op`.
  await expectRevert(registerRaw(chain, other, "bot", 0, hash, good), "InvalidDeviceProof");
  await mined(chain, await registerRaw(chain, op, "bot", 0, hash, good));
  assertEquals((await getDevice(chain, hash)).slice(0, 3), [
    op.omni,
    agentActorOmni(op.omni, "bot", 0),
    "bot",
  ]);
});

/** The same signature with s' = n - s and the other v: valid for ecrecover, refused by EIP-2. */
function malleate(sig: Hex): Hex {
  const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
  const s = BigInt("0x" + sig.slice(66, 130));
  const v = parseInt(sig.slice(130, 132), 16);
  return `${sig.slice(0, 66)}${(n - s).toString(16).padStart(64, "0")}${
    (v === 27 ? 28 : 27).toString(16)
  }` as Hex;
}

Deno.test("AgentRegistry: revokeAgent by the operator only, once; revocation is final", async () => {
  await using chain = await startTestChain();
  const op = await chain.newWallet();
  const other = await chain.newWallet();
  const agent = await registerAgent(chain, op, "bot", 0);

  const [device, caller] = await expectRevert(
    other.wallet.writeContract({
      ...by(other),
      address: chain.addresses.AgentRegistry,
      abi: agentRegistryAbi,
      functionName: "revokeAgent",
      args: [agent.deviceKeyHash],
    }),
    "NotDeviceOperator",
  );
  assertEquals([device, caller], [agent.deviceKeyHash, other.omni]);
  const unknown = newDeviceHash();
  const [arg] = await expectRevert(revokeAgent(chain, op, unknown), "UnknownDevice");
  assertEquals(arg, unknown);

  const receipt = await revokeAgent(chain, op, agent.deviceKeyHash);
  const [event] = parseEventLogs({ abi: agentRegistryAbi, logs: receipt.logs });
  assertEquals(event.eventName, "AgentRevoked");
  assertEquals(event.args, {
    operatorOmni: op.omni,
    actorOmni: agent.actorOmni,
    deviceKeyHash: agent.deviceKeyHash,
  });
  const record = await getDevice(chain, agent.deviceKeyHash);
  assertEquals(record[4], true);
  assertEquals(record.slice(0, 4), [op.omni, agent.actorOmni, "bot", 0]);

  await expectRevert(revokeAgent(chain, op, agent.deviceKeyHash), "AgentAlreadyRevoked");
  // Neither the device hash nor the actor omni comes back; the next generation does.
  await expectRevert(
    registerRaw(chain, op, "bot", 1, agent.deviceKeyHash),
    "DeviceAlreadyRegistered",
  );
  await expectRevert(registerRaw(chain, op, "bot", 0, newDevice()), "AgentAlreadyRegistered");
  const reissued = await registerAgent(chain, op, "bot", 1);
  assertEquals(reissued.actorOmni, agentActorOmni(op.omni, "bot", 1));
});

Deno.test("ScopeRegistry: setScope stores, answers isServiceInScope, replaces, and emits", async () => {
  await using chain = await startTestChain();
  const op = await chain.newWallet();
  const agent = await registerAgent(chain, op, "bot");
  assertEquals(
    await chain.publicClient.readContract({
      address: chain.addresses.ScopeRegistry,
      abi: scopeRegistryAbi,
      functionName: "registry",
    }).then((a) => a.toLowerCase()),
    chain.addresses.AgentRegistry.toLowerCase(),
  );
  // Never set: empty, and nothing in scope.
  assertEquals(await getScope(chain, op.omni, agent.actorOmni), [[], false, 0n]);
  assertEquals(await inScope(chain, op.omni, agent.actorOmni, "openai"), [false, false]);

  const receipt = await setScope(chain, op, agent.actorOmni, ["openai", "github"], true);
  const block = await chain.publicClient.getBlock({ blockNumber: receipt.blockNumber });
  const [event] = parseEventLogs({ abi: scopeRegistryAbi, logs: receipt.logs });
  assertEquals(event.eventName, "ScopeSet");
  assertEquals(event.args, {
    operatorOmni: op.omni,
    actorOmni: agent.actorOmni,
    serviceHashes: [serviceHash("openai"), serviceHash("github")],
    readOnly: true,
  });
  assertEquals(await getScope(chain, op.omni, agent.actorOmni), [
    [serviceHash("openai"), serviceHash("github")],
    true,
    block.timestamp,
  ]);
  assertEquals(await inScope(chain, op.omni, agent.actorOmni, "openai"), [true, true]);
  assertEquals(await inScope(chain, op.omni, agent.actorOmni, "github"), [true, true]);
  assertEquals(await inScope(chain, op.omni, agent.actorOmni, "slack"), [false, false]);
  // Asked under another operator's omni: not in scope.
  const other = await chain.newWallet();
  assertEquals(await inScope(chain, other.omni, agent.actorOmni, "openai"), [false, false]);

  // A new setScope replaces the old list entirely (old entries are not left behind).
  await setScope(chain, op, agent.actorOmni, ["slack"], false);
  assertEquals(await inScope(chain, op.omni, agent.actorOmni, "openai"), [false, false]);
  assertEquals(await inScope(chain, op.omni, agent.actorOmni, "slack"), [true, false]);
  // An empty list is allowed: a pause.
  await setScope(chain, op, agent.actorOmni, [], false);
  assertEquals(await inScope(chain, op.omni, agent.actorOmni, "slack"), [false, false]);
  assertEquals((await getScope(chain, op.omni, agent.actorOmni))[0], []);
  // The bound is inclusive.
  const many = Array.from({ length: 128 }, (_, i) => `svc-${i}`);
  await setScope(chain, op, agent.actorOmni, many, false);
  assertEquals(await inScope(chain, op.omni, agent.actorOmni, "svc-127"), [true, false]);
});

Deno.test("ScopeRegistry: setScope reverts for others' agents, unknown actors, revoked agents, bad lists", async () => {
  await using chain = await startTestChain();
  const op = await chain.newWallet();
  const other = await chain.newWallet();
  const agent = await registerAgent(chain, op, "bot");
  const openai = serviceHash("openai");

  const [actor, caller] = await expectRevert(
    setScopeRaw(chain, other, agent.actorOmni, [openai]),
    "NotYourAgent",
  );
  assertEquals([actor, caller], [agent.actorOmni, other.omni]);
  await expectRevert(
    setScopeRaw(chain, op, agentActorOmni(op.omni, "never", 0), [openai]),
    "NotYourAgent",
  );
  // The operator itself is an actor, but not a registered agent: no scope for it here.
  await expectRevert(setScopeRaw(chain, op, op.omni, [openai]), "NotYourAgent");

  const [count, max] = await expectRevert(
    setScopeRaw(chain, op, agent.actorOmni, Array.from({ length: 129 }, () => openai)),
    "TooManyServices",
  );
  assertEquals([count, max], [129n, 128n]);
  await expectRevert(
    setScopeRaw(chain, op, agent.actorOmni, [openai, zeroHash]),
    "ZeroServiceHash",
  );
  const [dup] = await expectRevert(
    setScopeRaw(chain, op, agent.actorOmni, [openai, serviceHash("x"), openai]),
    "DuplicateService",
  );
  assertEquals(dup, openai);

  await revokeAgent(chain, op, agent.deviceKeyHash);
  const [revoked] = await expectRevert(
    setScopeRaw(chain, op, agent.actorOmni, [openai]),
    "AgentIsRevoked",
  );
  assertEquals(revoked, agent.actorOmni);
});

Deno.test("ScopeRegistry: revokeScope clears, emits, refuses others and empty scopes; revoked agents are out of scope", async () => {
  await using chain = await startTestChain();
  const op = await chain.newWallet();
  const other = await chain.newWallet();
  const agent = await registerAgent(chain, op, "bot");
  const revokeRaw = (w: TestWallet) =>
    w.wallet.writeContract({
      ...by(w),
      address: chain.addresses.ScopeRegistry,
      abi: scopeRegistryAbi,
      functionName: "revokeScope",
      args: [agent.actorOmni],
    });

  const [noScope] = await expectRevert(revokeRaw(op), "NoScope");
  assertEquals(noScope, agent.actorOmni);
  await setScope(chain, op, agent.actorOmni, ["openai"], true);
  await expectRevert(revokeRaw(other), "NotYourAgent");

  const receipt = await revokeScope(chain, op, agent.actorOmni);
  const block = await chain.publicClient.getBlock({ blockNumber: receipt.blockNumber });
  const [event] = parseEventLogs({ abi: scopeRegistryAbi, logs: receipt.logs });
  assertEquals(event.eventName, "ScopeRevoked");
  assertEquals(event.args, { operatorOmni: op.omni, actorOmni: agent.actorOmni });
  assertEquals(await getScope(chain, op.omni, agent.actorOmni), [[], false, block.timestamp]);
  assertEquals(await inScope(chain, op.omni, agent.actorOmni, "openai"), [false, false]);
  await expectRevert(revokeRaw(op), "NoScope");

  // A scope set again after a revocation works as before.
  await setScope(chain, op, agent.actorOmni, ["openai"], false);
  assertEquals(await inScope(chain, op.omni, agent.actorOmni, "openai"), [true, false]);

  // Revoking the agent takes it out of scope at once, though the stored scope remains (history).
  await revokeAgent(chain, op, agent.deviceKeyHash);
  assertEquals(await inScope(chain, op.omni, agent.actorOmni, "openai"), [false, false]);
  assertEquals((await getScope(chain, op.omni, agent.actorOmni))[0], [serviceHash("openai")]);
  // Tidying up the scope of a revoked agent is allowed.
  await revokeScope(chain, op, agent.actorOmni);
  assertEquals((await getScope(chain, op.omni, agent.actorOmni))[0], []);
});

Deno.test("K3EpochCounter: starts at 1; governance advances and records destroyed past epochs once", async () => {
  await using chain = await startTestChain();
  const read = <F extends "currentEpoch" | "governance">(functionName: F) =>
    chain.publicClient.readContract({
      address: chain.addresses.K3EpochCounter,
      abi: k3EpochCounterAbi,
      functionName,
    });
  const startedAt = (epoch: bigint) =>
    chain.publicClient.readContract({
      address: chain.addresses.K3EpochCounter,
      abi: k3EpochCounterAbi,
      functionName: "epochStartedAt",
      args: [epoch],
    });
  const destroyedAt = (epoch: bigint) =>
    chain.publicClient.readContract({
      address: chain.addresses.K3EpochCounter,
      abi: k3EpochCounterAbi,
      functionName: "epochDestroyedAt",
      args: [epoch],
    });
  assertEquals(await read("currentEpoch"), 1n);
  assertEquals(await read("governance"), chain.governance.address);
  assert((await startedAt(1n)) > 0n);
  assertEquals(await startedAt(2n), 0n);
  const [created] = await chain.publicClient.getContractEvents({
    address: chain.addresses.K3EpochCounter,
    abi: k3EpochCounterAbi,
    eventName: "GovernanceChanged",
    fromBlock: 0n,
  });
  assertEquals(created.args, {
    previousGovernance: zeroAddress,
    newGovernance: chain.governance.address,
  });

  // Nobody but governance may write.
  const stranger = await chain.newWallet();
  for (
    const request of [
      { functionName: "advanceEpoch", args: [] },
      { functionName: "recordEpochDestroyed", args: [1n] },
      { functionName: "setGovernance", args: [stranger.address] },
    ] as const
  ) {
    const [who] = await expectRevert(
      stranger.wallet.writeContract({
        ...by(stranger),
        address: chain.addresses.K3EpochCounter,
        abi: k3EpochCounterAbi,
        ...request,
      }),
      "NotGovernance",
    );
    assertEquals(who, stranger.address);
  }

  // Through ChainClient (governance key): the new epoch comes from the K3Rotated event.
  const rotation = await chain.client.advanceEpoch();
  assertEquals(rotation.epoch, 2);
  const receipt = await chain.publicClient.getTransactionReceipt({ hash: rotation.txHash });
  const [rotated] = parseEventLogs({ abi: k3EpochCounterAbi, logs: receipt.logs });
  assertEquals([rotated.eventName, rotated.args], ["K3Rotated", { epoch: 2n }]);
  const block = await chain.publicClient.getBlock({ blockNumber: receipt.blockNumber });
  assertEquals(await startedAt(2n), block.timestamp);
  assertEquals(await chain.client.currentEpoch(), 2);
  assertEquals((await chain.client.advanceEpoch()).epoch, 3);

  // Epoch 0, the current epoch and future epochs are not past.
  for (const epoch of [0, 3, 4, 99]) {
    const err = await assertRejects(
      () => chain.client.recordEpochDestroyed(epoch),
      ChainRevertError,
    ) as ChainRevertError;
    assertEquals([err.errorName, err.args], ["EpochNotPast", [BigInt(epoch), 3n]]);
  }
  const destroyed = await chain.client.recordEpochDestroyed(1);
  const dReceipt = await chain.publicClient.getTransactionReceipt({ hash: destroyed.txHash });
  const [dEvent] = parseEventLogs({ abi: k3EpochCounterAbi, logs: dReceipt.logs });
  assertEquals([dEvent.eventName, dEvent.args], ["EpochDestroyed", { epoch: 1n }]);
  assert((await destroyedAt(1n)) > 0n);
  assertEquals(await destroyedAt(2n), 0n);
  assertEquals(await chain.client.epochInfo(1), {
    startedAt: Number(await startedAt(1n)),
    destroyedAt: Number(await destroyedAt(1n)),
  });
  await expectRevert(chain.client.recordEpochDestroyed(1), "EpochAlreadyDestroyed");
  await chain.client.recordEpochDestroyed(2);
  assertEquals(await chain.client.currentEpoch(), 3);
});

Deno.test("Governed: setGovernance hands over, refuses zero; a zero governance cannot deploy", async () => {
  await using chain = await startTestChain();
  const next = await chain.newWallet();
  for (
    const [address, abi] of [
      [chain.addresses.K3EpochCounter, k3EpochCounterAbi],
      [chain.addresses.AuditAnchor, auditAnchorAbi],
    ] as const
  ) {
    await expectRevert(
      chain.governance.wallet.writeContract({
        ...by(chain.governance),
        address,
        abi,
        functionName: "setGovernance",
        args: [zeroAddress],
      }),
      "ZeroGovernance",
    );
    const receipt = await mined(
      chain,
      await chain.governance.wallet.writeContract({
        ...by(chain.governance),
        address,
        abi,
        functionName: "setGovernance",
        args: [next.address],
      }),
    );
    const [event] = parseEventLogs({ abi, logs: receipt.logs, eventName: "GovernanceChanged" });
    assertEquals(event.args, {
      previousGovernance: chain.governance.address,
      newGovernance: next.address,
    });
    assertEquals(
      await chain.publicClient.readContract({ address, abi, functionName: "governance" }),
      next.address,
    );
  }
  // The old key is out, the new one is in.
  await expectRevert(chain.client.advanceEpoch(), "NotGovernance");
  await expectRevert(chain.client.anchor(`0x${"11".repeat(32)}`, 1), "NotGovernance");
  await mined(
    chain,
    await next.wallet.writeContract({
      ...by(next),
      address: chain.addresses.K3EpochCounter,
      abi: k3EpochCounterAbi,
      functionName: "advanceEpoch",
    }),
  );
  assertEquals(await chain.client.currentEpoch(), 2);

  for (
    const [abi, bytecode] of [
      [k3EpochCounterAbi, k3EpochCounterBytecode],
      [auditAnchorAbi, auditAnchorBytecode],
    ] as const
  ) {
    await expectRevert(
      chain.governance.wallet.deployContract({
        ...by(chain.governance),
        abi,
        bytecode,
        args: [zeroAddress],
      }),
      "ZeroGovernance",
    );
  }
});

Deno.test("AuditAnchor: governance appends anchors whose count grows; events and reads", async () => {
  await using chain = await startTestChain();
  const read = <F extends "anchorCount" | "latestAnchor">(functionName: F) =>
    chain.publicClient.readContract({
      address: chain.addresses.AuditAnchor,
      abi: auditAnchorAbi,
      functionName,
    });
  const anchorAt = (i: bigint) =>
    chain.publicClient.readContract({
      address: chain.addresses.AuditAnchor,
      abi: auditAnchorAbi,
      functionName: "anchorAt",
      args: [i],
    });
  const h1 = `0x${"a1".repeat(32)}` as const;
  const h2 = `0x${"b2".repeat(32)}` as const;
  assertEquals(await read("anchorCount"), 0n);
  assertEquals(await read("latestAnchor"), [zeroHash, 0n, 0n]);
  assertEquals(await chain.client.latestAnchor(), { head: zeroHash, count: 0, anchoredAt: 0 });

  await expectRevert(chain.client.anchor(zeroHash, 1), "ZeroHead");
  const [c0, l0] = await expectRevert(chain.client.anchor(h1, 0), "CountNotIncreasing");
  assertEquals([c0, l0], [0n, 0n]);
  const stranger = await chain.newWallet();
  await expectRevert(
    stranger.wallet.writeContract({
      ...by(stranger),
      address: chain.addresses.AuditAnchor,
      abi: auditAnchorAbi,
      functionName: "anchor",
      args: [h1, 1n],
    }),
    "NotGovernance",
  );

  const first = await chain.client.anchor(h1, 10);
  const receipt = await chain.publicClient.getTransactionReceipt({ hash: first.txHash });
  const block = await chain.publicClient.getBlock({ blockNumber: receipt.blockNumber });
  const [event] = parseEventLogs({ abi: auditAnchorAbi, logs: receipt.logs });
  assertEquals([event.eventName, event.args], ["AuditAnchored", { head: h1, count: 10n }]);
  for (const count of [10, 9]) {
    const [c, last] = await expectRevert(chain.client.anchor(h2, count), "CountNotIncreasing");
    assertEquals([c, last], [BigInt(count), 10n]);
  }
  await chain.client.anchor(h2, 11);
  assertEquals(await read("anchorCount"), 2n);
  assertEquals(await anchorAt(0n), [h1, 10n, block.timestamp]);
  assertEquals((await anchorAt(1n)).slice(0, 2), [h2, 11n]);
  assertEquals((await read("latestAnchor")).slice(0, 2), [h2, 11n]);
  assertEquals((await chain.client.latestAnchor()).count, 11);
  // Out of range is an array-bounds panic, not a zero anchor.
  await assertRejects(() => anchorAt(2n));
  // Anchors are findable by their (indexed) head.
  const found = await chain.publicClient.getContractEvents({
    address: chain.addresses.AuditAnchor,
    abi: auditAnchorAbi,
    eventName: "AuditAnchored",
    args: { head: h2 },
    fromBlock: 0n,
  });
  assertEquals(found.map((e) => e.args.count), [11n]);
});
