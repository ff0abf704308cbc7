/**
 * `deno task cli …`: everything an operator does in the console, scriptable. It speaks the HTTP
 * API (and, for the operator's own chain transactions, the chain RPC the service publishes) —
 * never the service's internals.
 *
 * ```sh
 * deno task cli login --key-file operator.key
 * deno task cli agent add mail-bot            # prints the new device key file and address
 * deno task cli scope set mail-bot openai github
 * echo -n sk-123 | deno task cli cred put openai --agent mail-bot
 * deno task cli cred get openai --device-key ./mail-bot-0.key
 * ```
 *
 * @module
 */

import { join } from "node:path";
import { createPublicClient, createWalletClient, type Hash, type Hex, http } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import * as actions from "../chain/actions/mod.ts";
import { AgentKeysClient, ApiCallError } from "../client/mod.ts";
import {
  agentActorOmni,
  deviceKeyHash,
  isAddress,
  isOmni,
  isValidLabel,
  normalizeAddress,
  operatorOmniOf,
  serviceHash,
  signDevicePop,
} from "../identity/mod.ts";
import { writeFileAtomic } from "../fsutil/mod.ts";
import { insecureServiceUrl } from "../config/mod.ts";
import {
  type CliIO,
  EXIT,
  type FlagSpec,
  parseFlags,
  type TextOut,
  textOut,
  UsageError,
} from "./_args.ts";
import { loadSession, saveSession } from "./_session_file.ts";
import { stsPolicies } from "./_sts_policy.ts";
import { KEYRING_USAGE, keyringMain } from "./_keyring.ts";
import { defaultSocketPath, revealFromSidecar } from "../sidecar/mod.ts";

export { EXIT } from "./_args.ts";
export { main as reencryptMain } from "./_reencrypt.ts";
export { main as migrateLegacyMain } from "./_migrate.ts";
export { signerMain } from "./_signer.ts";
import { type ChainPin, type DirectStore, verifyBlob } from "./_verify.ts";

/** What the CLI reads from its environment (passed in: only lib/config reads Deno.env). */
interface CliEnv {
  url: string;
  home: string;
  operatorKey?: string;
  /** `$XDG_RUNTIME_DIR` and `$HOME`: where `cred get --credential-backend=sidecar` finds the socket. */
  runtimeDir?: string;
  userHome?: string;
  /** `AGENTKEYS_ALLOW_HTTP`: `--url` may be plain http to another host. */
  allowHttp?: boolean;
}

/**
 * The commands print whole lines as they go; this writes them to the {@linkcode TextOut}s in
 * order, and `flushed` resolves once every line is out.
 */
class Lines {
  #written: Promise<void> = Promise.resolve();
  readonly #stdout: TextOut;
  readonly #stderr: TextOut;

  constructor(readonly io: CliIO) {
    this.#stdout = io.stdout ?? textOut(Deno.stdout);
    this.#stderr = io.stderr ?? textOut(Deno.stderr);
  }

  out(line: string): void {
    this.#write(this.#stdout, line);
  }

  err(line: string): void {
    this.#write(this.#stderr, line);
  }

  async stdin(): Promise<Uint8Array> {
    return this.io.stdin ? await this.io.stdin() : await new Response(Deno.stdin.readable).bytes();
  }

  flushed(): Promise<void> {
    return this.#written;
  }

  #write(to: TextOut, line: string): void {
    this.#written = this.#written.then(() => to.write(`${line}\n`));
  }
}

