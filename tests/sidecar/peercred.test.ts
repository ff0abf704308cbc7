/**
 * SO_PEERCRED through a private node:net field: if a Deno upgrade breaks it, this must fail
 * loudly rather than let the sidecar run blind.
 */

import { createServer, type Socket } from "node:net";
import { join } from "node:path";
import { type PeerCred, peerCredOf } from "../../lib/sidecar/_peercred.ts";
import { assert, assertEquals } from "../support/assert.ts";
import { tempDir } from "../support/tmp.ts";

Deno.test("SO_PEERCRED gives the pid, uid, gid and binary of a child process that connects", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "peer.sock");
  const seen = Promise.withResolvers<PeerCred>();
  const server = createServer((socket: Socket) => {
    try {
      seen.resolve(peerCredOf(socket));
    } catch (err) {
      seen.reject(err);
    }
    socket.destroy();
  });
  await new Promise<void>((r) => server.listen(path, r));
  try {
    // A separate program, so the pid and binary differ from ours.
    const child = new Deno.Command("/usr/bin/curl", {
      args: ["-s", "--unix-socket", path, "http://sidecar/"],
      stdout: "null",
      stderr: "null",
    }).spawn();
    const [peer] = await Promise.all([seen.promise, child.status]);
    assertEquals(peer.pid, child.pid);
    assertEquals(peer.uid, Deno.uid());
    assertEquals(peer.gid, Deno.gid());
    assertEquals(peer.exe, Deno.realPathSync("/usr/bin/curl"));
    assert(peer.pid !== Deno.pid);
  } finally {
    server.close();
  }
});
