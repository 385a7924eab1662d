/**
 * The gapless column of the fault matrix: what history mode promises through
 * an outage, a slow reader and retention, checked the same way on every
 * backbone. Every subscriber receives every message exactly once, each
 * publisher's order kept, with no resync frame; beyond retention, exactly one
 * resync frame (`gap`) per stream.
 */
import assert from "node:assert/strict";
import { Broadcast, type BroadcastOptions, type Frame } from "../mod.ts";
import { eventually, sleep, uniqueChannel } from "./_support.ts";

/** A path to a backbone in history mode, and the means to break it. */
export interface GaplessOutage {
  /** The URI, history mode on. */
  uri: string;
  options?: BroadcastOptions;
  /** Breaks the path (every instance goes down, or will). */
  breakIt(group: Broadcast[]): Promise<void>;
  /** Mends it. */
  restore(): Promise<void>;
  /** How long to keep publishing into the outage. @default {300} */
  outage?: number;
}

/** What a reader received: every event's message, and its resync frames. */
interface Received {
  messages: string[];
  resyncs: Frame[];
}

/** Reads `stream` into `received` until it ends or `stop` aborts; `pace` ms between reads slows it down. */
function collect(stream: ReadableStream<Frame>, received: Received, pace = 0): Promise<void> {
  return (async () => {
    for await (const frame of stream) {
      if (frame.type === "resync") received.resyncs.push(frame);
      else received.messages.push(frame.message);
      if (pace > 0) await sleep(pace);
    }
  })().catch(() => {});
}

/** `received` holds each of `sent` exactly once, each publisher's in its order, and no resync frame. */
export function assertGapless(received: Received, sent: string[][], who: string): void {
  assert.deepEqual(received.resyncs, [], `${who}: no resync frame`);
  const all = sent.flat();
  const counts = new Map<string, number>();
  for (const message of received.messages) counts.set(message, (counts.get(message) ?? 0) + 1);
  const duplicates = [...counts].filter(([, n]) => n > 1).map(([m]) => m);
  assert.deepEqual(duplicates.slice(0, 10), [], `${who}: no message twice`);
  const missing = all.filter((message) => !counts.has(message));
  assert.deepEqual(missing.slice(0, 10), [], `${who}: no message missing (${missing.length} of ${all.length})`);
  assert.equal(received.messages.length, all.length, `${who}: nothing but what was sent`);
  for (const [p, messages] of sent.entries()) {
    const order = received.messages.filter((message) => message.startsWith(`p${p}:`));
    assert.deepEqual(order, messages, `${who}: publisher ${p}'s order`);
  }
}

/**
 * Three instances, each subscribed; two of them publish every few
 * milliseconds before, during and after the outage, awaiting each publish.
 * Every subscriber ends with every message exactly once, in each publisher's
 * order, and no resync frame.
 */
export async function throughGaplessOutage(outage: GaplessOutage): Promise<void> {
  const channel = uniqueChannel("gapless");
  const group = await Promise.all([0, 1, 2].map(() => Broadcast.connect(outage.uri, outage.options)));
  let pumping = true;
  const sent: string[][] = [[], []];
  try {
    const received = group.map(() => ({ messages: [], resyncs: [] } as Received));
    group.forEach((b, i) => void collect(b.subscribe(channel), received[i]));
    await Promise.all(group.map((b) => b.ready()));
    const pumps = [0, 1].map(async (p) => {
      for (let n = 0; pumping; n++) {
        const message = `p${p}:${n}`;
        sent[p].push(message);
        await group[p].publish(channel, message);
        await sleep(2);
      }
    });
    await sleep(150);
    await outage.breakIt(group);
    await sleep(outage.outage ?? 300);
    await outage.restore();
    await eventually(() => group.every((b) => b.state === "up"), 20_000, "every instance up again");
    await sleep(200);
    pumping = false;
    await Promise.all(pumps);
    const total = sent.flat().length;
    await eventually(
      () => received.every((r) => r.messages.length >= total),
      20_000,
      `every subscriber to have all ${total} messages (have ${received.map((r) => r.messages.length).join(", ")})`,
    ).catch(() => {}); // the assertion below says what is missing
    await sleep(100); // a duplicate would arrive now
    received.forEach((r, i) => assertGapless(r, sent, `subscriber ${i}`));
    assert.ok(total > 50, `published enough to test (${total})`);
  } finally {
    pumping = false;
    await Promise.all(group.map((b) => b.disconnect()));
  }
}

