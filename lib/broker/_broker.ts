/**
 * The broker facade: logins, sessions, cap minting, the OIDC issuer and operator views, put
 * together from their modules. It signs tokens and reads the chain; it never decrypts.
 *
 * @module
 */

import { operatorOmniOf } from "../identity/mod.ts";
import type { CapClaims, VerifiedTokenCache } from "../cap/mod.ts";
import {
  type AuditLog,
  KvChallengeStore,
  type KvStateStore,
  type SessionDenylist,
} from "../state/mod.ts";
import { AdminPolicy } from "./_admin.ts";
import type { AdminClaimFiles } from "./_admin_claim.ts";
import { DeviceLogin } from "./_device_login.ts";
import type { Hex, IdentityReader } from "./_identity.ts";
import type { SigningKeyring } from "./_keyring.ts";
import { CapMinter, liveAgentDevice } from "./_mint.ts";
import { OidcIssuer } from "./_oidc.ts";
import { ServiceNames } from "./_service_names.ts";
import { type Session, SessionIssuer } from "./_sessions.ts";
import { SiweLogin } from "./_siwe.ts";

export interface BrokerOptions {
  publicUrl: string;
  identity: IdentityReader;
  k1: SigningKeyring;
  k2: SigningKeyring;
  state: KvStateStore;
  admins: readonly string[];
  /** The data directory's admin claim files; absent: no claim (nobody but `admins`). */
  adminClaim?: AdminClaimFiles;
  /** Where an admin claim is recorded. */
  audit?: AuditLog;
  activeEpoch: () => number;
  now?: () => Date;
  /** Shared with a co-located worker, so it need not re-verify caps minted here. */
  capCache?: VerifiedTokenCache<CapClaims>;
  /**
   * Logouts; shared with a co-located worker so a logout here refuses the session's caps there
   * at once. Default: one on `state`.
   */
  sessionDenylist?: SessionDenylist;
  /** Audiences OIDC tokens may name (AGENTKEYS_OIDC_AUDIENCES); default `sts.amazonaws.com`. */
  oidcAudiences?: readonly string[];
  /** Login challenges pending at once (AGENTKEYS_MAX_PENDING_LOGINS); the oldest is evicted. */
  maxPendingLogins?: number;
}

/** A signed-in result as the login routes return it. */
export interface LoginResult {
  session_jwt: string;
  expires_at: string;
  session: Session;
}

/**
 * ```ts
 * const broker = new Broker({ publicUrl, identity: chain, k1, k2, state, admins: [], activeEpoch });
 * const { request_id, message } = await broker.siwe.start(address, chainId);
 * const { session_jwt } = await broker.finishSiwe(request_id, signature);
 * ```
 */
export class Broker {
  readonly sessions: SessionIssuer;
  readonly siwe: SiweLogin;
  readonly device: DeviceLogin;
  readonly minter: CapMinter;
  readonly oidc: OidcIssuer;
  readonly admins: AdminPolicy;
  readonly names: ServiceNames;

  constructor(readonly options: BrokerOptions) {
    const now = options.now;
    const challenges = new KvChallengeStore(
      options.state.kv,
      () => (now?.() ?? new Date()).getTime(),
      options.maxPendingLogins,
    );
    this.sessions = new SessionIssuer(
      options.k1,
      options.state,
      options.publicUrl,
      now,
      options.sessionDenylist,
    );
    this.siwe = new SiweLogin(challenges, {
      publicUrl: options.publicUrl,
      chainId: options.identity.chainId,
      now,
    });
    this.device = new DeviceLogin(challenges, options.identity, { domain: this.siwe.domain, now });
    this.minter = new CapMinter(
      options.identity,
      options.k1,
      options.activeEpoch,
      now,
      options.capCache,
    );
    this.oidc = new OidcIssuer(options.k2, options.publicUrl, {
      identity: options.identity,
      audiences: options.oidcAudiences,
      now,
    });
    this.admins = new AdminPolicy({
      kv: options.state.kv,
      configured: options.admins,
      claim: options.adminClaim,
      audit: options.audit,
    });
    this.names = new ServiceNames(options.state.kv);
  }

