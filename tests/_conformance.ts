/**
 * The conformance suite every backend runs: the twelve behaviours the library promises (README: Semantics), end
 * to end, with several Broadcast instances on one backbone. A backend's test
 * file calls {@linkcode runConformance} with a way to open its backbone and to
 * cut, restore and stall the path to it.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  BackboneUnavailableError,
  Broadcast,
  type BroadcastOptions,
  GiveUpError,
} from "../mod.ts";
import {
  activeTimers,
  dedupe,
  eventually,
  events,
  nextEvent,
  reachState,
  readEvents,
  readUntil,
  resyncs,
  sleep,
  uniqueChannel,
  within,
} from "./_support.ts";

/** A backbone under test, and the means to break the path to it. */
export interface Backbone {
  /** The URI instances connect to (through whatever the test can cut). */
  uri: string;
  /** Options for every instance: the timing that suits this backbone. */
  options?: BroadcastOptions;
  /** Open connections error; new ones are refused until `restore()`. */
  cut(): Promise<void>;
  /** New connections succeed again. */
  restore(): Promise<void>;
  /** Open connections stop answering without closing; new ones hang until `restore()`. */
  stall(): Promise<void>;
  /** Server-side subscriptions to `channel`, where the backbone can tell. */
  subscribers?(channel: string): Promise<number>;
  /** How many outages the leak test goes through. @default {100} */
  outages?: number;
  close(): Promise<void>;
}

/** Timing for tests: fast reconnects and a short settle, in milliseconds. */
export const FAST: BroadcastOptions = {
  reconnect: { minDelay: 10, maxDelay: 100 },
  resyncSettle: 50,
  liveness: { interval: 100, timeout: 200 },
  connectTimeout: 2_000,
};

