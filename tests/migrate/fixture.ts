/**
 * A data directory with legacy blobs (written by the independent writer), a fake chain with the
 * operator's agents, a 0600 legacy signer key file, and helpers to run `migrate-legacy` and read
 * every credential back through the worker.
 *
 * @module
 */

import { join } from "node:path";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { loadConfig } from "../../lib/config/mod.ts";
import { type Headless, type HeadlessOptions, openHeadless } from "../../lib/epochs/mod.ts";
import { migrateLegacyMain } from "../../lib/cli/mod.ts";
import { type MigrateDeps } from "../../lib/migrate/mod.ts";
import { migrationWorker } from "../../lib/migrate/_open.ts";
import { type BlobStore, FsBlobStore } from "../../lib/store/mod.ts";
import { credentialLocation } from "../../lib/worker/mod.ts";
import { omniToHex } from "../../lib/identity/mod.ts";
import { FakeIdentity } from "../support/fake_identity.ts";
import { lineIO } from "../support/cli_io.ts";
import { tempDir } from "../support/tmp.ts";
import { legacyBlob } from "./legacy_writer.ts";

export interface Expected {
  key: string;
  actorOmni: string;
  service: string;
  plaintext: string;
}

export interface LegacyEnv extends AsyncDisposable {
  dir: string;
  env: Record<string, string>;
  identity: FakeIdentity;
  operator: string;
  operatorOmni: string;
  agentWallets: { a: string; b: string };
  signerKeyFile: string;
  /** The raw store the reference implementation wrote into (no integrity layer). */
  raw: BlobStore;
  /** Legacy keys written, and what each must become. */
  expected: Expected[];
  /** The credentials the migration must produce (collision and v1 duplicates merged). */
  credentials(): Map<string, Expected>;
  open(options?: HeadlessOptions): Promise<Headless>;
  run(
    args: string[],
    wrapDeps?: (deps: MigrateDeps) => MigrateDeps,
  ): Promise<{ code: number; out: string[]; err: string[] }>;
  /** Every expected credential read back through the worker's read path. */
  readAll(): Promise<Map<string, string>>;
  /** `--operator … --legacy-signer-key … --map …` for this env. */
  baseArgs(): string[];
}

/**
 * Operator wallet: v1 openai, v1 github, v2 stripe (the collision: its key is the operator's own
 * credential key). Agent A's wallet: v1 openai, v2 slack. Agent B's wallet: v2 openai.
 */
export async function legacyEnv(
  options: {
    rawStore?: (dir: string) => BlobStore;
    env?: Record<string, string>;
    /** More legacy blobs (`svc-<i>`, round-robin over the wallets, v2 and v1 alternating). */
    extra?: number;
  } = {},
): Promise<LegacyEnv> {
  const tmp = await tempDir("agentkeys-migrate-");
  const env = {
    AGENTKEYS_DATA_DIR: tmp.path,
    AGENTKEYS_SEAL_KEY: crypto.getRandomValues(new Uint8Array(32)).toHex(),
    ...options.env,
  };
  const config = loadConfig(env);
  const identity = new FakeIdentity();
  const operatorAccount = privateKeyToAccount(generatePrivateKey());
  const operator = operatorAccount.address.toLowerCase();
  const walletA = privateKeyToAccount(generatePrivateKey()).address.toLowerCase();
  const walletB = privateKeyToAccount(generatePrivateKey()).address.toLowerCase();
  const agentA = identity.register(
    operator,
    "mail-bot",
    privateKeyToAccount(generatePrivateKey()).address,
  );
  const agentB = identity.register(
    operator,
    "cal-bot",
    privateKeyToAccount(generatePrivateKey()).address,
  );
  const signerKey = generatePrivateKey();
  const signer = privateKeyToAccount(signerKey);
  const signerKeyFile = join(tmp.path, "legacy-signer.key");
  await Deno.writeTextFile(signerKeyFile, signerKey + "\n", { mode: 0o600 });
  const chain = () =>
    Promise.resolve({
      agents: identity,
      description: "fake chain",
      close: () => Promise.resolve(),
    });
  const open = (o: HeadlessOptions = {}) => openHeadless(config, { chain, ...o });
  (await open({ create: true })).close();
  const raw = options.rawStore?.(tmp.path) ?? new FsBlobStore(join(tmp.path, "blobs"));
  const expected: Expected[] = [];
  const write = async (
    wallet: string,
    actorOmni: string,
    service: string,
    version: 1 | 2,
  ) => {
    const plaintext = `${service}-secret-of-${
      wallet.slice(2, 8)
    }-v${version}-${crypto.randomUUID()}`;
    const blob = await legacyBlob(signer, wallet, service, version, plaintext);
    await raw.put(blob.key, blob.bytes);
    expected.push({ key: blob.key, actorOmni, service, plaintext });
  };
  await write(operator, agentA.operatorOmni, "openai", 1);
  await write(operator, agentA.operatorOmni, "github", 1);
  await write(operator, agentA.operatorOmni, "stripe", 2);
  await write(walletA, agentA.actorOmni, "openai", 1);
  await write(walletA, agentA.actorOmni, "slack", 2);
  await write(walletB, agentB.actorOmni, "openai", 2);
  const owners = [
    [operator, agentA.operatorOmni],
    [walletA, agentA.actorOmni],
    [walletB, agentB.actorOmni],
  ] as const;
  for (let i = 0; i < (options.extra ?? 0); i++) {
    const [wallet, actor] = owners[i % 3];
    await write(wallet, actor, `svc-${i}`, i % 2 === 0 ? 2 : 1);
  }
  const baseArgs = () => [
    "--operator",
    operator,
    "--legacy-signer-key",
    signerKeyFile,
    "--map",
    `${walletA}=mail-bot`,
    "--map",
    `${walletB}=cal-bot`,
  ];
  const credentials = () => {
    const m = new Map<string, Expected>();
    for (const e of expected) m.set(`${e.actorOmni}/${e.service}`, e);
    return m;
  };
  return {
    dir: tmp.path,
    env,
    identity,
    operator,
    operatorOmni: agentA.operatorOmni,
    agentWallets: { a: walletA, b: walletB },
    signerKeyFile,
    raw,
    expected,
    credentials,
    open,
    baseArgs,
    async run(args, wrapDeps) {
      const io = lineIO();
      const code = await migrateLegacyMain(args, {
        env,
        stdout: io.stdout,
        stderr: io.stderr,
        openHeadless: (c, o) => openHeadless(c, { ...o, chain }),
        wrapDeps,
      });
      return { code, out: io.out, err: io.err };
    },
    async readAll() {
      const h = await open();
      try {
        const worker = migrationWorker(h);
        const got = new Map<string, string>();
        for (const [id, e] of credentials()) {
          const loc = credentialLocation(omniToHex(e.actorOmni), e.service);
          try {
            const r = await worker.readAsService(loc);
            got.set(id, new TextDecoder().decode(r.plaintext));
          } catch {
            // missing or unreadable: absent from the map
          }
        }
        return got;
      } finally {
        await h.close();
      }
    },
    async [Symbol.asyncDispose]() {
      await raw.close();
      await tmp[Symbol.asyncDispose]();
    },
  };
}
