/**
 * History mode on the Kafka backbone, against a broker of its own behind a
 * TCP proxy: a link's `read` of partition 0, the gapless column of the fault
 * matrix (the proxy cutting and stalling, the broker stopped and started
 * under publish load), a slow subscriber refilled from Kafka, `since`, and
 * positions Kafka deleted (`deleteTopicRecords` moves the log start offset, as
 * retention would) ending in exactly one resync frame `gap`; the topic's
 * epoch in every id, and the replaced-history column (a topic deleted and
 * recreated: offsets start again at 0).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Admin } from "kafkajs";
import { Broadcast, type BroadcastOptions, type EventFrame, type Frame } from "../../mod.ts";
import kafka from "../../backends/kafka/mod.ts";
import type { Link } from "../../lib/contract/link.ts";
import { epochOf, isEpoch, placeOf } from "../../lib/contract/position.ts";
import { FAST } from "../fixtures/conformance.ts";
import { proxyOutages, runGapless } from "../fixtures/gapless.ts";
import { kafkaAdmin, proxiedBroker, type TestBroker } from "../fixtures/kafka.ts";
import type { TcpProxy } from "../fixtures/proxy.ts";
import { runReplaced } from "../fixtures/replaced.ts";
import { connectorContext, eventually, events, reachState, readEvents, readUntil, resyncs, sleep, uniqueChannel, within } from "../fixtures/support.ts";

/** Timing for real outages: quick detection, quick reconnects. */
const OUTAGE: BroadcastOptions = { ...FAST, connectTimeout: 5_000 };

/** Why the gapless column's retention cases do not run here: the `deleteTopicRecords` tests above stand for them. */
const KEPT_BY_KAFKA = "Kafka keeps what its topic's retention keeps, whatever ?history= says: positions Kafka deleted are tested above";

