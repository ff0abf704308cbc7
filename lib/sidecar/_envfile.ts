/**
 * `~/.config/agentkeys/env`: what an agent sources to reach its services through the sidecar —
 * `<SERVICE>_BASE_URL` and a placeholder `<SERVICE>_API_KEY` per service in the policy, never a
 * secret. Written atomically (temp file in the same directory, 0600, then rename) so a reader
 * never sees half a file.
 *
 * @module
 */

import { dirname } from "node:path";
import type { Policy } from "./_policy.ts";

/** What the agent sends where a credential would go; the sidecar replaces it. */
export const PLACEHOLDER = "agentkeys-placeholder";

/** Where the agent reaches the sidecar. */
export type SidecarAddress = { socketPath: string } | { tcp: { host: string; port: number } };

/** `openai` → `OPENAI`, `my-api` → `MY_API`. */
export function envPrefix(service: string): string {
  return service.toUpperCase().replace(/-/g, "_");
}

/**
 * The variables, in a stable order. On the socket, base URLs are `http://localhost/<service>`
 * and `AGENTKEYS_SIDECAR_SOCKET` names the socket (e.g. `curl --unix-socket`); with `--tcp`
 * they point at the loopback listener and `AGENTKEYS_SIDECAR_URL` is set.
 */
export function sidecarEnv(policy: Policy, at: SidecarAddress): [string, string][] {
  const out: [string, string][] = [];
  let base: string;
  if ("socketPath" in at) {
    base = "http://localhost";
    out.push(["AGENTKEYS_SIDECAR_SOCKET", at.socketPath]);
  } else {
    const host = at.tcp.host.includes(":") ? `[${at.tcp.host}]` : at.tcp.host;
    base = `http://${host}:${at.tcp.port}`;
    out.push(["AGENTKEYS_SIDECAR_URL", base]);
  }
  const seen = new Set<string>();
  for (const service of Object.keys(policy.services).sort()) {
    const prefix = envPrefix(service);
    // `a-b` and `a_b` would share a prefix: the first (sorted) keeps it.
    if (seen.has(prefix)) continue;
    seen.add(prefix);
    out.push([`${prefix}_BASE_URL`, `${base}/${service}`]);
    out.push([`${prefix}_API_KEY`, PLACEHOLDER]);
  }
  return out;
}

/** `export KEY='value'` lines a POSIX shell can source. */
export function renderEnv(vars: [string, string][]): string {
  const lines = vars.map(([k, v]) => `export ${k}='${v.replaceAll("'", `'\\''`)}'`);
  return `# Written by the AgentKeys sidecar; placeholders only, no secrets.\n${
    lines.join("\n")
  }\n`;
}

/** Replaces `path` in one step: temp file (0600) in the same directory, then rename. */
export async function writeEnvFile(path: string, vars: [string, string][]): Promise<void> {
  const dir = dirname(path);
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = await Deno.makeTempFile({ dir, prefix: ".env-", suffix: ".tmp" });
  try {
    await Deno.chmod(tmp, 0o600);
    await Deno.writeTextFile(tmp, renderEnv(vars));
    await Deno.rename(tmp, path);
  } catch (err) {
    await Deno.remove(tmp).catch(() => {});
    throw err;
  }
}

/** Reads a file {@linkcode renderEnv} wrote (for `sidecar exec`). */
export async function readEnvFile(path: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const line of (await Deno.readTextFile(path)).split("\n")) {
    const m = /^export ([A-Z_][A-Z0-9_]*)='(.*)'$/.exec(line);
    if (m) out[m[1]] = m[2].replaceAll(`'\\''`, "'");
  }
  return out;
}
