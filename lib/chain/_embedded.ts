/**
 * The embedded default chain: an anvil started by the service, its state in the data directory,
 * the four identity contracts deployed on first boot.
 *
 * Files under `<dataDir>/chain/`:
 * - `anvil-state.json` — anvil's state (`--state`): written every second and on SIGTERM, loaded
 *   at the next start, so registrations, scopes and epochs survive a restart.
 * - `governance.key` — the generated governance private key (64 hex, mode 0600). It deploys the
 *   contracts and is their governance (advanceEpoch, recordEpochDestroyed, anchor). It is funded
 *   by the dev faucet (`anvil_addBalance`, `./_faucet.ts`), which only this chain has.
 * - `deployment.json` — `{chainId, addresses, deployedAt, governance, blockNumber, solcVersion,
 *   sourcesSha256}`; written only after anvil's state file is known to hold the contracts.
 * - `anvil.pid` — the running anvil's pid, so that an anvil orphaned by a crashed process is
 *   stopped before a new one takes over the same state file.
 *
 * Trust: anvil answers anyone who can reach its port, including its cheat-code RPCs
 * (`anvil_setStorageAt`, `anvil_impersonateAccount`), which can rewrite any contract's state. So
 * it binds 127.0.0.1 on a free port told only to this process and the 0600 `service.json`, runs
 * with CORS off (no web page can drive it) and with no unlocked dev accounts (their keys are
 * public). Clients reach it only through the service's allow-listing proxy
 * (`POST /v1/chain/rpc`, `./_rpc_proxy.ts`). A local user who finds the port can still talk to it
 * directly: the embedded chain is a single-machine development default, not a production chain.
 *
 * ```ts
 * await using chain = await openEmbeddedChain({ dataDir: "./data" });
 * await chain.client.currentEpoch(); // 1 on a fresh data directory
 * ```
 *
 * @module
 */

import { dirname, join, resolve } from "node:path";
import { readTextIfExists } from "../fsutil/mod.ts";
import {
  type Address,
  createPublicClient,
  createWalletClient,
  getAddress,
  type Hex,
  http,
  isAddress,
  type PublicClient,
} from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { writeFileAtomic } from "../fsutil/mod.ts";
import { type AnvilProcess, startAnvil } from "./_anvil.ts";
import {
  agentRegistryAbi,
  agentRegistryBytecode,
  auditAnchorAbi,
  auditAnchorBytecode,
  k3EpochCounterAbi,
  k3EpochCounterBytecode,
  scopeRegistryAbi,
  scopeRegistryBytecode,
  SEPARATE_SOURCES_SHA256,
  SOLC_VERSION,
  SOURCES_SHA256,
  vaultAnchorAbi,
  vaultAnchorBytecode,
} from "./artifacts.ts";
import {
  ChainClient,
  chainDefinition,
  ChainError,
  type ContractAddresses,
  CONTRACTS,
  toChainError,
} from "./_client.ts";
import { anvilFaucet, type Faucet } from "./_faucet.ts";

/** File names inside `<dataDir>/chain/`. */
export const CHAIN_FILES = {
  state: "anvil-state.json",
  deployment: "deployment.json",
  governanceKey: "governance.key",
  pid: "anvil.pid",
} as const;

/** What `deployment.json` records. */
export interface Deployment {
  chainId: number;
  addresses: ContractAddresses;
  /** ISO 8601. */
  deployedAt: string;
  governance: Address;
  blockNumber: number;
  solcVersion: string;
  sourcesSha256: string;
  /** sha256 of VaultAnchor.sol when it was deployed (it is deployed on its own, later). */
  vaultAnchorSha256?: string;
}

/**
 * The embedded chain's files disagree with each other or with the running chain (lost state
 * file, edited deployment, missing governance key). The message says which file and what to do.
 */
export class EmbeddedChainError extends ChainError {
  constructor(message: string) {
    super("embedded_chain", message);
    this.name = "EmbeddedChainError";
  }
}

/** A running embedded chain. `close()` stops anvil, which writes its state file. */
export interface EmbeddedChain extends AsyncDisposable {
  client: ChainClient;
  /** The development faucet (`anvil_addBalance`); only the embedded chain has one. */
  faucet: Faucet;
  rpcUrl: string;
  chainId: number;
  deployment: Deployment;
  /** True when this call deployed the contracts (first boot). */
  deployedNow: boolean;
  anvil: AnvilProcess;
  close(): Promise<void>;
}

