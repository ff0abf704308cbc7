/**
 * Runs `deno task start` as a user would, in a child process, and waits for the URL it prints;
 * signs a new operator in to it.
 *
 * @module
 */

import { generatePrivateKey, type PrivateKeyAccount, privateKeyToAccount } from "viem/accounts";
import { AgentKeysClient } from "../../lib/client/mod.ts";

export const ROOT = new URL("../../", import.meta.url).pathname;

export interface ServiceProcess extends AsyncDisposable {
  child: Deno.ChildProcess;
  url: string;
  /** Everything the service printed on stdout so far. */
  output(): string;
  /** Waits (up to 10 s) until stdout matches `pattern`; returns the match. */
  waitForOutput(pattern: RegExp): Promise<RegExpExecArray>;
  /** SIGTERM and wait; returns the exit status. */
  stop(): Promise<Deno.CommandStatus>;
}

/** A free loopback port (the OS picks; it is released before returning). */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Starts the service with `env` (AGENTKEYS_PORT defaults to 0); resolves once it listens. */
export async function startServiceProcess(env: Record<string, string>): Promise<ServiceProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["task", "start"],
    cwd: ROOT,
    env: { AGENTKEYS_PORT: "0", ...env },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  const deadline = Date.now() + 60_000;
  let stopped: Promise<Deno.CommandStatus> | undefined;
  const stop = () => {
    if (!stopped) {
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
      stopped = child.status.finally(() => child.stderr.cancel().catch(() => {}));
    }
    return stopped;
  };
  while (Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    out += value;
    const m = /listening on (http:\/\/\S+)/.exec(out);
    if (m) {
      // Keep draining so the child never blocks on a full pipe.
      (async () => {
        while (true) {
          const next = await reader.read();
          if (next.done) break;
          out += next.value;
        }
      })();
      const waitForOutput = async (pattern: RegExp) => {
        const until = Date.now() + 10_000;
        while (Date.now() < until) {
          const found = pattern.exec(out);
          if (found) return found;
          await new Promise((r) => setTimeout(r, 50));
        }
        throw new Error(`the service never printed ${pattern}:\n${out}`);
      };
      return {
        child,
        url: m[1],
        output: () => out,
        waitForOutput,
        stop,
        [Symbol.asyncDispose]: async () => void await stop(),
      };
    }
  }
  child.kill("SIGKILL");
  const err = await new Response(child.stderr).text();
  await child.status;
  throw new Error(`the service did not print its URL:\n${out}\n${err}`);
}

/** The result of one `deno task` run, decoded. */
export interface TaskRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `deno task -q <name> <args>` in the repository with `env`, as a user would type it. */
export async function runTask(
  name: string,
  args: string[],
  env: Record<string, string>,
): Promise<TaskRun> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", name, ...args],
    cwd: ROOT,
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

/** A new operator wallet, funded by the embedded chain's faucet and signed in to `url`. */
export async function signInNewOperator(url: string): Promise<{
  /** The service without a session (cap uses). */
  api: AgentKeysClient;
  /** The same with the operator's session. */
  me: AgentKeysClient;
  wallet: PrivateKeyAccount;
  session_jwt: string;
  operator_omni: string;
}> {
  const api = new AgentKeysClient(url);
  const wallet = privateKeyToAccount(generatePrivateKey());
  await api.call("POST", "/v1/dev/faucet", { address: wallet.address });
  const { session_jwt, operator_omni } = await api.loginWithWallet(wallet);
  return { api, me: api.withSession(session_jwt), wallet, session_jwt, operator_omni };
}
