/**
 * The identity chain for the headless commands (`deno task signer`, `deno task reencrypt`),
 * which share the data directory with the service but not its process.
 *
 * - **External chain** (`AGENTKEYS_RPC_URL`): the same chain the service uses; epoch changes are
 *   recorded from here when `AGENTKEYS_GOVERNANCE_KEY` is set.
 * - **Embedded chain**: anvil runs inside `deno task start`, on a port picked at start, with its
 *   state file in `chain/`. A headless command never starts a second anvil on that state file
 *   (both would write it, and the service's next start would stop the other as an orphan).
 *   Instead it reads the running service's `service.json`, checks that the anvil there answers
 *   with this deployment's chain id and has code at its `K3EpochCounter`, and sends through it
 *   with the governance key in `chain/governance.key`. When the service is not running, nothing
 *   is recorded on chain: the change is saved as a pending chain record and the output says so;
 *   `deno task signer reconcile` records it while the service runs.
 *
 * Either way the result also lists registered agents for the re-encryption actor directory
 * whenever the chain answers.
 *
 * ```ts
 * const h = await openHeadlessWithChain(loadConfig(Deno.env.toObject()));
 * console.log(h.chain?.description, h.chain?.reason);
 * await h.close();
 * ```
 *
 * @module
 */

import { join, resolve } from "node:path";
import type { Config } from "../config/mod.ts";
import {
  CHAIN_FILES,
  ChainClient,
  type ContractAddresses,
  type Deployment,
  openChain,
} from "../chain/mod.ts";
import {
  type Headless,
  type HeadlessChain,
  type HeadlessOptions,
  openHeadless,
} from "../epochs/mod.ts";
import { readTextIfExists } from "../fsutil/mod.ts";
import { readServiceRuntime, runtimeMayBeAlive } from "./_runtime.ts";

/** How long the headless probe of the service's anvil may take. */
const PROBE_TIMEOUT_MS = 3000;

/** {@linkcode openHeadless} with the chain connected as described in the module doc. */
export function openHeadlessWithChain(
  config: Config,
  options: Omit<HeadlessOptions, "chain"> = {},
): Promise<Headless> {
  return openHeadless(config, { ...options, chain: connectHeadlessChain });
}

/**
 * Reaches the chain `config` names from a headless process; never throws for an unreachable
 * chain (the result has no recorder and a `reason`). Throws only for a broken data directory
 * (e.g. an unreadable deployment record).
 */
export async function connectHeadlessChain(config: Config): Promise<HeadlessChain> {
  const noop = () => Promise.resolve();
  if (config.chain.rpcUrl !== undefined && config.chain.addresses !== undefined) {
    const description = `external chain at ${config.chain.rpcUrl}`;
    let chain;
    try {
      chain = await openChain(config);
    } catch (err) {
      return {
        description,
        reason: `the chain at ${config.chain.rpcUrl} cannot be reached (${(err as Error).message})`,
        close: noop,
      };
    }
    const client = chain.client;
    if (config.chain.governanceKey === undefined) {
      return {
        description,
        agents: client,
        anchors: client,
        reason: "AGENTKEYS_GOVERNANCE_KEY is not set, so this process cannot record epoch changes",
        close: () => chain.close(),
      };
    }
    return {
      description,
      agents: client,
      anchors: client,
      recorder: client,
      close: () => chain.close(),
    };
  }

  const dataDir = resolve(config.dataDir);
  const chainDir = join(dataDir, "chain");
  const deployment = await readJson<Deployment>(join(chainDir, CHAIN_FILES.deployment));
  if (deployment === null) {
    return {
      description: "embedded chain (not deployed yet)",
      reason: "this data directory has no embedded chain yet (the first `deno task start` " +
        "deploys it)",
      close: noop,
    };
  }
  const notRunning = "the embedded chain runs inside the service, which is not running on this " +
    "data directory (start it with `deno task start`)";
  const runtime = await readServiceRuntime(dataDir);
  if (runtime === null || !runtimeMayBeAlive(runtime)) {
    return { description: "embedded chain (service not running)", reason: notRunning, close: noop };
  }
  const rpcUrl = runtime.rpc_url;
  const description = `the service's embedded chain at ${rpcUrl} (service pid ${runtime.pid})`;
  const probe = await probeAnvil(rpcUrl, deployment.chainId, deployment.addresses);
  if (probe !== undefined) {
    return {
      description,
      reason: `the service's embedded chain cannot be used from here: ${probe}`,
      close: noop,
    };
  }
  const governanceKey = await readGovernanceKey(join(chainDir, CHAIN_FILES.governanceKey));
  const client = new ChainClient({
    rpcUrl,
    chainId: deployment.chainId,
    addresses: deployment.addresses,
    governanceKey,
  });
  if (governanceKey === undefined) {
    return {
      description,
      agents: client,
      anchors: client,
      reason: `${join(chainDir, CHAIN_FILES.governanceKey)} is missing or unreadable, so this ` +
        "process cannot record epoch changes",
      close: noop,
    };
  }
  return { description, agents: client, anchors: client, recorder: client, close: noop };
}

/**
 * `undefined` when `rpcUrl` answers with `chainId` and has code at the epoch counter (so it is
 * this data directory's anvil, not another one that took the port), else why not.
 */
async function probeAnvil(
  rpcUrl: string,
  chainId: number,
  addresses: ContractAddresses,
): Promise<string | undefined> {
  const rpc = async (method: string, params: unknown[]) => {
    const res = await fetch(rpcUrl, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
      signal: AbortSignal.timeout(PROBE_TIMEOUT_MS),
    });
    const body = await res.json();
    if (!res.ok || body.error) throw new Error(body.error?.message ?? `HTTP ${res.status}`);
    return body.result as string;
  };
  try {
    const id = Number(await rpc("eth_chainId", []));
    if (id !== chainId) return `${rpcUrl} reports chain id ${id}, the deployment ${chainId}`;
    const code = await rpc("eth_getCode", [addresses.K3EpochCounter, "latest"]);
    if (!code || code === "0x") return `${rpcUrl} has no K3EpochCounter of this deployment`;
    return undefined;
  } catch (err) {
    return `${rpcUrl} does not answer: ${(err as Error).message}`;
  }
}

async function readJson<T>(path: string): Promise<T | null> {
  const text = await readTextIfExists(path);
  if (text === undefined) return null;
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new Error(`${path} is not valid JSON; restore it or move the chain folder aside`);
  }
}

async function readGovernanceKey(path: string): Promise<`0x${string}` | undefined> {
  try {
    const hex = (await Deno.readTextFile(path)).trim().replace(/^0x/, "");
    return /^[0-9a-f]{64}$/.test(hex) ? `0x${hex}` : undefined;
  } catch {
    return undefined;
  }
}
