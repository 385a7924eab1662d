import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { backoffDelay } from "../../lib/util/backoff.ts";

describe("backoffDelay", () => {
  const bounds = { minDelay: 500, maxDelay: 30_000 };

  it("grows exponentially from minDelay and stops at maxDelay", () => {
    const delays = Array.from({ length: 10 }, (_, attempt) => backoffDelay(attempt, { ...bounds, jitter: 0 }));
    assert.deepEqual(delays, [500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000, 30_000]);
  });

  it("spreads delays with jitter but stays within [minDelay, maxDelay]", () => {
    const low = backoffDelay(3, { ...bounds, random: () => 0 });
    const high = backoffDelay(3, { ...bounds, random: () => 0.999 });
    assert.equal(low < 4_000 && high > 4_000, true, `${low} .. ${high}`);
    for (let attempt = 0; attempt < 30; attempt++) {
      for (const r of [0, 0.5, 0.999]) {
        const delay = backoffDelay(attempt, { ...bounds, random: () => r });
        assert.equal(delay >= 500 && delay <= 30_000, true, `attempt ${attempt}: ${delay}`);
      }
    }
  });

  it("does not overflow for very large attempt numbers", () => {
    assert.equal(backoffDelay(10_000, { ...bounds, jitter: 0 }), 30_000);
  });
});
