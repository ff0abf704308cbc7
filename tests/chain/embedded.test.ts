/**
 * The embedded chain (anvil + deployment in a data directory) and ChainClient's behaviour on it:
 * first boot, restart with state, one-block read cache, governance and faucet rules, and the
 * configuration-driven `openChain`; and the anvil process itself (start, stop, install).
 */

import { join } from "node:path";
import { parseEther } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import {
  assert,
  assertEquals,
  assertMatch,
  assertRejects,
  assertThrows,
} from "../support/assert.ts";
import { tempDir } from "../support/tmp.ts";
import { CHAIN_FILES, ChainClient, openChain } from "../../lib/chain/mod.ts";
import {
  AnvilInstallError,
  AnvilStartError,
  ensureAnvil,
  startAnvil,
} from "../../lib/chain/_anvil.ts";
import { ChainConfigError, NoGovernanceKeyError } from "../../lib/chain/_client.ts";
import { EmbeddedChainError, openEmbeddedChain } from "../../lib/chain/_embedded.ts";
import { ConfigError, loadConfig } from "../../lib/config/mod.ts";
import type { IdentityReader } from "../../lib/identity/mod.ts";
import { serviceHash } from "../../lib/identity/mod.ts";
import {
  registerAgent,
  revokeAgent,
  revokeScope,
  setScope,
  startTestChain,
  walletFor,
} from "../support/chain.ts";

Deno.test("first boot deploys the contracts and records them; governance key is 0600 and funded", async () => {
  await using dir = await tempDir();
  await using chain = await openEmbeddedChain({ dataDir: dir.path });
  assert(chain.deployedNow);
  const chainDir = join(dir.path, "chain");
  const deployment = JSON.parse(await Deno.readTextFile(join(chainDir, CHAIN_FILES.deployment)));
  assertEquals(deployment, JSON.parse(JSON.stringify(chain.deployment)));
  assertEquals(deployment.chainId, 31337);
  assertMatch(deployment.deployedAt, /^\d{4}-\d\d-\d\dT/);
  const keyFile = join(chainDir, CHAIN_FILES.governanceKey);
  assertEquals((await Deno.stat(keyFile)).mode! & 0o777, 0o600);
  const key = (await Deno.readTextFile(keyFile)).trim();
  assertMatch(key, /^[0-9a-f]{64}$/);
  assertEquals(deployment.governance, privateKeyToAccount(`0x${key}`).address);
  assertEquals(chain.client.governance, deployment.governance);
  // The state file already holds the contracts (it is written before deployment.json).
  const state = JSON.parse(await Deno.readTextFile(join(chainDir, CHAIN_FILES.state)));
  for (const address of Object.values(deployment.addresses) as string[]) {
    assert(state.accounts[address.toLowerCase()]?.code.length > 2, `${address} not in state`);
  }
  const balance = await chain.client.publicClient.getBalance({ address: deployment.governance });
  assert(balance > parseEther("99"), "governance was not funded");
  assertEquals(await chain.client.currentEpoch(), 1);
  assertEquals(chain.client.contracts().AgentRegistry.address, deployment.addresses.AgentRegistry);
});