/** Each command: its usage lines and the flags it takes (besides `--url` and `--help`). */
const COMMANDS: Record<string, { usage: string; flags: FlagSpec }> = {
  login: {
    usage:
      `login [--key-file F]                 sign in with the operator wallet (or AGENTKEYS_OPERATOR_KEY)
  login --claim-admin TOKEN            sign in, then become admin with the token the service's
                                       first start printed (installs without AGENTKEYS_ADMINS)`,
    flags: { "key-file": { type: "string" }, "claim-admin": { type: "string" } },
  },
  whoami: {
    usage: `whoami                               the operator, its agents and scopes`,
    flags: {},
  },
  "agent add": {
    usage: `agent add <label> [--generation N] [--out DIR] [--key-file F]
                                       register an agent; writes its device key file (0600)`,
    flags: {
      generation: { type: "string" },
      out: { type: "string" },
      "key-file": { type: "string" },
    },
  },
  "agent init": {
    usage: `agent init --label L --operator 0xADDRESS [--generation N] [--out DIR]
                                       create a device key (0600) and print its address and
                                       proof for the operator to register (web console)`,
    flags: {
      label: { type: "string" },
      operator: { type: "string" },
      generation: { type: "string" },
      out: { type: "string" },
    },
  },
  "agent revoke": {
    usage: `agent revoke <label> [--purge] [--key-file F]
                                       revoke the agent's device; --purge then deletes all its
                                       credentials, memory and inbound blobs (also for an agent
                                       revoked before)`,
    flags: { purge: { type: "boolean" }, "key-file": { type: "string" } },
  },
  "scope set": {
    usage: `scope set <label> <service...> [--read-only] [--key-file F]`,
    flags: { "read-only": { type: "boolean" }, "key-file": { type: "string" } },
  },
  "cred put": {
    usage: `cred put <service> [--agent L] [--value V]   (stdin when --value is absent)`,
    flags: { agent: { type: "string" }, value: { type: "string" } },
  },
  "cred get": {
    usage: `cred get <service> [--agent L] [--device-key F]
                     [--credential-backend=direct|sidecar] [--socket PATH]
                                       sidecar: ask the local sidecar (its policy must allow
                                       reveal for this program) instead of the service`,
    flags: {
      agent: { type: "string" },
      "device-key": { type: "string" },
      "credential-backend": { type: "string" },
      socket: { type: "string" },
    },
  },
  "cred verify": {
    usage: `cred verify <service> [--agent L] [--store-dir DIR | --s3-bucket B [--s3-endpoint URL]]
                [--rpc-url URL] [--vault-anchor 0xADDRESS]
                                       check the credential's pointer and Merkle path against the
                                       root anchored on chain; with direct store access (an
                                       auditor) also hash the stored bytes`,
    flags: {
      agent: { type: "string" },
      "store-dir": { type: "string" },
      "s3-bucket": { type: "string" },
      "s3-endpoint": { type: "string" },
      "rpc-url": { type: "string" },
      "vault-anchor": { type: "string" },
    },
  },
  "cred rm": {
    usage: `cred rm <service> [--agent L]`,
    flags: { agent: { type: "string" } },
  },
  "inbox put": {
    usage: `inbox put [--agent L] [--id ID] [--value V]
                                       deliver a message to an inbox (stdin when --value is absent)`,
    flags: { agent: { type: "string" }, id: { type: "string" }, value: { type: "string" } },
  },
  "inbox get": {
    usage: `inbox get <id> [--agent L] [--device-key F]`,
    flags: { agent: { type: "string" }, "device-key": { type: "string" } },
  },
  "inbox ls": {
    usage: `inbox ls [--agent L] [--device-key F]   message ids, oldest first`,
    flags: { agent: { type: "string" }, "device-key": { type: "string" } },
  },
  "inbox verify": {
    usage: `inbox verify <id> [--agent L] [--store-dir DIR | --s3-bucket B [--s3-endpoint URL]]
                [--rpc-url URL] [--vault-anchor 0xADDRESS]
                                       the same check as cred verify, for an inbound message`,
    flags: {
      agent: { type: "string" },
      "store-dir": { type: "string" },
      "s3-bucket": { type: "string" },
      "s3-endpoint": { type: "string" },
      "rpc-url": { type: "string" },
      "vault-anchor": { type: "string" },
    },
  },
  "inbox rm": {
    usage: `inbox rm <id> | --all [--agent L] [--device-key F]`,
    flags: {
      agent: { type: "string" },
      "device-key": { type: "string" },
      all: { type: "boolean" },
    },
  },
  "sts-policy": {
    usage: `sts-policy [--target rgw|aws] [--bucket B] [--audience A] [--read-only]
                                       the S3 role (trust and permissions) agents assume with
                                       their OIDC token, keyed on agentkeys_actor_omni (rgw: one
                                       statement per actor of yours; re-run after adding agents)`,
    flags: {
      target: { type: "string" },
      bucket: { type: "string" },
      audience: { type: "string" },
      "read-only": { type: "boolean" },
    },
  },
  census: {
    usage: `census                               blobs per epoch (POST /v1/epochs/census)`,
    flags: {},
  },
  ...keyringCommands(),
};

