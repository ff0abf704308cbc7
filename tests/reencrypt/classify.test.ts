import { assert, assertEquals, assertThrows } from "../support/assert.ts";
import { EnvelopeEpochDestroyed, EnvelopeUnknownEpoch } from "../../lib/crypto/mod.ts";
import {
  classifyHeader,
  epochAfter,
  finalState,
  headerOutcome,
  Tally,
  validateParams,
} from "../../lib/reencrypt/_classify.ts";
import { InvalidReencryptParams } from "../../lib/reencrypt/mod.ts";
import { censusLabel } from "../../lib/epochs/_census.ts";
import { drain } from "../../lib/reencrypt/_pool.ts";

/** Epochs 1 (destroyed), 2 (retiring), 3 (active); tag 9 never existed. */
const epochForTag = (tag: number) => {
  if (tag === 2 || tag === 3) return tag;
  if (tag === 1) throw new EnvelopeEpochDestroyed(1);
  throw new EnvelopeUnknownEpoch(tag);
};
const epochs = { oldEpoch: 2, newEpoch: 3 };

Deno.test("classifyHeader: old, new, destroyed, unknown and short blobs", () => {
  assertEquals(classifyHeader(2, 100, epochs, epochForTag), { kind: "old", epoch: 2 });
  assertEquals(classifyHeader(3, 29, epochs, epochForTag), { kind: "new", epoch: 3 });
  assertEquals(classifyHeader(1, 100, epochs, epochForTag).kind, "other");
  assertEquals(classifyHeader(1, 100, epochs, epochForTag).epoch, 1);
  assertEquals(classifyHeader(9, 100, epochs, epochForTag).kind, "invalid");
  assertEquals(classifyHeader(2, 28, epochs, epochForTag).kind, "invalid", "under 29 bytes");
  assertEquals(classifyHeader(undefined, 0, epochs, epochForTag).kind, "invalid");
  const live = (tag: number) => tag;
  assertEquals(classifyHeader(7, 100, epochs, live), { kind: "other", epoch: 7 });
  assertThrows(() =>
    classifyHeader(2, 100, epochs, () => {
      throw new RangeError("keystore bug");
    }), RangeError);
});

Deno.test("headerOutcome and epochAfter map verdicts to outcomes", () => {
  assertEquals(headerOutcome({ kind: "old", epoch: 2 }, true), "would-reencrypt");
  assertEquals(headerOutcome({ kind: "old", epoch: 2 }, false), undefined);
  assertEquals(headerOutcome({ kind: "new", epoch: 3 }, false), "skipped");
  assertEquals(headerOutcome({ kind: "other", epoch: 1 }, true), "other-epoch");
  assertEquals(headerOutcome({ kind: "invalid", epoch: null, reason: "x" }, false), "failed");
  assertEquals(epochAfter("reencrypted", 2, 3), 3);
  assertEquals(epochAfter("skipped", 3, 3), 3);
  assertEquals(epochAfter("other-epoch", 1, 3), 1);
  assertEquals(epochAfter("failed", null, 3), null);
});

Deno.test("finalState: aborted > cancelled > failed > succeeded", () => {
  assertEquals(finalState({ aborted: true, cancelled: true, failed: 3 }), "aborted");
  assertEquals(finalState({ aborted: false, cancelled: true, failed: 3 }), "cancelled");
  assertEquals(finalState({ aborted: false, cancelled: false, failed: 1 }), "failed");
  assertEquals(
    finalState({ aborted: false, cancelled: false, failed: 0, error: "listing failed" }),
    "failed",
  );
  assertEquals(finalState({ aborted: false, cancelled: false, failed: 0 }), "succeeded");
});