Deno.test("a restart keeps registrations, scopes, epochs and anchors", async () => {
  await using dir = await tempDir();
  const operatorKey = generatePrivateKey();
  let agent: Awaited<ReturnType<typeof registerAgent>>;
  let addresses;
  let blockBefore: bigint;
  {
    await using chain = await openEmbeddedChain({ dataDir: dir.path });
    addresses = chain.deployment.addresses;
    const op = walletFor(chain.rpcUrl, chain.chainId, operatorKey);
    await chain.faucet(op.address, parseEther("1"));
    const handle = { addresses, publicClient: chain.client.publicClient };
    agent = await registerAgent(handle, op, "mail-bot", 0);
    await setScope(handle, op, agent.actorOmni, ["openai", "github"], true);
    assertEquals((await chain.client.advanceEpoch()).epoch, 2);
    await chain.client.anchor(`0x${"cd".repeat(32)}`, 5);
    blockBefore = await chain.client.publicClient.getBlockNumber();
  }
  await using chain = await openEmbeddedChain({ dataDir: dir.path });
  assert(!chain.deployedNow);
  assertEquals(chain.deployment.addresses, addresses);
  const op = walletFor(chain.rpcUrl, chain.chainId, operatorKey);
  assertEquals(await chain.client.publicClient.getBlockNumber(), blockBefore);
  const device = await chain.client.getDevice(agent.deviceKeyHash);
  assertEquals(device?.actorOmni, agent.actorOmni);
  assertEquals(device?.operatorOmni, op.omni);
  assertEquals(device?.label, "mail-bot");
  assertEquals(device?.revoked, false);
  assertEquals(await chain.client.agentsOf(op.omni), [agent.deviceKeyHash]);
  assertEquals(
    await chain.client.isServiceInScope(op.omni, agent.actorOmni, serviceHash("github")),
    { allowed: true, readOnly: true },
  );
  assertEquals(
    (await chain.client.getScope(op.omni, agent.actorOmni)).serviceHashes,
    [serviceHash("openai"), serviceHash("github")],
  );
  assertEquals(await chain.client.currentEpoch(), 2);
  assertEquals((await chain.client.latestAnchor()).count, 5);
  // The governance key still governs after the restart.
  assertEquals((await chain.client.advanceEpoch()).epoch, 3);
});

Deno.test("a lost state file or governance key is a clear error, not a silent redeploy", async () => {
  await using dir = await tempDir();
  const chainDir = join(dir.path, "chain");
  {
    await using _chain = await openEmbeddedChain({ dataDir: dir.path });
  }
  const keyFile = join(chainDir, CHAIN_FILES.governanceKey);
  const key = await Deno.readTextFile(keyFile);
  await Deno.remove(keyFile);
  await assertRejects(
    () => openEmbeddedChain({ dataDir: dir.path }),
    EmbeddedChainError,
    "governance.key is missing",
  );
  await Deno.writeTextFile(keyFile, key, { mode: 0o600 });
  await Deno.remove(join(chainDir, CHAIN_FILES.state));
  await assertRejects(
    () => openEmbeddedChain({ dataDir: dir.path }),
    EmbeddedChainError,
    "no code there",
  );
  await Deno.writeTextFile(join(chainDir, CHAIN_FILES.deployment), "{not json");
  await assertRejects(() => openEmbeddedChain({ dataDir: dir.path }), EmbeddedChainError, "JSON");
});

Deno.test("contracts deployed from older sources are a clear error at start, not reverts later", async () => {
  await using dir = await tempDir();
  const deploymentFile = join(dir.path, "chain", CHAIN_FILES.deployment);
  {
    await using _chain = await openEmbeddedChain({ dataDir: dir.path });
  }
  const deployment = JSON.parse(await Deno.readTextFile(deploymentFile));
  await Deno.writeTextFile(
    deploymentFile,
    JSON.stringify({ ...deployment, sourcesSha256: "0".repeat(64) }),
  );
  await assertRejects(
    () => openEmbeddedChain({ dataDir: dir.path }),
    EmbeddedChainError,
    "compiled from other sources",
  );
  // Put back, it opens again: the check is the only thing that refused.
  await Deno.writeTextFile(deploymentFile, JSON.stringify(deployment));
  await using _again = await openEmbeddedChain({ dataDir: dir.path });
});

Deno.test("the read cache holds a value for one block only: a revocation shows in the next read", async () => {
  await using chain = await startTestChain();
  const op = await chain.newWallet();
  const agent = await registerAgent(chain, op, "bot");
  await setScope(chain, op, agent.actorOmni, ["openai"], false);
  const openai = serviceHash("openai");
  // Typed as the broker's view of the chain: ChainClient is what the broker and workers read.
  const client: IdentityReader = chain.client;

  assertEquals(await client.isServiceInScope(op.omni, agent.actorOmni, openai), {
    allowed: true,
    readOnly: false,
  });
  assertEquals((await client.getDevice(agent.deviceKeyHash))?.revoked, false);
  await revokeAgent(chain, op, agent.deviceKeyHash);
  // The very next reads, with no wait, see the revocation.
  assertEquals((await client.getDevice(agent.deviceKeyHash))?.revoked, true);
  assertEquals(await client.isServiceInScope(op.omni, agent.actorOmni, openai), {
    allowed: false,
    readOnly: false,
  });

  const second = await registerAgent(chain, op, "bot2");
  await setScope(chain, op, second.actorOmni, ["openai"], true);
  assertEquals((await client.isServiceInScope(op.omni, second.actorOmni, openai)).allowed, true);
  await revokeScope(chain, op, second.actorOmni);
  assertEquals((await client.isServiceInScope(op.omni, second.actorOmni, openai)).allowed, false);
  assertEquals(await client.getDevice(`0x${"00".repeat(31)}01`), null);
});

