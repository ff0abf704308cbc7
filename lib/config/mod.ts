/**
 * The one place that reads the environment. Every setting, its default and its meaning are in
 * {@linkcode SETTINGS}; the README's settings table is checked against it by a test, so a new
 * setting cannot go undocumented.
 *
 * ```ts
 * import { loadConfig } from "./lib/config/mod.ts";
 * const config = loadConfig(Deno.env.toObject());
 * console.log(config.port); // 8787 unless AGENTKEYS_PORT says otherwise
 * ```
 *
 * @module
 */

// @ts-types="npm:@types/ms@2.1.0"
import ms from "ms";
import { parseRate, type RateSpec } from "../ratelimit/mod.ts";

/** One documented environment variable. */
interface Setting {
  name: string;
  default: string;
  description: string;
}

/** Every environment variable the service reads. */
export const SETTINGS: readonly Setting[] = [
  {
    name: "AGENTKEYS_DATA_DIR",
    default: "./data",
    description:
      "where the embedded defaults keep their state: `blobs/` (fs store), `signer/` (sealed keystore), `state.kv` (Deno KV) and its change counter `state.kv.changes`, the generated seal key",
  },
  { name: "AGENTKEYS_HOST", default: "127.0.0.1", description: "address the HTTP server binds" },
  {
    name: "AGENTKEYS_PORT",
    default: "8787",
    description: "port the HTTP server binds (`0` picks a free port)",
  },
  {
    name: "AGENTKEYS_PUBLIC_URL",
    default: "http://HOST:PORT",
    description:
      "the URL clients use: OIDC issuer, SIWE domain and URI; requests naming another host than this one or loopback (with the bound port) are refused (421); with PORT `0` the default takes the port bound",
  },
  {
    name: "AGENTKEYS_SEAL_KEY",
    default: "(generated)",
    description:
      "64 hex chars sealing the K3 keystore at rest; unset: a 0600 file `seal.key` created in the data directory at first start",
  },
  {
    name: "AGENTKEYS_ADMINS",
    default: "(none)",
    description:
      "comma-separated operator addresses: exactly these are admins; unset: the first start writes a one-time admin claim token (0600 `admin-claim.token` in the data directory, printed once) and whoever presents it becomes admin",
  },
  {
    name: "AGENTKEYS_OIDC_AUDIENCES",
    default: "sts.amazonaws.com",
    description:
      "comma-separated audiences `POST /v1/mint-oidc-jwt` may issue tokens for (another is refused with 400 `audience_not_allowed`); the first is used when a request names none",
  },
  {
    name: "AGENTKEYS_S3_ENDPOINT",
    default: "(unset: fs store)",
    description:
      "S3-compatible endpoint URL (e.g. Ceph RGW); setting it or the bucket switches to the S3 store",
  },
  {
    name: "AGENTKEYS_S3_BUCKET",
    default: "agentkeys-vault",
    description: "the vault bucket (unversioned: conditional writes need it)",
  },
  { name: "AGENTKEYS_S3_REGION", default: "us-east-1", description: "S3 region" },
  {
    name: "AGENTKEYS_S3_FORCE_PATH_STYLE",
    default: "true",
    description: "path-style addressing (`false` for virtual-hosted AWS buckets)",
  },
  {
    name: "AWS_ACCESS_KEY_ID",
    default: "(unset)",
    description: "S3 credentials; with the secret and optional session token",
  },
  { name: "AWS_SECRET_ACCESS_KEY", default: "(unset)", description: "S3 secret key" },
  {
    name: "AWS_SESSION_TOKEN",
    default: "(unset)",
    description: "S3 session token for temporary credentials",
  },
  {
    name: "AGENTKEYS_LEGACY_S3_ENDPOINT",
    default: "(unset: the vault store)",
    description:
      "`deno task migrate-legacy`: S3 endpoint of the bucket the reference implementation wrote (`--source-endpoint`)",
  },
  {
    name: "AGENTKEYS_LEGACY_S3_BUCKET",
    default: "(unset: the vault store)",
    description: "`migrate-legacy`: that bucket (`--source-bucket`); unset migrates in place",
  },
  { name: "AGENTKEYS_LEGACY_S3_REGION", default: "us-east-1", description: "its region" },
  {
    name: "AGENTKEYS_LEGACY_S3_ACCESS_KEY_ID",
    default: "(unset: AWS_ACCESS_KEY_ID)",
    description: "its credentials, with `AGENTKEYS_LEGACY_S3_SECRET_ACCESS_KEY`",
  },
  {
    name: "AGENTKEYS_LEGACY_S3_SECRET_ACCESS_KEY",
    default: "(unset: AWS_SECRET_ACCESS_KEY)",
    description: "its secret key",
  },
  {
    name: "AGENTKEYS_MAX_CREDENTIAL_BYTES",
    default: "65536",
    description: "largest credential plaintext accepted",
  },
  {
    name: "AGENTKEYS_MAX_MEMORY_BYTES",
    default: "1048576",
    description: "largest memory object plaintext accepted",
  },
  {
    name: "AGENTKEYS_MAX_INBOUND_BYTES",
    default: "1048576",
    description: "largest inbound message plaintext accepted",
  },
  {
    name: "AGENTKEYS_MAX_KEYRING_BYTES",
    default: "1048576",
    description: "largest keyring document or ring record accepted (as encrypted by the members)",
  },
  {
    name: "AGENTKEYS_RATE_LOGIN",
    default: "60/min",
    description:
      "sign-in requests (starts and verifies of `/v1/auth/siwe/*` and `/v1/auth/device/*` together) per client address, as count/unit with unit `s`, `min` or `h`: bursts of up to count, count per period on average. The address is the TCP peer: `X-Forwarded-For` is not trusted, so behind a reverse proxy all clients share the proxy's budget",
  },
  {
    name: "AGENTKEYS_RATE_FAUCET",
    default: "10/min",
    description:
      "embedded chain only: `POST /v1/dev/faucet` requests per client address and, separately, per funded address (same syntax)",
  },
  {
    name: "AGENTKEYS_RATE_RPC",
    default: "600/min",
    description:
      "embedded chain only: calls to the chain proxy `POST /v1/chain/rpc` per client address (same syntax), each element of a batch counting as one; a CLI command makes a few dozen",
  },
  {
    name: "AGENTKEYS_RATE_MINT",
    default: "100000/min",
    description:
      "cap mints (`POST /v1/cap/*`) per session (same syntax); a brake on runaway loops, far above what `bench/cap.ts` reaches",
  },
  {
    name: "AGENTKEYS_MAX_PENDING_LOGINS",
    default: "10000",
    description:
      "sign-in challenges (SIWE and device) pending at once; a new one beyond this evicts the oldest, whose verify then fails as unknown",
  },
  {
    name: "AGENTKEYS_MAX_STREAMS_PER_SESSION",
    default: "4",
    description:
      "concurrent re-encryption event streams (`GET /v1/reencrypt/jobs/:id/events`) per session; one more is refused with 429",
  },
  {
    name: "AGENTKEYS_ROTATE_EVERY",
    default: "7d",
    description:
      "epoch lifecycle: the scheduler rotates K3 when the active epoch is older than this (a duration: number and unit `ms`, `s`, `m`, `h`, `d`, `w`, e.g. `12h`); `off`: no scheduled rotation",
  },
  {
    name: "AGENTKEYS_ROTATE_ON_REVOKE",
    default: "true",
    description:
      "epoch lifecycle: an agent's revocation on chain triggers a rotation (`false`: it does not)",
  },
  {
    name: "AGENTKEYS_ROTATE_COALESCE",
    default: "10m",
    description:
      "epoch lifecycle: a revocation's rotation happens this long after the first revocation of a burst; every revocation until then is folded into that one rotation",
  },
  {
    name: "AGENTKEYS_ROTATE_REVOKE_GAP",
    default: "1h",
    description:
      "epoch lifecycle: a rotation that revocations trigger comes no sooner than this after the active epoch was created (any wallet can register and revoke an agent, so revocations alone may not rotate K3, and re-encrypt the whole store, more often than this)",
  },
  {
    name: "AGENTKEYS_REENCRYPT_AFTER",
    default: "1h",
    description:
      "epoch lifecycle: this long after a rotation, a re-encryption job moves the whole store (every operator) to the active epoch; also how long a deferred destruction waits before the next try",
  },
  {
    name: "AGENTKEYS_DESTROY_AFTER",
    default: "24h",
    description:
      "epoch lifecycle: this long after a rotation, a global census is taken and the retiring epoch destroyed if it proves it empty (never forced; otherwise deferred and audited with the count)",
  },
  {
    name: "AGENTKEYS_TTL_MEMORY",
    default: "off",
    description:
      "epoch lifecycle: memory blobs neither written nor read for this long are deleted by the sweep (tombstone in the audit log); `off`: never",
  },
  {
    name: "AGENTKEYS_TTL_INBOUND",
    default: "off",
    description:
      "epoch lifecycle: inbound messages neither written nor read for this long are deleted by the sweep; `off`: never. Credentials are never swept",
  },
  {
    name: "AGENTKEYS_INTEGRITY",
    default: "adopt",
    description:
      "vault integrity: `adopt` — a blob with no pointer (written before pointers existed) is adopted on its first read whose envelope opens (bytes that do not authenticate never are), audited as `adopted`; `strict` — it is refused with 409 `integrity_mismatch`. Every read is checked against its pointer either way",
  },
  {
    name: "AGENTKEYS_ANCHOR_EVERY",
    default: "60s",
    description:
      "vault integrity: the pointers' Merkle root and the audit log's head are anchored on chain this often (a duration), or after AGENTKEYS_ANCHOR_WRITES writes, whichever comes first; only when something changed",
  },
  {
    name: "AGENTKEYS_ANCHOR_WRITES",
    default: "1000",
    description:
      "vault integrity: pointer commits that trigger an anchor before AGENTKEYS_ANCHOR_EVERY",
  },
  {
    name: "AGENTKEYS_METRICS_LISTEN",
    default: "off",
    description:
      "`host:port` of a second listener that serves only `GET /metrics` (Prometheus text format) without a session, for scrapers, to requests that name this host, a loopback name or an IP literal (DNS rebinding); `off`: `/metrics` is served on the main port to admin sessions only",
  },
  {
    name: "AGENTKEYS_RPC_URL",
    default: "(unset: embedded anvil)",
    description:
      "JSON-RPC URL of an external EVM chain that holds the identity contracts; unset: the service starts anvil with its state in `chain/` of the data directory and deploys the contracts on first start",
  },
  {
    name: "AGENTKEYS_CHAIN_ID",
    default: "31337 (embedded)",
    description:
      "chain id; with an external chain, when set, the service refuses a node that reports another",
  },
  {
    name: "AGENTKEYS_AGENT_REGISTRY",
    default: "(embedded: deployed)",
    description: "AgentRegistry address on the external chain (required with AGENTKEYS_RPC_URL)",
  },
  {
    name: "AGENTKEYS_SCOPE_REGISTRY",
    default: "(embedded: deployed)",
    description: "ScopeRegistry address on the external chain (required with AGENTKEYS_RPC_URL)",
  },
  {
    name: "AGENTKEYS_K3_EPOCH_COUNTER",
    default: "(embedded: deployed)",
    description: "K3EpochCounter address on the external chain (required with AGENTKEYS_RPC_URL)",
  },
  {
    name: "AGENTKEYS_AUDIT_ANCHOR",
    default: "(embedded: deployed)",
    description: "AuditAnchor address on the external chain (required with AGENTKEYS_RPC_URL)",
  },
  {
    name: "AGENTKEYS_VAULT_ANCHOR",
    default: "(embedded: deployed)",
    description:
      "VaultAnchor address on the external chain (optional: without it blob pointers are kept, checked and proven against the current root, but not anchored on chain, and `/healthz` says so)",
  },
  {
    name: "AGENTKEYS_GOVERNANCE_KEY",
    default: "(embedded: generated)",
    description:
      "external chain only: 64 hex chars, the private key of the contracts' governance (epoch rotation and destruction, audit anchors); unset there: those writes fail. The embedded chain generates a 0600 `chain/governance.key`",
  },
  {
    name: "AGENTKEYS_ANVIL_PORT",
    default: "0",
    description:
      "embedded chain only: the port anvil listens on (127.0.0.1); `0` picks a free one. Never published: clients use the service's proxy `POST /v1/chain/rpc`; headless commands find anvil through the 0600 `service.json`",
  },
  {
    name: "AGENTKEYS_CHAIN_POLL_MS",
    default: "100",
    description:
      "how often (ms) the service asks the chain for its latest block and new identity events; reads of one block are cached, and the service re-reads the chain at once after a transaction it relays and before refusing a cap, so this bounds only how late a revocation sent straight to the node (not through the service) takes effect",
  },
  {
    name: "AGENTKEYS_URL",
    default: "http://127.0.0.1:8787",
    description: "CLI only (`deno task cli`, `deno task reencrypt --url`): the service to talk to",
  },
  {
    name: "AGENTKEYS_ALLOW_HTTP",
    default: "false",
    description:
      "CLI and sidecar only: `true` lets them send sessions, device signatures and keys to a service over plain `http:` on another host than this one's loopback (refused by default: they would cross the network in clear)",
  },
  {
    name: "AGENTKEYS_CLI_HOME",
    default: "~/.config/agentkeys",
    description:
      "CLI only: where `login` keeps the session (0600) and `agent add` writes device keys",
  },
  {
    name: "AGENTKEYS_OPERATOR_KEY",
    default: "(unset)",
    description: "CLI only: the operator wallet's private key (hex) when `--key-file` is not given",
  },
  {
    name: "AGENTKEYS_SESSION",
    default: "(unset)",
    description:
      "`deno task reencrypt --url` only: the operator session JWT the job is started and followed with (`session_jwt` of a SIWE login); a 401 from the service exits 75",
  },
];

