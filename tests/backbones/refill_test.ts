/**
 * History mode, on `memory://`: a subscriber that lags beyond its bound has its
 * backlog dropped and read again from history; `stats.refilled` counts what
 * was read again, which is less than what was dropped when history no longer
 * keeps all of it.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Broadcast, type Frame } from "../../mod.ts";
import { FAST } from "../fixtures/conformance.ts";
import { readEvents, readUntil, sleep, uniqueChannel } from "../fixtures/support.ts";

const hubName = () => uniqueChannel("refill").replace(/[^a-z0-9]/gi, "");
const messages = (frames: Frame[]) => frames.map((f) => f.type === "event" ? f.message : `resync:${f.reason}`);
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, n) => `m${from + n}`);

/** A publisher and a subscriber on one hub that keeps `history` events per channel; the subscriber has had `m0`. */
async function lagging(history: number) {
  const name = hubName();
  const publisher = await Broadcast.connect(`memory://${name}?history=${history}`, FAST);
  const subscriber = await Broadcast.connect(`memory://${name}?history=${history}`, FAST);
  const reader = subscriber.subscribe("a", { highWaterMark: 50 }).getReader();
  await subscriber.ready();
  await publisher.publish("a", "m0");
  await readEvents(reader, 1);
  return { publisher, subscriber, reader };
}

describe("stats.refilled: what a lagging subscriber read again from history", () => {
  it("counts every dropped event when history still keeps them all", async () => {
    const { publisher, subscriber, reader } = await lagging(1_000);
    try {
      await Promise.all(range(1, 101).map((m) => publisher.publish("a", m))); // one tick: 100 queued, twice the bound
      await sleep(100); // unread once the tick is over: the backlog is dropped and read again
      const frames = await readEvents(reader, 100);
      assert.deepEqual(messages(frames), range(1, 101), "nothing lost, nothing twice, no resync frame");
      assert.equal(subscriber.stats.refilled, 100);
      assert.equal(subscriber.stats.delivered, 101);
      assert.equal(subscriber.stats.dropped, 0);
    } finally {
      await Promise.all([publisher.disconnect(), subscriber.disconnect()]);
    }
  });

  it("counts only what was read again when history had trimmed part of the dropped backlog (a gap)", async () => {
    const { publisher, subscriber, reader } = await lagging(20);
    try {
      await Promise.all(range(1, 101).map((m) => publisher.publish("a", m))); // 100 dropped; history keeps the last 20
      await sleep(100);
      const frames = await readUntil(reader, (got) => messages(got).includes("m100"), 5_000, "m100");
      assert.deepEqual(messages(frames), ["resync:gap", ...range(81, 101)]);
      assert.equal(subscriber.stats.refilled, 20, "the 20 read again, not the 100 dropped");
      assert.equal(subscriber.stats.delivered, 21);
      assert.equal(subscriber.stats.resyncs, 1);
    } finally {
      await Promise.all([publisher.disconnect(), subscriber.disconnect()]);
    }
  });
});