Deno.test("Tally: counts each outcome and sums them as done", () => {
  const t = new Tally();
  for (
    const o of [
      "reencrypted",
      "reencrypted",
      "would-reencrypt",
      "skipped",
      "other-epoch",
      "failed",
    ] as const
  ) t.add(o);
  assertEquals(t.done, 6);
  assertEquals(t.summary(1234.6, "failed"), {
    reencrypted: 2,
    would_reencrypt: 1,
    skipped: 1,
    other_epoch: 1,
    failed: 1,
    duration_ms: 1235,
    state: "failed",
  });
});

Deno.test("validateParams: fills defaults, keeps class order, drops repeats", () => {
  const keys = {
    activeEpoch: 3,
    stateOf: (e: number) => (e === 3 ? "active" : e === 2 ? "retiring" : undefined) as never,
  };
  const omni = "0x" + "ab".repeat(32);
  assertEquals(validateParams({ operatorOmni: omni, oldEpoch: 2, newEpoch: 3 }, keys), {
    operatorOmni: omni,
    oldEpoch: 2,
    newEpoch: 3,
    dryRun: false,
    concurrency: 16,
    classes: ["credentials", "memory", "inbound", "keyring"],
  });
  assertEquals(
    validateParams(
      {
        operatorOmni: "all",
        oldEpoch: 2,
        newEpoch: 3,
        classes: ["inbound", "credentials", "inbound"],
      },
      keys,
    ).classes,
    ["credentials", "inbound"],
  );
  assertThrows(
    () => validateParams({ operatorOmni: omni.toUpperCase(), oldEpoch: 2, newEpoch: 3 }, keys),
    InvalidReencryptParams,
  );
  assertThrows(
    () => validateParams({ operatorOmni: omni, oldEpoch: 2, newEpoch: 3, concurrency: 1.5 }, keys),
    InvalidReencryptParams,
  );
});

Deno.test("censusLabel: epoch numbers, destroyed and unknown", () => {
  assertEquals(censusLabel(2, 100, epochForTag), "2");
  assertEquals(censusLabel(1, 100, epochForTag), "destroyed");
  assertEquals(censusLabel(9, 100, epochForTag), "unknown");
  assertEquals(censusLabel(2, 5, epochForTag), "unknown");
});

Deno.test("drain: never holds more than capacity + concurrency items of a long stream", async () => {
  let produced = 0;
  let finished = 0;
  let maxAhead = 0;
  async function* source() {
    for (let i = 0; i < 5000; i++) {
      produced++;
      maxAhead = Math.max(maxAhead, produced - finished);
      yield i;
    }
  }
  let seen = 0;
  const result = await drain({
    source: source(),
    concurrency: 8,
    capacity: 32,
    stopped: () => false,
    work: async () => {
      await Promise.resolve();
      seen++;
      finished++;
    },
  });
  assertEquals(seen, 5000);
  assertEquals(result, {});
  assert(maxAhead <= 32 + 8 + 1, `the producer ran ${maxAhead} items ahead`);
});

Deno.test("drain: stopping closes the source and starts nothing new", async () => {
  let closed = false;
  async function* source() {
    try {
      for (let i = 0;; i++) yield i;
    } finally {
      closed = true;
    }
  }
  let started = 0;
  let stop = false;
  await drain({
    source: source(),
    concurrency: 4,
    capacity: 16,
    stopped: () => stop,
    work: async () => {
      if (++started === 50) stop = true;
      await new Promise((r) => setTimeout(r, 1));
    },
  });
  assert(closed, "the source's finally ran");
  assert(started >= 50 && started < 54, `started ${started}`);
});

Deno.test("drain: a source error is reported after queued items are worked", async () => {
  async function* source() {
    yield 1;
    yield 2;
    throw new Error("listing broke");
  }
  const done: number[] = [];
  const result = await drain({
    source: source(),
    concurrency: 2,
    capacity: 4,
    stopped: () => false,
    work: (n) => {
      done.push(n);
      return Promise.resolve();
    },
  });
  assertEquals(done.sort(), [1, 2]);
  assertEquals((result.sourceError as Error).message, "listing broke");
});