/** S3 store settings; present only when the S3 store is selected. */
export interface S3Config {
  endpoint?: string;
  bucket: string;
  region: string;
  forcePathStyle: boolean;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}

/** The identity chain: embedded anvil when `rpcUrl` is unset, else an external EVM chain. */
interface ChainConfig {
  /** External chain's JSON-RPC URL; undefined selects the embedded anvil. */
  rpcUrl?: string;
  /** Expected chain id (embedded default 31337; external: checked against the node if set). */
  chainId?: number;
  /** Contract addresses; present exactly when `rpcUrl` is. */
  addresses?: {
    AgentRegistry: `0x${string}`;
    ScopeRegistry: `0x${string}`;
    K3EpochCounter: `0x${string}`;
    AuditAnchor: `0x${string}`;
    /** Optional: without it the pointers are kept and proven but not anchored. */
    VaultAnchor?: `0x${string}`;
  };
  /** External chain's governance private key (0x + 64 hex). */
  governanceKey?: `0x${string}`;
  /** Embedded anvil's port; 0 = a free one. */
  anvilPort: number;
  /** The service's head poll, ms (AGENTKEYS_CHAIN_POLL_MS). */
  pollMs: number;
}

/** The parsed, validated configuration. */
export interface Config {
  dataDir: string;
  host: string;
  port: number;
  publicUrl: string;
  /**
   * True when AGENTKEYS_PUBLIC_URL was set. Otherwise `publicUrl` derives from the host and
   * port, and {@linkcode withBoundPort} gives it the port the listener really got.
   */
  publicUrlSet?: boolean;
  /** 32 bytes from AGENTKEYS_SEAL_KEY, or undefined for the embedded seal key file. */
  sealKey?: Uint8Array;
  admins: string[];
  /** Audiences OIDC tokens may be issued for; the first is the default. Never empty. */
  oidcAudiences: string[];
  s3?: S3Config;
  limits: { credentials: number; memory: number; inbound: number; keyring: number };
  chain: ChainConfig;
  guards: Guards;
  /** The epoch lifecycle policy the scheduler runs (ARCHITECTURE §14). */
  lifecycle: LifecyclePolicy;
  /** A second listener serving only `/metrics` to scrapers; absent: admin sessions only. */
  metricsListen?: { hostname: string; port: number };
  /** Vault integrity (ARCHITECTURE §13). */
  integrity: IntegrityPolicy;
}

