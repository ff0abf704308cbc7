/**
 * Proofs of blobs against the on-chain anchors (ARCHITECTURE §13), for the operator the actor
 * belongs to (bearer session or the console's cookie):
 *
 * - `GET /v1/cred/proof?actor_omni=&service=`
 * - `GET /v1/memory/proof?actor_omni=&namespace=&name=`
 * - `GET /v1/inbound/proof?actor_omni=&message_id=`
 *
 * → `{pointer, anchor, root, leaf, siblings, chain_id, vault_anchor, format}`. Thin: the checks
 * and the proof are `BlobProofs`' (lib/integrity).
 *
 * @module
 */

import { Hono } from "hono";
import type { Broker } from "../lib/broker/mod.ts";
import type { BlobProofs, ProofTarget } from "../lib/integrity/mod.ts";
import { operatorOnly, requireSession, type SessionEnv } from "./session.ts";

export function proofRoutes(broker: Broker, proofs: BlobProofs): Hono<SessionEnv> {
  const app = new Hono<SessionEnv>();
  const route = (path: string, target: (q: (name: string) => string | undefined) => ProofTarget) =>
    app.get(path, requireSession(broker), async (c) => {
      const s = operatorOnly(c);
      const q = (name: string) => c.req.query(name);
      return c.json(await proofs.prove(s.operatorOmni, q("actor_omni"), target(q)));
    });
  route("/v1/cred/proof", (q) => ({ dataClass: "credentials", service: q("service") }));
  route("/v1/memory/proof", (q) => ({
    dataClass: "memory",
    namespace: q("namespace"),
    name: q("name"),
  }));
  route("/v1/inbound/proof", (q) => ({ dataClass: "inbound", messageId: q("message_id") }));
  return app;
}
