/**
 * Where the sidecar listens and how the socket is made safe: 0600 inside a 0700 directory; a
 * stale socket of a dead daemon is replaced, a live daemon's is left alone.
 *
 * @module
 */

import { dirname, join } from "node:path";
import { connect } from "node:net";

export const SOCKET_NAME = "agentkeys-proxy.sock";

/** The socket cannot be set up safely, or another sidecar owns it. */
export class SocketRefused extends Error {
  override name = "SocketRefused";
}

/** `$XDG_RUNTIME_DIR/agentkeys-proxy.sock`, else in `fallbackDir` (`~/.agentkeys`). */
export function defaultSocketPath(runtimeDir: string | undefined, fallbackDir: string): string {
  return join(runtimeDir || fallbackDir, SOCKET_NAME);
}

/** Makes the directory (0700), checks nobody else can enter it, clears a stale socket. */
export async function prepareSocketPath(path: string): Promise<void> {
  const dir = dirname(path);
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const st = await Deno.stat(dir);
  if (st.uid !== null && st.uid !== Deno.uid()) {
    throw new SocketRefused(`${dir} belongs to uid ${st.uid}, not to us`);
  }
  if (st.mode !== null && (st.mode & 0o077) !== 0) {
    throw new SocketRefused(
      `${dir} is open to others (mode ${(st.mode & 0o777).toString(8)}); chmod 700 it`,
    );
  }
  let existing: Deno.FileInfo;
  try {
    existing = await Deno.lstat(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return;
    throw err;
  }
  if (!existing.isSocket) throw new SocketRefused(`${path} exists and is not a socket`);
  if (await answers(path)) throw new SocketRefused(`a sidecar is already listening on ${path}`);
  await Deno.remove(path);
}

function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}