/** Vault integrity settings. */
interface IntegrityPolicy {
  mode: "adopt" | "strict";
  anchorEveryMs: number;
  anchorWrites: number;
}

/** The epoch lifecycle settings, durations in milliseconds; `null` is `off`. */
export interface LifecyclePolicy {
  rotateEveryMs: number | null;
  rotateOnRevoke: boolean;
  rotateCoalesceMs: number;
  /** A revocation rotation waits until the active epoch is this old. */
  rotateRevokeGapMs: number;
  reencryptAfterMs: number;
  destroyAfterMs: number;
  ttlMemoryMs: number | null;
  ttlInboundMs: number | null;
}

/** Limits on work a client can cause before (or regardless of) being trusted. */
export interface Guards {
  /** Per client address, over the four login routes. */
  loginRate: RateSpec;
  /** Per client address and per funded address. */
  faucetRate: RateSpec;
  /** Per client address, one token per call of a batch. */
  rpcRate: RateSpec;
  /** Per session. */
  mintRate: RateSpec;
  maxPendingLogins: number;
  maxStreamsPerSession: number;
}

/** A setting has a value the service cannot use; the message names the variable. */
export class ConfigError extends Error {
  readonly code = "config_invalid";
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

type Env = Record<string, string | undefined>;

/**
 * Parses the environment into a {@linkcode Config}; throws {@linkcode ConfigError} on bad values.
 *
 * ```ts
 * const c = loadConfig({ AGENTKEYS_PORT: "9000" });
 * c.publicUrl; // "http://127.0.0.1:9000"
 * ```
 */
export function loadConfig(env: Env): Config {
  const get = (name: string) => {
    const v = env[name]?.trim();
    return v === "" ? undefined : v;
  };
  const host = get("AGENTKEYS_HOST") ?? settingDefault("AGENTKEYS_HOST");
  const port = integer(
    get("AGENTKEYS_PORT") ?? settingDefault("AGENTKEYS_PORT"),
    "AGENTKEYS_PORT",
    0,
    65535,
  );
  const publicUrl = (get("AGENTKEYS_PUBLIC_URL") ?? `http://${hostForUrl(host)}:${port}`)
    .replace(/\/+$/, "");
  if (!/^https?:\/\/[^/]+$/.test(publicUrl)) {
    throw new ConfigError("AGENTKEYS_PUBLIC_URL must be an http(s) origin without a path");
  }
  const sealHex = get("AGENTKEYS_SEAL_KEY");
  let sealKey: Uint8Array | undefined;
  if (sealHex !== undefined) {
    if (!/^[0-9a-fA-F]{64}$/.test(sealHex)) {
      throw new ConfigError("AGENTKEYS_SEAL_KEY must be exactly 64 hex characters (32 bytes)");
    }
    sealKey = Uint8Array.fromHex(sealHex);
  }
  const admins = (get("AGENTKEYS_ADMINS") ?? "").split(",").map((a) => a.trim().toLowerCase())
    .filter((a) => a !== "");
  for (const a of admins) {
    if (!/^0x[0-9a-f]{40}$/.test(a)) {
      throw new ConfigError(`AGENTKEYS_ADMINS: ${a} is not an EVM address`);
    }
  }
  const endpoint = get("AGENTKEYS_S3_ENDPOINT");
  const bucket = get("AGENTKEYS_S3_BUCKET");
  let s3: S3Config | undefined;
  if (endpoint !== undefined || bucket !== undefined) {
    if (endpoint !== undefined && !/^https?:\/\//.test(endpoint)) {
      throw new ConfigError("AGENTKEYS_S3_ENDPOINT must be an http(s) URL");
    }
    const accessKeyId = get("AWS_ACCESS_KEY_ID");
    const secretAccessKey = get("AWS_SECRET_ACCESS_KEY");
    if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
      throw new ConfigError("set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or neither");
    }
    s3 = {
      endpoint,
      bucket: bucket ?? settingDefault("AGENTKEYS_S3_BUCKET"),
      region: get("AGENTKEYS_S3_REGION") ?? settingDefault("AGENTKEYS_S3_REGION"),
      forcePathStyle: boolean(
        get("AGENTKEYS_S3_FORCE_PATH_STYLE") ?? settingDefault("AGENTKEYS_S3_FORCE_PATH_STYLE"),
        "AGENTKEYS_S3_FORCE_PATH_STYLE",
      ),
      credentials: accessKeyId && secretAccessKey
        ? { accessKeyId, secretAccessKey, sessionToken: get("AWS_SESSION_TOKEN") }
        : undefined,
    };
  }
  const chain = chainConfig(get);
  const limit = (name: string) =>
    integer(get(name) ?? settingDefault(name), name, 1, 64 * 1024 * 1024);
  return {
    dataDir: get("AGENTKEYS_DATA_DIR") ?? settingDefault("AGENTKEYS_DATA_DIR"),
    host,
    port,
    publicUrl,
    publicUrlSet: get("AGENTKEYS_PUBLIC_URL") !== undefined,
    sealKey,
    admins,
    oidcAudiences: oidcAudiences(
      get("AGENTKEYS_OIDC_AUDIENCES") ?? settingDefault("AGENTKEYS_OIDC_AUDIENCES"),
    ),
    s3,
    limits: {
      credentials: limit("AGENTKEYS_MAX_CREDENTIAL_BYTES"),
      memory: limit("AGENTKEYS_MAX_MEMORY_BYTES"),
      inbound: limit("AGENTKEYS_MAX_INBOUND_BYTES"),
      keyring: limit("AGENTKEYS_MAX_KEYRING_BYTES"),
    },
    chain,
    guards: guardsFrom(get),
    lifecycle: lifecycleFrom(get),
    metricsListen: metricsListen(get),
    integrity: integrityFrom(get),
  };
}

