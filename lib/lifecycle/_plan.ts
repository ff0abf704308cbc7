/**
 * The scheduler's decisions as pure functions of the policy, the clock, the epoch table and the
 * stored state: which step is due next ({@linkcode nextStep}), when the next rotation is due, and
 * the forward-secrecy window ({@linkcode forwardSecrecyWindow}). No I/O, so they are tested alone.
 *
 * Order when several steps are due (one step per pass): rotate, re-encrypt, destroy, sweep. A
 * rotation first means a job moves blobs straight to the newest epoch instead of twice; but a
 * rotation never follows a rotation while another step is due, so a cadence shorter than the
 * passes (or a burst of revocations) cannot starve the re-encryption and destruction.
 *
 * @module
 */

import type { LifecyclePolicy } from "../config/mod.ts";
import type { EpochInfo } from "../epochs/mod.ts";
import type { LifecycleState, PendingRevocations, StepName } from "./_store.ts";

/** A step the scheduler should run now. */
export type PlannedStep =
  | { step: "rotate"; reason: "schedule" | "revocation" }
  | { step: "reencrypt"; epoch: number }
  | { step: "destroy"; epoch: number }
  | { step: "sweep" };

/** How often the TTL sweep runs: a quarter of the shortest TTL, between 1 minute and 1 hour. */
export function sweepEveryMs(policy: LifecyclePolicy): number | null {
  const ttls = [policy.ttlMemoryMs, policy.ttlInboundMs].filter((t): t is number => t !== null);
  if (ttls.length === 0) return null;
  return Math.min(3600_000, Math.max(60_000, Math.min(...ttls) / 4));
}

/** When the next rotation is due and why (`null`: none is scheduled). */
export function nextRotation(
  policy: LifecyclePolicy,
  epochs: EpochInfo[],
  revocations: PendingRevocations | null,
): { at: number; reason: "schedule" | "revocation" } | null {
  const active = epochs.find((e) => e.state === "active");
  const candidates: { at: number; reason: "schedule" | "revocation" }[] = [];
  if (policy.rotateEveryMs !== null && active) {
    candidates.push({
      at: Date.parse(active.createdAt) + policy.rotateEveryMs,
      reason: "schedule",
    });
  }
  if (policy.rotateOnRevoke && revocations) {
    // Any wallet can register and revoke an agent (fifth review): revocations alone never
    // rotate sooner than the gap after the active epoch began.
    const gapEnds = active ? Date.parse(active.createdAt) + policy.rotateRevokeGapMs : 0;
    candidates.push({
      at: Math.max(Date.parse(revocations.first_at) + policy.rotateCoalesceMs, gapEnds),
      reason: "revocation",
    });
  }
  candidates.sort((a, b) => a.at - b.at);
  return candidates[0] ?? null;
}

const due = (at: string | undefined, now: number) => at === undefined || Date.parse(at) <= now;

/** The step due at `now`, or `null`. */
export function nextStep(input: {
  policy: LifecyclePolicy;
  now: number;
  epochs: EpochInfo[];
  state: LifecycleState;
  revocations: PendingRevocations | null;
}): PlannedStep | null {
  const { policy, now, state } = input;
  const allowed = (step: StepName) => due(state.backoff[step], now);
  const rotation = nextRotation(policy, input.epochs, input.revocations);
  const rotate = rotation && rotation.at <= now && allowed("rotate")
    ? { step: "rotate" as const, reason: rotation.reason }
    : null;
  if (rotate && state.last_step !== "rotate") return rotate;
  return cleanup(input) ?? rotate;
}

/** The re-encryption, destruction or sweep due, in that order. */
function cleanup(input: Parameters<typeof nextStep>[0]): PlannedStep | null {
  const { policy, now, epochs, state } = input;
  const allowed = (step: StepName) => due(state.backoff[step], now);
  const retiring = epochs.filter((e) => e.state === "retiring" && e.retiredAt)
    .sort((a, b) => a.epoch - b.epoch);
  for (const e of retiring) {
    const retired = Date.parse(e.retiredAt!);
    const progress = state.epochs[String(e.epoch)] ?? {};
    if (
      retired + policy.reencryptAfterMs <= now && progress.job_done_at === undefined &&
      due(progress.next_attempt_at, now) && allowed("reencrypt")
    ) {
      return { step: "reencrypt", epoch: e.epoch };
    }
  }
  for (const e of retiring) {
    const retired = Date.parse(e.retiredAt!);
    const progress = state.epochs[String(e.epoch)] ?? {};
    if (
      retired + policy.destroyAfterMs <= now && due(progress.next_attempt_at, now) &&
      allowed("destroy")
    ) {
      return { step: "destroy", epoch: e.epoch };
    }
  }
  const every = sweepEveryMs(policy);
  if (
    every !== null && allowed("sweep") &&
    (state.last_sweep_at === null || Date.parse(state.last_sweep_at) + every <= now)
  ) {
    return { step: "sweep" };
  }
  return null;
}

/** The forward-secrecy window: how far back a compromise today could still read. */
export interface ForwardSecrecyWindow {
  /** Age of the oldest epoch not destroyed, in seconds. */
  seconds: number;
  oldest_epoch: number;
  /** rotate-every + destroy-after, in seconds (`null` when rotation is off: no bound). */
  bound_seconds: number | null;
  /** Set when the window exceeds the bound. */
  warning?: string;
}

/**
 * The age of the oldest epoch that is not destroyed (ARCHITECTURE §14), and a warning when it
 * exceeds rotate-every + destroy-after — the most a working lifecycle lets it reach.
 *
 * ```ts
 * forwardSecrecyWindow(keystore.list(), Date.now(), config.lifecycle).seconds;
 * ```
 */
export function forwardSecrecyWindow(
  epochs: EpochInfo[],
  now: number,
  policy: Pick<LifecyclePolicy, "rotateEveryMs" | "destroyAfterMs">,
): ForwardSecrecyWindow {
  const alive = epochs.filter((e) => e.state !== "destroyed").sort((a, b) => a.epoch - b.epoch);
  const oldest = alive[0];
  const seconds = oldest ? Math.max(0, (now - Date.parse(oldest.createdAt)) / 1000) : 0;
  const bound = policy.rotateEveryMs === null
    ? null
    : (policy.rotateEveryMs + policy.destroyAfterMs) / 1000;
  const window: ForwardSecrecyWindow = {
    seconds: Math.round(seconds),
    oldest_epoch: oldest?.epoch ?? 0,
    bound_seconds: bound,
  };
  if (bound !== null && seconds > bound) {
    window.warning =
      `the oldest epoch not destroyed (${oldest.epoch}) is ${
        Math.round(seconds)
      } s old, more than rotate-every + destroy-after (${bound} s): a rotation or destruction ` +
      "is overdue (see the lifecycle status and the audit log)";
  }
  return window;
}
