/**
 * `deno task cli keyring …` (issue 14): the operator creates rings and changes membership with
 * its wallet key; members (the operator, or an agent with `--device-key`) put, get, list and
 * remove documents, encrypted and decrypted here, never by the service.
 *
 * @module
 */

import { dirname, join } from "node:path";
import type { Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import type { AgentKeysClient } from "../client/mod.ts";
import {
  KeyringMember,
  KeyringOperator,
  type RingRecord,
  type SeenRecords,
} from "../keyrings/mod.ts";
import { writeFileAtomic } from "../fsutil/mod.ts";
import { UsageError } from "./_args.ts";

/** What the keyring commands borrow from the CLI. */
export interface KeyringCliContext {
  home: string;
  url: string;
  out(line: string): void;
  stdin(): Promise<Uint8Array>;
  /** The operator's saved session (after `login`). */
  session(): Promise<{ api: AgentKeysClient; operator_omni: string }>;
  /** The operator's wallet key (`--key-file` or AGENTKEYS_OPERATOR_KEY). */
  operatorKey(keyFile?: string): Promise<Hex>;
  /** An agent of the operator by label: an active one, or with `revoked` a revoked one. */
  agentByLabel(api: AgentKeysClient, label: string, revoked?: boolean): Promise<{
    actor_omni: string;
    device_key_hash: string;
  }>;
  /** A fresh device login with the key in `file`. */
  deviceLogin(file: string): Promise<{
    api: AgentKeysClient;
    operator_omni: string;
    actor_omni: string;
    device: ReturnType<typeof privateKeyToAccount>;
  }>;
}

export const KEYRING_USAGE = {
  "keyring create": `keyring create <ring> [--key-file F]
                                       a new ring with the operator as its only member`,
  "keyring add": `keyring add <ring> <label> [--with-history] [--key-file F]
                                       wrap the group key for an agent (its key published with
                                       keyring publish); --with-history: earlier ones too`,
  "keyring remove": `keyring remove <ring> <label> [--key-file F]
                                       remove an agent: new group key, old entries archived`,
  "keyring show": `keyring show <ring> [--device-key F] [--key-file F]
                                       members, rotation and history (the record, verified)`,
  "keyring publish": `keyring publish [--device-key F] [--key-file F]
                                       publish this member's key (agents: before being added)`,
  "keyring put": `keyring put <ring> <name> [--value V] [--device-key F] [--key-file F]
                                       encrypt (stdin without --value) and store a document`,
  "keyring get": `keyring get <ring> <name> [--device-key F] [--key-file F]`,
  "keyring ls": `keyring ls [<ring>] [--device-key F] [--key-file F]
                                       a ring's documents; without a ring, the operator's rings`,
  "keyring rm": `keyring rm <ring> <name> [--device-key F] [--key-file F]`,
};

/** Remembers the highest record version and rotation seen, so a replayed record is refused. */
class SeenFile implements SeenRecords {
  constructor(private readonly path: string) {}

  async #all(): Promise<Record<string, { version: number; rotation: number }>> {
    try {
      return JSON.parse(await Deno.readTextFile(this.path));
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return {};
      throw err;
    }
  }

  async get(operatorOmni: string, ring: string) {
    return (await this.#all())[`${operatorOmni}/${ring}`];
  }

  async set(operatorOmni: string, ring: string, seen: { version: number; rotation: number }) {
    const all = await this.#all();
    const key = `${operatorOmni}/${ring}`;
    const prev = all[key];
    if (prev && prev.version >= seen.version) return;
    all[key] = seen;
    await Deno.mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
    await writeFileAtomic(this.path, new TextEncoder().encode(JSON.stringify(all, null, 1)), {
      mode: 0o600,
    });
  }
}

/**
 * Runs `keyring <sub> …`; returns the exit code.
 *
 * ```ts
 * await keyringMain(ctx, "get", ["team", "api-key"], { "device-key": "./b.key" });
 * ```
 */
export async function keyringMain(
  ctx: KeyringCliContext,
  sub: string,
  args: string[],
  flags: Record<string, string | boolean>,
): Promise<number> {
  const seen = new SeenFile(join(ctx.home, "keyrings-seen.json"));
  const keyFile = flags["key-file"] as string | undefined;
  const deviceKey = flags["device-key"] as string | undefined;
  const need = (i: number, what: string) => {
    if (!args[i]) throw new UsageError(`keyring ${sub} needs ${what}`);
    return args[i];
  };
  const operator = async () => {
    const { api } = await ctx.session();
    const wallet = privateKeyToAccount(await ctx.operatorKey(keyFile));
    return { api, op: await KeyringOperator.forWallet(api, wallet, seen) };
  };
  const member = async (): Promise<KeyringMember> => {
    if (deviceKey === undefined) return (await operator()).op;
    const login = await ctx.deviceLogin(deviceKey);
    return await KeyringMember.open(
      login.api,
      { operator_omni: login.operator_omni, actor_omni: login.actor_omni },
      login.device,
      seen,
    );
  };
  switch (sub) {
    case "create": {
      const { op } = await operator();
      const r = await op.create(need(0, "a ring name"));
      ctx.out(`created ring ${r.ring} (version ${r.version}, rotation ${r.rotation})`);
      return 0;
    }
    case "add": {
      const { api, op } = await operator();
      const agent = await ctx.agentByLabel(api, need(1, "an agent label"));
      const r = await op.add(need(0, "a ring name"), agent.actor_omni, {
        deviceKeyHash: agent.device_key_hash,
        withHistory: flags["with-history"] === true,
      });
      ctx.out(
        `added ${args[1]} to ${r.ring} (version ${r.version}, rotation ${r.rotation}` +
          (flags["with-history"] === true ? `, with ${r.key_history.length} earlier key(s))` : ")"),
      );
      return 0;
    }
    case "remove": {
      const { api, op } = await operator();
      const label = need(1, "an agent label");
      // A revoked agent is refused by the worker already; removing it also rotates the group
      // key, so its device key (if it leaked) opens nothing written afterwards.
      const agent = await ctx.agentByLabel(api, label).catch(async (err) => {
        if (!(err instanceof UsageError)) throw err;
        return await ctx.agentByLabel(api, label, true);
      });
      const r = await op.removeMember(need(0, "a ring name"), agent.actor_omni);
      ctx.out(
        `removed ${
          args[1]
        } from ${r.ring}: rotation ${r.rotation}, ${r.members.length} member(s) ` +
          `re-keyed, rotation ${r.rotation - 1} archived in key_history`,
      );
      return 0;
    }
    case "publish": {
      const m = await member();
      const k = await m.publishKey();
      ctx.out(`published the member key of ${k.actor_omni} (signed by ${k.signer_address})`);
      return 0;
    }
    case "show": {
      const m = await member();
      const record = await m.record(need(0, "a ring name"));
      const labels = deviceKey === undefined ? await labelsOf(await ctx.session()) : new Map();
      for (const line of describe(record, labels, m.me.actor_omni)) ctx.out(line);
      return 0;
    }
    case "put": {
      const m = await member();
      const value = typeof flags.value === "string"
        ? new TextEncoder().encode(flags.value)
        : new Uint8Array(await ctx.stdin());
      const r = await m.put(need(0, "a ring name"), need(1, "a document name"), value);
      ctx.out(`stored ${r.name} in ${args[0]} (rotation ${r.rotation}, ${value.length} bytes)`);
      return 0;
    }
    case "get": {
      const m = await member();
      const plaintext = await m.get(need(0, "a ring name"), need(1, "a document name"));
      ctx.out(new TextDecoder().decode(plaintext));
      return 0;
    }
    case "ls": {
      if (args[0] === undefined) {
        const { api } = await ctx.session();
        const { rings } = await api.call<{ rings: string[] }>("GET", "/v1/keyrings");
        for (const ring of rings) ctx.out(ring);
        return 0;
      }
      const m = await member();
      const { items } = await m.list(args[0]);
      for (const i of items) ctx.out(`${i.name}\t${i.size}\t${i.updated_at}`);
      return 0;
    }
    case "rm": {
      const m = await member();
      const r = await m.remove(need(0, "a ring name"), need(1, "a document name"));
      ctx.out(`removed ${r.deleted} document(s)`);
      return 0;
    }
    default:
      throw new UsageError(`unknown command: keyring ${sub}`);
  }
}

async function labelsOf(
  s: { api: AgentKeysClient; operator_omni: string },
): Promise<Map<string, string>> {
  const me = await s.api.me();
  const labels = new Map<string, string>([[s.operator_omni, "operator"]]);
  for (const a of me.agents) labels.set(a.actor_omni as string, `${a.label}`);
  return labels;
}

function describe(r: RingRecord, labels: Map<string, string>, me: string): string[] {
  const name = (omni: string) =>
    `${labels.get(omni) ?? omni.slice(0, 10) + "…"}${omni === me ? " (you)" : ""}`;
  const names = (ms: { actor_omni: string }[]) =>
    ms.map((m) => name(m.actor_omni)).sort().join(", ");
  return [
    `ring ${r.ring}: version ${r.version}, rotation ${r.rotation}, signed by operator ${r.operator_address} (verified)`,
    `members (rotation ${r.rotation}): ${names(r.members)}`,
    ...r.key_history.map((h) => `history rotation ${h.rotation}: ${names(h.members)}`),
  ];
}