  /**
   * The session of a route's token: verified, and for an agent, its device still registered and
   * not revoked (`MintError` `device_revoked` otherwise). Without this an agent session kept
   * working after its device's revocation on routes that mint nothing, until it expired. Chain
   * reads are cached per block, so this costs one `eth_blockNumber` per block at most.
   */
  async authenticate(token: string | undefined): Promise<Session> {
    const session = await this.sessions.verify(token);
    if (session.kind === "agent") {
      await liveAgentDevice(this.options.identity, session, session.actorOmni as Hex);
    }
    return session;
  }

  /** Verifies a SIWE answer and opens an operator session. */
  async finishSiwe(
    requestId: unknown,
    signature: unknown,
  ): Promise<LoginResult & { address: string; operator_omni: string }> {
    const address = await this.siwe.verify(requestId, signature);
    const operatorOmni = operatorOmniOf(address as Hex);
    const { token, session } = await this.sessions.issue({
      kind: "operator",
      address,
      operatorOmni,
      actorOmni: operatorOmni,
    });
    return {
      session_jwt: token,
      address,
      operator_omni: operatorOmni,
      expires_at: new Date(session.expiresAt * 1000).toISOString(),
      session,
    };
  }

  /** Verifies a device answer and opens a 15-minute agent session. */
  async finishDevice(requestId: unknown, signature: unknown) {
    const { deviceAddress, deviceKeyHash, device } = await this.device.verify(requestId, signature);
    const { token, session } = await this.sessions.issue({
      kind: "agent",
      address: deviceAddress,
      operatorOmni: device.operatorOmni,
      actorOmni: device.actorOmni,
      deviceKeyHash,
    });
    return {
      session_jwt: token,
      operator_omni: device.operatorOmni,
      actor_omni: device.actorOmni,
      device_key_hash: deviceKeyHash,
      expires_at: new Date(session.expiresAt * 1000).toISOString(),
      session,
    };
  }

  /** `GET /v1/operators/me`: the operator, its agents and their scopes, names resolved. */
  async me(session: Session) {
    const agents = [];
    for (const { deviceKeyHash, device, scope } of await this.#agentsOf(session)) {
      agents.push({
        actor_omni: device.actorOmni,
        label: device.label,
        generation: device.generation,
        device_key_hash: deviceKeyHash,
        revoked: device.revoked,
        registered_at: new Date(device.registeredAt * 1000).toISOString(),
        scope: {
          services: await Promise.all(scope.serviceHashes.map((h) => this.names.nameOf(h))),
          read_only: scope.readOnly,
        },
      });
    }
    return {
      address: session.address,
      operator_omni: session.operatorOmni,
      kind: session.kind,
      is_admin: session.kind === "operator" && await this.admins.isAdmin(session.address),
      agents,
    };
  }

  /**
   * `POST /v1/services/names`: records the names behind hashes that a scope on chain of the
   * session's agents (an agent: its own) already holds. Anything else is refused, so the
   * dictionary grows only as fast as scopes do on chain — each one a transaction — and never
   * from a loop of requests.
   */
  async learnServiceNames(session: Session, names: readonly string[]): Promise<void> {
    const scoped = new Set<Hex>();
    for (const { scope } of await this.#agentsOf(session)) {
      for (const h of scope.serviceHashes) scoped.add(h);
    }
    await this.names.learn(names, scoped);
  }

  /** The session's agents (an agent session: itself) with their devices and scopes. */
  async #agentsOf(session: Session) {
    const identity = this.options.identity;
    const op = session.operatorOmni as Hex;
    const agents = [];
    for (const deviceKeyHash of await identity.agentsOf(op)) {
      const device = await identity.getDevice(deviceKeyHash);
      if (!device) continue;
      if (session.kind !== "operator" && device.actorOmni !== session.actorOmni) continue;
      agents.push({ deviceKeyHash, device, scope: await identity.getScope(op, device.actorOmni) });
    }
    return agents;
  }
}
