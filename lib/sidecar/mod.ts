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
import { type CliConfig, insecureServiceUrl } from "../config/mod.ts";
import { AuditLog } from "./_audit.ts";
import { readDeviceKey, ServiceCredentials } from "./_credentials.ts";
import { readEnvFile, type SidecarAddress, sidecarEnv, writeEnvFile } from "./_envfile.ts";
import { CacheInvalidator } from "./_events.ts";
import { execWithEnv } from "./_exec.ts";
import { defaultSocketPath } from "./_listener.ts";
import { type Policy, PolicyFile } from "./_policy.ts";
import { parseTcpAddress, startSidecar } from "./_server.ts";

export { AuditLog } from "./_audit.ts";
export { defaultSocketPath } from "./_listener.ts";
export { parsePolicy } from "./_policy.ts";
export { revealFromSidecar } from "./_reveal.ts";
export { startSidecar } from "./_server.ts";

const USAGE = `usage:
  deno task sidecar --device-key FILE [--url URL] [--policy FILE] [--socket PATH | --tcp 127.0.0.1:PORT]
                    [--audit FILE] [--env FILE]     run the daemon (writes the env file)
  deno task sidecar env [--policy FILE] [--socket PATH | --tcp 127.0.0.1:PORT] [--env FILE]
                                                     write the env file only
  deno task sidecar exec [--env FILE] -- CMD ARGS…   run CMD with the env file's variables`;

const FLAGS = {
  "device-key": { type: "string" },
  url: { type: "string" },
  policy: { type: "string" },
  socket: { type: "string" },
  tcp: { type: "string" },
  audit: { type: "string" },
  env: { type: "string" },
} as const;

/** `deno task sidecar …`: the daemon runs until SIGINT/SIGTERM; returns the exit code. */
export async function sidecarMain(args: string[], env: CliConfig): Promise<number> {
  const log = (line: string) => console.error(`agentkeys sidecar: ${line}`);
  const sub = args[0] === "env" || args[0] === "exec" ? args[0] : "run";
  let flags;
  let positionals: string[];
  try {
    ({ values: flags, positionals } = parseArgs({
      args: sub === "run" ? args : args.slice(1),
      options: FLAGS,
      strict: true,
      allowPositionals: sub === "exec",
    }));
  } catch (err) {
    console.error(`agentkeys sidecar: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const userHome = env.userHome ?? ".";
  const envPath = flags.env ?? join(userHome, ".config", "agentkeys", "env");
  if (sub === "exec") {
    if (positionals.length === 0) {
      console.error(`agentkeys sidecar: exec needs a command after --\n${USAGE}`);
      return 2;
    }
    let vars;
    try {
      vars = await readEnvFile(envPath);
    } catch (err) {
      log(`cannot read ${envPath} (is the sidecar running?): ${(err as Error).message}`);
      return 1;
    }
    try {
      return await execWithEnv(positionals, vars);
    } catch (err) {
      log(`cannot run ${positionals[0]}: ${(err as Error).message}`);
      return 127;
    }
  }
  if (sub === "run" && !flags["device-key"]) {
    console.error(`agentkeys sidecar: --device-key is required\n${USAGE}`);
    return 2;
  }
  const url = (flags.url ?? env.url).replace(/\/+$/, "");
  const insecure = insecureServiceUrl(url, env.allowHttp ?? false);
  if (insecure) {
    console.error(`agentkeys sidecar: --url: ${insecure}`);
    return 2;
  }
  const policyPath = flags.policy ?? join(userHome, ".config", "agentkeys", "policy.toml");
  const socketPath = flags.socket ??
    defaultSocketPath(env.runtimeDir, join(userHome, ".agentkeys"));
  const auditPath = flags.audit ?? join(env.home, "sidecar-audit.jsonl");
  try {
    if (flags.tcp !== undefined && flags.socket !== undefined) {
      throw new Error("--socket and --tcp exclude each other");
    }
    const tcp = flags.tcp === undefined ? undefined : parseTcpAddress(flags.tcp);
    const policy = await PolicyFile.open(policyPath, log);
    if (sub === "env") {
      await writeEnvFile(envPath, sidecarEnv(policy.current, tcp ? { tcp } : { socketPath }));
      log(`wrote ${envPath}`);
      return 0;
    }
    const device = await readDeviceKey(flags["device-key"]!);
    policy.watch();
    const audit = await AuditLog.open(auditPath);
    const credentials = new ServiceCredentials(url, device);
    const sidecar = await startSidecar({
      socketPath: tcp ? undefined : socketPath,
      tcp,
      policy: () => policy.current,
      credentials,
      keyrings: credentials,
      audit: audit.write,
    });
    const invalidator = new CacheInvalidator(credentials, sidecar.cache, { log });
    invalidator.start();
    const address: SidecarAddress = tcp ? { tcp: { ...tcp, port: sidecar.port! } } : { socketPath };
    // Rewritten when a policy reload changes the services, so the file never names stale ones.
    let written: Policy | undefined;
    const writeEnv = async () => {
      if (written === policy.current) return;
      written = policy.current;
      await writeEnvFile(envPath, sidecarEnv(written, address)).catch((err) =>
        log(`cannot write ${envPath}: ${(err as Error).message}`)
      );
    };
    await writeEnv();
    const envTimer = setInterval(() => void writeEnv(), 1000);
    const where = tcp ? `${tcp.host}:${sidecar.port}` : socketPath;
    log(
      `listening on ${where} for ${url} (policy ${policyPath}, audit ${auditPath}, env ${envPath})`,
    );
    await new Promise<void>((resolve) => {
      Deno.addSignalListener("SIGINT", resolve);
      Deno.addSignalListener("SIGTERM", resolve);
    });
    clearInterval(envTimer);
    policy.close();
    await invalidator.close();
    await sidecar.close();
    audit.close();
    return 0;
  } catch (err) {
    log((err as Error).message);
    return 1;
  }
}
