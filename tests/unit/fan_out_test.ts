import assert from "node:assert/strict";
import { getEventListeners } from "node:events";
import { describe, it } from "node:test";
import type { Frame } from "../../mod.ts";
import { FanOut } from "../../lib/pipeline/fan_out.ts";
import { settle } from "../fixtures/clock.ts";

const event = (channel: string, message: string): Frame => ({ type: "event", channel, message });

async function drain(reader: ReadableStreamDefaultReader<Frame>, count: number): Promise<Frame[]> {
  const frames: Frame[] = [];
  while (frames.length < count) frames.push((await reader.read()).value!);
  return frames;
}

const macrotask = () => new Promise((resolve) => setTimeout(resolve, 1));

describe("FanOut", () => {
  it("delivers each frame to every subscriber of its channel and no other", async () => {
    const fanOut = new FanOut();
    const a1 = fanOut.subscribe("a").getReader();
    const a2 = fanOut.subscribe("a").getReader();
    const b = fanOut.subscribe("b").getReader();
    fanOut.deliver([event("a", "1"), event("b", "2"), event("c", "3"), event("a", "4")]);
    assert.deepEqual(await drain(a1, 2), [event("a", "1"), event("a", "4")]);
    assert.deepEqual(await drain(a2, 2), [event("a", "1"), event("a", "4")]);
    assert.deepEqual(await drain(b, 1), [event("b", "2")]);
    assert.equal(fanOut.stats.delivered, 5);
  });

  it("tells when a channel gets its first subscriber and loses its last", async () => {
    const seen: string[] = [];
    const fanOut = new FanOut({
      onFirstSubscriber: (c) => seen.push(`+${c}`),
      onLastSubscriber: (c) => seen.push(`-${c}`),
    });
    const one = fanOut.subscribe("a");
    const two = fanOut.subscribe("a");
    await one.cancel();
    assert.deepEqual(seen, ["+a"]);
    await two.cancel();
    assert.deepEqual(seen, ["+a", "-a"]);
    assert.deepEqual([...fanOut.channels()], []);
  });

  it("an aborted signal ends the stream, unsubscribes, and removes its listener", async () => {
    const seen: string[] = [];
    const fanOut = new FanOut({ onLastSubscriber: (c) => seen.push(`-${c}`) });
    const controller = new AbortController();
    const reader = fanOut.subscribe("a", { signal: controller.signal }).getReader();
    controller.abort();
    assert.equal((await reader.read()).done, true);
    assert.deepEqual(seen, ["-a"]);
    assert.equal(fanOut.size, 0);
    const already = fanOut.subscribe("a", { signal: AbortSignal.abort() }).getReader();
    assert.equal((await already.read()).done, true);
    assert.equal(fanOut.size, 0);
  });

  it("a subscriber still lagging beyond its bound once the tick is over loses its backlog to one overflow resync", async () => {
    const overflows: number[] = [];
    const fanOut = new FanOut({ highWaterMark: 4, onOverflow: (_, n) => overflows.push(n) });
    const fast = fanOut.subscribe("a", { highWaterMark: 4 }).getReader();
    const slow = fanOut.subscribe("a").getReader();
    for (let i = 0; i < 10; i++) fanOut.deliver([event("a", `${i}`)]);
    assert.equal((await drain(fast, 10)).length, 10, "the reader that keeps up gets all ten");
    await macrotask();
    assert.deepEqual(overflows, [10]);
    for (let i = 10; i < 13; i++) fanOut.deliver([event("a", `${i}`)]);
    await macrotask();
    const frames = await drain(slow, 4);
    assert.deepEqual(frames[0], { type: "resync", channel: "a", reason: "overflow" });
    assert.deepEqual(frames.slice(1), [event("a", "10"), event("a", "11"), event("a", "12")], "within the bound: kept");
    assert.equal(fanOut.stats.dropped, 10);
    assert.equal(fanOut.stats.resyncs, 1);
  });

  it("a reader that keeps up never overflows, however large one batch is", async () => {
    const fanOut = new FanOut({ highWaterMark: 10 });
    const reader = fanOut.subscribe("a").getReader();
    const batch = Array.from({ length: 10_000 }, (_, i) => event("a", `${i}`));
    fanOut.deliver(batch);
    fanOut.deliver(batch.slice(0, 5_000));
    const frames = await drain(reader, 15_000);
    assert.equal(frames.every((frame) => frame.type === "event"), true);
    await macrotask();
    assert.equal(fanOut.stats.dropped, 0);
  });

  it("a reader that does not read holds at most its bound plus one tick's worth", async () => {
    const fanOut = new FanOut({ highWaterMark: 10 });
    const reader = fanOut.subscribe("a").getReader();
    for (let tick = 0; tick < 50; tick++) {
      fanOut.deliver(Array.from({ length: 20 }, (_, i) => event("a", `${tick}:${i}`)));
      await macrotask();
    }
    const frames: Frame[] = [];
    for (;;) {
      const result = await Promise.race([reader.read(), settle().then(() => undefined)]);
      if (result === undefined) break;
      frames.push(result.value!);
    }
    assert.deepEqual(frames, [{ type: "resync", channel: "a", reason: "overflow" }], "every tick's backlog was dropped");
    assert.equal(fanOut.stats.dropped, 1_000);
  });

  it("a reconnect resync queued behind unread events is not doubled", async () => {
    const fanOut = new FanOut();
    const reader = fanOut.subscribe("a").getReader();
    fanOut.deliver([event("a", "1")]);
    fanOut.deliver([{ type: "resync", channel: "a", reason: "reconnect" }]);
    fanOut.deliver([{ type: "resync", channel: "a", reason: "reconnect" }]);
    fanOut.deliver([event("a", "2")]);
    const frames = await drain(reader, 3);
    assert.deepEqual(frames.map((f) => f.type), ["event", "resync", "event"]);
  });

  it("close ends every stream after what is queued; error errors them at once", async () => {
    const fanOut = new FanOut();
    const reader = fanOut.subscribe("a").getReader();
    fanOut.deliver([event("a", "last")]);
    fanOut.close();
    assert.deepEqual((await reader.read()).value, event("a", "last"));
    assert.equal((await reader.read()).done, true);
    const other = new FanOut();
    const failing = other.subscribe("a").getReader();
    other.deliver([event("a", "dropped")]);
    other.error(new Error("boom"));
    await assert.rejects(failing.read(), /boom/);
  });

  it("a subscriber waiting on an empty queue gets the next frame at once", async () => {
    const fanOut = new FanOut();
    const reader = fanOut.subscribe("a").getReader();
    const next = reader.read();
    await settle();
    fanOut.deliver([event("a", "now")]);
    assert.deepEqual((await next).value, event("a", "now"));
  });

  it("a stream that ends lets go of its abort signal; an abort then unsubscribes", async () => {
    const gone: string[] = [];
    const fanOut = new FanOut({ onLastSubscriber: (channel) => gone.push(channel) });
    const cancelled = new AbortController();
    await fanOut.subscribe("a", { signal: cancelled.signal }).cancel();
    assert.equal(getEventListeners(cancelled.signal, "abort").length, 0, "cancelled: the listener is removed");
    const closed = new AbortController();
    const reader = fanOut.subscribe("b", { signal: closed.signal }).getReader();
    fanOut.close();
    assert.equal((await reader.read()).done, true);
    assert.equal(getEventListeners(closed.signal, "abort").length, 0, "closed: the listener is removed");
    const aborted = new AbortController();
    const stream = fanOut.subscribe("c", { signal: aborted.signal }).getReader();
    aborted.abort();
    assert.equal((await stream.read()).done, true);
    assert.deepEqual(gone, ["a", "c"]);
  });

  it("keeps each channel's position itself: asked for, never handed out to be changed", () => {
    const fanOut = new FanOut();
    fanOut.subscribe("a");
    fanOut.deliver([{ type: "event", channel: "a", message: "m", id: "1-0" }]);
    fanOut.advance("a", "2-0");
    assert.equal(fanOut.position("a"), "2-0");
    assert.equal("positions" in fanOut, false, "no map of positions is handed out");
    const stats = fanOut.stats;
    fanOut.deliver([{ type: "event", channel: "a", message: "m", id: "3-0" }]);
    assert.equal(stats.delivered, 1, "stats are a snapshot, not the live counters");
    assert.equal(fanOut.stats.delivered, 2);
  });
});

