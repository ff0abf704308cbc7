/**
 * The embedded chain's public JSON-RPC interface (`POST /v1/chain/rpc`): an allow-list in front
 * of anvil. anvil itself answers cheat codes to anyone who reaches it (`anvil_setStorageAt` can
 * rewrite a device record in AgentRegistry), so clients never get its URL; they get this proxy,
 * which forwards standard reads and `eth_sendRawTransaction` (a transaction the sender signed
 * itself) and refuses everything else: cheat codes (`anvil_*`, `evm_*`, `hardhat_*`), tracing
 * (`debug_*`, `ots_*`, `txpool_*`) and every method that would use an account anvil holds
 * (`eth_sendTransaction`, `eth_sign*`, `personal_*`, `eth_accounts`, `eth_coinbase`).
 *
 * A refusal is a JSON-RPC error `-32601` ("method not found") with HTTP 200: viem's `http`
 * transport turns it into `MethodNotFoundRpcError`, and where viem probes an optional method
 * (`eth_fillTransaction`) that code makes it fall back to the standard calls.
 *
 * Allowed methods whose cost the caller picks are bounded (`-32602` invalid params, `-32005`
 * limit exceeded): `eth_call`/`eth_estimateGas` take no state or block overrides, must name a
 * contract and at most {@linkcode RPC_GAS_MAX} gas; `eth_getLogs` spans at most
 * {@linkcode RPC_LOGS_MAX_BLOCKS} blocks; `eth_sendRawTransaction` only calls the registries
 * (no deployments, no transfers); no answer over {@linkcode RPC_ANSWER_MAX_BYTES} is relayed.
 *
 * ```ts
 * const proxy = new RpcProxy(anvil.rpcUrl, { writable: [agentRegistry, scopeRegistry] });
 * const answer = await proxy.handle('{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}');
 * // {"jsonrpc":"2.0","id":1,"result":"0x7a69"}; undefined when only notifications came
 * ```
 *
 * @module
 */

import { type Hex, isAddress, isHex, parseTransaction } from "viem";

/** Methods forwarded to the node: reads of public chain state, and signed transactions. */
export const RPC_ALLOWED_METHODS: ReadonlySet<string> = new Set([
  "web3_clientVersion",
  "net_version",
  "eth_chainId",
  "eth_blockNumber",
  "eth_gasPrice",
  "eth_maxPriorityFeePerGas",
  "eth_feeHistory",
  "eth_getBalance",
  "eth_getCode",
  // Storage is public chain state anyway (anyone can replay the transactions); wallets and
  // explorers read it, and reading cannot change it.
  "eth_getStorageAt",
  "eth_getTransactionCount",
  "eth_call",
  "eth_estimateGas",
  "eth_getTransactionByHash",
  "eth_getTransactionReceipt",
  "eth_getBlockByNumber",
  "eth_getBlockByHash",
  "eth_getLogs",
  "eth_sendRawTransaction",
]);

/** Largest JSON-RPC batch accepted; a larger one is refused whole. */
export const RPC_BATCH_MAX = 20;

/**
 * Most gas an `eth_call` or `eth_estimateGas` may ask for: anvil's block gas limit, which is what
 * it uses when none is given. anvil does not cap a call's gas by the block's, and stops no work
 * when the caller hangs up, so `"gas": "0xffffffffffff"` on a loop kept it busy for days.
 */
export const RPC_GAS_MAX = 30_000_000n;

/** Widest `eth_getLogs` block range (both ends included). */
export const RPC_LOGS_MAX_BLOCKS = 1_000n;

/**
 * Largest answer relayed for one call; the node's body is read up to this and no further, so a
 * batch buffers at most {@linkcode RPC_BATCH_MAX} times it.
 */
export const RPC_ANSWER_MAX_BYTES = 1024 * 1024;

/** How long one forwarded call may take before it answers "chain unavailable". */
const FORWARD_TIMEOUT_MS = 30_000;

type Id = string | number | null;

/** One JSON-RPC response object. */
export interface RpcResponse {
  jsonrpc: "2.0";
  id: Id;
  result?: unknown;
  error?: { code: number; message: string; data?: unknown };
}

/** JSON-RPC 2.0 error codes used here (`limitExceeded` is EIP-1474's). */
export const RPC_ERRORS = {
  parse: -32700,
  invalidRequest: -32600,
  methodNotFound: -32601,
  invalidParams: -32602,
  internal: -32603,
  limitExceeded: -32005,
} as const;