export function runConformance(name: string, open: () => Promise<Backbone>): void {
  describe(`${name} conformance`, () => {
    let backbone: Backbone;
    const instances: Broadcast[] = [];

    before(async () => {
      backbone = await open();
    });
    after(async () => {
      await Promise.all(instances.splice(0).map((b) => b.disconnect()));
      await backbone?.close(); // unset when opening it failed: that failure is the one to report
    });

    function options(extra: BroadcastOptions = {}): BroadcastOptions {
      const base = { ...FAST, ...backbone.options };
      return {
        ...base,
        ...extra,
        reconnect: { ...base.reconnect, ...extra.reconnect },
        liveness: { ...base.liveness, ...extra.liveness },
      };
    }

    async function start(count: number, extra?: BroadcastOptions): Promise<Broadcast[]> {
      const started = await Promise.all(
        Array.from({ length: count }, () => Broadcast.connect(backbone.uri, options(extra))),
      );
      instances.push(...started);
      return started;
    }

    async function stop(...broadcasts: Broadcast[]): Promise<void> {
      for (const b of broadcasts) instances.splice(instances.indexOf(b), 1);
      await Promise.all(broadcasts.map((b) => b.disconnect()));
    }

    async function outage(broadcasts: Broadcast[], during?: () => Promise<void>): Promise<void> {
      await backbone.cut();
      await Promise.all(broadcasts.map((b) => reachState(b, "down")));
      await during?.();
      await backbone.restore();
      await Promise.all(broadcasts.map((b) => reachState(b, "up", 10_000)));
    }

    it("every subscriber on every instance receives every event, the publisher included", async () => {
      const channel = uniqueChannel();
      const group = await start(3);
      const readers = group.flatMap((b) => [b, b].map(() => b.subscribe(channel).getReader()));
      await Promise.all(group.map((b) => b.ready()));
      await Promise.all(group.map((b, i) => Promise.all(
        Array.from({ length: 20 }, (_, n) => b.publish(channel, `${i}:${n}`)),
      )));
      for (const reader of readers) {
        const got = events(await readEvents(reader, 60));
        assert.equal(got.length, 60);
        for (let i = 0; i < 3; i++) {
          const mine = got.filter((m) => m.startsWith(`${i}:`));
          assert.deepEqual(mine, Array.from({ length: 20 }, (_, n) => `${i}:${n}`), `order from instance ${i}`);
        }
      }
      await stop(...group);
    });

    it("publish order is kept across an outage: buffered first, later after", async () => {
      const channel = uniqueChannel();
      const [a, b] = await start(2);
      const reader = b.subscribe(channel).getReader();
      await b.ready();
      const sent: Promise<void>[] = [];
      for (let n = 0; n < 20; n++) sent.push(a.publish(channel, `m${n}`));
      await Promise.all(sent);
      // Acknowledged to the publisher is not yet delivered to b: over a network a cut
      // right now may lose these (that gap is what resync is for), so let them arrive.
      const before = await readEvents(reader, 20);
      await outage([a, b], async () => {
        for (let n = 20; n < 40; n++) sent.push(a.publish(channel, `m${n}`));
        await Promise.all(sent);
        assert.equal(a.stats.buffered >= 20, true, "published while down are buffered");
      });
      for (let n = 40; n < 60; n++) sent.push(a.publish(channel, `m${n}`));
      await Promise.all(sent);
      const frames = [...before, ...await readUntil(reader, (f) => dedupe(events([...before, ...f])).length >= 60, 10_000, "60 events")];
      assert.deepEqual(dedupe(events(frames)), Array.from({ length: 60 }, (_, n) => `m${n}`));
      // Counted once the backbone acknowledges, which may be after b has them.
      await eventually(() => a.stats.replayed >= 20, 5_000, "the replay count");
      await stop(a, b);
    });

    it("while down, publish resolves once buffered; with buffering disabled it rejects", async () => {
      const channel = uniqueChannel();
      const [buffering, strict] = await start(2, {});
      await stop(strict);
      const [unbuffered] = await start(1, { replayBufferSize: 0 });
      await backbone.cut();
      await Promise.all([reachState(buffering, "down"), reachState(unbuffered, "down")]);
      await within(buffering.publish(channel, "kept"), 500, "a buffered publish");
      assert.equal(buffering.stats.buffered, 1);
      await assert.rejects(unbuffered.publish(channel, "lost"), BackboneUnavailableError);
      await backbone.restore();
      await Promise.all([reachState(buffering, "up", 10_000), reachState(unbuffered, "up", 10_000)]);
      await stop(buffering, unbuffered);
    });

    it("a full replay buffer drops the oldest, counts it and fires overflow", async () => {
      const channel = uniqueChannel();
      const [a] = await start(1, { replayBufferSize: 5 });
      const [b] = await start(1);
      const reader = b.subscribe(channel).getReader();
      await b.ready();
      let overflows = 0;
      a.addEventListener("overflow", () => overflows++);
      await outage([a, b], async () => {
        for (let n = 0; n < 8; n++) await a.publish(channel, `m${n}`);
      });
      assert.equal(overflows, 3);
      assert.equal(a.stats.dropped, 3);
      const frames = await readEvents(reader, 5, 10_000);
      assert.deepEqual(dedupe(events(frames)), ["m3", "m4", "m5", "m6", "m7"]);
      await stop(a, b);
    });

    it("streams stay open through an outage and get one resync frame each, after re-subscription and settle", async () => {
      const channel = uniqueChannel();
      const settle = 300;
      const group = await start(2, { resyncSettle: settle });
      const readers = group.flatMap((b) => [b.subscribe(channel).getReader(), b.subscribe(channel).getReader()]);
      await Promise.all(group.map((b) => b.ready()));
      await backbone.cut();
      await Promise.all(group.map((b) => reachState(b, "down")));
      // Each instance settles from the moment its own link is back.
      const upAt = group.map((b) => reachState(b, "up", 10_000).then(() => Date.now()));
      await backbone.restore();
      await Promise.all(upAt);
      for (const [i, reader] of readers.entries()) {
        const frames = await readUntil(reader, (f) => resyncs(f).length > 0, 10_000, "a resync frame");
        const waited = Date.now() - await upAt[Math.floor(i / 2)];
        assert.deepEqual(frames.at(-1), { type: "resync", channel, reason: "reconnect" });
        assert.equal(waited >= settle - 20, true, `resync waits for the settle time (came after ${waited} ms)`);
      }
      // The channel was subscribed again before the resync: a new event arrives.
      await group[0].publish(channel, "after");
      for (const reader of readers) {
        const frames = await readEvents(reader, 1);
        assert.deepEqual(events(frames), ["after"]);
        assert.equal(resyncs(frames).length, 0, "exactly one resync per gap");
      }
      await stop(...group);
    });

    it("drops in quick succession are one gap: one resync frame", async () => {
      const channel = uniqueChannel();
      const [b] = await start(1, { resyncSettle: 400 });
      const reader = b.subscribe(channel).getReader();
      await b.ready();
      await outage([b]);
      await outage([b]); // within the settle time of the first
      const frames = await readUntil(reader, (f) => resyncs(f).length > 0, 10_000, "a resync frame");
      await b.publish(channel, "after");
      const more = await readEvents(reader, 1);
      assert.equal(resyncs([...frames, ...more]).length, 1);
      assert.equal(b.stats.reconnects, 2);
      await stop(b);
    });

    it("failed attempts fire error events, back off, and the broadcast comes back", async () => {
      const [b] = await start(1, { reconnect: { minDelay: 20, maxDelay: 80 } });
      const errors: unknown[] = [];
      b.addEventListener("error", (e) => errors.push(e.detail.error));
      await backbone.cut();
      await reachState(b, "down");
      await eventually(() => errors.length >= 3, 5_000, "three failed attempts");
      await backbone.restore();
      await reachState(b, "up", 10_000);
      assert.equal(b.state, "up");
      await stop(b);
    });

    it("after maxRetries consecutive failures: failed, giveup, streams error with GiveUpError, publish rejects", async () => {
      const channel = uniqueChannel();
      const [b] = await start(1, { reconnect: { maxRetries: 3, minDelay: 10, maxDelay: 20 } });
      const reader = b.subscribe(channel).getReader();
      await b.ready();
      const giveup = nextEvent(b, "giveup", 10_000);
      await backbone.cut();
      try {
        const { error } = await giveup;
        assert.ok(error instanceof GiveUpError);
        assert.equal(error.attempts, 3);
        assert.equal(b.state, "failed");
        await assert.rejects(reader.read(), GiveUpError);
        await assert.rejects(b.publish(channel, "x"), GiveUpError);
        await assert.rejects(
          Broadcast.connect(backbone.uri, options({ reconnect: { maxRetries: 2, minDelay: 10, maxDelay: 20 } })),
          (error: unknown) => error instanceof GiveUpError && error.cause !== undefined,
        );
      } finally {
        await backbone.restore();
      }
      await stop(b);
    });

    it("with reconnect disabled a drop errors every subscriber stream at once and nothing retries", async () => {
      const channel = uniqueChannel();
      const [b] = await start(1, { reconnect: { enabled: false } });
      const readers = [b.subscribe(channel).getReader(), b.subscribe(channel).getReader()];
      await b.ready();
      let attempts = 0;
      b.addEventListener("error", () => attempts++);
      await backbone.cut();
      try {
        for (const reader of readers) await assert.rejects(within(reader.read(), 5_000, "the stream to error"), BackboneUnavailableError);
        assert.equal(b.state, "failed");
        await sleep(100);
        assert.equal(attempts, 0);
      } finally {
        await backbone.restore();
      }
      await stop(b);
    });

    it("a backbone that stops answering without closing is detected by the liveness probe", async () => {
      const channel = uniqueChannel();
      const [a, b] = await start(2);
      const reader = b.subscribe(channel).getReader();
      await b.ready();
      const { interval, timeout } = options().liveness!;
      const stalledAt = Date.now();
      await backbone.stall();
      try {
        await Promise.all([a, b].map((x) => reachState(x, "down", interval! + timeout! + 3_000)));
        assert.equal(Date.now() - stalledAt < interval! + timeout! + 3_000, true);
        await a.publish(channel, "during");
      } finally {
        await backbone.restore();
      }
      await Promise.all([a, b].map((x) => reachState(x, "up", 10_000)));
      const frames = await readUntil(
        reader,
        (f) => resyncs(f).length > 0 && events(f).includes("during"),
        10_000,
        "the replayed event and a resync",
      );
      assert.equal(resyncs(frames).length, 1);
      await stop(a, b);
    });

    it("a slow subscriber never blocks others: once it lags beyond its bound its backlog is dropped for an overflow resync", async () => {
      const channel = uniqueChannel();
      const [a, b] = await start(2);
      const fast = b.subscribe(channel).getReader();
      const slow = b.subscribe(channel, { highWaterMark: 10 }).getReader();
      await b.ready();
      let overflows = 0;
      b.addEventListener("overflow", () => overflows++);
      // In separate ticks: the bound is on how far a reader lags, not on one batch.
      for (let n = 0; n < 100; n += 20) {
        await Promise.all(Array.from({ length: 20 }, (_, i) => a.publish(channel, `m${n + i}`)));
        await sleep(20);
      }
      const all = await readEvents(fast, 100);
      assert.equal(events(all).length, 100);
      await eventually(() => b.stats.dropped >= 90, 2_000, "the slow subscriber's backlog to be dropped");
      const first = await within(slow.read(), 1_000, "the slow subscriber's first frame");
      assert.deepEqual(first.value, { type: "resync", channel, reason: "overflow" });
      await a.publish(channel, "tail");
      const rest = await readUntil(slow, (f) => events(f).includes("tail"), 2_000, "the tail");
      assert.equal(events(rest).length <= 11, true, "at most its bound's worth after the resync");
      assert.equal(overflows >= 1, true);
      await stop(a, b);
    });

    it("cancelling or aborting a subscriber unsubscribes it; the last one unsubscribes the backbone", async () => {
      const channel = uniqueChannel();
      const [a, b] = await start(2);
      const controller = new AbortController();
      const cancelled = b.subscribe(channel);
      const aborted = b.subscribe(channel, { signal: controller.signal }).getReader();
      await b.ready();
      if (backbone.subscribers) await eventually(async () => await backbone.subscribers!(channel) === 1);
      await cancelled.cancel();
      await a.publish(channel, "still");
      assert.deepEqual(events(await readEvents(aborted, 1)), ["still"]);
      controller.abort();
      assert.equal((await within(aborted.read(), 1_000, "the aborted stream to end")).done, true);
      if (backbone.subscribers) {
        await eventually(async () => await backbone.subscribers!(channel) === 0, 5_000, "the backbone unsubscription");
      }
      const delivered = b.stats.delivered;
      await a.publish(channel, "nobody");
      await sleep(50);
      assert.equal(b.stats.delivered, delivered);
      await stop(a, b);
    });

    it("nothing leaks across 1,000 subscribe/cancel cycles and many outages", async () => {
      const channel = uniqueChannel();
      const [a, b] = await start(2, { resyncSettle: 5, reconnect: { minDelay: 1, maxDelay: 5 } });
      const timersBefore = activeTimers();
      for (let i = 0; i < 1_000; i++) {
        const controller = new AbortController();
        const stream = b.subscribe(`${channel}-${i % 10}`, { signal: controller.signal });
        if (i % 2 === 0) await stream.cancel();
        else controller.abort();
      }
      const reader = b.subscribe(channel).getReader();
      await b.ready();
      // Counted from here: on Kafka, subscribing topics just created may cost a link
      // ("not the leader for that topic-partition"), an honest reconnect of its own.
      const reconnects = b.stats.reconnects;
      const outages = backbone.outages ?? 100;
      for (let i = 0; i < outages; i++) {
        await outage([a, b]);
        await readUntil(reader, (f) => resyncs(f).length > 0, 10_000, `the resync after outage ${i + 1}`);
      }
      assert.equal(b.stats.reconnects - reconnects, outages, "one reconnect per outage");
      await a.publish(channel, "still here");
      assert.deepEqual(events(await readEvents(reader, 1)), ["still here"]);
      if (backbone.subscribers) {
        // A link lost without a goodbye (Kafka: its consumer group) is let go by the
        // server once its session times out; what must not stay is a live subscription.
        for (let i = 0; i < 10; i++) {
          await eventually(async () => await backbone.subscribers!(`${channel}-${i}`) === 0, 20_000, `${channel}-${i} unsubscribed on the backbone`);
        }
      }
      const timersAfter = activeTimers();
      if (timersBefore !== undefined && timersAfter !== undefined) {
        assert.equal(timersAfter <= timersBefore + 2, true, `timers: ${timersBefore} before, ${timersAfter} after`);
      }
      await stop(a, b);
    });

    it("disconnect ends every stream cleanly and reports what it could not send", async () => {
      const channel = uniqueChannel();
      const [b] = await start(1);
      const readers = [b.subscribe(channel).getReader(), b.subscribe(channel).getReader()];
      await b.ready();
      await backbone.cut();
      await reachState(b, "down");
      await b.publish(channel, "one");
      await b.publish(channel, "two");
      const report = await b.disconnect();
      instances.splice(instances.indexOf(b), 1);
      await backbone.restore();
      assert.deepEqual(report.unsent.map((f) => f.message), ["one", "two"]);
      for (const reader of readers) assert.equal((await reader.read()).done, true);
      assert.equal(b.state, "closed");
      await assert.rejects(b.publish(channel, "late"));
    });

    it("disconnect never hangs on a dead backbone", async () => {
      const channel = uniqueChannel();
      const [b] = await start(1, { liveness: { interval: 10_000, timeout: 300 } });
      const reader = b.subscribe(channel).getReader();
      await b.ready();
      await backbone.stall();
      try {
        const inFlight = b.publish(channel, "stuck").then(() => "accepted", () => "rejected");
        const started = Date.now();
        const report = await within(b.disconnect(), 3_000, "disconnect on a stalled backbone");
        instances.splice(instances.indexOf(b), 1);
        assert.equal(Date.now() - started < 3_000, true);
        assert.deepEqual(report.unsent.map((f) => f.message), ["stuck"]);
        assert.equal((await reader.read()).done, true);
        // Accepted (then buffered when the link was let go) or rejected, but never hanging.
        assert.match(await within(inFlight, 1_000, "the in-flight publish to settle"), /accepted|rejected/);
      } finally {
        await backbone.restore();
      }
    });
  });
}
