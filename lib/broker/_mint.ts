/**
 * Capability minting (§7): the checks run in the order the design gives — session ownership,
 * device registration and revocation, freshness of the device proof, scope — and only then is
 * a cap signed. The broker never touches plaintext or K3.
 *
 * @module
 */

import {
  type CapClaims,
  type CapDataClass,
  capMaxTtl,
  type CapOp,
  capScopeField,
  mintCap,
  type VerifiedTokenCache,
} from "../cap/mod.ts";
import { confirmRefusal, isOmni, isValidName, NAME_RULE, serviceHash } from "../identity/mod.ts";
import { type DeviceRecord, findAgentDevice, type Hex, type IdentityReader } from "./_identity.ts";
import type { Session } from "./_sessions.ts";
import { DEVICE_SESSION_S } from "./_sessions.ts";
import type { SigningKeyring } from "./_keyring.ts";
import { MintError } from "./_errors.ts";

/** The cap routes of API.md (and the inbound ones, issue 13) and what each grants. */
export const CAP_KINDS = {
  "cred-store": { op: "store", dataClass: "credentials" },
  "cred-fetch": { op: "fetch", dataClass: "credentials" },
  "cred-teardown": { op: "teardown", dataClass: "credentials" },
  "memory-put": { op: "store", dataClass: "memory" },
  "memory-get": { op: "fetch", dataClass: "memory" },
  "memory-teardown": { op: "teardown", dataClass: "memory" },
  // Keyrings (issue 14): caps name a ring; the worker checks membership on every use.
  "keyring-put": { op: "store", dataClass: "keyring" },
  "keyring-get": { op: "fetch", dataClass: "keyring" },
  "keyring-list": { op: "fetch", dataClass: "keyring" },
  "keyring-teardown": { op: "teardown", dataClass: "keyring" },
  // Inbound (issue 13): an operator session writes into an agent's inbox (a mail gateway); the
  // agent reads and clears its own.
  "inbound-put": { op: "store", dataClass: "inbound" },
  "inbound-get": { op: "fetch", dataClass: "inbound" },
  "inbound-teardown": { op: "teardown", dataClass: "inbound" },
} as const satisfies Record<string, { op: CapOp; dataClass: CapDataClass }>;
export type CapKind = keyof typeof CAP_KINDS;

/** Operators have no device key; their own caps carry this hash. */
export const NO_DEVICE: Hex = `0x${"00".repeat(32)}`;

/**
 * Step 2 of §7, for everything the broker signs on an agent's behalf (caps, OIDC tokens): the
 * device is registered to `actorOmni` of the session's operator and not revoked. An agent session
 * must still hold its own device (the one it logged in with); an operator session needs any
 * device of that agent. Throws {@linkcode MintError} `agent_unknown` (the operator names no agent
 * of its own) or `device_revoked` (revoked, or an agent session's device is no longer registered).
 *
 * ```ts
 * const { deviceKeyHash } = await liveAgentDevice(identity, session, actorOmni);
 * ```
 */
export function liveAgentDevice(
  identity: IdentityReader,
  session: Session,
  actorOmni: Hex,
): Promise<{ deviceKeyHash: Hex; device: DeviceRecord }> {
  // A refusal is confirmed at the chain's latest block (see confirmRefusal).
  return confirmRefusal(identity, () => agentDeviceAtHead(identity, session, actorOmni));
}

/** {@linkcode liveAgentDevice} on the block the reader has now, refusals unconfirmed. */
async function agentDeviceAtHead(
  identity: IdentityReader,
  session: Session,
  actorOmni: Hex,
): Promise<{ deviceKeyHash: Hex; device: DeviceRecord }> {
  let found: { deviceKeyHash: Hex; device: DeviceRecord } | null = null;
  if (session.kind === "agent") {
    const hash = session.deviceKeyHash as Hex | undefined;
    const device = hash ? await identity.getDevice(hash) : null;
    if (
      !hash || !device || device.actorOmni !== actorOmni ||
      device.operatorOmni !== session.operatorOmni
    ) {
      // The session proved this device at login; a device gone since is as good as revoked.
      throw new MintError("device_revoked", "this session's device is no longer registered");
    }
    found = { deviceKeyHash: hash, device };
  } else {
    found = await findAgentDevice(identity, session.operatorOmni as Hex, actorOmni);
    if (!found) {
      throw new MintError(
        "agent_unknown",
        "no agent with this actor_omni is registered to this operator",
      );
    }
  }
  if (found.device.revoked) {
    throw new MintError("device_revoked", "this agent's device was revoked");
  }
  return found;
}

/**
 * ```ts
 * const minter = new CapMinter(identity, k1, () => keystore.activeEpoch);
 * const { cap } = await minter.mint(session, "cred-fetch", { operator_omni, actor_omni, service: "openai" });
 * ```
 */
export class CapMinter {
  constructor(
    private readonly identity: IdentityReader,
    private readonly k1: SigningKeyring,
    private readonly activeEpoch: () => number,
    private readonly now: () => Date = () => new Date(),
    private readonly capCache?: VerifiedTokenCache<CapClaims>,
  ) {}

