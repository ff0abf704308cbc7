/**
 * The agent sidecar: a Unix-socket proxy on the agent's host that knows which local program is
 * calling (SO_PEERCRED), checks it against a per-binary policy, and injects the real credential
 * into the upstream request, so the agent only ever holds a placeholder. See docs/SIDECAR.md.
 *
 * ```ts
 * const code = await sidecarMain(["--device-key", "bot-0.key"], loadCliConfig(Deno.env.toObject()));
 * ```
 *
 * @module
 */

import { join } from "node:path";
import { parseArgs } from "node:util";
import type { CliConfig } from "../config/mod.ts";
import { readDeviceKey, ServiceCredentials } from "./_credentials.ts";
import { defaultSocketPath } from "./_listener.ts";
import { PolicyFile } from "./_policy.ts";
import { type AuditEntry, startSidecar } from "./_server.ts";

export { CACHE_MAX_ENTRIES, CACHE_TTL_MS, CredentialCache } from "./_cache.ts";
export {
  type CredentialSource,
  DeviceKeyRefused,
  readDeviceKey,
  ServiceCredentials,
} from "./_credentials.ts";
export { defaultSocketPath, prepareSocketPath, SOCKET_NAME, SocketRefused } from "./_listener.ts";
export { type PeerCred, peerCredOf, PeerCredUnavailable } from "./_peercred.ts";
export {
  type CallerRule,
  type Injection,
  parsePolicy,
  type Policy,
  PolicyFile,
  PolicyInvalid,
  type ServicePolicy,
} from "./_policy.ts";
export {
  type AuditEntry,
  MAX_HEADER_BYTES,
  Sidecar,
  type SidecarOptions,
  startSidecar,
} from "./_server.ts";

const USAGE =
  "usage: deno task sidecar --device-key FILE [--url URL] [--policy FILE] [--socket PATH] [--audit FILE]";

/** `deno task sidecar …`: runs until SIGINT/SIGTERM; returns the exit code. */
export async function sidecarMain(args: string[], env: CliConfig): Promise<number> {
  let flags;
  try {
    flags = parseArgs({
      args,
      options: {
        "device-key": { type: "string" },
        url: { type: "string" },
        policy: { type: "string" },
        socket: { type: "string" },
        audit: { type: "string" },
      },
      strict: true,
    }).values;
  } catch (err) {
    console.error(`agentkeys sidecar: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (!flags["device-key"]) {
    console.error(`agentkeys sidecar: --device-key is required\n${USAGE}`);
    return 2;
  }
  const url = (flags.url ?? env.url).replace(/\/+$/, "");
  const userHome = env.userHome ?? ".";
  const policyPath = flags.policy ?? join(userHome, ".config", "agentkeys", "policy.toml");
  const socketPath = flags.socket ??
    defaultSocketPath(env.runtimeDir, join(userHome, ".agentkeys"));
  const auditPath = flags.audit ?? join(env.home, "sidecar-audit.jsonl");
  const log = (line: string) => console.error(`agentkeys sidecar: ${line}`);
  try {
    const device = await readDeviceKey(flags["device-key"]);
    const policy = await PolicyFile.open(policyPath, log);
    policy.watch();
    const auditFile = await Deno.open(auditPath, {
      create: true,
      append: true,
      mode: 0o600,
    });
    const enc = new TextEncoder();
    const audit = (e: AuditEntry) => auditFile.writeSync(enc.encode(JSON.stringify(e) + "\n"));
    const sidecar = await startSidecar({
      socketPath,
      policy: () => policy.current,
      credentials: new ServiceCredentials(url, device),
      audit,
    });
    log(`listening on ${socketPath} for ${url} (policy ${policyPath}, audit ${auditPath})`);
    await new Promise<void>((resolve) => {
      Deno.addSignalListener("SIGINT", resolve);
      Deno.addSignalListener("SIGTERM", resolve);
    });
    policy.close();
    await sidecar.close();
    auditFile.close();
    return 0;
  } catch (err) {
    log((err as Error).message);
    return 1;
  }
}