function rpcError(id: Id, code: number, message: string): RpcResponse {
  return { jsonrpc: "2.0", id, error: { code, message } };
}

/** A call refused after its method was allowed: bad or unbounded parameters. */
class Refused extends Error {
  constructor(readonly code: number, message: string) {
    super(message);
  }
}

/** What `RpcProxy` needs besides the node's URL. */
export interface RpcProxyOptions {
  /**
   * The only contracts `eth_sendRawTransaction` may call: this deployment's AgentRegistry and
   * ScopeRegistry (what operators sign themselves). Governance writes (K3EpochCounter,
   * AuditAnchor) are the service's own and never pass the proxy.
   */
  writable: readonly string[];
  fetch?: typeof fetch;
  /**
   * Runs after a transaction was accepted, before its hash is answered: the service's chain
   * client waits for it to be mined (anvil mines at once, but answers the hash before the block
   * is in) and syncs, so the sender's next request already sees what it wrote.
   */
  afterTransaction?: (hash: string) => Promise<void>;
}

/**
 * How many calls `body` holds, for a rate limit that counts each batch element: 1 for anything
 * but a batch the proxy would forward.
 */
export function rpcCallCount(body: string): number {
  try {
    const parsed: unknown = JSON.parse(body);
    if (Array.isArray(parsed) && parsed.length > 1 && parsed.length <= RPC_BATCH_MAX) {
      return parsed.length;
    }
  } catch {
    // A parse error is answered without reaching the node.
  }
  return 1;
}

/** Forwards allow-listed JSON-RPC calls to `upstream` (the embedded anvil). */
export class RpcProxy {
  readonly #fetch: typeof fetch;
  readonly #writable: Set<string>;
  readonly #afterTransaction?: (hash: string) => Promise<void>;

  constructor(readonly upstream: string, options: RpcProxyOptions) {
    this.#fetch = options.fetch ?? fetch;
    this.#afterTransaction = options.afterTransaction;
    this.#writable = new Set(options.writable.map((a) => a.toLowerCase()));
  }

  /**
   * Answers one HTTP body: a response object, an array of them for a batch, or `undefined`
   * when nothing is owed (only notifications).
   */
  async handle(
    body: string,
  ): Promise<RpcResponse | RpcResponse[] | undefined> {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      return rpcError(null, RPC_ERRORS.parse, "parse error: the body is not JSON");
    }
    if (!Array.isArray(parsed)) return await this.#one(parsed);
    if (parsed.length === 0) {
      return rpcError(null, RPC_ERRORS.invalidRequest, "invalid request: empty batch");
    }
    if (parsed.length > RPC_BATCH_MAX) {
      return rpcError(
        null,
        RPC_ERRORS.invalidRequest,
        `invalid request: a batch holds at most ${RPC_BATCH_MAX} calls`,
      );
    }
    // Each call on its own: a refused element must not stop the others, and answering by
    // position needs no trust in the node's ordering or ids.
    const answers = await Promise.all(parsed.map((element) => this.#one(element)));
    const owed = answers.filter((a): a is RpcResponse => a !== undefined);
    return owed.length === 0 ? undefined : owed;
  }

  async #one(request: unknown): Promise<RpcResponse | undefined> {
    if (typeof request !== "object" || request === null || Array.isArray(request)) {
      return rpcError(null, RPC_ERRORS.invalidRequest, "invalid request: not an object");
    }
    const r = request as Record<string, unknown>;
    const hasId = Object.hasOwn(r, "id");
    const idOk = !hasId || r.id === null || typeof r.id === "string" ||
      (typeof r.id === "number" && Number.isFinite(r.id));
    const id: Id = hasId && idOk ? r.id as Id : null;
    if (
      !idOk || r.jsonrpc !== "2.0" || typeof r.method !== "string" ||
      (r.params !== undefined && (typeof r.params !== "object" || r.params === null))
    ) {
      return rpcError(
        id,
        RPC_ERRORS.invalidRequest,
        "invalid request: needs jsonrpc 2.0, a method name, and params as an array or object",
      );
    }
    const notification = !hasId;
    if (!RPC_ALLOWED_METHODS.has(r.method)) {
      if (notification) return undefined;
      return rpcError(
        id,
        RPC_ERRORS.methodNotFound,
        `method ${JSON.stringify(r.method.slice(0, 64))} is not allowed on this service's chain`,
      );
    }
    let params: unknown;
    try {
      params = await this.#bounded(r.method, r.params);
    } catch (err) {
      if (!(err instanceof Refused)) throw err;
      return notification ? undefined : rpcError(id, err.code, err.message);
    }
    // Rebuilt from the checked fields only: nothing else of the caller's object reaches anvil.
    const forwarded = {
      jsonrpc: "2.0",
      id: notification ? 0 : id,
      method: r.method,
      ...(params === undefined ? {} : { params }),
    };
    const answer = await this.#forward(forwarded);
    if (
      r.method === "eth_sendRawTransaction" && this.#afterTransaction &&
      typeof answer.result === "string"
    ) {
      await this.#afterTransaction(answer.result).catch(() => {});
    }
    if (notification) return undefined;
    if ("error" in answer && answer.error !== undefined) {
      return { jsonrpc: "2.0", id, error: answer.error };
    }
    return { jsonrpc: "2.0", id, result: answer.result ?? null };
  }

