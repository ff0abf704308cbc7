/**
 * Runs `anvil` (Foundry's local EVM node) as a child process: the embedded default chain and
 * the chain every test deploys to.
 *
 * The binary comes from the npm package `@foundry-rs/anvil`, pinned in `tools/chain/package.json`.
 * Deno cannot install that package (its optionalDependencies name unpublished platform
 * packages), so {@linkcode ensureAnvil} runs npm on that small folder when the binary is missing.
 *
 * ```ts
 * await using anvil = await startAnvil({ stateFile: "./data/chain/anvil-state.json" });
 * console.log(anvil.rpcUrl); // http://127.0.0.1:<free port>
 * ```
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import { withFileLock } from "../fsutil/mod.ts";

/** Installing anvil with npm failed (npm missing, offline, or an unsupported platform). */
export class AnvilInstallError extends Error {
  readonly code = "anvil_install_failed";
  constructor(message: string) {
    super(message);
    this.name = "AnvilInstallError";
  }
}

/** anvil did not start, or did not answer on its RPC port in time. */
export class AnvilStartError extends Error {
  readonly code = "anvil_start_failed";
  constructor(message: string) {
    super(message);
    this.name = "AnvilStartError";
  }
}

/** The folder with the pinned npm package (`package.json`, `package-lock.json`). */
export const TOOLS_DIR = fileURLToPath(new URL("../../tools/chain/", import.meta.url));

/** anvil's npm platform package suffix, as `@foundry-rs/anvil`'s own launcher names them. */
function platformPackage(): string {
  const os = { linux: "linux", darwin: "darwin", windows: "win32" }[Deno.build.os as string];
  const arch = { x86_64: "amd64", aarch64: "arm64" }[Deno.build.arch as string];
  if (!os || !arch) {
    throw new AnvilInstallError(`anvil has no npm build for ${Deno.build.os}/${Deno.build.arch}`);
  }
  return `@foundry-rs/anvil-${os}-${arch}`;
}

/**
 * The anvil binary inside the platform package. We run it directly rather than through the
 * package's `bin.mjs`, a Node wrapper: one process less, and SIGTERM reaches anvil itself,
 * which is what makes it write its state file on stop.
 */
function binaryPath(toolsDir: string): string {
  const exe = Deno.build.os === "windows" ? "anvil.exe" : "anvil";
  return join(toolsDir, "node_modules", platformPackage(), "bin", exe);
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

let installing: Promise<string> | undefined;

/**
 * Returns the path of the anvil binary, installing it with npm when it is missing:
 * `npm install --prefix tools/chain --no-save --ignore-scripts --no-audit --no-fund`.
 *
 * Why not `npm ci`: the lock file can only hold the platform packages that exist on the
 * registry (the others named in `@foundry-rs/anvil`'s optionalDependencies are unpublished),
 * and `npm ci` refuses such a lock as "out of sync". `npm install --no-save` still installs the
 * locked versions with their integrity hashes, and never rewrites the checked-in lock.
 * `--ignore-scripts` skips the package's postinstall, a fallback downloader we do not need
 * because we run the platform binary directly.
 *
 * Concurrent callers, in this process or others, share one install (a file lock in the temp
 * directory serialises them; the lock is not in the repository so it never shows in git).
 *
 * ```ts
 * const anvil = await ensureAnvil(); // ".../tools/chain/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"
 * ```
 */
export function ensureAnvil(options: { toolsDir?: string } = {}): Promise<string> {
  const toolsDir = options.toolsDir ?? TOOLS_DIR;
  if (options.toolsDir !== undefined) return install(toolsDir);
  installing ??= install(toolsDir).finally(() => {
    installing = undefined;
  });
  return installing;
}

async function install(toolsDir: string): Promise<string> {
  const bin = binaryPath(toolsDir);
  if (await isFile(bin)) return bin;
  const lockName = `agentkeys-anvil-${
    createHash("sha256").update(toolsDir).digest("hex").slice(0, 16)
  }.lock`;
  return await withFileLock(join(tmpdir(), lockName), async () => {
    if (await isFile(bin)) return bin; // another process installed it while we waited
    const args = [
      "install",
      "--prefix",
      toolsDir,
      "--no-save",
      "--ignore-scripts",
      "--no-audit",
      "--no-fund",
    ];
    let out: Deno.CommandOutput;
    try {
      out = await new Deno.Command("npm", { args, stdout: "piped", stderr: "piped" }).output();
    } catch (err) {
      throw new AnvilInstallError(
        `anvil is missing and npm could not be run to install it (npm ${args.join(" ")}): ${
          (err as Error).message
        }. Install Node.js/npm, or run that command yourself.`,
      );
    }
    if (!out.success) {
      const stderr = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-15).join("\n");
      throw new AnvilInstallError(
        `installing anvil failed: npm ${args.join(" ")} exited with ${out.code}:\n${stderr}`,
      );
    }
    if (!(await isFile(bin))) {
      throw new AnvilInstallError(
        `npm ${args.join(" ")} succeeded but ${bin} is missing (unsupported platform?)`,
      );
    }
    return bin;
  });
}