/** `keyring …` (issue 14, lib/cli/_keyring.ts): usages there, flags here. */
function keyringCommands(): Record<string, { usage: string; flags: FlagSpec }> {
  const member: FlagSpec = { "device-key": { type: "string" }, "key-file": { type: "string" } };
  const flags: Record<keyof typeof KEYRING_USAGE, FlagSpec> = {
    "keyring create": { "key-file": { type: "string" } },
    "keyring add": { "key-file": { type: "string" }, "with-history": { type: "boolean" } },
    "keyring remove": { "key-file": { type: "string" } },
    "keyring show": member,
    "keyring publish": member,
    "keyring put": { ...member, value: { type: "string" } },
    "keyring get": member,
    "keyring ls": member,
    "keyring rm": member,
  };
  return Object.fromEntries(
    Object.entries(KEYRING_USAGE).map(([k, usage]) => [k, {
      usage,
      flags: flags[k as keyof typeof KEYRING_USAGE],
    }]),
  );
}

/** Commands that take a subcommand (`agent add`). */
const GROUPS = new Set(["agent", "scope", "cred", "inbox", "keyring"]);

const OPTIONS = `options: --url URL (default AGENTKEYS_URL or http://127.0.0.1:8787); -h, --help
exit codes: 0 ok, 1 refused or failed, 2 usage error, 75 session expired or revoked (log in again)`;

const USAGE = `usage: deno task cli <command>
${Object.values(COMMANDS).map((c) => `  ${c.usage}`).join("\n")}
${OPTIONS}`;

/** Every flag any command takes: one strict parse, then each command's own set is checked. */
const ALL_FLAGS: FlagSpec = Object.assign(
  { url: { type: "string" } },
  ...Object.values(COMMANDS).map((c) => c.flags),
);

/** The usage of `key` (a command, or a group such as `agent`), or the whole usage. */
function usageOf(key: string | undefined): string {
  const matching = Object.entries(COMMANDS)
    .filter(([name]) => key !== undefined && (name === key || name.startsWith(`${key} `)));
  if (matching.length === 0) return USAGE;
  return `usage: deno task cli ${matching.map(([, c]) => c.usage).join("\n  ")}\n${OPTIONS}`;
}

/**
 * Runs one command; returns the exit code ({@linkcode EXIT}): 75 when the service refuses the
 * session as over (expired, logged out, invalid), as `deno task reencrypt` does. `--help` (or
 * `-h`) on any command prints that command's usage and exits 0.
 *
 * ```ts
 * const code = await main(["whoami"], loadCliConfig(Deno.env.toObject()));
 * ```
 */
export async function main(args: string[], env: CliEnv, io: CliIO = {}): Promise<number> {
  const lines = new Lines(io);
  const code = await run(args, env, lines);
  await lines.flushed();
  return code;
}

