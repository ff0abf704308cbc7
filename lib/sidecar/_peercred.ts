/**
 * Who is on the other end of a Unix socket: SO_PEERCRED through libc, then `/proc/<pid>/exe`.
 *
 * Deno has no API for peer credentials. `node:net` sockets keep the real descriptor in the
 * private `_handle.fd`, so this depends on the pinned Deno; tests/sidecar/peercred.test.ts fails
 * loudly the day that stops working.
 *
 * @module
 */

import type { Socket } from "node:net";

/** The calling process as the kernel reports it at accept time. */
export interface PeerCred {
  pid: number;
  uid: number;
  gid: number;
  /** `/proc/<pid>/exe`, or null if the process is already gone or hidden from us. */
  exe: string | null;
}

/** The descriptor is not there or the kernel refused: the caller cannot be identified. */
export class PeerCredUnavailable extends Error {
  override name = "PeerCredUnavailable";
}

const SOL_SOCKET = 1;
const SO_PEERCRED = 17;

let libc:
  | Deno.DynamicLibrary<{
    getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"]; result: "i32" };
  }>
  | undefined;

function getsockopt() {
  libc ??= Deno.dlopen("libc.so.6", {
    getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
  });
  return libc.symbols.getsockopt;
}

/** SO_PEERCRED of a connected Unix socket descriptor. */
export function peerCredOfFd(fd: number): Omit<PeerCred, "exe"> {
  const buf = new Uint8Array(12);
  const len = new Uint32Array([12]);
  const rc = getsockopt()(fd, SOL_SOCKET, SO_PEERCRED, buf, new Uint8Array(len.buffer));
  if (rc !== 0 || len[0] !== 12) throw new PeerCredUnavailable(`getsockopt failed on fd ${fd}`);
  const view = new DataView(buf.buffer);
  return { pid: view.getInt32(0, true), uid: view.getInt32(4, true), gid: view.getInt32(8, true) };
}

/**
 * Reads the peer of an accepted `node:net` socket. Call it in the `connection` handler, before
 * the peer can exit and its pid be reused.
 *
 * ```ts
 * server.on("connection", (socket) => peers.set(socket, peerCredOf(socket)));
 * ```
 */
export function peerCredOf(socket: Socket): PeerCred {
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  if (typeof fd !== "number" || fd < 0) {
    throw new PeerCredUnavailable("the socket has no file descriptor (Deno changed node:net?)");
  }
  const cred = peerCredOfFd(fd);
  let exe: string | null = null;
  try {
    exe = Deno.readLinkSync(`/proc/${cred.pid}/exe`);
  } catch {
    // Gone already, or another user's process under hidepid: the policy can only deny it.
  }
  return { ...cred, exe };
}