/** Options of {@linkcode startAnvil}. */
export interface AnvilOptions {
  /** Load state from this file if it exists, and write it back periodically and on stop. */
  stateFile?: string;
  /** Seconds between periodic state writes (default 1); only with `stateFile`. */
  stateInterval?: number;
  /** TCP port; 0 (the default) lets the OS pick a free one, so tests can run side by side. */
  port?: number;
  /** Address to bind (default 127.0.0.1: the embedded chain is not for the network). */
  host?: string;
  /** Chain id (default 31337, anvil's own). */
  chainId?: number;
  /** Seconds per block; unset = automine (a block per transaction, mined at once). */
  blockTime?: number;
  /** Milliseconds to wait for the RPC to answer (default 15000). */
  startTimeoutMs?: number;
  /** The binary; default {@linkcode ensureAnvil}'s. */
  binary?: string;
  /**
   * Unlocked, funded development accounts anvil generates from its public mnemonic (default:
   * anvil's own 10). The embedded chain asks for 0: their keys are public, and an unlocked
   * account lets anyone who reaches anvil send transactions as it.
   */
  devAccounts?: number;
}

/** A running anvil. `stop()` (or `await using`) ends it and waits until it has exited. */
export interface AnvilProcess extends AsyncDisposable {
  rpcUrl: string;
  port: number;
  pid: number;
  chainId: number;
  /** The last lines anvil printed, for error messages. */
  recentOutput(): string;
  /** SIGTERM (anvil writes its state file on it), wait for exit; SIGKILL after 10 s. Idempotent. */
  stop(): Promise<void>;
}

const OUTPUT_LINES = 60;

/**
 * Starts anvil and resolves once its JSON-RPC answers `eth_chainId`.
 *
 * ```ts
 * const anvil = await startAnvil({ stateFile: "/tmp/s.json", chainId: 31337 });
 * try { ... } finally { await anvil.stop(); }
 * ```
 */
export async function startAnvil(options: AnvilOptions = {}): Promise<AnvilProcess> {
  const binary = options.binary ?? await ensureAnvil();
  const host = options.host ?? "127.0.0.1";
  const chainId = options.chainId ?? 31337;
  const args = ["--host", host, "--port", String(options.port ?? 0), "--chain-id", String(chainId)];
  // Without --no-cors anvil answers `access-control-allow-origin: *`, so any web page the
  // user visits could drive it (including its cheat-code RPCs) from the browser.
  args.push("--no-cors");
  if (options.devAccounts !== undefined) args.push("--accounts", String(options.devAccounts));
  if (options.stateFile !== undefined) {
    args.push("--state", options.stateFile, "--state-interval", String(options.stateInterval ?? 1));
  }
  if (options.blockTime !== undefined) args.push("--block-time", String(options.blockTime));

  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(binary, { args, stdin: "null", stdout: "piped", stderr: "piped" })
      .spawn();
  } catch (err) {
    throw new AnvilStartError(`could not run ${binary}: ${(err as Error).message}`);
  }

  // anvil logs every RPC call; the pipes must be drained for its whole life or it blocks once
  // they fill. Only the last lines are kept, for error messages.
  const lines: string[] = [];
  let listening: (port: number) => void;
  const portSeen = new Promise<number>((resolve) => listening = resolve);
  // Uint8Array<ArrayBuffer>: with the DOM lib in the program (the console's Preact types bring
  // it), TextDecoderStream accepts no SharedArrayBuffer-backed chunks.
  const drain = async (stream: ReadableStream<Uint8Array<ArrayBuffer>>) => {
    let partial = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      const parts = (partial + chunk).split("\n");
      partial = parts.pop() ?? "";
      for (const line of parts) {
        lines.push(line);
        if (lines.length > OUTPUT_LINES) lines.shift();
        const m = /^Listening on .*:(\d+)\s*$/.exec(line);
        if (m) listening(Number(m[1]));
      }
    }
  };
  const drained = Promise.all([drain(child.stdout), drain(child.stderr)]).catch(() => {});
  const recentOutput = () => lines.join("\n");

  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      try {
        child.kill("SIGTERM");
      } catch {
        // already exited
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const killed = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          try {
            child.kill("SIGKILL");
          } catch {
            // exited in the meantime
          }
          resolve();
        }, 10_000);
      });
      await Promise.race([child.status, killed]);
      clearTimeout(timer);
      await child.status;
      await drained;
    })();
    return stopped;
  };

  const timeoutMs = options.startTimeoutMs ?? 15_000;
  const fail = async (why: string): Promise<never> => {
    await stop();
    throw new AnvilStartError(`${why}; anvil ${args.join(" ")} printed:\n${recentOutput()}`);
  };
  let deadlineTimer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<"timeout">((resolve) => {
    deadlineTimer = setTimeout(() => resolve("timeout"), timeoutMs);
  });
  try {
    const first = await Promise.race([
      portSeen,
      child.status.then(() => "exited" as const),
      deadline,
    ]);
    if (first === "exited") return await fail("anvil exited during start-up");
    if (first === "timeout") return await fail(`anvil did not listen within ${timeoutMs} ms`);
    const port = first;
    const rpcUrl = `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
    for (;;) {
      const answered = await Promise.race([rpcAnswers(rpcUrl), deadline]);
      if (answered === true) break;
      if (answered === "timeout") {
        return await fail(`anvil's RPC did not answer in ${timeoutMs} ms`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    return {
      rpcUrl,
      port,
      pid: child.pid,
      chainId,
      recentOutput,
      stop,
      [Symbol.asyncDispose]: stop,
    };
  } finally {
    clearTimeout(deadlineTimer);
  }
}

async function rpcAnswers(rpcUrl: string): Promise<boolean> {
  try {
    const res = await fetch(rpcUrl, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId", params: [] }),
    });
    const body = await res.json();
    return typeof body?.result === "string";
  } catch {
    return false;
  }
}