describe("kafka:// history mode on a broker of its own", () => {
  let broker: TestBroker;
  let proxy: TcpProxy;
  let uri: string;
  let direct: string;
  let admin: Admin;
  const open: Broadcast[] = [];

  before(async () => {
    ({ broker, proxy, uri, direct } = await proxiedBroker());
    admin = await kafkaAdmin(direct);
  });
  after(async () => {
    await Promise.all(open.splice(0).map((b) => b.disconnect()));
    await admin?.disconnect();
    await proxy?.stop();
    await broker?.remove();
  });

  const history = (target: string) => `${target}?history=1000`;

  async function connect(count: number, target = uri): Promise<Broadcast[]> {
    const group = await Promise.all(Array.from({ length: count }, () => Broadcast.connect(history(target), OUTAGE)));
    open.push(...group);
    return group;
  }

  /**
   * A link of its own, in history mode, straight to the broker (or through
   * the proxy). Its events are read and dropped unless `live`, as a core
   * would take them: a consumer whose batch is never taken cannot be replaced.
   */
  async function openLink(target: string, settings: Record<string, unknown> = {}, live = false): Promise<Link> {
    const { context } = connectorContext(settings);
    const connector = kafka(new URL(target), { ...context, history: { messages: 1000 } });
    const link = await connector.open(AbortSignal.timeout(10_000));
    if (!live) link.readable.pipeTo(new WritableStream()).catch(() => {});
    return link;
  }

  /** Publishes `messages` on `channel` through `link`, in one batch, with origins `t:1`, `t:2`, … */
  async function publish(link: Link, channel: string, messages: string[]): Promise<void> {
    const writer = link.writable.getWriter();
    await writer.write(messages.map((message, i): EventFrame => ({ type: "event", channel, message, origin: `t:${i + 1}` })));
    writer.releaseLock();
  }

  /** Deletes partition 0 of `topic` before `offset`, as retention would. */
  async function deleteBefore(topic: string, offset: number): Promise<void> {
    await admin.fetchTopicMetadata({ topics: [topic] }); // the admin finds the partition's leader in what it has loaded
    await admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: String(offset) }] });
  }

  /**
   * Deletes `topic` and creates it again, as an operator would: a new topic
   * (a new topic id) whose offsets start again at 0. A streamcast link that
   * subscribes meanwhile may create it first: a new topic all the same.
   */
  async function recreate(topic: string): Promise<void> {
    await admin.deleteTopics({ topics: [topic], timeout: 10_000 });
    await admin.createTopics({ topics: [{ topic }], timeout: 10_000 });
    // Its partition has a leader once its offsets can be read.
    await eventually(() => admin.fetchTopicOffsets(topic).then(() => true, () => false), 10_000, `topic ${topic} made again`);
  }

  it("a link reads partition 0 between offsets, at most a limit, with ids and origins as the live path gives them", async () => {
    const channel = uniqueChannel("read");
    const link = await openLink(`kafka://${direct}`);
    try {
      assert.equal(await link.subscribe(channel), undefined, "an empty topic: nothing before the first offset");
      await publish(link, channel, Array.from({ length: 50 }, (_, n) => `m${n}`));
      const first = await link.read!(channel, undefined, "49", 10);
      assert.notEqual(first, "gap");
      assert.deepEqual((first as EventFrame[]).map((f) => [placeOf(f.id!), f.message, f.origin]), Array.from({ length: 10 }, (_, n) => [String(n), `m${n}`, `t:${n + 1}`]));
      const pages: string[] = [];
      let at = "9";
      for (let page = await link.read!(channel, at, "41", 7); page !== "gap" && page.length > 0; page = await link.read!(channel, at, "41", 7)) {
        pages.push(...page.map((f) => f.message));
        at = page.at(-1)!.id!;
      }
      assert.deepEqual(pages, Array.from({ length: 32 }, (_, n) => `m${n + 10}`), "page after page, up to and including upTo");
      assert.deepEqual(await link.read!(channel, "41", "41", 10), [], "nothing after upTo");
      assert.deepEqual(events((await link.read!(channel, "47", "1000", 10)) as Frame[]), ["m48", "m49"], "no further than the log's end");
      await deleteBefore(channel, 20);
      assert.equal(await link.read!(channel, "10", "49", 10), "gap", "the offset after 10 was deleted");
      assert.equal(await link.read!(channel, "1700000000000-3", "49", 10), "gap", "not an offset: nothing Kafka keeps");
      assert.equal(await link.read!(channel, undefined, "49", 1).then((p) => p !== "gap" && placeOf(p[0].id!)), "20", "from the log start");
      assert.deepEqual(events((await link.read!(channel, "19", "21", 10)) as Frame[]), ["m20", "m21"], "right after the log start");
      const other = uniqueChannel("read-other");
      await link.subscribe(other);
      await publish(link, other, ["o0", "o1"]);
      assert.deepEqual(events((await link.read!(other, undefined, "1", 10)) as Frame[]), ["o0", "o1"], "a second topic");
      assert.deepEqual(events((await link.read!(channel, "30", "32", 10)) as Frame[]), ["m31", "m32"], "and the first again");
    } finally {
      await link.close();
    }
  });

  it("a link's subscribe starts right after a position and resolves with it; the default mode has no read", async () => {
    const channel = uniqueChannel("start");
    const writer = await openLink(`kafka://${direct}`);
    const plain = await kafka(new URL(`kafka://${direct}`), connectorContext().context).open(AbortSignal.timeout(10_000));
    try {
      assert.equal(plain.read, undefined);
      await writer.subscribe(channel);
      await publish(writer, channel, Array.from({ length: 10 }, (_, n) => `m${n}`));
      const reader = await openLink(`kafka://${direct}`, {}, true);
      try {
        assert.equal(placeOf(await reader.subscribe(channel, { after: "6" }) as string), "6");
        const frames = await readBatches(reader, 3);
        assert.deepEqual(frames.map((f) => f.type === "event" && [placeOf(f.id!), f.message]), [["7", "m7"], ["8", "m8"], ["9", "m9"]]);
      } finally {
        await reader.close();
      }
      await deleteBefore(channel, 4);
      const late = await openLink(`kafka://${direct}`, {}, true);
      try {
        assert.equal(placeOf(await late.subscribe(channel, { after: "1" }) as string), "3", "a deleted start goes on from the log start");
        const frames = await readBatches(late, 7);
        assert.deepEqual(frames.map((f) => f.type === "event" ? f.message : f.reason), ["gap", "m4", "m5", "m6", "m7", "m8", "m9"]);
      } finally {
        await late.close();
      }
    } finally {
      await Promise.all([writer.close(), plain.close()]);
    }
  });

  it("ids carry the topic's epoch; a recreated topic has another, and a position of the old one reads and subscribes as a gap", async () => {
    const channel = uniqueChannel("epoch");
    const first = await openLink(`kafka://${direct}`);
    let old: string[];
    try {
      await first.subscribe(channel);
      await publish(first, channel, ["a", "b", "c"]);
      old = ids(await first.read!(channel, undefined, "2", 10));
    } finally {
      await first.close();
    }
    const epoch = epochOf(old[0]);
    assert.ok(epoch !== undefined && isEpoch(epoch), `an epoch in ${old[0]}`);
    assert.deepEqual(old, ["0", "1", "2"].map((n) => `${epoch}:${n}`));

    await recreate(channel);
    const writer = await openLink(`kafka://${direct}`);
    const second = await openLink(`kafka://${direct}`, {}, true);
    try {
      await publish(writer, channel, ["w", "x", "y", "z"]);
      assert.equal(await second.subscribe(channel, { after: old[1] }), undefined, "from the new topic's first offset: nothing before it");
      const frames = await readBatches(second, 5);
      assert.deepEqual(frames.map((f) => f.type === "event" ? f.message : `<${f.reason}>`), ["<gap>", "w", "x", "y", "z"]);
      const now = frames.flatMap((f) => f.type === "event" ? [f.id!] : []);
      const renewed = epochOf(now[0]);
      assert.ok(renewed !== undefined && renewed !== epoch, `another epoch: ${now[0]} after ${old[0]}`);
      assert.deepEqual(now, ["0", "1", "2", "3"].map((n) => `${renewed}:${n}`));
      assert.equal(await second.read!(channel, old[1], now[3], 10), "gap", "a position of the old topic");
      assert.deepEqual(events((await second.read!(channel, now[1], now[3], 10)) as Frame[]), ["y", "z"], "one of the new topic");
      assert.deepEqual(events((await second.read!(channel, "1", now[3], 10)) as Frame[]), ["y", "z"], "an offset without an epoch: read in the topic there now");
    } finally {
      await Promise.all([writer.close(), second.close()]);
    }
  });

  it("a connector's next link carries no offsets across a recreated topic: it starts at the new topic's first offset", async () => {
    const channel = uniqueChannel("positions");
    const connector = kafka(new URL(`kafka://${direct}`), connectorContext().context); // pub/sub mode: positions kept all the same
    const first = await connector.open(AbortSignal.timeout(10_000));
    try {
      await first.subscribe(channel);
      await publish(first, channel, ["a", "b", "c", "d"]);
      assert.deepEqual(events(await readBatches(first, 4)), ["a", "b", "c", "d"]);
    } finally {
      await first.close();
    }
    await recreate(channel);
    const writer = await openLink(`kafka://${direct}`);
    try {
      await publish(writer, channel, ["x", "y"]); // while the connector has no link: what its next link must deliver
      const second = await connector.open(AbortSignal.timeout(10_000));
      try {
        await second.subscribe(channel);
        await publish(writer, channel, ["z"]);
        assert.deepEqual(events(await readBatches(second, 3)), ["x", "y", "z"]);
      } finally {
        await second.close();
      }
    } finally {
      await writer.close();
    }
  });

  it("a read waiting on a lost connection rejects, and the link's groups, its reader's too, are deleted as it closes", async () => {
    const channel = uniqueChannel("lost");
    const prefix = `streamcast-${channel}-`;
    const groups = async () => (await admin.listGroups()).groups.filter((g) => g.groupId.startsWith(prefix)).length;
    const clean = await openLink(`kafka://${direct}`, { groupIdPrefix: prefix });
    await clean.subscribe(channel);
    await publish(clean, channel, ["a", "b"]);
    assert.deepEqual(events((await clean.read!(channel, undefined, "1", 10)) as Frame[]), ["a", "b"]);
    assert.equal(await groups(), 2, "the live consumer's group and the reader's");
    await clean.close();
    assert.equal(await groups(), 0);

    const link = await openLink(uri);
    try {
      await link.subscribe(channel);
      assert.deepEqual(events((await link.read!(channel, undefined, "1", 10)) as Frame[]), ["a", "b"]);
      await proxy.stall();
      const reading = link.read!(channel, "0", "1", 10);
      const failed = assert.rejects(reading);
      await sleep(100);
      await proxy.cut();
      await within(failed, 10_000, "the read to reject");
    } finally {
      await proxy.restore();
      await link.close();
    }
  });

  it("since within retention, even a bare offset (a position from before epochs), returns exactly the suffix, then live events; oldest starts at the log start", async () => {
    const channel = uniqueChannel("since");
    const [publisher, subscriber] = await connect(2);
    const live = subscriber.subscribe(channel).getReader();
    await subscriber.ready();
    for (let n = 0; n < 30; n++) await publisher.publish(channel, `m${n}`);
    const frames = await readEvents(live, 30, 10_000);
    assert.deepEqual(frames.map((f) => f.type === "event" && placeOf(f.id!)), Array.from({ length: 30 }, (_, n) => String(n)), "ids are the offsets");
    assert.equal(new Set(frames.map((f) => f.type === "event" && epochOf(f.id!))).size, 1, "of one topic");
    const suffix = subscriber.subscribe(channel, { since: "11" }).getReader();
    const oldest = subscriber.subscribe(channel, { since: "oldest" }).getReader();
    await publisher.publish(channel, "live");
    assert.deepEqual(events(await readEvents(suffix, 19, 10_000)), [...Array.from({ length: 18 }, (_, n) => `m${n + 12}`), "live"]);
    assert.deepEqual(events(await readEvents(oldest, 31, 10_000)), [...Array.from({ length: 30 }, (_, n) => `m${n}`), "live"]);
    await sleep(200);
    await publisher.publish(channel, "next");
    for (const reader of [suffix, oldest]) assert.deepEqual(events(await readEvents(reader, 1)), ["next"], "nothing twice, no resync");
  });

  it("since a position Kafka deleted: exactly one resync frame (gap), then the oldest kept, then live events", async () => {
    const channel = uniqueChannel("deleted");
    const [publisher, subscriber] = await connect(2);
    const live = subscriber.subscribe(channel).getReader();
    await subscriber.ready();
    for (let n = 0; n < 10; n++) await publisher.publish(channel, `m${n}`);
    await readEvents(live, 10, 10_000);
    await deleteBefore(channel, 5);
    const beyond = subscriber.subscribe(channel, { since: "1" }).getReader();
    const oldest = subscriber.subscribe(channel, { since: "oldest" }).getReader();
    await publisher.publish(channel, "live");
    const got = await readUntil(beyond, (f) => events(f).includes("live"), 10_000, "the live event");
    assert.deepEqual(got.map((f) => f.type === "event" ? f.message : `<${f.reason}>`), ["<gap>", "m5", "m6", "m7", "m8", "m9", "live"]);
    assert.deepEqual(events(await readEvents(oldest, 6, 10_000)), ["m5", "m6", "m7", "m8", "m9", "live"], "oldest: no resync");
    await sleep(200);
    await publisher.publish(channel, "next");
    assert.deepEqual((await readEvents(beyond, 1)).map((f) => f.type === "event" ? f.message : f.reason), ["next"], "one resync only");
  });

  it("a link that reconnects after its resume position was deleted: exactly one resync frame (gap), then the oldest kept", async () => {
    const channel = uniqueChannel("resume-deleted");
    const [subscriber] = await connect(1);
    const [publisher] = await connect(1, `kafka://${direct}`); // never cut
    const reader = subscriber.subscribe(channel).getReader();
    await subscriber.ready();
    await publisher.publish(channel, "m0");
    assert.deepEqual(events(await readEvents(reader, 1, 10_000)), ["m0"]);
    await proxy.cut();
    await reachState(subscriber, "down", 10_000);
    for (let n = 1; n <= 10; n++) await publisher.publish(channel, `m${n}`);
    await deleteBefore(channel, 6);
    await proxy.restore();
    await reachState(subscriber, "up", 30_000);
    await publisher.publish(channel, "after");
    const frames = await readUntil(reader, (f) => events(f).includes("after"), 15_000, "what is kept and one after");
    assert.deepEqual(frames.map((f) => f.type === "event" ? f.message : `<${f.reason}>`), ["<gap>", "m6", "m7", "m8", "m9", "m10", "after"]);
    await sleep(300);
    await publisher.publish(channel, "last");
    assert.deepEqual(frames.concat(await readEvents(reader, 1)).filter((f) => f.type === "resync").length, 1, "one resync frame");
  });

  it("within retention, a link that reconnects fills its gap: no resync frame, nothing twice", async () => {
    const channel = uniqueChannel("resume");
    const [subscriber] = await connect(1);
    const [publisher] = await connect(1, `kafka://${direct}`);
    const reader = subscriber.subscribe(channel).getReader();
    await subscriber.ready();
    await publisher.publish(channel, "before");
    await readEvents(reader, 1, 10_000);
    await proxy.cut();
    await reachState(subscriber, "down", 10_000);
    for (let n = 0; n < 20; n++) await publisher.publish(channel, `gap${n}`);
    await proxy.restore();
    await reachState(subscriber, "up", 30_000);
    await publisher.publish(channel, "after");
    const frames = await readUntil(reader, (f) => events(f).includes("after"), 15_000, "the gap's events and one after");
    await sleep(300);
    assert.deepEqual(frames.map((f) => f.type === "event" ? f.message : `<${f.reason}>`), [...Array.from({ length: 20 }, (_, n) => `gap${n}`), "after"]);
    assert.equal(resyncs(frames).length, 0);
  });

  // The replaced-history column, on the same broker and proxy.
  runReplaced({
    name: "kafka://",
    options: OUTAGE,
    uri: () => history(`kafka://${direct}`),
    cases: {
      "the topic deleted and recreated while the subscriber is cut off": {
        replace: recreate,
        away: { uri: () => history(uri), break: () => proxy.cut(), restore: () => proxy.restore() },
      },
      "the topic deleted and recreated across a broker restart": {
        replace: async (channel) => {
          await broker.stop();
          await broker.start();
          await recreate(channel);
        },
      },
      "the topic deleted and recreated under links that stay up": { replace: recreate },
    },
  });

  // Inside this suite, on its broker and proxy: a broker of its own would cost another JVM start.
  runGapless({
    name: "kafka://",
    options: OUTAGE,
    uri: (history) => `${uri}?history=${history}`,
    outages: {
      ...proxyOutages(() => proxy, () => history(uri)),
      "the broker stopped and started again": {
        uri: () => history(uri),
        break: async () => {
          await broker.stop();
        },
        restore: () => broker.start(),
      },
    },
    retention: {
      slow: { history: "1000" },
      byCount: { cannot: KEPT_BY_KAFKA },
      byAge: { cannot: KEPT_BY_KAFKA },
    },
  });
});

/** Reads `count` frames from a link's readable, batch by batch. */
async function readBatches(link: Link, count: number): Promise<Frame[]> {
  const reader = link.readable.getReader();
  const frames: Frame[] = [];
  try {
    while (frames.length < count) {
      const { value, done } = await within(reader.read(), 10_000, `${count} frames from the link`);
      if (done) break;
      frames.push(...value);
    }
  } finally {
    reader.releaseLock();
  }
  return frames;
}

/** The ids of a page that `read` answered. */
function ids(page: EventFrame[] | "gap"): string[] {
  assert.notEqual(page, "gap");
  return (page as EventFrame[]).map((frame) => frame.id!);
}