/** The integrity settings' defaults (what an unset environment gives). */
export function defaultIntegrityPolicy(): IntegrityPolicy {
  return integrityFrom(() => undefined);
}

function integrityFrom(get: (name: string) => string | undefined): IntegrityPolicy {
  const value = (name: string) => get(name) ?? settingDefault(name);
  const mode = value("AGENTKEYS_INTEGRITY");
  if (mode !== "adopt" && mode !== "strict") {
    throw new ConfigError(`AGENTKEYS_INTEGRITY must be adopt or strict, got ${mode}`);
  }
  return {
    mode,
    anchorEveryMs: duration(value("AGENTKEYS_ANCHOR_EVERY"), "AGENTKEYS_ANCHOR_EVERY"),
    anchorWrites: integer(value("AGENTKEYS_ANCHOR_WRITES"), "AGENTKEYS_ANCHOR_WRITES", 1, 1e9),
  };
}

/** The lifecycle policy's defaults (what an unset environment gives). */
export function defaultLifecyclePolicy(): LifecyclePolicy {
  return lifecycleFrom(() => undefined);
}

function lifecycleFrom(get: (name: string) => string | undefined): LifecyclePolicy {
  const value = (name: string) => get(name) ?? settingDefault(name);
  const optional = (name: string) => value(name) === "off" ? null : duration(value(name), name);
  return {
    rotateEveryMs: optional("AGENTKEYS_ROTATE_EVERY"),
    rotateOnRevoke: boolean(value("AGENTKEYS_ROTATE_ON_REVOKE"), "AGENTKEYS_ROTATE_ON_REVOKE"),
    rotateCoalesceMs: duration(value("AGENTKEYS_ROTATE_COALESCE"), "AGENTKEYS_ROTATE_COALESCE"),
    rotateRevokeGapMs: duration(
      value("AGENTKEYS_ROTATE_REVOKE_GAP"),
      "AGENTKEYS_ROTATE_REVOKE_GAP",
    ),
    reencryptAfterMs: duration(value("AGENTKEYS_REENCRYPT_AFTER"), "AGENTKEYS_REENCRYPT_AFTER"),
    destroyAfterMs: duration(value("AGENTKEYS_DESTROY_AFTER"), "AGENTKEYS_DESTROY_AFTER"),
    ttlMemoryMs: optional("AGENTKEYS_TTL_MEMORY"),
    ttlInboundMs: optional("AGENTKEYS_TTL_INBOUND"),
  };
}

