import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RingBuffer } from "../../lib/util/ring_buffer.ts";

describe("RingBuffer", () => {
  it("keeps items in order and grows up to its capacity", () => {
    const ring = new RingBuffer<number>(100);
    for (let i = 0; i < 50; i++) assert.equal(ring.push(i), undefined);
    assert.equal(ring.length, 50);
    assert.deepEqual(ring.drain(), Array.from({ length: 50 }, (_, i) => i));
    assert.equal(ring.length, 0);
  });

  it("drops and returns the oldest when full", () => {
    const ring = new RingBuffer<number>(3);
    ring.push(1);
    ring.push(2);
    ring.push(3);
    assert.equal(ring.push(4), 1);
    assert.deepEqual(ring.drain(), [2, 3, 4]);
  });

  it("unshift puts an item first and drops the newest when full", () => {
    const ring = new RingBuffer<number>(3);
    ring.push(2);
    ring.push(3);
    ring.unshift(1);
    assert.equal(ring.unshift(0), 3);
    assert.deepEqual(ring.drain(), [0, 1, 2]);
  });

  it("wraps around many times without losing order", () => {
    const ring = new RingBuffer<number>(7);
    const seen: number[] = [];
    for (let i = 0; i < 1000; i++) {
      ring.push(i);
      if (i % 3 === 0) seen.push(ring.shift()!);
    }
    seen.push(...ring.drain());
    assert.deepEqual(seen, [...seen].sort((a, b) => a - b));
    assert.equal(seen.at(-1), 999);
  });

  it("with capacity 0 keeps nothing", () => {
    const ring = new RingBuffer<string>(0);
    assert.equal(ring.push("x"), "x");
    assert.equal(ring.length, 0);
  });

  it("refuses a capacity that is not a whole number", () => {
    assert.throws(() => new RingBuffer(-1), /Invalid capacity: Expected an integer >= 0 but received -1/);
  });
});