describe("FanOut in history mode: a log made again under the link", () => {
  const at = (channel: string, message: string, id: string): Frame => ({ type: "event", channel, message, id });
  const gap = (channel: string): Frame => ({ type: "resync", channel, reason: "gap" });

  it("an event of another epoch with no gap frame before it: each stream gets exactly one resync frame (gap), then the new log", async () => {
    const gaps: string[] = [];
    const fanOut = new FanOut({ onGap: (channel) => gaps.push(channel) });
    const readers = [fanOut.subscribe("a").getReader(), fanOut.subscribe("a").getReader()];
    const other = fanOut.subscribe("b").getReader();
    fanOut.deliver([at("a", "old1", "e1:5"), at("a", "old2", "e1:6"), at("b", "b1", "e1:9")]);
    // The new log starts again from 1: lower places, another epoch.
    fanOut.deliver([at("a", "new1", "e2:1"), at("a", "new2", "e2:2")]);
    fanOut.deliver([at("a", "new3", "e2:3"), at("b", "b2", "e1:10")]);
    for (const reader of readers) {
      assert.deepEqual(await drain(reader, 6), [
        at("a", "old1", "e1:5"), at("a", "old2", "e1:6"), gap("a"), at("a", "new1", "e2:1"), at("a", "new2", "e2:2"), at("a", "new3", "e2:3"),
      ]);
    }
    assert.deepEqual(await drain(other, 2), [at("b", "b1", "e1:9"), at("b", "b2", "e1:10")], "another channel is untouched");
    assert.deepEqual(gaps, ["a"], "the gap is told once");
    assert.equal(fanOut.position("a"), "e2:3");
    assert.equal(fanOut.stats.resyncs, 2, "one resync frame per stream");
  });

  it("with the link's gap frame before it: no second resync frame", async () => {
    const gaps: string[] = [];
    const fanOut = new FanOut({ onGap: (channel) => gaps.push(channel) });
    const reader = fanOut.subscribe("a").getReader();
    fanOut.deliver([at("a", "old", "e1:6")]);
    fanOut.deliver([gap("a")]);
    fanOut.deliver([at("a", "new1", "e2:1"), at("a", "new2", "e2:2")]);
    assert.deepEqual(await drain(reader, 4), [at("a", "old", "e1:6"), gap("a"), at("a", "new1", "e2:1"), at("a", "new2", "e2:2")]);
    assert.deepEqual(gaps, ["a"]);
    assert.equal(fanOut.stats.resyncs, 1);
  });

  it("each replacement the stream has read up to gets its resync frame; an event repeated in the new log is not handed out twice", async () => {
    const fanOut = new FanOut();
    const reader = fanOut.subscribe("a").getReader();
    fanOut.deliver([at("a", "x", "e1:6"), at("a", "y", "e2:1"), at("a", "y", "e2:1")]);
    assert.deepEqual(await drain(reader, 3), [at("a", "x", "e1:6"), gap("a"), at("a", "y", "e2:1")]);
    fanOut.deliver([at("a", "z", "e3:1")]);
    assert.deepEqual(await drain(reader, 2), [gap("a"), at("a", "z", "e3:1")], "the repeat of y was dropped");
  });

  it("an event without an epoch (a backbone that gives none) is read in the channel's log, as before", async () => {
    const fanOut = new FanOut();
    const reader = fanOut.subscribe("a").getReader();
    fanOut.deliver([at("a", "x", "e1:6"), at("a", "old", "5"), at("a", "y", "7")]);
    assert.deepEqual(await drain(reader, 2), [at("a", "x", "e1:6"), at("a", "y", "7")], "no resync frame; what is not after the position is not handed out");
  });

  it("advance takes a start position in another log (after the link's gap frame)", () => {
    const fanOut = new FanOut();
    fanOut.subscribe("a");
    fanOut.deliver([at("a", "x", "e1:6")]);
    fanOut.advance("a", "e1:2");
    assert.equal(fanOut.position("a"), "e1:6", "not back within one log");
    fanOut.advance("a", "e2:0");
    assert.equal(fanOut.position("a"), "e2:0");
  });

  it("a gap frame leaves the channel gapped until its next event: the next link starts from the oldest, not from the lost position", () => {
    const fanOut = new FanOut();
    fanOut.subscribe("a");
    fanOut.deliver([at("a", "x", "e1:5")]);
    assert.equal(fanOut.gapped("a"), false);
    fanOut.deliver([gap("a")]);
    assert.equal(fanOut.gapped("a"), true);
    fanOut.deliver([at("a", "y", "e2:1")]);
    assert.equal(fanOut.gapped("a"), false);
  });

  it("advance takes a start position without an epoch where the channel had one: the link found no log of that epoch", () => {
    const fanOut = new FanOut();
    fanOut.subscribe("a");
    fanOut.deliver([at("a", "x", "e1:5-0")]);
    fanOut.advance("a", "0-0");
    assert.equal(fanOut.position("a"), "0-0");
  });
});