/**
 * A duration such as `7d`, `10m`, `1.5h`, `30s` in milliseconds, through `ms` (the npm package).
 * A unit is required: a bare number is ambiguous (seconds? milliseconds?) and refused, as are
 * zero, negative and absurd values (more than ten years).
 */
function duration(text: string, name: string): number {
  const unit = /^\d+(\.\d+)?\s*(ms|s|m|h|d|w)$/i.test(text.trim());
  // The regex above is what makes the text a `StringValue` for ms's types.
  const value = unit ? ms(text.trim() as ms.StringValue) : undefined;
  if (value === undefined || !Number.isFinite(value) || value <= 0 || value > 10 * 365 * 86400e3) {
    throw new ConfigError(
      `${name} must be a positive duration with a unit (ms, s, m, h, d, w), e.g. 10m, got ${text}`,
    );
  }
  return Math.round(value);
}

function metricsListen(
  get: (name: string) => string | undefined,
): { hostname: string; port: number } | undefined {
  const text = get("AGENTKEYS_METRICS_LISTEN") ?? settingDefault("AGENTKEYS_METRICS_LISTEN");
  if (text === "off") return undefined;
  const m = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(text);
  if (!m) throw new ConfigError(`AGENTKEYS_METRICS_LISTEN must be host:port or off, got ${text}`);
  return {
    hostname: m[1].replace(/^\[|\]$/g, ""),
    port: integer(m[2], "AGENTKEYS_METRICS_LISTEN port", 0, 65535),
  };
}

