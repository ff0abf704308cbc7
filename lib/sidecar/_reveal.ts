/**
 * `deno task cli cred get --credential-backend=sidecar`: asks the local sidecar for a secret
 * (`GET /v1/credentials/<service>` over its socket). The sidecar decides, by this process's
 * peer credentials and the policy's `reveal`, whether to answer at all.
 *
 * @module
 */

import { request } from "node:http";
import { ApiCallError } from "../client/mod.ts";

/**
 * The secret, or an {@linkcode ApiCallError} with the sidecar's `{error, message}` (status 0,
 * `sidecar_unreachable`, when nothing listens on the socket).
 *
 * ```ts
 * const secret = await revealFromSidecar("/run/user/1000/agentkeys-proxy.sock", "openai");
 * ```
 */
export function revealFromSidecar(socketPath: string, service: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath, method: "GET", path: `/v1/credentials/${encodeURIComponent(service)}` },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => body += c);
        res.on("error", reject);
        res.on("end", () => {
          let json: Record<string, unknown> = {};
          try {
            json = JSON.parse(body);
          } catch {
            // Handled below as a bad answer.
          }
          if (res.statusCode === 200 && typeof json.secret === "string") {
            return resolve(json.secret);
          }
          reject(
            new ApiCallError(
              res.statusCode ?? 0,
              String(json.error ?? "bad_response"),
              String(json.message ?? "the sidecar answered something else than a secret"),
            ),
          );
        });
      },
    );
    req.on("error", (err) =>
      reject(
        new ApiCallError(
          0,
          "sidecar_unreachable",
          `no sidecar answers on ${socketPath}: ${err.message}`,
        ),
      ));
    req.end();
  });
}