  /**
   * The params to forward, or {@linkcode Refused}: the calls whose cost a caller chooses are
   * bounded here (gas, log ranges, what a transaction may do).
   */
  async #bounded(method: string, params: unknown): Promise<unknown> {
    switch (method) {
      case "eth_call":
      case "eth_estimateGas":
        return callParams(method, params);
      case "eth_getLogs":
        return [await this.#logFilter(params)];
      case "eth_sendRawTransaction":
        return [this.#rawTransaction(params)];
      default:
        return params;
    }
  }

  async #logFilter(params: unknown): Promise<Record<string, unknown>> {
    const [filter] = positional("eth_getLogs", params, 1, 1);
    if (typeof filter !== "object" || filter === null || Array.isArray(filter)) {
      throw new Refused(RPC_ERRORS.invalidParams, "eth_getLogs takes one filter object");
    }
    const f = filter as Record<string, unknown>;
    const picked: Record<string, unknown> = {};
    if (f.address !== undefined) picked.address = f.address;
    if (f.topics !== undefined) picked.topics = f.topics;
    if (f.blockHash !== undefined) {
      if (f.fromBlock !== undefined || f.toBlock !== undefined) {
        throw new Refused(RPC_ERRORS.invalidParams, "blockHash excludes fromBlock and toBlock");
      }
      return { ...picked, blockHash: f.blockHash }; // one block
    }
    let latest: bigint | undefined;
    const bound = async (tag: unknown): Promise<bigint> => {
      if (typeof tag === "string" && QUANTITY.test(tag)) return BigInt(tag);
      if (tag === "earliest") return 0n;
      if (tag === undefined || tag === "latest" || tag === "safe" || tag === "finalized") {
        latest ??= await this.#blockNumber();
        return latest;
      }
      throw new Refused(
        RPC_ERRORS.invalidParams,
        "fromBlock and toBlock must be block numbers, latest, safe, finalized or earliest",
      );
    };
    const from = await bound(f.fromBlock);
    const to = await bound(f.toBlock);
    if (to >= from && to - from >= RPC_LOGS_MAX_BLOCKS) {
      throw new Refused(
        RPC_ERRORS.limitExceeded,
        `eth_getLogs covers at most ${RPC_LOGS_MAX_BLOCKS} blocks per call; ask for a narrower range`,
      );
    }
    // Forwarded as numbers: "latest" must not widen the range between this check and anvil.
    return { ...picked, fromBlock: hex(from), toBlock: hex(to) };
  }

