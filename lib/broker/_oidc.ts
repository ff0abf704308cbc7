/**
 * The OIDC issuer that lets an agent trade its session for S3 STS credentials
 * (`AssumeRoleWithWebIdentity`): discovery, JWKS, and ES256 ID tokens carrying the actor as an
 * AWS session tag, so a bucket policy can confine each actor to its own prefix.
 *
 * @module
 */

import { SignJWT } from "jose";
import { omniToHex } from "../identity/mod.ts";
import type { SigningKeyring } from "./_keyring.ts";
import type { Session } from "./_sessions.ts";
import type { Hex, IdentityReader } from "./_identity.ts";
import { OidcError } from "./_errors.ts";
import { liveAgentDevice } from "./_mint.ts";

/** OIDC tokens live 15 minutes: long enough for STS, short enough to bound a leak. */
export const OIDC_TOKEN_S = 15 * 60;
export const DEFAULT_AUDIENCE = "sts.amazonaws.com";

/** What an {@linkcode OidcIssuer} checks against. */
export interface OidcIssuerOptions {
  /** The device re-check of agent sessions (§7 step 2, as for caps). */
  identity: IdentityReader;
  /**
   * The audiences tokens may be issued for (`AGENTKEYS_OIDC_AUDIENCES`); the first is used when
   * a request names none. Default: `sts.amazonaws.com` only.
   */
  audiences?: readonly string[];
  now?: () => Date;
}

/**
 * ```ts
 * const oidc = new OidcIssuer(k2, "http://127.0.0.1:8787", { identity: chain, audiences: ["sts.amazonaws.com"] });
 * const { jwt } = await oidc.mint(session);
 * ```
 */
export class OidcIssuer {
  readonly audiences: readonly string[];
  readonly #identity: IdentityReader;
  readonly #now: () => Date;

  constructor(
    private readonly k2: SigningKeyring,
    readonly issuer: string,
    options: OidcIssuerOptions,
  ) {
    this.audiences = options.audiences?.length ? [...options.audiences] : [DEFAULT_AUDIENCE];
    this.#identity = options.identity;
    this.#now = options.now ?? (() => new Date());
  }

  /** `/.well-known/openid-configuration` */
  discovery(): Record<string, unknown> {
    return {
      issuer: this.issuer,
      jwks_uri: `${this.issuer}/.well-known/jwks.json`,
      response_types_supported: ["id_token"],
      subject_types_supported: ["public"],
      id_token_signing_alg_values_supported: ["ES256"],
      claims_supported: [
        "sub",
        "aud",
        "iss",
        "iat",
        "exp",
        "agentkeys_actor_omni",
        "https://aws.amazon.com/tags",
      ],
    };
  }

  /** `/.well-known/jwks.json`: the current key first (Ceph RGW reads only the first). */
  jwks(): { keys: Record<string, unknown>[] } {
    return this.k2.jwks() as { keys: Record<string, unknown>[] };
  }

  /**
   * An ID token for the session's actor, for `audience` (default: the first configured one).
   * Throws {@linkcode OidcError} for an audience that is malformed (`bad_request`) or not
   * configured (`audience_not_allowed`), and `MintError` `device_revoked` when an agent session's
   * device was revoked since it logged in: STS credentials must not outlive revocation by more
   * than the token does.
   */
  async mint(session: Session, audience?: unknown): Promise<{ jwt: string; expires_at: string }> {
    if (
      audience !== undefined &&
      (typeof audience !== "string" || audience.length === 0 || audience.length > 256)
    ) {
      throw new OidcError("bad_request", "audience must be a non-empty string");
    }
    const aud = (audience as string | undefined) ?? this.audiences[0];
    if (!this.audiences.includes(aud)) {
      throw new OidcError(
        "audience_not_allowed",
        "this service does not issue tokens for that audience (see AGENTKEYS_OIDC_AUDIENCES)",
      );
    }
    if (session.kind === "agent") {
      await liveAgentDevice(this.#identity, session, session.actorOmni as Hex);
    }
    const actorHex = omniToHex(session.actorOmni);
    const iat = Math.floor(this.#now().getTime() / 1000);
    const exp = iat + OIDC_TOKEN_S;
    const key = this.k2.current;
    const jwt = await new SignJWT({
      agentkeys_actor_omni: actorHex,
      agentkeys_operator_omni: omniToHex(session.operatorOmni),
      "https://aws.amazon.com/tags": {
        principal_tags: { agentkeys_actor_omni: [actorHex] },
        transitive_tag_keys: ["agentkeys_actor_omni"],
      },
    })
      .setProtectedHeader({ alg: "ES256", typ: "JWT", kid: key.kid })
      .setIssuer(this.issuer)
      .setSubject(actorHex)
      .setAudience(aud)
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .setJti(crypto.getRandomValues(new Uint8Array(16)).toHex())
      .sign(key.privateKey);
    return { jwt, expires_at: new Date(exp * 1000).toISOString() };
  }
}
