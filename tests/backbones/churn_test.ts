/**
 * Regressions for reported bugs: a channel subscribed again right after its
 * last subscriber cancelled, on memory, Redis and Postgres (Kafka's is in
 * tests/kafka/churn_test.ts); a burst larger than the subscriber queue
 * reaching a reader that keeps up; a broadcast a backend refuses for good,
 * which the core must count and report; and `connect()` after the broadcast
 * gave up.
 */
import assert from "node:assert/strict";
import process from "node:process";
import { after, before, describe, it } from "node:test";
import { memoryHub } from "../../backends/memory/mod.ts";
import { Broadcast, type Frame, GiveUpError } from "../../mod.ts";
import { FAST } from "../fixtures/conformance.ts";
import { SERVER_URI } from "../fixtures/postgres.ts";
import { admin, type Admin } from "../fixtures/redis.ts";
import { resubscribing } from "../fixtures/resubscribing.ts";
import { events, nextEvent, readEvents, resyncs, sleep, uniqueChannel, within } from "../fixtures/support.ts";

const REDIS_URI = "redis://127.0.0.1:6379";

resubscribing("memory://", async () => {
  const hub = memoryHub("churn");
  return { uri: "memory://churn", subscribers: async (channel) => hub.subscribers(channel) };
});

resubscribing("redis://", async () => {
  const direct = await admin();
  return { uri: REDIS_URI, subscribers: (channel) => direct.numsub(channel), close: () => direct.close() };
});

resubscribing("postgres://", async () => ({
  uri: SERVER_URI,
  options: { backendOptions: { applicationName: `streamcast-test-churn-${process.pid}` } },
}));

/** `count` messages `m<from>`, `m<from+1>`, …, published in one tick. */
function burst(broadcast: Broadcast, channel: string, from: number, count: number): Promise<unknown> {
  return Promise.all(Array.from({ length: count }, (_, n) => broadcast.publish(channel, `m${from + n}`)));
}

/** Publishes `m<ARGV[1]>` up to `m<ARGV[2]-1>` on KEYS[1], all in one command. */
const PUBLISH_RANGE = "for i = tonumber(ARGV[1]), tonumber(ARGV[2]) - 1 do redis.call('PUBLISH', KEYS[1], 'm' .. i) end";

/** Reads as fast as frames come until the event `last`; one deadline for the whole read. */
async function readFlatOut(reader: ReadableStreamDefaultReader<Frame>, last: string, ms: number): Promise<Frame[]> {
  const frames: Frame[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const got = events(frames);
      reject(new Error(`Timed out after ${ms} ms waiting for ${last}; got ${got.length} events (last ${got.at(-1)}) and ${resyncs(frames).length} resync frames`));
    }, ms);
  });
  try {
    for (;;) {
      const { value, done } = await Promise.race([reader.read(), timeout]);
      if (done) throw new Error(`Stream ended before ${last}; got ${events(frames).length} events`);
      frames.push(value);
      if (value.type === "event" && value.message === last) return frames;
    }
  } finally {
    clearTimeout(timer);
  }
}

/** Every message `m0` … `m<count-1>` in order, and no resync frame; says where it first went wrong. */
function assertComplete(frames: Frame[], count: number): void {
  const got = events(frames);
  const first = got.findIndex((message, i) => message !== `m${i}`);
  const gaps = resyncs(frames).map((frame) => frame.type === "resync" && frame.reason);
  assert.deepEqual(
    { received: got.length, resyncs: gaps, firstOutOfOrder: first < 0 ? null : `${got[first]} at ${first}` },
    { received: count, resyncs: [], firstOutOfOrder: null },
  );
}