Deno.test("within one block identical reads share one eth_call; a new block refreshes", async () => {
  await using chain = await startTestChain();
  const op = await chain.newWallet();
  const agent = await registerAgent(chain, op, "bot");
  // A counting proxy in front of anvil shows how many eth_calls the client makes.
  let ethCalls = 0;
  await using proxy = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const body = await req.text();
    if (body.includes('"eth_call"')) ethCalls++;
    const res = await fetch(chain.rpcUrl, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
    });
    return new Response(await res.text(), { headers: { "content-type": "application/json" } });
  });
  const client = new ChainClient({
    rpcUrl: `http://127.0.0.1:${proxy.addr.port}`,
    chainId: chain.chainId,
    addresses: chain.addresses,
  });
  const reads = await Promise.all(
    Array.from({ length: 5 }, () => client.getDevice(agent.deviceKeyHash)),
  );
  assert(reads.every((r) => r?.actorOmni === agent.actorOmni));
  await client.getDevice(agent.deviceKeyHash);
  assertEquals(ethCalls, 1);
  await client.agentsOf(op.omni); // another call: its own entry
  assertEquals(ethCalls, 2);
  await chain.testClient.mine({ blocks: 1 });
  await client.getDevice(agent.deviceKeyHash);
  assertEquals(ethCalls, 3);
});

Deno.test("governance writes need the key; the faucet is the embedded chain's, not the client's", async () => {
  await using chain = await startTestChain();
  const readOnly = new ChainClient({
    rpcUrl: chain.rpcUrl,
    chainId: chain.chainId,
    addresses: chain.addresses,
  });
  await assertRejects(() => readOnly.advanceEpoch(), NoGovernanceKeyError);
  await assertRejects(() => readOnly.recordEpochDestroyed(1), NoGovernanceKeyError);
  await assertRejects(() => readOnly.anchor(`0x${"11".repeat(32)}`, 1), NoGovernanceKeyError);
  const target = privateKeyToAccount(generatePrivateKey()).address;
  // A production client cannot credit ether: the faucet is not a ChainClient method at all.
  assert(!("faucet" in readOnly) && !("faucet" in chain.client));
  assertEquals(await chain.client.publicClient.getBalance({ address: target }), 0n);

  // Concurrent faucet calls lose no credit; concurrent rotations do not collide on nonces.
  await Promise.all(Array.from({ length: 4 }, () => chain.faucet(target, 1000n)));
  assertEquals(await chain.client.publicClient.getBalance({ address: target }), 4000n);
  const epochs = await Promise.all(Array.from({ length: 3 }, () => chain.client.advanceEpoch()));
  assertEquals(epochs.map((e) => e.epoch).sort(), [2, 3, 4]);
});

Deno.test("openChain: embedded when no RPC URL is configured", async () => {
  await using dir = await tempDir();
  await using chain = await openChain(loadConfig({ AGENTKEYS_DATA_DIR: dir.path }));
  assert(chain.embedded && typeof chain.faucet === "function");
  assertEquals(chain.embeddedChain?.deployedNow, true);
  assertEquals(await chain.client.currentEpoch(), 1);
});