async function run(args: string[], env: CliEnv, io: Lines): Promise<number> {
  // A guess from the bare words, so that a flag mistake prints the usage of the command meant.
  const words = args.filter((a) => !a.startsWith("-"));
  let key = GROUPS.has(words[0]) && words[1] !== undefined ? `${words[0]} ${words[1]}` : words[0];
  try {
    const parsed = parseFlags(args, ALL_FLAGS, { positionals: true });
    const positional = parsed.positionals;
    const [cmd, sub, ...rest] = positional;
    key = GROUPS.has(cmd) && sub !== undefined ? `${cmd} ${sub}` : cmd ?? "";
    if (parsed.help) {
      io.out(usageOf(Object.hasOwn(COMMANDS, key) ? key : cmd));
      return EXIT.ok;
    }
    const flags = parsed.values as Record<string, string | boolean>;
    if (Object.hasOwn(COMMANDS, key)) {
      const allowed = COMMANDS[key].flags;
      const stray = Object.keys(flags).find((f) => f !== "url" && !Object.hasOwn(allowed, f));
      if (stray !== undefined) throw new UsageError(`${key} takes no --${stray}`);
    }
    const url = (flags.url as string | undefined) ?? env.url;
    const insecure = insecureServiceUrl(url, env.allowHttp ?? false);
    if (insecure) throw new UsageError(`--url: ${insecure}`);
    const cli = new Cli({ ...env, url }, io);
    switch (key) {
      case "login":
        return await cli.login(
          flags["key-file"] as string | undefined,
          flags["claim-admin"] as string | undefined,
        );
      case "whoami":
        return await cli.whoami();
      case "agent add":
        return await cli.agentAdd(need(rest[0], "label"), flags);
      case "agent init":
        return await cli.agentInit(flags);
      case "agent revoke":
        return await cli.agentRevoke(
          need(rest[0], "label"),
          flags["key-file"] as string | undefined,
          flags.purge === true,
        );
      case "scope set":
        if (rest.length < 1) throw new UsageError("scope set needs an agent label and services");
        return await cli.scopeSet(
          rest[0],
          rest.slice(1),
          flags["read-only"] === true,
          flags["key-file"] as string | undefined,
        );
      case "cred put":
        return await cli.credPut(need(rest[0], "service"), flags);
      case "cred get":
        return await cli.credGet(need(rest[0], "service"), flags);
      case "cred rm":
        return await cli.credRm(need(rest[0], "service"), flags);
      case "cred verify":
        return await cli.credVerify(need(rest[0], "service"), flags);
      case "inbox verify":
        return await cli.inboxVerify(need(rest[0], "message id"), flags);
      case "inbox put":
        return await cli.inboxPut(flags);
      case "inbox get":
        return await cli.inboxGet(need(rest[0], "message id"), flags);
      case "inbox ls":
        return await cli.inboxLs(flags);
      case "inbox rm":
        if ((rest[0] === undefined) === (flags.all !== true)) {
          throw new UsageError("inbox rm needs a message id or --all (not both)");
        }
        return await cli.inboxRm(rest[0], flags);
      case "sts-policy":
        return await cli.stsPolicy(flags);
      case "census":
        return await cli.census();
      case "keyring create":
      case "keyring add":
      case "keyring remove":
      case "keyring show":
      case "keyring publish":
      case "keyring put":
      case "keyring get":
      case "keyring ls":
      case "keyring rm":
        return await cli.keyring(sub, rest, flags);
      default:
        throw new UsageError(cmd ? `unknown command: ${positional.join(" ")}` : "no command given");
    }
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`agentkeys: ${err.message}\n${usageOf(key)}`);
      return EXIT.usage;
    }
    if (err instanceof ApiCallError && err.sessionEnded) {
      io.err(`agentkeys: ${err.message}\nthe session is over: log in again (deno task cli login)`);
      return EXIT.expired;
    }
    if (err instanceof ApiCallError) {
      io.err(`agentkeys: ${err.message}`);
      return EXIT.failed;
    }
    io.err(`agentkeys: ${(err as Error).message}`);
    return EXIT.failed;
  }
}

function need(value: string | undefined, what: string): string {
  if (!value) throw new UsageError(`missing ${what}`);
  return value;
}

class Cli {
  constructor(private readonly env: CliEnv, private readonly io: Lines) {}

