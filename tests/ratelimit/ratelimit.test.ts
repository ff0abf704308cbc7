import { assert, assertEquals, assertThrows } from "../support/assert.ts";
import {
  ConcurrencyLimiter,
  parseRate,
  RateLimited,
  RateLimiter,
} from "../../lib/ratelimit/mod.ts";

Deno.test("parseRate: count per s, min or h; anything else is refused", () => {
  assertEquals(parseRate("30/min"), { capacity: 30, periodMs: 60_000 });
  assertEquals(parseRate(" 5 / s "), { capacity: 5, periodMs: 1_000 });
  assertEquals(parseRate("100000/h"), { capacity: 100_000, periodMs: 3_600_000 });
  for (const bad of ["", "30", "0/min", "-1/min", "30/day", "1.5/s", "30/min/2", "abc/min"]) {
    assertThrows(() => parseRate(bad), RangeError);
  }
});

Deno.test("bucket: a burst of capacity passes, the next waits for a refill", () => {
  let now = 1_000_000;
  const limiter = new RateLimiter(parseRate("3/min"), { now: () => now });
  for (let i = 0; i < 3; i++) assertEquals(limiter.take("a"), { ok: true }, `take ${i}`);
  // One token per 20 s: the empty bucket needs the full 20 s.
  assertEquals(limiter.take("a"), { ok: false, retryAfterS: 20 });
  assertEquals(limiter.take("b"), { ok: true }, "keys have their own buckets");
  now += 15_000;
  assertEquals(limiter.take("a"), { ok: false, retryAfterS: 5 }, "refilled 3/4 of a token");
  now += 5_000;
  assertEquals(limiter.take("a"), { ok: true });
  assertEquals(limiter.take("a").ok, false);
  now += 10 * 60_000;
  // A long idle period refills to capacity, not beyond.
  for (let i = 0; i < 3; i++) assertEquals(limiter.take("a"), { ok: true });
  assertEquals(limiter.take("a").ok, false);
});

Deno.test("bucket: a clock stepped back neither drains nor refills a bucket", () => {
  let now = 10_000_000;
  const limiter = new RateLimiter(parseRate("3/min"), { now: () => now });
  assertEquals(limiter.take("a"), { ok: true });
  now -= 20 * 60_000;
  // 2 tokens were left; going back 20 minutes must not turn that into a debt of 398.
  assertEquals(limiter.take("a"), { ok: true });
  assertEquals(limiter.take("a"), { ok: true });
  assertEquals(limiter.take("a"), { ok: false, retryAfterS: 20 });
  now += 20_000;
  assertEquals(limiter.take("a"), { ok: true }, "refills from the new reading on");
});

Deno.test("bucket: Retry-After is whole seconds and at least 1", () => {
  let now = 0;
  const limiter = new RateLimiter(parseRate("10/s"), { now: () => now });
  for (let i = 0; i < 10; i++) limiter.take("k");
  // 100 ms to the next token: rounds up to 1 s, never 0 (a client would retry at once).
  assertEquals(limiter.take("k"), { ok: false, retryAfterS: 1 });
  now += 99;
  assertEquals(limiter.take("k"), { ok: false, retryAfterS: 1 });
  now += 1;
  assertEquals(limiter.take("k"), { ok: true });
});

Deno.test("bucket: refused requests do not cost a token", () => {
  let now = 0;
  const limiter = new RateLimiter(parseRate("1/min"), { now: () => now });
  limiter.take("k");
  for (let i = 0; i < 100; i++) assertEquals(limiter.take("k").ok, false);
  now += 60_000;
  assertEquals(limiter.take("k"), { ok: true }, "hammering while refused does not push it back");
});

Deno.test("bucket: memory is bounded; the least recently used key is forgotten", () => {
  const now = 0;
  const limiter = new RateLimiter(parseRate("1/h"), { now: () => now, maxKeys: 100 });
  limiter.take("victim");
  assertEquals(limiter.take("victim").ok, false);
  for (let i = 0; i < 10_000; i++) limiter.take(`rotating-${i}`);
  assertEquals(limiter.size, 100, "an attacker rotating keys cannot grow the map");
  // A key in use stays: touching it moves it to the young end.
  const kept = new RateLimiter(parseRate("1/h"), { now: () => now, maxKeys: 3 });
  kept.take("busy");
  kept.take("x1");
  kept.take("busy");
  kept.take("x2");
  kept.take("x3");
  assertEquals(kept.take("busy").ok, false, "busy was used recently and kept its empty bucket");
});

Deno.test("check: a refusal is a RateLimited with the whole seconds to wait", () => {
  const limiter = new RateLimiter(parseRate("1/min"), { now: () => 0 });
  limiter.check("k", "first passes");
  const err = assertThrows(
    () => limiter.check("k", "slow down"),
    RateLimited,
    "slow down",
  ) as RateLimited;
  assertEquals([err.code, err.retryAfterS], ["rate_limited", 60]);
  assertEquals(new RateLimited(0.01, "x").retryAfterS, 1);
});

Deno.test("concurrency: max slots per key, a released slot is free again, release is idempotent", () => {
  const streams = new ConcurrencyLimiter(2);
  const a = streams.acquire("s1");
  const b = streams.acquire("s1");
  assert(a && b);
  assertEquals(streams.acquire("s1"), null);
  assert(streams.acquire("s2"), "other keys are separate");
  a();
  a();
  assertEquals(streams.count("s1"), 1, "a second release of the same slot frees nothing more");
  assert(streams.acquire("s1"));
  assertEquals(streams.acquire("s1"), null);
});