  async #blockNumber(): Promise<bigint> {
    const answer = await this.#forward({ jsonrpc: "2.0", id: 0, method: "eth_blockNumber" });
    if (typeof answer.result === "string" && QUANTITY.test(answer.result)) {
      return BigInt(answer.result);
    }
    throw new Refused(RPC_ERRORS.internal, "the chain is unavailable");
  }

  #rawTransaction(params: unknown): string {
    const [raw] = positional("eth_sendRawTransaction", params, 1, 1);
    let tx: ReturnType<typeof parseTransaction>;
    try {
      if (typeof raw !== "string" || !isHex(raw)) throw new TypeError("not hex");
      tx = parseTransaction(raw as Hex);
    } catch {
      throw new Refused(RPC_ERRORS.invalidParams, "the transaction is not a signed transaction");
    }
    // Blob and EIP-7702 transactions would store more than a registry call; none is needed.
    if (!SENDABLE_TYPES.has(tx.type ?? "")) {
      throw new Refused(RPC_ERRORS.invalidParams, `${tx.type} transactions are not accepted`);
    }
    if (!tx.to || !this.#writable.has(tx.to.toLowerCase())) {
      throw new Refused(
        RPC_ERRORS.invalidParams,
        "only calls of this service's AgentRegistry and ScopeRegistry are accepted (no contract creation, no transfers)",
      );
    }
    if ((tx.value ?? 0n) !== 0n) {
      throw new Refused(RPC_ERRORS.invalidParams, "the registries accept no ether");
    }
    return raw;
  }

  async #forward(
    request: Record<string, unknown>,
  ): Promise<Omit<RpcResponse, "jsonrpc" | "id">> {
    try {
      const res = await this.#fetch(this.upstream, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(request),
        // Frees the proxy; anvil itself finishes a call whose client hung up (measured with
        // anvil 1.7.1), which is why the gas of a call is bounded before it is sent.
        signal: AbortSignal.timeout(FORWARD_TIMEOUT_MS),
      });
      const bytes = await readAtMost(res, RPC_ANSWER_MAX_BYTES);
      if (bytes === null) {
        return {
          error: {
            code: RPC_ERRORS.limitExceeded,
            message:
              `the answer exceeds ${RPC_ANSWER_MAX_BYTES} bytes; ask for less (a narrower range, fewer logs)`,
          },
        };
      }
      const body = JSON.parse(new TextDecoder().decode(bytes));
      if (typeof body === "object" && body !== null && !Array.isArray(body)) {
        const err = body.error;
        if (typeof err === "object" && err !== null && typeof err.code === "number") {
          return {
            error: {
              code: err.code,
              message: String(err.message ?? "error"),
              ...(err.data === undefined ? {} : { data: err.data }),
            },
          };
        }
        if (Object.hasOwn(body, "result")) return { result: body.result };
      }
    } catch {
      // Unreachable node or a non-JSON answer: reported below without internals.
    }
    return { error: { code: RPC_ERRORS.internal, message: "the chain is unavailable" } };
  }
}

const QUANTITY = /^0x[0-9a-fA-F]{1,64}$/;

const SENDABLE_TYPES = new Set(["legacy", "eip2930", "eip1559"]);

const hex = (n: bigint) => `0x${n.toString(16)}`;

/** `params` as an array of `min` to `max` elements (state and block overrides are the extra ones). */
function positional(method: string, params: unknown, min: number, max: number): unknown[] {
  const list = params === undefined ? [] : params;
  if (!Array.isArray(list) || list.length < min || list.length > max) {
    throw new Refused(
      RPC_ERRORS.invalidParams,
      `${method} takes ${min === max ? min : `${min} to ${max}`} positional params here` +
        (max === 2 ? " (a transaction and a block; no state or block overrides)" : ""),
    );
  }
  return list;
}

/**
 * `[tx]` or `[tx, block]` of `eth_call`/`eth_estimateGas`, with a contract to call and gas at
 * most {@linkcode RPC_GAS_MAX}. Without `to` the node would run the caller's own code.
 */
function callParams(method: string, params: unknown): unknown[] {
  const list = positional(method, params, 1, 2);
  const tx = list[0];
  if (typeof tx !== "object" || tx === null || Array.isArray(tx)) {
    throw new Refused(RPC_ERRORS.invalidParams, `${method} needs a transaction object`);
  }
  const t = tx as Record<string, unknown>;
  if (typeof t.to !== "string" || !isAddress(t.to, { strict: false })) {
    throw new Refused(
      RPC_ERRORS.invalidParams,
      `${method} needs a contract address in "to" (no contract creation)`,
    );
  }
  if (t.gas !== undefined && t.gas !== null) {
    if (typeof t.gas !== "string" || !QUANTITY.test(t.gas) || BigInt(t.gas) > RPC_GAS_MAX) {
      throw new Refused(
        RPC_ERRORS.invalidParams,
        `gas must be a quantity of at most ${RPC_GAS_MAX} (the block gas limit)`,
      );
    }
  }
  return list;
}

/** The body of `res`, or `null` (reading stopped) once it passes `max` bytes. */
async function readAtMost(res: Response, max: number): Promise<Uint8Array | null> {
  if (!res.body) return new Uint8Array();
  const declared = Number(res.headers.get("content-length") ?? NaN);
  if (declared > max) {
    await res.body.cancel();
    return null;
  }
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel();
      return null;
    }
    chunks.push(value);
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}