  async #operatorKey(keyFile?: string): Promise<Hex> {
    const raw = keyFile ? (await Deno.readTextFile(keyFile)).trim() : this.env.operatorKey;
    if (!raw) throw new UsageError("give --key-file F or set AGENTKEYS_OPERATOR_KEY");
    const hex = raw.startsWith("0x") ? raw : `0x${raw}`;
    if (!/^0x[0-9a-fA-F]{64}$/.test(hex)) {
      throw new UsageError("the operator key must be 32 bytes of hex");
    }
    return hex as Hex;
  }

  async #session() {
    const saved = await loadSession(this.env.home);
    if (!saved) throw new UsageError("not logged in: run `deno task cli login` first");
    return { saved, api: new AgentKeysClient(saved.url).withSession(saved.session_jwt) };
  }

  async login(keyFile?: string, claimToken?: string): Promise<number> {
    const account = privateKeyToAccount(await this.#operatorKey(keyFile));
    const api = new AgentKeysClient(this.env.url);
    const chain = await api.chain();
    if (chain.rpc_url) {
      // Embedded chain: fund the wallet so it can send its own registration transactions.
      await api.call("POST", "/v1/dev/faucet", { address: account.address });
    }
    const result = await api.loginWithWallet(account, chain.chain_id);
    await saveSession(this.env.home, {
      url: this.env.url,
      session_jwt: result.session_jwt,
      operator_omni: result.operator_omni,
      address: account.address.toLowerCase(),
    });
    this.io.out(`logged in as ${account.address} (operator ${result.operator_omni})`);
    if (claimToken !== undefined) {
      await api.withSession(result.session_jwt).claimAdmin(claimToken);
      this.io.out(`${account.address} is now an admin of ${this.env.url}`);
    }
    return 0;
  }

  async whoami(): Promise<number> {
    const { api } = await this.#session();
    this.io.out(JSON.stringify(await api.me(), null, 2));
    return 0;
  }

  /** Viem clients for the operator's own transactions on the chain the service publishes. */
  async #chain(keyFile?: string) {
    const { saved, api } = await this.#session();
    const info = await api.chain();
    if (!info.rpc_url) {
      throw new Error(
        "the service does not publish an RPC URL; send the transaction with your wallet",
      );
    }
    const account = privateKeyToAccount(await this.#operatorKey(keyFile));
    if (account.address.toLowerCase() !== saved.address) {
      throw new UsageError(
        `the key is for ${account.address}, but the session is ${saved.address}`,
      );
    }
    const chain = {
      id: info.chain_id,
      name: `agentkeys-${info.chain_id}`,
      nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
      rpcUrls: { default: { http: [info.rpc_url] } },
    };
    const wallet = createWalletClient({ account, chain, transport: http(info.rpc_url) });
    const reader = createPublicClient({ chain, transport: http(info.rpc_url) });
    // The actions simulate first (a refusal names the contract's error and sends nothing); this
    // waits for the receipt, so the service sees the change before the next command asks.
    const mined = async (what: string, sent: Promise<Hash>) => {
      const hash = await sent;
      const receipt = await reader.waitForTransactionReceipt({ hash });
      if (receipt.status !== "success") throw new Error(`${what} reverted (${hash})`);
      return hash;
    };
    return { saved, api, info, wallet, mined };
  }

  async #agentByLabel(api: AgentKeysClient, label: string, revoked = false) {
    const me = await api.me();
    const matches = me.agents.filter((a) => a.label === label && Boolean(a.revoked) === revoked);
    if (matches.length === 0) {
      throw new UsageError(`no ${revoked ? "revoked" : "active"} agent labelled ${label}`);
    }
    // The newest generation is the live one.
    const agent = matches.sort((a, b) => Number(b.generation) - Number(a.generation))[0];
    const { actor_omni, device_key_hash } = agent;
    // Both go into transactions: a malformed answer must not be signed.
    if (!isOmni(actor_omni) || !isOmni(device_key_hash)) {
      throw new Error(`the service answered a malformed agent record for ${label}`);
    }
    return { actor_omni, device_key_hash, generation: Number(agent.generation) };
  }

  async agentAdd(label: string, flags: Record<string, string | boolean>): Promise<number> {
    const { saved, info, wallet, mined } = await this.#chain(
      flags["key-file"] as string | undefined,
    );
    const generation = Number(flags.generation ?? 0);
    if (!Number.isSafeInteger(generation) || generation < 0) {
      throw new UsageError("--generation must be a whole number");
    }
    const deviceKey = generatePrivateKey();
    const device = privateKeyToAccount(deviceKey);
    const dir = (flags.out as string | undefined) ?? join(this.env.home, "devices");
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    const path = join(dir, `${label}-${generation}.key`);
    // Write the key before the transaction: a registered device whose key was lost is useless.
    await writeFileAtomic(path, new TextEncoder().encode(deviceKey + "\n"), { mode: 0o600 });
    // The device consents to this one registration, so nobody can register a key they lack.
    const devicePop = await signDevicePop(device, {
      chainId: info.chain_id,
      registry: info.contracts.AgentRegistry.address,
      operatorOmni: saved.operator_omni,
      label,
      generation,
    });
    const tx = await mined(
      "registerAgent",
      actions.registerAgent(wallet, {
        address: info.contracts.AgentRegistry.address,
        label,
        generation,
        deviceKeyHash: deviceKeyHash(device.address),
        devicePop,
      }),
    );
    const actor = agentActorOmni(saved.operator_omni, label, generation);
    this.io.out(`agent ${label} registered (tx ${tx})`);
    this.io.out(`actor_omni ${actor}`);
    this.io.out(`device address ${device.address}`);
    this.io.out(`device key file ${path}`);
    return 0;
  }

  /**
   * The device's half of a registration the operator sends from another wallet (the web
   * console): the key stays on this machine, only its address and proof of possession leave.
   */
  async agentInit(flags: Record<string, string | boolean>): Promise<number> {
    const label = need(flags.label as string | undefined, "--label");
    const operator = need(flags.operator as string | undefined, "--operator");
    if (!isValidLabel(label)) throw new UsageError("--label must match ^[a-z0-9-]{1,32}$");
    if (!isAddress(operator)) throw new UsageError("--operator must be a 0x address");
    const generation = Number(flags.generation ?? 0);
    if (!Number.isSafeInteger(generation) || generation < 0) {
      throw new UsageError("--generation must be a whole number");
    }
    const info = await new AgentKeysClient(this.env.url).chain();
    const deviceKey = generatePrivateKey();
    const device = privateKeyToAccount(deviceKey);
    const operatorOmni = operatorOmniOf(operator);
    const devicePop = await signDevicePop(device, {
      chainId: info.chain_id,
      registry: info.contracts.AgentRegistry.address,
      operatorOmni,
      label,
      generation,
    });
    const dir = (flags.out as string | undefined) ?? join(this.env.home, "devices");
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    const path = join(dir, `${label}-${generation}.key`);
    await writeFileAtomic(path, new TextEncoder().encode(deviceKey + "\n"), { mode: 0o600 });
    this.io.out(`device key file ${path}`);
    this.io.out(`device address ${device.address}`);
    this.io.out(`device pop ${devicePop}`);
    this.io.out(
      `register it as ${label} (generation ${generation}) from ${normalizeAddress(operator)}: ` +
        "paste the address and the pop into the console's Add an agent",
    );
    return 0;
  }

  async agentRevoke(label: string, keyFile?: string, purge = false): Promise<number> {
    const { api, info, wallet, mined } = await this.#chain(keyFile);
    const me = await api.me();
    const active = me.agents.some((a) => a.label === label && !a.revoked);
    // --purge on an agent revoked earlier (or a purge cut short) purges without revoking again.
    const agent = await this.#agentByLabel(api, label, !active && purge);
    if (active) {
      // `mined` waits for the receipt: the service sees the revocation before the purge asks.
      const tx = await mined(
        "revokeAgent",
        actions.revokeAgent(wallet, {
          address: info.contracts.AgentRegistry.address,
          deviceKeyHash: agent.device_key_hash,
        }),
      );
      this.io.out(`agent ${label} revoked (tx ${tx})`);
    }
    if (purge) {
      const { deleted } = await api.purgeAgent(agent.actor_omni);
      this.io.out(`agent ${label} purged: ${deleted} blob(s) deleted`);
    }
    return 0;
  }

  async scopeSet(
    label: string,
    services: string[],
    readOnly: boolean,
    keyFile?: string,
  ): Promise<number> {
    const { api, info, wallet, mined } = await this.#chain(keyFile);
    const agent = await this.#agentByLabel(api, label);
    const tx = await mined(
      "setScope",
      actions.setScope(wallet, {
        address: info.contracts.ScopeRegistry.address,
        actorOmni: agent.actor_omni,
        serviceHashes: services.map((s) => serviceHash(s)),
        readOnly,
      }),
    );
    // Only now: the service records a name only once a scope on chain holds its hash.
    if (services.length > 0) await api.call("POST", "/v1/services/names", { services });
    this.io.out(
      `scope of ${label}: ${services.join(", ") || "(none)"}${
        readOnly ? " (read-only)" : ""
      } (tx ${tx})`,
    );
    return 0;
  }

  async #target(api: AgentKeysClient, saved: { operator_omni: string }, agentLabel?: string) {
    const actor = agentLabel
      ? (await this.#agentByLabel(api, agentLabel)).actor_omni
      : saved.operator_omni;
    return { operator_omni: saved.operator_omni, actor_omni: actor };
  }

  /** `cred verify`: see lib/cli/_verify.ts. */
  async credVerify(service: string, flags: Record<string, string | boolean>): Promise<number> {
    const pin = chainPin(flags, this.env.allowHttp ?? false);
    const { saved, api } = await this.#session();
    const target = await this.#target(api, saved, flags.agent as string | undefined);
    return await verifyBlob(
      api,
      { actor_omni: target.actor_omni, service },
      directStore(flags),
      (line) => this.io.out(line),
      pin,
    );
  }

  /** `inbox verify`: the same for an inbound message. */
  async inboxVerify(id: string, flags: Record<string, string | boolean>): Promise<number> {
    const pin = chainPin(flags, this.env.allowHttp ?? false);
    const { saved, api } = await this.#session();
    const target = await this.#target(api, saved, flags.agent as string | undefined);
    return await verifyBlob(
      api,
      { actor_omni: target.actor_omni, message_id: id },
      directStore(flags),
      (line) => this.io.out(line),
      pin,
    );
  }

  async credPut(service: string, flags: Record<string, string | boolean>): Promise<number> {
    const { saved, api } = await this.#session();
    const value = typeof flags.value === "string"
      ? new TextEncoder().encode(flags.value)
      : await this.io.stdin();
    const target = await this.#target(api, saved, flags.agent as string | undefined);
    const { cap } = await api.mintCap("cred-store", { ...target, service });
    const r = await api.storeCredential(cap, value);
    this.io.out(`stored ${service} for ${target.actor_omni} (epoch ${r.epoch}, ${r.size} bytes)`);
    return 0;
  }

  async credGet(service: string, flags: Record<string, string | boolean>): Promise<number> {
    const backend = flags["credential-backend"] ?? "direct";
    if (backend !== "direct" && backend !== "sidecar") {
      throw new UsageError("--credential-backend must be direct or sidecar");
    }
    if (backend === "sidecar") {
      if (flags.agent !== undefined || flags["device-key"] !== undefined) {
        throw new UsageError("--agent and --device-key are the sidecar's business with sidecar");
      }
      const socket = typeof flags.socket === "string"
        ? flags.socket
        : defaultSocketPath(this.env.runtimeDir, join(this.env.userHome ?? ".", ".agentkeys"));
      this.io.out(await revealFromSidecar(socket, service));
      return 0;
    }
    if (flags.socket !== undefined) {
      throw new UsageError("--socket goes with --credential-backend=sidecar");
    }
    const { api, target } = await this.#reader(flags);
    const { cap } = await api.mintCap("cred-fetch", { ...target, service });
    const r = await api.fetchCredential(cap);
    this.io.out(new TextDecoder().decode(r.plaintext));
    return 0;
  }

  async inboxPut(flags: Record<string, string | boolean>): Promise<number> {
    const { saved, api } = await this.#session();
    const value = typeof flags.value === "string"
      ? new TextEncoder().encode(flags.value)
      : await this.io.stdin();
    const target = await this.#target(api, saved, flags.agent as string | undefined);
    const { cap } = await api.mintCap("inbound-put", target);
    const id = flags.id as string | undefined;
    const r = await api.putInbound(cap, value, id);
    this.io.out(r.message_id);
    return 0;
  }

  async inboxGet(id: string, flags: Record<string, string | boolean>): Promise<number> {
    const { api, target } = await this.#reader(flags);
    const { cap } = await api.mintCap("inbound-get", target);
    const r = await api.getInbound(cap, id);
    this.io.out(new TextDecoder().decode(r.plaintext));
    return 0;
  }

  async inboxLs(flags: Record<string, string | boolean>): Promise<number> {
    const { api, target } = await this.#reader(flags);
    let { cap } = await api.mintCap("inbound-get", target);
    let cursor: string | undefined;
    let capAt = Date.now();
    do {
      // A fetch cap lives 300 s; a very long listing takes a fresh one.
      if (Date.now() - capAt > 240_000) {
        ({ cap } = await api.mintCap("inbound-get", target));
        capAt = Date.now();
      }
      const page = await api.listInbound(cap, { cursor, limit: 500 });
      for (const m of page.items) {
        this.io.out(`${m.message_id}\t${m.size}\t${m.received_at}`);
      }
      cursor = page.next_cursor ?? undefined;
    } while (cursor !== undefined);
    return 0;
  }

  async inboxRm(id: string | undefined, flags: Record<string, string | boolean>): Promise<number> {
    const { api, target } = await this.#reader(flags);
    const { cap } = await api.mintCap("inbound-teardown", target);
    const r = await api.teardownInbound(cap, id);
    this.io.out(`removed ${r.deleted} message(s)`);
    return 0;
  }

  /**
   * The client and actor a read speaks for: the agent itself with `--device-key` (a fresh device
   * login), else the signed-in operator for itself or `--agent`.
   */
  async #reader(flags: Record<string, string | boolean>) {
    let api: AgentKeysClient;
    let target: { operator_omni: string; actor_omni: string };
    if (typeof flags["device-key"] === "string") {
      // As the agent: prove the device key, then mint a cap for itself.
      const device = privateKeyToAccount(
        (await Deno.readTextFile(flags["device-key"])).trim() as Hex,
      );
      const base = new AgentKeysClient(this.env.url);
      const login = await base.loginWithDevice(device);
      api = base.withSession(login.session_jwt);
      target = { operator_omni: login.operator_omni, actor_omni: login.actor_omni };
    } else {
      const s = await this.#session();
      api = s.api;
      target = await this.#target(api, s.saved, flags.agent as string | undefined);
    }
    return { api, target };
  }

  async credRm(service: string, flags: Record<string, string | boolean>): Promise<number> {
    const { saved, api } = await this.#session();
    const target = await this.#target(api, saved, flags.agent as string | undefined);
    const { cap } = await api.mintCap("cred-teardown", { ...target, service });
    const r = await api.teardownCredential(cap);
    this.io.out(`removed ${r.deleted} credential(s)`);
    return 0;
  }

  /** `keyring …`: lib/cli/_keyring.ts, with this CLI's session, keys and output. */
  keyring(sub: string, args: string[], flags: Record<string, string | boolean>): Promise<number> {
    return keyringMain(
      {
        home: this.env.home,
        url: this.env.url,
        out: (line) => this.io.out(line),
        stdin: () => this.io.stdin(),
        session: async () => {
          const { saved, api } = await this.#session();
          return { api, operator_omni: saved.operator_omni };
        },
        operatorKey: (file) => this.#operatorKey(file),
        agentByLabel: (api, label, revoked) => this.#agentByLabel(api, label, revoked),
        deviceLogin: async (file) => {
          const device = privateKeyToAccount((await Deno.readTextFile(file)).trim() as Hex);
          const base = new AgentKeysClient(this.env.url);
          const login = await base.loginWithDevice(device);
          return {
            api: base.withSession(login.session_jwt),
            operator_omni: login.operator_omni,
            actor_omni: login.actor_omni,
            device,
          };
        },
      },
      sub,
      args,
      flags,
    );
  }

  async stsPolicy(flags: Record<string, string | boolean>): Promise<number> {
    const target = (flags.target as string | undefined) ?? "rgw";
    if (target !== "rgw" && target !== "aws") throw new UsageError("--target is rgw or aws");
    const actors: string[] = [];
    if (target === "rgw") {
      const { saved, api } = await this.#session();
      const me = await api.me();
      actors.push(saved.operator_omni.slice(2));
      for (const a of me.agents) if (!a.revoked) actors.push(String(a.actor_omni).slice(2));
    }
    const provider = new URL(this.env.url);
    this.io.out(JSON.stringify(
      stsPolicies({
        target,
        bucket: (flags.bucket as string | undefined) ?? "agentkeys-vault",
        provider: `${provider.host}${provider.pathname.replace(/\/$/, "")}`,
        audience: (flags.audience as string | undefined) ?? "sts.amazonaws.com",
        actors: [...new Set(actors)],
        readOnly: flags["read-only"] === true,
      }),
      null,
      2,
    ));
    return 0;
  }

  async census(): Promise<number> {
    const { api } = await this.#session();
    this.io.out(JSON.stringify(await api.call("POST", "/v1/epochs/census", {}), null, 2));
    return 0;
  }
}