Deno.test("openChain: an external chain is checked for its chain id and contract code", async () => {
  await using test = await startTestChain();
  const env = (extra: Record<string, string> = {}) => ({
    AGENTKEYS_RPC_URL: test.rpcUrl,
    AGENTKEYS_AGENT_REGISTRY: test.addresses.AgentRegistry,
    AGENTKEYS_SCOPE_REGISTRY: test.addresses.ScopeRegistry,
    AGENTKEYS_K3_EPOCH_COUNTER: test.addresses.K3EpochCounter,
    AGENTKEYS_AUDIT_ANCHOR: test.addresses.AuditAnchor,
    ...extra,
  });
  await using chain = await openChain(
    loadConfig(env({ AGENTKEYS_GOVERNANCE_KEY: test.governance.privateKey.slice(2) })),
  );
  assert(!chain.embedded);
  assertEquals(chain.client.chainId, 31337);
  assertEquals((await chain.client.advanceEpoch()).epoch, 2);
  // The faucet is the embedded chain's: neither the open chain nor its client has one.
  assertEquals(chain.faucet, undefined);
  assert(!("faucet" in chain.client));

  await assertRejects(
    () => openChain(loadConfig(env({ AGENTKEYS_CHAIN_ID: "1" }))),
    ChainConfigError,
    "reports chain id 31337",
  );
  await assertRejects(
    () =>
      openChain(
        loadConfig(env({ AGENTKEYS_AUDIT_ANCHOR: "0x000000000000000000000000000000000000dead" })),
      ),
    ChainConfigError,
    "no contract code",
  );
  const noKey = await openChain(loadConfig(env()));
  await assertRejects(() => noKey.client.advanceEpoch(), NoGovernanceKeyError);
});

Deno.test("chain settings: parsed and validated by lib/config", () => {
  assertEquals(loadConfig({}).chain, { chainId: undefined, anvilPort: 0, pollMs: 100 });
  assertEquals(loadConfig({ AGENTKEYS_ANVIL_PORT: "8545", AGENTKEYS_CHAIN_ID: "1337" }).chain, {
    chainId: 1337,
    anvilPort: 8545,
    pollMs: 100,
  });
  assertEquals(loadConfig({ AGENTKEYS_CHAIN_POLL_MS: "250" }).chain.pollMs, 250);
  assertThrows(() => loadConfig({ AGENTKEYS_CHAIN_POLL_MS: "5" }), ConfigError);
  assertThrows(() => loadConfig({ AGENTKEYS_CHAIN_POLL_MS: "1s" }), ConfigError);
  const a = "0x" + "Ab".repeat(20);
  const lower = a.toLowerCase() as `0x${string}`;
  const external = {
    AGENTKEYS_RPC_URL: "https://rpc.example",
    AGENTKEYS_AGENT_REGISTRY: a,
    AGENTKEYS_SCOPE_REGISTRY: a,
    AGENTKEYS_K3_EPOCH_COUNTER: a,
    AGENTKEYS_AUDIT_ANCHOR: a,
  };
  assertEquals(
    loadConfig({ ...external, AGENTKEYS_GOVERNANCE_KEY: "0x" + "AA".repeat(32) }).chain,
    {
      rpcUrl: "https://rpc.example",
      chainId: undefined,
      addresses: {
        AgentRegistry: lower,
        ScopeRegistry: lower,
        K3EpochCounter: lower,
        AuditAnchor: lower,
      },
      governanceKey: `0x${"aa".repeat(32)}`,
      anvilPort: 0,
      pollMs: 100,
    },
  );
  const bad: [Record<string, string>, string][] = [
    [{ AGENTKEYS_RPC_URL: "ftp://x" }, "AGENTKEYS_RPC_URL"],
    [{ ...external, AGENTKEYS_AUDIT_ANCHOR: "" }, "AGENTKEYS_AUDIT_ANCHOR is required"],
    [{ ...external, AGENTKEYS_SCOPE_REGISTRY: "0x12" }, "AGENTKEYS_SCOPE_REGISTRY"],
    [{ ...external, AGENTKEYS_GOVERNANCE_KEY: "abc" }, "AGENTKEYS_GOVERNANCE_KEY"],
    [{ AGENTKEYS_AGENT_REGISTRY: a }, "AGENTKEYS_AGENT_REGISTRY needs AGENTKEYS_RPC_URL"],
    [{ AGENTKEYS_GOVERNANCE_KEY: "aa".repeat(32) }, "needs AGENTKEYS_RPC_URL"],
    [{ AGENTKEYS_CHAIN_ID: "0" }, "AGENTKEYS_CHAIN_ID"],
    [{ AGENTKEYS_ANVIL_PORT: "70000" }, "AGENTKEYS_ANVIL_PORT"],
  ];
  for (const [env, message] of bad) {
    let caught: unknown;
    try {
      loadConfig(env);
    } catch (err) {
      caught = err;
    }
    assert(caught instanceof ConfigError, `no ConfigError for ${JSON.stringify(env)}`);
    assert((caught as Error).message.includes(message), (caught as Error).message);
  }
});