const CHAIN_ADDRESS_SETTINGS = {
  AgentRegistry: "AGENTKEYS_AGENT_REGISTRY",
  ScopeRegistry: "AGENTKEYS_SCOPE_REGISTRY",
  K3EpochCounter: "AGENTKEYS_K3_EPOCH_COUNTER",
  AuditAnchor: "AGENTKEYS_AUDIT_ANCHOR",
} as const;

function chainConfig(get: (name: string) => string | undefined): ChainConfig {
  const rpcUrl = get("AGENTKEYS_RPC_URL");
  if (rpcUrl !== undefined && !/^(https?|wss?):\/\/\S+$/.test(rpcUrl)) {
    throw new ConfigError("AGENTKEYS_RPC_URL must be an http(s) or ws(s) URL");
  }
  const chainIdText = get("AGENTKEYS_CHAIN_ID");
  const chainId = chainIdText === undefined
    ? undefined
    : integer(chainIdText, "AGENTKEYS_CHAIN_ID", 1, Number.MAX_SAFE_INTEGER);
  const anvilPort = integer(
    get("AGENTKEYS_ANVIL_PORT") ?? settingDefault("AGENTKEYS_ANVIL_PORT"),
    "AGENTKEYS_ANVIL_PORT",
    0,
    65535,
  );
  const pollMs = integer(
    get("AGENTKEYS_CHAIN_POLL_MS") ?? settingDefault("AGENTKEYS_CHAIN_POLL_MS"),
    "AGENTKEYS_CHAIN_POLL_MS",
    10,
    60_000,
  );
  const given = Object.entries(CHAIN_ADDRESS_SETTINGS)
    .map(([contract, name]) => [contract, name, get(name)] as const);
  const governanceKey = get("AGENTKEYS_GOVERNANCE_KEY");
  if (rpcUrl === undefined) {
    // The embedded chain deploys its own contracts with its own generated key; an address or
    // key given here could only be a mistake (meant for an external chain).
    const stray = given.find(([, , v]) => v !== undefined);
    if (stray) throw new ConfigError(`${stray[1]} needs AGENTKEYS_RPC_URL (an external chain)`);
    if (get("AGENTKEYS_VAULT_ANCHOR") !== undefined) {
      throw new ConfigError("AGENTKEYS_VAULT_ANCHOR needs AGENTKEYS_RPC_URL (an external chain)");
    }
    if (governanceKey !== undefined) {
      throw new ConfigError("AGENTKEYS_GOVERNANCE_KEY needs AGENTKEYS_RPC_URL (an external chain)");
    }
    return { chainId, anvilPort, pollMs };
  }
  const addresses: Record<string, `0x${string}`> = {};
  for (const [contract, name, value] of given) {
    if (value === undefined) throw new ConfigError(`${name} is required with AGENTKEYS_RPC_URL`);
    if (!/^0x[0-9a-fA-F]{40}$/.test(value)) {
      throw new ConfigError(`${name} must be an EVM address, got ${value}`);
    }
    addresses[contract] = value.toLowerCase() as `0x${string}`;
  }
  // Optional (vault integrity came later): absent, pointers are kept but not anchored.
  const vaultAnchor = get("AGENTKEYS_VAULT_ANCHOR");
  if (vaultAnchor !== undefined) {
    if (!/^0x[0-9a-fA-F]{40}$/.test(vaultAnchor)) {
      throw new ConfigError(`AGENTKEYS_VAULT_ANCHOR must be an EVM address, got ${vaultAnchor}`);
    }
    addresses.VaultAnchor = vaultAnchor.toLowerCase() as `0x${string}`;
  }
  if (governanceKey !== undefined && !/^(0x)?[0-9a-fA-F]{64}$/.test(governanceKey)) {
    throw new ConfigError("AGENTKEYS_GOVERNANCE_KEY must be 64 hex characters (32 bytes)");
  }
  return {
    rpcUrl,
    chainId,
    addresses: addresses as ChainConfig["addresses"],
    governanceKey: governanceKey === undefined
      ? undefined
      : `0x${governanceKey.replace(/^0x/, "").toLowerCase()}`,
    anvilPort,
    pollMs,
  };
}

