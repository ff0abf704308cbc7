/**
 * Session tokens: EdDSA (Ed25519) JWTs signed with K1, carried as `Authorization: Bearer` or an HttpOnly
 * cookie. Verified on every request, including the logout denylist.
 *
 * @module
 */

import { errors as joseErrors, jwtVerify } from "jose";
import { SessionDenylist, type StateStore } from "../state/mod.ts";
import type { SigningKeyring } from "./_keyring.ts";
import { SessionInvalid } from "./_errors.ts";
import { signCompact, VerifiedTokenCache } from "../cap/mod.ts";

export const SESSION_TYP = "agentkeys-session+jwt";
/** Operator sessions last a working day; agent (device) sessions at most 15 minutes (§7). */
export const OPERATOR_SESSION_S = 12 * 3600;
export const DEVICE_SESSION_S = 15 * 60;

/** Who a session speaks for. */
export interface Session {
  kind: "operator" | "agent";
  /** The wallet (operator) or device address (agent), lowercase. */
  address: string;
  operatorOmni: string;
  /** The operator's own omni for operator sessions. */
  actorOmni: string;
  /** Agent sessions: keccak256 of the device address. */
  deviceKeyHash?: string;
  /** When the wallet or device key last proved possession (seconds). */
  provedAt: number;
  expiresAt: number;
  jti: string;
}

/**
 * ```ts
 * const sessions = new SessionIssuer(k1, state, "http://127.0.0.1:8787");
 * const { token } = await sessions.issue({ kind: "operator", address, operatorOmni, actorOmni: operatorOmni });
 * const session = await sessions.verify(token);
 * ```
 */
export class SessionIssuer {
  /** Sessions whose signature was checked or made here; logout and expiry are still checked. */
  #verified = new VerifiedTokenCache<Session>(10_000);
  /** Logouts; a co-located worker shares it to refuse the caps a logged-out session minted. */
  readonly denylist: SessionDenylist;
  constructor(
    private readonly keyring: SigningKeyring,
    private readonly state: StateStore,
    private readonly issuer: string,
    private readonly now: () => Date = () => new Date(),
    denylist?: SessionDenylist,
  ) {
    this.denylist = denylist ?? new SessionDenylist(state, { now: () => this.now().getTime() });
  }

  /** Signs a session for a fresh proof of possession. */
  async issue(
    s: Omit<Session, "provedAt" | "expiresAt" | "jti">,
  ): Promise<{ token: string; session: Session }> {
    const provedAt = Math.floor(this.now().getTime() / 1000);
    const ttl = s.kind === "agent" ? DEVICE_SESSION_S : OPERATOR_SESSION_S;
    const session: Session = {
      ...s,
      provedAt,
      expiresAt: provedAt + ttl,
      jti: crypto.getRandomValues(new Uint8Array(16)).toHex(),
    };
    const token = await signCompact({ typ: SESSION_TYP }, {
      sub: session.address,
      iss: this.issuer,
      aud: this.issuer,
      iat: provedAt,
      exp: session.expiresAt,
      jti: session.jti,
      kind: session.kind,
      operator_omni: session.operatorOmni,
      actor_omni: session.actorOmni,
      ...(session.deviceKeyHash ? { device_key_hash: session.deviceKeyHash } : {}),
      proved_at: provedAt,
    }, this.keyring.current.signer);
    this.#verified.set(token, session);
    return { token, session };
  }

  /**
   * Checks signature (EdDSA; ES256 only from a retained K1 key made before Ed25519, so a
   * session signed the day before an upgrade lives out its 12 h), typ, issuer, expiry (no skew)
   * and the logout list.
   */
  async verify(token: string | undefined): Promise<Session> {
    if (!token) throw new SessionInvalid("no_session", "sign in first: no session token was sent");
    const known = this.#verified.get(token);
    if (known) return await this.#live(known);
    let payload;
    try {
      ({ payload } = await jwtVerify(token, this.keyring.verifier, {
        algorithms: this.keyring.algorithms(),
        typ: SESSION_TYP,
        issuer: this.issuer,
        audience: this.issuer,
        currentDate: this.now(),
        requiredClaims: ["sub", "exp", "iat", "jti"],
      }));
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) {
        throw new SessionInvalid("session_expired", "the session has expired; sign in again");
      }
      throw new SessionInvalid("session_invalid", "the session token is not valid");
    }
    const session: Session = {
      kind: payload.kind === "agent" ? "agent" : "operator",
      address: String(payload.sub),
      operatorOmni: String(payload.operator_omni),
      actorOmni: String(payload.actor_omni),
      deviceKeyHash: typeof payload.device_key_hash === "string"
        ? payload.device_key_hash
        : undefined,
      provedAt: Number(payload.proved_at),
      expiresAt: Number(payload.exp),
      jti: String(payload.jti),
    };
    if (payload.kind !== "agent" && payload.kind !== "operator") {
      throw new SessionInvalid("session_invalid", "the session token is not valid");
    }
    this.#verified.set(token, session);
    return await this.#live(session);
  }

  /** The checks that can change after a signature was verified: expiry and logout. */
  async #live(session: Session): Promise<Session> {
    if (Math.floor(this.now().getTime() / 1000) >= session.expiresAt) {
      throw new SessionInvalid("session_expired", "the session has expired; sign in again");
    }
    // A logout elsewhere must apply at once: exact through the change counter, else read again.
    const loggedOut = await this.denylist.isRevoked(session.jti, { maxAgeMs: 0 });
    if (loggedOut) {
      throw new SessionInvalid("session_invalid", "this session was logged out");
    }
    return session;
  }

  /** Ends a session before its expiry, and with it every cap it minted (their `sid`). */
  async revoke(session: Session): Promise<void> {
    await this.denylist.revoke(session.jti, session.expiresAt * 1000);
  }
}