describe("a subscriber reading flat out and a burst larger than its queue", () => {
  const open: Broadcast[] = [];
  after(() => Promise.all(open.splice(0).map((b) => b.disconnect())));

  async function pair(uri: string): Promise<[Broadcast, Broadcast]> {
    // A probe that waits behind a burst must not pass for a lost link: this is about queues, not liveness.
    const options = { ...FAST, liveness: { interval: 1_000, timeout: 5_000 } };
    const both = await Promise.all([Broadcast.connect(uri, options), Broadcast.connect(uri, options)]);
    open.push(...both);
    return both as [Broadcast, Broadcast];
  }

  it("on memory:// a reader that keeps up gets all of 1,500 then 5,000 messages published in one tick each, with no resync", async () => {
    const channel = uniqueChannel("burst");
    const [a, b] = await pair("memory://churn-burst");
    const reader = b.subscribe(channel).getReader();
    await b.ready();
    const reading = readFlatOut(reader, "m6499", 10_000);
    await burst(a, channel, 0, 1_500);
    await burst(a, channel, 1_500, 5_000);
    assertComplete(await reading, 6_500);
    assert.equal(b.stats.dropped, 0);
  });

  it("on redis:// a reader that keeps up gets all of 5,000 messages published in one tick, then 5,000 from one script, with no resync", async () => {
    const channel = uniqueChannel("b"); // short: more messages per socket read
    const [a, b] = await pair(REDIS_URI);
    const direct = await admin();
    try {
      const reader = b.subscribe(channel).getReader();
      await b.ready();
      const reading = readFlatOut(reader, "m9999", 10_000);
      await burst(a, channel, 0, 5_000);
      // Published by one script, the burst leaves Redis in full 64 KiB writes: over
      // 1,000 messages in each socket read, as another service's MULTI/EXEC would.
      await direct.send(["EVAL", PUBLISH_RANGE, "1", channel, "5000", "10000"]);
      assertComplete(await reading, 10_000);
      assert.equal(b.stats.dropped, 0);
    } finally {
      await direct.close();
    }
  });

  it("a reader that does not read while 3,000 messages arrive in separate ticks still overflows its queue of 100", async () => {
    const channel = uniqueChannel("lagging");
    const [a, b] = await pair("memory://churn-burst");
    const reader = b.subscribe(channel, { highWaterMark: 100 }).getReader();
    await b.ready();
    for (let batch = 0; batch < 3; batch++) {
      await burst(a, channel, batch * 1_000, 1_000);
      await sleep(20);
    }
    await a.publish(channel, "tail");
    const frames = await readFlatOut(reader, "tail", 5_000);
    assert.deepEqual(frames[0], { type: "resync", channel, reason: "overflow" });
    assert.equal(events(frames).length <= 101, true, `at most its bound's worth kept, got ${events(frames).length}`);
    assert.equal(b.stats.dropped > 0, true);
  });
});

describe("a broadcast Redis refuses for good", () => {
  const user = `churn-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const password = "churn-s3cret";
  let direct: Admin;
  before(async () => {
    direct = await admin();
    await direct.send(["ACL", "SETUSER", user, "on", `>${password}`, "resetchannels", "&allowed*", "~*", "+@all"]);
  });
  after(async () => {
    await direct.send(["ACL", "DELUSER", user]);
    await direct?.close();
  });

  it("is counted as dropped, not published, and reported with a dropped event instead of console.warn", async () => {
    const warnings: unknown[][] = [];
    const warn = console.warn;
    console.warn = (...args: unknown[]) => void warnings.push(args);
    const b = await Broadcast.connect(`redis://${user}:${password}@127.0.0.1:6379`, FAST);
    try {
      const reported: { source?: string; channel?: string; reason?: unknown }[] = [];
      b.addEventListener("dropped", (event) => reported.push(event.detail));
      const allowed = uniqueChannel("allowed");
      const forbidden = uniqueChannel("forbidden");
      const reader = b.subscribe(allowed).getReader();
      await b.ready();
      await within(b.publish(forbidden, "refused"), 2_000, "the refused publish to resolve");
      await b.publish(allowed, "fine");
      assert.deepEqual(events(await readEvents(reader, 1)), ["fine"]);
      assert.deepEqual(
        { dropped: b.stats.dropped, published: b.stats.published, warned: warnings.length, reported: reported.length },
        { dropped: 1, published: 1, warned: 0, reported: 1 },
      );
      const [detail] = reported;
      assert.equal(detail.source, "backbone");
      assert.equal(detail.channel, forbidden);
      assert.match(String((detail.reason as Error)?.message ?? detail.reason), /^NOPERM/);
      assert.equal(b.stats.reconnects, 0, "the link was not dropped for it");
    } finally {
      console.warn = warn;
      await b.disconnect();
    }
  });
});

describe("connect() on a broadcast that gave up", () => {
  it("rejects with GiveUpError instead of returning the first connection's promise", async () => {
    const name = `churn-giveup-${Math.random().toString(36).slice(2, 8)}`;
    const hub = memoryHub(name);
    const b = await Broadcast.connect(`memory://${name}`, { ...FAST, reconnect: { maxRetries: 2, minDelay: 5, maxDelay: 10 } });
    try {
      const giveup = nextEvent(b, "giveup");
      hub.cut();
      await giveup;
      assert.equal(b.state, "failed");
      await assert.rejects(within(b.connect(), 1_000, "connect() to settle"), GiveUpError);
    } finally {
      hub.restore();
      await b.disconnect();
    }
  });
});
