/**
 * Sends one proxied request upstream with `node:http`/`node:https` and streams the answer back.
 *
 * Not `fetch`: on the pinned Deno the node client costs ~30 µs less CPU and ~35 µs less latency
 * per request (bench/sidecar.ts, docs/DECISIONS.md), and it hands the body over as it came —
 * still encoded, with its own `content-length` — so the agent sees the upstream's answer
 * unaltered instead of one decoded and re-framed by the proxy.
 *
 * @module
 */

import {
  Agent as HttpAgent,
  type IncomingMessage,
  request as httpRequest,
  type ServerResponse,
} from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import { Buffer } from "node:buffer";
import { responseHeaders } from "./_target.ts";

/** The agent closed its connection before the upstream call started. */
class AgentGone extends Error {
  override name = "AgentGone";
}

/** Upstream bodies up to this size, with a declared length, are sent back in one write. */
const BUFFER_MAX_BYTES = 64 * 1024;

// Keep-alive pools shared by every request of this daemon: a TLS handshake per request would
// cost more than everything else the sidecar does.
const agents = {
  http: new HttpAgent({ keepAlive: true }),
  // Explicit: left unset, NODE_TLS_REJECT_UNAUTHORIZED=0 in the environment (a common shell
  // workaround for intercepting proxies) would send secrets to any certificate.
  https: new HttpsAgent({ keepAlive: true, rejectUnauthorized: true }),
};

/**
 * Forwards `req` to `url` with `headers` (already filtered, the secret injected), writes the
 * upstream's status, end-to-end headers and body to `res`, and resolves with the upstream status
 * once the body is passed on. Rejects before anything was written if the upstream cannot be
 * reached; after that, a broken upstream body destroys `res`.
 */
export function forward(
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  headers: [string, string][],
  onStatus: (status: number) => void,
  /** Replaced by the placeholder wherever an upstream's response header echoes it. */
  secret?: string,
): Promise<void> {
  const https = url.protocol === "https:";
  const outHeaders: Record<string, string | string[]> = {};
  for (const [k, v] of headers) {
    const had = outHeaders[k];
    outHeaders[k] = had === undefined ? v : [...(Array.isArray(had) ? had : [had]), v];
  }
  // A request has a body only if it says so (RFC 9112 6.3; a length of 0 is none: an upstream
  // may refuse a chunked DELETE), and then it goes upstream chunked, framed by the client from
  // the bytes it writes. Left to node, DELETE, OPTIONS and TRACE get no framing at all: their
  // body would reach the upstream as the next request on a pooled socket (smuggled past the
  // policy, or prefixing the next agent's request and its secret).
  const hasBody = req.method !== "GET" && req.method !== "HEAD" &&
    ((req.headers["content-length"] ?? "0") !== "0" ||
      req.headers["transfer-encoding"] !== undefined);
  if (hasBody) outHeaders["transfer-encoding"] = "chunked";
  return new Promise((resolve, reject) => {
    // The agent may have gone while the credential was fetched: its "close" has fired already
    // and would never stop an upstream call started now (one that hangs would hold its socket).
    if (res.closed || req.socket.destroyed) return reject(new AgentGone());
    const upReq = (https ? httpsRequest : httpRequest)({
      protocol: url.protocol,
      // URL keeps IPv6 literals in brackets; the client wants the bare address.
      hostname: url.hostname.replace(/^\[(.*)\]$/, "$1"),
      port: url.port || (https ? 443 : 80),
      path: url.pathname + url.search,
      method: req.method,
      headers: outHeaders,
      agent: https ? agents.https : agents.http,
    });
    // The agent went away: stop the upstream call rather than finish it for nobody.
    const abandon = () => {
      if (!res.writableFinished) upReq.destroy();
    };
    res.once("close", abandon);
    const failed = (err: Error) => {
      res.off("close", abandon);
      if (!res.headersSent) reject(err);
      else {
        res.destroy();
        resolve();
      }
    };
    upReq.once("error", failed);
    // The sidecar never asks for a protocol switch (Upgrade is hop-by-hop and dropped): a 101
    // would leave the request with no "response" and the agent waiting for good.
    upReq.once("upgrade", (_res: IncomingMessage, socket: { destroy(): void }) => {
      upReq.off("error", failed).on("error", () => {}); // what the destroyed socket may say
      socket.destroy();
      failed(new Error("the upstream switched protocols unasked"));
    });
    upReq.once("response", (upRes: IncomingMessage) => {
      const status = upRes.statusCode ?? 502;
      onStatus(status);
      const pairs: [string, string][] = [];
      for (let i = 0; i < upRes.rawHeaders.length; i += 2) {
        pairs.push([upRes.rawHeaders[i].toLowerCase(), upRes.rawHeaders[i + 1]]);
      }
      res.writeHead(status, responseHeaders(pairs, secret));
      const finish = () => {
        res.off("close", abandon);
        resolve();
      };
      upRes.once("error", () => {
        res.destroy();
        finish();
      });
      const length = Number(upRes.headers["content-length"] ?? NaN);
      if (length <= BUFFER_MAX_BYTES) {
        // A small body of known length in one write: piping it chunk by chunk costs more than
        // the body (bench/sidecar.ts), and its size is bounded by the upstream's word.
        const chunks: Uint8Array[] = [];
        upRes.on("data", (c: Uint8Array) => chunks.push(c));
        upRes.once("end", () => {
          res.end(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
          finish();
        });
      } else {
        upRes.pipe(res);
        upRes.once("end", finish);
      }
    });
    if (hasBody) req.pipe(upReq);
    else upReq.end();
  });
}
