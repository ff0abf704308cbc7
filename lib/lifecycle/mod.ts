/**
 * The epoch lifecycle (ARCHITECTURE §14, issue 12): a scheduler in the service that rotates K3 on
 * a cadence and after agent revocations (coalesced), runs an eager re-encryption job after a
 * delay, destroys the retiring epoch once a global census proves it empty (never forced), and
 * sweeps idle memory and inbound blobs. Resumable (its state in KV), one acting process (a KV
 * lease), every step audited; plus the forward-secrecy window. The only import path other
 * components use.
 *
 * ```ts
 * import { LifecycleScheduler } from "./lib/lifecycle/mod.ts";
 * const scheduler = new LifecycleScheduler({ policy: config.lifecycle, admin, runner, kv, audit });
 * scheduler.watchRevocations(chain.client);
 * scheduler.start();
 * ```
 *
 * @module
 */

export {
  LEASE_MS,
  LIFECYCLE_JOB_CONCURRENCY,
  type LifecycleDeps,
  LifecycleScheduler,
  type LifecycleStatus,
  type RevocationFeed,
  type TickResult,
} from "./_scheduler.ts";
export {
  type ForwardSecrecyWindow,
  forwardSecrecyWindow,
  nextRotation,
  nextStep,
  type PlannedStep,
  sweepEveryMs,
} from "./_plan.ts";
export { type LifecycleState, LifecycleStore, type StepName } from "./_store.ts";
export { type SweepResult, TouchingStore, type Ttls, TtlSweeper } from "./_sweep.ts";