/**
 * A reader slower than the publisher, with a small lag bound: it falls
 * behind by far more than its bound but stays within retention, and still
 * receives everything exactly once, in order, with no resync frame.
 */
export async function slowSubscriberWithinRetention(uri: string, options: BroadcastOptions = {}): Promise<void> {
  const channel = uniqueChannel("slow");
  const [publisher, subscriber] = await Promise.all([0, 1].map(() => Broadcast.connect(uri, options)));
  try {
    const slow: Received = { messages: [], resyncs: [] };
    void collect(subscriber.subscribe(channel, { highWaterMark: 20 }), slow, 1);
    await subscriber.ready();
    const sent = Array.from({ length: 600 }, (_, n) => `p0:${n}`);
    for (let i = 0; i < sent.length; i += 100) await Promise.all(sent.slice(i, i + 100).map((m) => publisher.publish(channel, m)));
    await eventually(() => slow.messages.length >= sent.length, 30_000, `the slow reader to read all (has ${slow.messages.length})`)
      .catch(() => {});
    await sleep(100);
    assertGapless(slow, [sent], "the slow reader");
    assert.ok(subscriber.stats.refilled > 0, "it did fall behind its bound, and was refilled from history");
  } finally {
    await Promise.all([publisher.disconnect(), subscriber.disconnect()]);
  }
}

/**
 * A subscriber that starts from a position no longer kept gets exactly one
 * resync frame (`gap`), then the oldest kept, then live events; one that
 * starts from a kept position gets exactly what came after it. `published`
 * events are published, far more than the history keeps.
 */
export async function beyondRetention(uri: string, published: number, options: BroadcastOptions = {}): Promise<void> {
  const channel = uniqueChannel("retention");
  const [publisher, subscriber] = await Promise.all([0, 1].map(() => Broadcast.connect(uri, options)));
  try {
    const first = subscriber.subscribe(channel).getReader();
    await subscriber.ready();
    await publisher.publish(channel, "m0");
    const { value: m0 } = await first.read();
    const since = m0?.type === "event" ? m0.id : undefined;
    assert.ok(since, "an event carries an id in history mode");
    for (let n = 1; n <= published; n += 100) {
      await Promise.all(Array.from({ length: Math.min(100, published + 1 - n) }, (_, i) => publisher.publish(channel, `m${n + i}`)));
    }
    // Within retention: exactly what came after.
    const frames = await readFrames(first, published);
    const recent = frames.at(-11)!;
    const within: Received = { messages: [], resyncs: [] };
    void collect(subscriber.subscribe(channel, { since: recent.type === "event" ? recent.id : "" }), within);
    await eventually(() => within.messages.length >= 10, 10_000, "what came after a kept position");
    await sleep(50);
    assert.deepEqual(within, { messages: Array.from({ length: 10 }, (_, i) => `m${published - 9 + i}`), resyncs: [] });
    // Beyond retention: one resync frame, then what is kept, then live events.
    const beyond: Received = { messages: [], resyncs: [] };
    void collect(subscriber.subscribe(channel, { since }), beyond);
    const gaps: unknown[] = [];
    subscriber.addEventListener("resync", (event) => gaps.push(event.detail));
    await eventually(() => beyond.resyncs.length > 0, 10_000, "the resync frame");
    await publisher.publish(channel, "live");
    await eventually(() => beyond.messages.at(-1) === "live", 10_000, "the live event after the resync");
    await sleep(50);
    assert.deepEqual(beyond.resyncs.map((f) => f.type === "resync" && f.reason), ["gap"]);
    assert.deepEqual(gaps, [{ channels: 1, reason: "gap", channel }], "a resync event too");
    assert.ok(!beyond.messages.includes("m1"), "nothing from before what is kept");
    const order = beyond.messages.slice(0, -1).map((m) => Number(m.slice(1)));
    const first_ = order[0];
    assert.deepEqual(order, Array.from({ length: order.length }, (_, i) => first_ + i), "the oldest kept onwards, in order, once each");
    assert.equal(order.at(-1), published, "up to the last one");
  } finally {
    await Promise.all([publisher.disconnect(), subscriber.disconnect()]);
  }
}

async function readFrames(reader: ReadableStreamDefaultReader<Frame>, count: number): Promise<Frame[]> {
  const frames: Frame[] = [];
  while (frames.length < count) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the stream ended after ${frames.length} of ${count} frames`);
    frames.push(value);
  }
  return frames;
}
