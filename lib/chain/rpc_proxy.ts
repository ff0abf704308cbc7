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
 * ```ts
 * const proxy = new RpcProxy(anvil.rpcUrl);
 * const answer = await proxy.handle('{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}');
 * // {"jsonrpc":"2.0","id":1,"result":"0x7a69"}; undefined when only notifications came
 * ```
 *
 * @module
 */

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

/** JSON-RPC 2.0 error codes used here. */
export const RPC_ERRORS = {
  parse: -32700,
  invalidRequest: -32600,
  methodNotFound: -32601,
  internal: -32603,
} as const;

function rpcError(id: Id, code: number, message: string): RpcResponse {
  return { jsonrpc: "2.0", id, error: { code, message } };
}

/** Forwards allow-listed JSON-RPC calls to `upstream` (the embedded anvil). */
export class RpcProxy {
  constructor(
    readonly upstream: string,
    private readonly fetchFn: typeof fetch = fetch,
  ) {}

  /**
   * Answers one HTTP body: a response object, an array of them for a batch, or `undefined`
   * when nothing is owed (only notifications).
   */
  async handle(body: string): Promise<RpcResponse | RpcResponse[] | undefined> {
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
    // Rebuilt from the checked fields only: nothing else of the caller's object reaches anvil.
    const forwarded = {
      jsonrpc: "2.0",
      id: notification ? 0 : id,
      method: r.method,
      ...(r.params === undefined ? {} : { params: r.params }),
    };
    const answer = await this.#forward(forwarded);
    if (notification) return undefined;
    if ("error" in answer && answer.error !== undefined) {
      return { jsonrpc: "2.0", id, error: answer.error };
    }
    return { jsonrpc: "2.0", id, result: answer.result ?? null };
  }

  async #forward(request: Record<string, unknown>): Promise<Omit<RpcResponse, "jsonrpc" | "id">> {
    try {
      const res = await this.fetchFn(this.upstream, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(request),
        signal: AbortSignal.timeout(FORWARD_TIMEOUT_MS),
      });
      const body = await res.json();
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