/** The chain and VaultAnchor `cred verify` / `inbox verify` trust instead of the service's. */
/**
 * `--rpc-url` / `--vault-anchor`: what the verifier trusts instead of the service's word, so a
 * pin that is no address, or a node reached over plain http (anyone on the way could answer for
 * the chain), is refused before anything is read.
 */
function chainPin(flags: Record<string, string | boolean>, allowHttp: boolean): ChainPin {
  const rpcUrl = flags["rpc-url"] as string | undefined;
  const vaultAnchor = flags["vault-anchor"] as string | undefined;
  if (vaultAnchor !== undefined && !isAddress(vaultAnchor)) {
    throw new UsageError("--vault-anchor must be a 0x address");
  }
  if (rpcUrl !== undefined && insecureServiceUrl(rpcUrl, allowHttp)) {
    throw new UsageError(
      "--rpc-url must be an https URL, or http to this machine (AGENTKEYS_ALLOW_HTTP=true allows " +
        "plain http elsewhere): over plain http anyone on the way could answer for the chain",
    );
  }
  return { rpcUrl, vaultAnchor };
}

/** Where `cred verify` / `inbox verify` may read the stored bytes directly (an auditor). */
function directStore(flags: Record<string, string | boolean>): DirectStore {
  const bucket = flags["s3-bucket"] as string | undefined;
  return {
    dir: flags["store-dir"] as string | undefined,
    s3: bucket ? { bucket, endpoint: flags["s3-endpoint"] as string | undefined } : undefined,
  };
}