  async mint(
    session: Session,
    kind: CapKind,
    body: Record<string, unknown>,
  ): Promise<{ cap: string; expires_at: string; k3_epoch: number }> {
    const { op, dataClass } = CAP_KINDS[kind];
    const scopeField = capScopeField(dataClass);
    const operatorOmni = body.operator_omni;
    const actorOmni = body.actor_omni;
    const name = scopeField === undefined ? undefined : body[scopeField];
    if (!isOmni(operatorOmni)) {
      throw new MintError("bad_request", "operator_omni must be 0x + 64 lowercase hex");
    }
    if (!isOmni(actorOmni)) {
      throw new MintError("bad_request", "actor_omni must be 0x + 64 lowercase hex");
    }
    if (scopeField !== undefined && !isValidName(name)) {
      throw new MintError("bad_request", `${scopeField} must match ${NAME_RULE}`);
    }
    // Above the maximum is refused, not clamped: a client that asked for longer must not
    // believe it got it.
    const maxTtl = capMaxTtl(op);
    const ttl = body.ttl_seconds ?? maxTtl;
    if (!Number.isSafeInteger(ttl) || (ttl as number) < 1 || (ttl as number) > maxTtl) {
      throw new MintError("bad_request", `ttl_seconds must be 1..${maxTtl} for a ${op} cap`);
    }

    // 1. The session speaks for this operator (and, for an agent, for this very agent).
    if (session.operatorOmni !== operatorOmni) {
      throw new MintError("forbidden", "this session belongs to another operator");
    }
    if (session.kind === "agent" && session.actorOmni !== actorOmni) {
      throw new MintError("forbidden", "an agent session may mint caps only for itself");
    }
    if (session.kind === "agent" && dataClass === "inbound" && op === "store") {
      // What arrives in an inbox comes from outside the agent, delivered by its operator.
      throw new MintError("forbidden", "inbound messages are written by the operator's session");
    }
    const ownData = actorOmni === operatorOmni;
    let deviceKeyHash = NO_DEVICE;
    let readOnly = false;
    if (!ownData) {
      // Steps 2-4 read the chain: a refusal is confirmed at its latest block.
      ({ deviceKeyHash, readOnly } = await confirmRefusal(
        this.identity,
        () =>
          this.#agentChecks(session, op, dataClass, name, operatorOmni as Hex, actorOmni as Hex),
      ));
    }
    const { cap, claims } = await mintCap(
      {
        op,
        data_class: dataClass,
        ...(scopeField === undefined ? {} : { [scopeField]: name }),
        operator_omni: operatorOmni,
        actor_omni: actorOmni,
        device_key_hash: deviceKeyHash,
        read_only: readOnly,
        minted_by: session.kind,
        k3_epoch: this.activeEpoch(),
        sid: session.jti,
      } as Parameters<typeof mintCap>[0],
      this.k1.current.signer,
      {
        ttlSeconds: ttl as number,
        now: this.now(),
        cache: this.capCache,
      },
    );
    return {
      cap,
      expires_at: new Date(claims.exp * 1000).toISOString(),
      k3_epoch: claims.k3_epoch,
    };
  }

  /** Steps 2-4 of §7 for an agent's data: device, proof age, scope. */
  async #agentChecks(
    session: Session,
    op: CapOp,
    dataClass: CapDataClass,
    name: unknown,
    operatorOmni: Hex,
    actorOmni: Hex,
  ): Promise<{ deviceKeyHash: Hex; readOnly: boolean }> {
    let readOnly = false;
    // 2. The device is registered to this operator's agent and not revoked.
    // Unconfirmed here: the caller confirms the whole of steps 2-4 at once.
    const found = await agentDeviceAtHead(this.identity, session, actorOmni);
    // 3. An agent's proof of possession is at most 15 minutes old.
    if (session.kind === "agent" && this.#nowS() - session.provedAt > DEVICE_SESSION_S) {
      throw new MintError(
        "session_stale",
        "the device proof is older than 15 minutes; log in again",
      );
    }
    // 4. The service is in the agent's scope (credentials); a read-only scope allows no writes
    // by the agent itself. Memory namespaces are the agent's own and need no scope entry.
    if (dataClass === "credentials") {
      const scope = await this.identity.isServiceInScope(
        operatorOmni,
        actorOmni,
        serviceHash(name as string),
      );
      if (!scope.allowed) {
        throw new MintError("out_of_scope", `${name} is not in this agent's scope`);
      }
      if (session.kind === "agent") {
        readOnly = scope.readOnly;
        if (readOnly && op !== "fetch") {
          throw new MintError("read_only", `the agent's scope for ${name} is read-only`);
        }
      }
    }
    return { deviceKeyHash: found.deviceKeyHash, readOnly };
  }

  #nowS() {
    return Math.floor(this.now().getTime() / 1000);
  }
}