/** The guards' defaults (what an unset environment gives); for apps built without a config. */
export function defaultGuards(): Guards {
  return guardsFrom(() => undefined);
}

function guardsFrom(get: (name: string) => string | undefined): Guards {
  const rate = (name: string) => {
    const text = get(name) ?? settingDefault(name);
    try {
      return parseRate(text);
    } catch (err) {
      throw new ConfigError(`${name}: ${(err as Error).message}`);
    }
  };
  const count = (name: string) =>
    integer(get(name) ?? settingDefault(name), name, 1, 1_000_000_000);
  return {
    loginRate: rate("AGENTKEYS_RATE_LOGIN"),
    faucetRate: rate("AGENTKEYS_RATE_FAUCET"),
    rpcRate: rate("AGENTKEYS_RATE_RPC"),
    mintRate: rate("AGENTKEYS_RATE_MINT"),
    maxPendingLogins: count("AGENTKEYS_MAX_PENDING_LOGINS"),
    maxStreamsPerSession: count("AGENTKEYS_MAX_STREAMS_PER_SESSION"),
  };
}

/** The documented default is the default (one source for the README and the code). */
function settingDefault(name: string): string {
  const setting = SETTINGS.find((s) => s.name === name);
  if (!setting) throw new Error(`${name} is not in SETTINGS`);
  return setting.default;
}

/** A list of OIDC audiences: each a printable token without spaces or commas, ≤ 256 chars. */
function oidcAudiences(text: string): string[] {
  const list = text.split(",").map((a) => a.trim()).filter((a) => a !== "");
  if (list.length === 0) {
    throw new ConfigError("AGENTKEYS_OIDC_AUDIENCES must name at least one audience");
  }
  for (const a of list) {
    if (!/^[\x21-\x7e]{1,256}$/.test(a)) {
      throw new ConfigError(
        `AGENTKEYS_OIDC_AUDIENCES: ${
          JSON.stringify(a)
        } is not a valid audience (printable, no spaces, at most 256 characters)`,
      );
    }
  }
  return [...new Set(list)];
}

function integer(value: string, name: string, min: number, max: number): number {
  if (!/^\d+$/.test(value)) throw new ConfigError(`${name} must be a whole number, got ${value}`);
  const n = Number(value);
  if (n < min || n > max) throw new ConfigError(`${name} must be between ${min} and ${max}`);
  return n;
}

function boolean(value: string, name: string): boolean {
  if (value === "true" || value === "1") return true;
  if (value === "false" || value === "0") return false;
  throw new ConfigError(`${name} must be true or false`);
}

/**
 * `config` once the server is bound to `port` (with AGENTKEYS_PORT=0 the OS picks it): a derived
 * public URL (issuer, SIWE domain and URI, Host check) takes that port; an explicit
 * AGENTKEYS_PUBLIC_URL is left as it is.
 *
 * ```ts
 * withBoundPort(loadConfig({ AGENTKEYS_PORT: "0" }), 41234).publicUrl; // "http://127.0.0.1:41234"
 * ```
 */
export function withBoundPort(config: Config, port: number): Config {
  const publicUrl = config.publicUrlSet
    ? config.publicUrl
    : `http://${hostForUrl(config.host)}:${port}`;
  return { ...config, port, publicUrl };
}

function hostForUrl(host: string): string {
  // 0.0.0.0 is a bind address, not one a client can reach.
  if (host === "0.0.0.0") return "127.0.0.1";
  return host.includes(":") ? `[${host}]` : host;
}

/**
 * The bucket `deno task migrate-legacy` reads legacy blobs from (issue 13): `AGENTKEYS_LEGACY_S3_*`,
 * overridden by `--source-bucket` / `--source-endpoint`; `undefined` when neither names a bucket
 * (migrate in place, from the vault store itself). Credentials default to the vault's AWS_* ones.
 *
 * ```ts
 * loadLegacySource(Deno.env.toObject(), { bucket: "old-bucket" }); // { bucket: "old-bucket", … }
 * ```
 */