/** Options of {@linkcode openEmbeddedChain}. */
export interface EmbeddedChainOptions {
  dataDir: string;
  /** anvil's port (default 0: a free port; the RPC URL is in `rpcUrl`). */
  port?: number;
  chainId?: number;
  /** Seconds per block; unset = automine. */
  blockTime?: number;
  /** The client's head poll (see `ChainClientOptions.headPollMs`); unset: none. */
  headPollMs?: number;
  /** Called with non-fatal notices (e.g. contracts older than the checked-in sources). */
  warn?: (message: string) => void;
}

/** Ether sent to the governance account on first boot: enough for years of rotations. */
const GOVERNANCE_FUNDING = 100n * 10n ** 18n;

/**
 * Starts the embedded chain on `<dataDir>/chain/`, deploying the contracts on first boot and
 * checking on later boots that they still have code at the recorded addresses.
 *
 * ```ts
 * const chain = await openEmbeddedChain({ dataDir: "./data" });
 * try { await chain.client.advanceEpoch(); } finally { await chain.close(); }
 * ```
 */
export async function openEmbeddedChain(options: EmbeddedChainOptions): Promise<EmbeddedChain> {
  const dir = join(resolve(options.dataDir), "chain");
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const statePath = join(dir, CHAIN_FILES.state);
  const deploymentPath = join(dir, CHAIN_FILES.deployment);
  const keyPath = join(dir, CHAIN_FILES.governanceKey);

  const recorded = await readDeployment(deploymentPath);
  const governanceKey = await loadGovernanceKey(keyPath, recorded !== undefined);
  const chainId = options.chainId ?? recorded?.chainId ?? 31337;
  if (recorded && recorded.chainId !== chainId) {
    throw new EmbeddedChainError(
      `${deploymentPath} records chain id ${recorded.chainId}, but ${chainId} was asked for`,
    );
  }

  const pidPath = join(dir, CHAIN_FILES.pid);
  await stopOrphan(pidPath, statePath);
  const anvil = await startAnvil({
    stateFile: statePath,
    port: options.port,
    chainId,
    blockTime: options.blockTime,
    devAccounts: 0,
  });
  const stop = async () => {
    await anvil.stop();
    await Deno.remove(pidPath).catch(() => {});
  };
  const faucet = anvilFaucet(anvil.rpcUrl, chainId);
  try {
    await Deno.writeTextFile(pidPath, `${anvil.pid}\n`, { mode: 0o600 });
    let deployment: Deployment;
    const deployedNow = recorded === undefined;
    if (recorded) {
      await checkDeployment(anvil.rpcUrl, chainId, recorded, deploymentPath, statePath);
      deployment = recorded;
    } else {
      const governance = privateKeyToAccount(governanceKey).address;
      await faucet(governance, GOVERNANCE_FUNDING);
      const { addresses, blockNumber } = await deployContracts({
        rpcUrl: anvil.rpcUrl,
        chainId,
        deployerKey: governanceKey,
      });
      deployment = {
        chainId,
        addresses,
        deployedAt: new Date().toISOString(),
        governance,
        blockNumber,
        solcVersion: SOLC_VERSION,
        sourcesSha256: SOURCES_SHA256,
      };
      // deployment.json must never point at contracts the state file does not hold: a crash
      // before anvil's next periodic write would otherwise leave a deployment that the next
      // boot rejects. Wait for a state write that contains the last contract.
      await waitForStateWith(statePath, addresses.AuditAnchor, anvil);
      await writeFileAtomic(
        deploymentPath,
        new TextEncoder().encode(JSON.stringify(deployment, null, 2) + "\n"),
        { mode: 0o600 },
      );
    }
    // VaultAnchor (§13) came after the identity contracts: a chain deployed before it gains it
    // here, once, and deployment.json then records it (the identity contracts are untouched).
    if (!deployment.addresses.VaultAnchor) {
      deployment = await addVaultAnchor(anvil, chainId, governanceKey, deployment, {
        deploymentPath,
        statePath,
      });
    }
    const client = new ChainClient({
      rpcUrl: anvil.rpcUrl,
      chainId,
      addresses: deployment.addresses,
      governanceKey,
      headPollMs: options.headPollMs,
    });
    const close = () => {
      client.close();
      return stop();
    };
    return {
      client,
      faucet,
      rpcUrl: anvil.rpcUrl,
      chainId,
      deployment,
      deployedNow,
      anvil,
      close,
      [Symbol.asyncDispose]: close,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * Ends an anvil left running on this state file by a previous process that died without
 * stopping it. Left alone, it would keep rewriting the state file every second, overwriting
 * what the new anvil writes. The pid file alone is not trusted (pids are reused): the process
 * must be running with this state file on its command line (checked through /proc; where
 * there is no /proc, nothing is killed).
 */
async function stopOrphan(pidPath: string, statePath: string): Promise<void> {
  let pid: number;
  try {
    pid = Number((await Deno.readTextFile(pidPath)).trim());
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return;
    throw err;
  }
  const isOurAnvil = async () => {
    try {
      const cmdline = (await Deno.readTextFile(`/proc/${pid}/cmdline`)).split("\0");
      return cmdline.includes(statePath);
    } catch {
      return false; // gone, or no /proc
    }
  };
  if (Number.isInteger(pid) && pid > 0 && await isOurAnvil()) {
    // SIGTERM: the orphan writes its (latest) state before exiting, which the new anvil loads.
    Deno.kill(pid, "SIGTERM");
    const deadline = Date.now() + 10_000;
    while (await isOurAnvil()) {
      if (Date.now() > deadline) {
        throw new EmbeddedChainError(
          `anvil ${pid} from an earlier run still uses ${statePath} and did not stop on SIGTERM`,
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  await Deno.remove(pidPath).catch(() => {});
}

/**
 * Deploys the four contracts from `deployerKey` (which needs ether) and returns their addresses.
 * K3EpochCounter and AuditAnchor get `governance` (default: the deployer) as governance;
 * ScopeRegistry gets the new AgentRegistry's address.
 *
 * ```ts
 * const { addresses } = await deployContracts({ rpcUrl, chainId: 31337, deployerKey });
 * ```
 */
export async function deployContracts(options: {
  rpcUrl: string;
  chainId: number;
  deployerKey: Hex;
  governance?: Address;
}): Promise<{ addresses: ContractAddresses; blockNumber: number }> {
  const account = privateKeyToAccount(options.deployerKey);
  const chain = chainDefinition(options.chainId, options.rpcUrl);
  const publicClient = createPublicClient({
    chain,
    transport: http(options.rpcUrl),
    pollingInterval: 100,
  }) as PublicClient;
  const wallet = createWalletClient({ account, chain, transport: http(options.rpcUrl) });
  const governance = options.governance ?? account.address;
  let blockNumber = 0;
  // Sequential on purpose: each deployment takes the next nonce, and ScopeRegistry needs the
  // registry's address.
  const mined = async (hash: Hex): Promise<Address> => {
    const receipt = await publicClient.waitForTransactionReceipt({ hash, pollingInterval: 100 });
    if (receipt.status !== "success" || !receipt.contractAddress) {
      throw new ChainError("chain_revert", `deployment transaction ${hash} failed`);
    }
    blockNumber = Math.max(blockNumber, Number(receipt.blockNumber));
    return getAddress(receipt.contractAddress); // checksummed, as viem's reads return addresses
  };
  try {
    const agentRegistry = await mined(
      await wallet.deployContract({ abi: agentRegistryAbi, bytecode: agentRegistryBytecode }),
    );
    const scopeRegistry = await mined(
      await wallet.deployContract({
        abi: scopeRegistryAbi,
        bytecode: scopeRegistryBytecode,
        args: [agentRegistry],
      }),
    );
    const k3EpochCounter = await mined(
      await wallet.deployContract({
        abi: k3EpochCounterAbi,
        bytecode: k3EpochCounterBytecode,
        args: [governance],
      }),
    );
    const auditAnchor = await mined(
      await wallet.deployContract({
        abi: auditAnchorAbi,
        bytecode: auditAnchorBytecode,
        args: [governance],
      }),
    );
    return {
      addresses: {
        AgentRegistry: agentRegistry,
        ScopeRegistry: scopeRegistry,
        K3EpochCounter: k3EpochCounter,
        AuditAnchor: auditAnchor,
      },
      blockNumber,
    };
  } catch (err) {
    throw toChainError(err);
  }
}

/** Deploys VaultAnchor with the governance key and records it in deployment.json. */
async function addVaultAnchor(
  anvil: AnvilProcess,
  chainId: number,
  governanceKey: Hex,
  deployment: Deployment,
  paths: { deploymentPath: string; statePath: string },
): Promise<Deployment> {
  const account = privateKeyToAccount(governanceKey);
  const chain = chainDefinition(chainId, anvil.rpcUrl);
  const publicClient = createPublicClient({ chain, transport: http(anvil.rpcUrl) });
  const wallet = createWalletClient({ account, chain, transport: http(anvil.rpcUrl) });
  let address: Address;
  try {
    const hash = await wallet.deployContract({
      abi: vaultAnchorAbi,
      bytecode: vaultAnchorBytecode,
      args: [deployment.governance],
    });
    const receipt = await publicClient.waitForTransactionReceipt({ hash, pollingInterval: 100 });
    if (receipt.status !== "success" || !receipt.contractAddress) {
      throw new ChainError("chain_revert", `VaultAnchor deployment ${hash} failed`);
    }
    address = getAddress(receipt.contractAddress);
  } catch (err) {
    throw toChainError(err);
  }
  const next: Deployment = {
    ...deployment,
    addresses: { ...deployment.addresses, VaultAnchor: address },
    vaultAnchorSha256: SEPARATE_SOURCES_SHA256.VaultAnchor,
  };
  await waitForStateWith(paths.statePath, address, anvil);
  await writeFileAtomic(
    paths.deploymentPath,
    new TextEncoder().encode(JSON.stringify(next, null, 2) + "\n"),
    { mode: 0o600 },
  );
  return next;
}

async function readDeployment(path: string): Promise<Deployment | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
  let d: Deployment;
  try {
    d = JSON.parse(text);
  } catch {
    throw new EmbeddedChainError(`${path} is not valid JSON; restore it or move the folder aside`);
  }
  const ok = typeof d === "object" && d !== null && Number.isInteger(d.chainId) &&
    typeof d.addresses === "object" && d.addresses !== null &&
    CONTRACTS.every((name) =>
      typeof d.addresses[name] === "string" && isAddress(d.addresses[name])
    );
  if (!ok) {
    throw new EmbeddedChainError(
      `${path} lacks chainId or an address for each of ${CONTRACTS.join(", ")}`,
    );
  }
  return d;
}

/**
 * Reads `governance.key`, or creates it when there is no deployment yet. Refuses to invent a
 * key for an existing deployment: the contracts' governance could never be used again.
 */
async function loadGovernanceKey(path: string, deployed: boolean): Promise<Hex> {
  const text = await readTextIfExists(path);
  if (text !== undefined) {
    const hex = text.trim().replace(/^0x/, "");
    if (!/^[0-9a-f]{64}$/.test(hex)) {
      throw new EmbeddedChainError(`${path} does not hold 64 lowercase hex characters`);
    }
    return `0x${hex}`;
  }
  if (deployed) {
    throw new EmbeddedChainError(
      `${path} is missing but the contracts are deployed with it as governance; restore it, or move the chain folder aside to start a new chain`,
    );
  }
  const key = generatePrivateKey();
  // createNew: two first starts racing must not both write a key.
  await Deno.writeTextFile(path, key.slice(2) + "\n", { createNew: true, mode: 0o600 });
  return key;
}

async function checkDeployment(
  rpcUrl: string,
  chainId: number,
  d: Deployment,
  deploymentPath: string,
  statePath: string,
): Promise<void> {
  // Contracts deployed from other sources have other functions (e.g. the registerAgent without
  // the device's proof): every operator transaction would revert, so say so at start instead.
  if (d.sourcesSha256 !== SOURCES_SHA256) {
    throw new EmbeddedChainError(
      `${deploymentPath} records contracts compiled from other sources (sha256 ${d.sourcesSha256}) than this version of AgentKeys (${SOURCES_SHA256}); the embedded chain is a development chain: move the folder ${
        dirname(deploymentPath)
      } aside to deploy the current contracts (agents must then be registered again)`,
    );
  }
  const publicClient = createPublicClient({
    chain: chainDefinition(chainId, rpcUrl),
    transport: http(rpcUrl),
  });
  for (const name of CONTRACTS) {
    let code: Hex | undefined;
    try {
      code = await publicClient.getCode({ address: d.addresses[name] });
    } catch (err) {
      throw toChainError(err);
    }
    if (!code || code === "0x") {
      throw new EmbeddedChainError(
        `${deploymentPath} records ${name} at ${
          d.addresses[name]
        }, but the chain has no code there: ${statePath} was lost, replaced or not written before a crash. Restore it, or move ${deploymentPath} aside to deploy new, empty contracts`,
      );
    }
  }
}

/**
 * Waits until anvil's state file holds code at `address`: its periodic write (every second)
 * happened after the deployment. Gives up after 15 s with a clear error.
 */
async function waitForStateWith(
  statePath: string,
  address: Address,
  anvil: AnvilProcess,
): Promise<void> {
  const key = address.toLowerCase();
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    try {
      const state = JSON.parse(await Deno.readTextFile(statePath));
      const account = state?.accounts?.[key];
      if (typeof account?.code === "string" && account.code.length > 2) return;
    } catch {
      // not written yet, or caught mid-write: try again
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new EmbeddedChainError(
    `anvil did not write ${statePath} with the deployed contracts within 15 s:\n${anvil.recentOutput()}`,
  );
}