Deno.test("startAnvil: free ports side by side, stop() ends the process, a bad state file fails clearly", async () => {
  const a = await startAnvil();
  const b = await startAnvil({ chainId: 4242 });
  try {
    assert(a.port !== b.port && a.port > 0);
    const chainId = async (url: string) =>
      (await (await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId", params: [] }),
      })).json()).result;
    assertEquals([await chainId(a.rpcUrl), await chainId(b.rpcUrl)], ["0x7a69", "0x1092"]);
  } finally {
    await a.stop();
    await b.stop();
  }
  await a.stop(); // idempotent
  // The process is gone: signal 0 to its pid fails.
  let alive = true;
  try {
    Deno.kill(a.pid, "SIGCONT");
  } catch {
    alive = false;
  }
  assert(!alive, "anvil still running after stop()");

  await using dir = await tempDir();
  const stateFile = join(dir.path, "state.json");
  await Deno.writeTextFile(stateFile, "{ this is not state");
  await assertRejects(() => startAnvil({ stateFile }), AnvilStartError, "anvil exited");
});

Deno.test("ensureAnvil installs the pinned package with npm, and names npm when that fails", async () => {
  await using dir = await tempDir();
  const tools = new URL("../../tools/chain/", import.meta.url);
  for (const name of ["package.json", "package-lock.json"]) {
    await Deno.copyFile(new URL(name, tools), join(dir.path, name));
  }
  const binary = await ensureAnvil({ toolsDir: dir.path });
  assert(binary.startsWith(dir.path) && binary.endsWith("/bin/anvil"), binary);
  const version = await new Deno.Command(binary, { args: ["--version"] }).output();
  assertMatch(new TextDecoder().decode(version.stdout), /anvil Version: 1\.7\.1/);
  // Installed now: a second call returns at once, without npm.
  assertEquals(await ensureAnvil({ toolsDir: dir.path }), binary);
  // The checked-in lock is used, never rewritten.
  assertEquals(
    await Deno.readTextFile(join(dir.path, "package-lock.json")),
    await Deno.readTextFile(new URL("package-lock.json", tools)),
  );

  await using broken = await tempDir();
  await Deno.writeTextFile(join(broken.path, "package.json"), "{ not json");
  await assertRejects(
    () => ensureAnvil({ toolsDir: broken.path }),
    AnvilInstallError,
    "npm install",
  );
});

Deno.test("an anvil orphaned by a crashed process is stopped before the state file is reused", async () => {
  await using dir = await tempDir();
  const chainDir = join(dir.path, "chain");
  let rpcUrl: string;
  {
    await using chain = await openEmbeddedChain({ dataDir: dir.path });
    rpcUrl = chain.rpcUrl;
    await chain.client.advanceEpoch();
  }
  // Play the crashed process: an anvil on the same state file, recorded in anvil.pid, never
  // stopped by its owner.
  const statePath = join(chainDir, CHAIN_FILES.state);
  const orphan = await startAnvil({ stateFile: statePath });
  try {
    await Deno.writeTextFile(join(chainDir, CHAIN_FILES.pid), `${orphan.pid}\n`);
    await using chain = await openEmbeddedChain({ dataDir: dir.path });
    assert(chain.rpcUrl !== rpcUrl);
    // The orphan got SIGTERM and exited before the new anvil started (read before our own
    // stop() below, which would otherwise do it).
    const cmdline = await Deno.readTextFile(`/proc/${orphan.pid}/cmdline`).catch(() => "");
    assert(!cmdline.includes(statePath), "the orphaned anvil is still running");
    assertEquals(await chain.client.currentEpoch(), 2);
  } finally {
    await orphan.stop();
  }
  // A clean close removes the pid file.
  await assertRejects(() => Deno.stat(join(chainDir, CHAIN_FILES.pid)), Deno.errors.NotFound);
});