export function loadLegacySource(
  env: Env,
  flags: { bucket?: string; endpoint?: string } = {},
): S3Config | undefined {
  const get = (name: string) => env[name]?.trim() || undefined;
  const endpoint = flags.endpoint ?? get("AGENTKEYS_LEGACY_S3_ENDPOINT");
  const bucket = flags.bucket ?? get("AGENTKEYS_LEGACY_S3_BUCKET");
  if (bucket === undefined) {
    if (endpoint !== undefined) {
      throw new ConfigError("a legacy source endpoint needs a bucket (--source-bucket)");
    }
    return undefined;
  }
  if (endpoint !== undefined && !/^https?:\/\//.test(endpoint)) {
    throw new ConfigError("the legacy source endpoint must be an http(s) URL");
  }
  const accessKeyId = get("AGENTKEYS_LEGACY_S3_ACCESS_KEY_ID") ?? get("AWS_ACCESS_KEY_ID");
  const secretAccessKey = get("AGENTKEYS_LEGACY_S3_SECRET_ACCESS_KEY") ??
    get("AWS_SECRET_ACCESS_KEY");
  return {
    endpoint,
    bucket,
    region: get("AGENTKEYS_LEGACY_S3_REGION") ?? "us-east-1",
    forcePathStyle: true,
    credentials: accessKeyId && secretAccessKey ? { accessKeyId, secretAccessKey } : undefined,
  };
}

/** What the command-line clients read from the environment. */
export interface CliConfig {
  url: string;
  home: string;
  operatorKey?: string;
  /** An operator session JWT for `deno task reencrypt --url` (`AGENTKEYS_SESSION`). */
  session?: string;
  /** `$XDG_RUNTIME_DIR`, where the sidecar puts its socket when set. */
  runtimeDir?: string;
  /** `$HOME`: the sidecar's policy (`~/.config/agentkeys/policy.toml`) and socket fallback. */
  userHome?: string;
  /** `AGENTKEYS_ALLOW_HTTP`: plain `http:` to a host other than loopback is allowed. */
  allowHttp?: boolean;
}

/**
 * Why the command-line clients must not talk to `url`, or `null`: it is not `http(s)`, or it is
 * plain `http:` to a host other than loopback without `allowHttp` (a session token, a device
 * signature or a legacy signer key would cross the network in clear).
 *
 * ```ts
 * insecureServiceUrl("http://vault.lan:8787", false); // "… in clear …"
 * insecureServiceUrl("http://127.0.0.1:8787", false); // null
 * ```
 */
export function insecureServiceUrl(url: string, allowHttp: boolean): string | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `the service URL must be an http(s) URL, got ${url}`;
  }
  if (parsed.protocol === "https:") return null;
  if (parsed.protocol !== "http:") return `the service URL must be an http(s) URL, got ${url}`;
  const host = parsed.hostname;
  const loopback = host === "localhost" || host === "[::1]" || /^127(?:\.\d{1,3}){3}$/.test(host);
  if (loopback || allowHttp) return null;
  return `${parsed.origin} is plain http to another host: sessions and keys would cross the network in clear; use https, or set AGENTKEYS_ALLOW_HTTP=true`;
}

/**
 * The CLI's settings (`AGENTKEYS_URL`, `AGENTKEYS_CLI_HOME`, `AGENTKEYS_OPERATOR_KEY`,
 * `AGENTKEYS_SESSION`).
 *
 * ```ts
 * const cli = loadCliConfig(Deno.env.toObject());
 * ```
 */
export function loadCliConfig(env: Env): CliConfig {
  const get = (name: string) => env[name]?.trim() || undefined;
  const url = (get("AGENTKEYS_URL") ?? settingDefault("AGENTKEYS_URL")).replace(/\/+$/, "");
  if (!/^https?:\/\//.test(url)) throw new ConfigError("AGENTKEYS_URL must be an http(s) URL");
  const allowHttp = boolean(
    get("AGENTKEYS_ALLOW_HTTP") ?? settingDefault("AGENTKEYS_ALLOW_HTTP"),
    "AGENTKEYS_ALLOW_HTTP",
  );
  const insecure = insecureServiceUrl(url, allowHttp);
  if (insecure) throw new ConfigError(`AGENTKEYS_URL: ${insecure}`);
  const home = get("AGENTKEYS_CLI_HOME") ??
    settingDefault("AGENTKEYS_CLI_HOME").replace(/^~/, get("HOME") ?? ".");
  return {
    url,
    home,
    operatorKey: get("AGENTKEYS_OPERATOR_KEY"),
    session: get("AGENTKEYS_SESSION"),
    runtimeDir: get("XDG_RUNTIME_DIR"),
    userHome: get("HOME"),
    allowHttp,
  };
}
