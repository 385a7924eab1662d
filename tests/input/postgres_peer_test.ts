/**
 * The Postgres backbone against hostile peers: any session with LISTEN/NOTIFY
 * rights on the database can NOTIFY streamcast's channels. It can inject
 * messages (nothing can stop that), but a forged, malformed or foreign
 * large-message reference is dropped and reported, never costs the link, and
 * never delivers another channel's stored message.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import process from "node:process";
import { after, before, describe, it } from "node:test";
import postgres from "postgres";
import { Broadcast, type BroadcastOptions, type Frame } from "../../mod.ts";
import { admin, SERVER_URI, sized } from "../fixtures/postgres.ts";
import { droppedEvents, eventually, events, readUntil, resyncs, sleep, uniqueChannel } from "../fixtures/support.ts";

const unhandled: unknown[] = [];
process.on("unhandledRejection", (error) => void unhandled.push(error));

const PREFIX = "\u001fstreamcast:large:v1:";

function options(what: string, backendOptions: Record<string, unknown> = {}): BroadcastOptions {
  return {
    reconnect: { minDelay: 10, maxDelay: 100 },
    resyncSettle: 200,
    liveness: { interval: 100, timeout: 2_000 },
    backendOptions: { applicationName: `streamcast-test-hostile-${what}-${process.pid}`, ...backendOptions },
  };
}

/** Everything that tells of a lost link: state changes and resync events. */
function disturbances(broadcast: Broadcast): string[] {
  const seen: string[] = [];
  broadcast.addEventListener("statechange", () => seen.push(`state ${broadcast.state}`));
  broadcast.addEventListener("resync", () => seen.push("resync"));
  return seen;
}

/** Reads until `message` arrives; resolves with every frame read. */
function readUntilMessage(reader: ReadableStreamDefaultReader<Frame>, message: string): Promise<Frame[]> {
  return readUntil(reader, (frames) => events(frames).includes(message), 10_000, JSON.stringify(message.slice(0, 40)));
}

/** Nothing more arrives on `reader` for a moment (a fixed pause: only a bound on absence). */
async function nothingMore(reader: ReadableStreamDefaultReader<Frame>): Promise<void> {
  const next = reader.read();
  const got = await Promise.race([next, sleep(300).then(() => "nothing" as const)]);
  assert.equal(got, "nothing", `unexpected ${JSON.stringify(got)}`);
}

describe("postgres:// NOTIFY from a hostile peer", () => {
  let raw: postgres.Sql;
  const group: Broadcast[] = [];
  before(async () => {
    raw = admin();
  });
  after(async () => {
    await Promise.all(group.map((b) => b.disconnect()));
    await raw?.end();
  });

  it("forged, malformed and foreign references are dropped and reported; the link stays up and later messages arrive", async () => {
    const [subscriber, publisher] = await Promise.all([0, 1].map(() => Broadcast.connect(SERVER_URI, options("forge"))));
    group.push(subscriber, publisher);
    const mine = uniqueChannel("forged");
    const theirs = uniqueChannel("theirs");
    const dropped = droppedEvents(subscriber);
    const disturbed = disturbances(subscriber);
    const onMine = subscriber.subscribe(mine).getReader();
    const onTheirs = subscriber.subscribe(theirs).getReader();
    await subscriber.ready();

    // A real reference to a row stored for the other channel, seen on the wire.
    const wire: string[] = [];
    const listening = await raw.listen(theirs, (payload) => wire.push(payload));
    const secret = sized(9_000, "secret of theirs ");
    await publisher.publish(theirs, secret);
    await eventually(() => wire.length === 1, 5_000, "the reference on the wire");
    await listening.unlisten();
    assert.deepEqual(events(await readUntilMessage(onTheirs, secret)), [secret], "the real large message, once");

    const forged = [
      `${PREFIX}${randomUUID()}`, // no such row
      `${PREFIX}not-a-uuid`,
      `${PREFIX}${randomUUID().toUpperCase()}`,
      `\u001fstreamcast:large:v2:${randomUUID()}`,
      "\u001fstreamcast:",
      wire[0], // the other channel's row
    ];
    for (const payload of forged) await raw`select pg_notify(${mine}, ${payload})`;
    await eventually(() => dropped.length >= forged.length || disturbed.length > 0, 5_000, `${forged.length} dropped events`);
    assert.deepEqual(disturbed, [], "no state change, no resync");

    const large = sized(12_000, "later ");
    await publisher.publish(mine, "later");
    await publisher.publish(mine, large);
    const frames = await readUntilMessage(onMine, large);
    assert.deepEqual(events(frames), ["later", large], "nothing forged delivered, the real ones once");
    assert.deepEqual(resyncs(frames), []);
    await nothingMore(onTheirs);

    assert.deepEqual(disturbed, [], "no state change, no resync");
    assert.equal(subscriber.stats.reconnects, 0);
    assert.equal(subscriber.stats.dropped, forged.length);
    assert.deepEqual(dropped.map((d) => [d.channel, d.direction, d.source]), forged.map(() => [mine, "inbound", "backbone"]));
    assert.deepEqual(dropped.map((d) => d.frame.message), forged);
    const reasons = dropped.map((d) => String(d.reason));
    assert.match(reasons[0], /No stored large message/);
    for (const reason of reasons.slice(1, 5)) assert.match(reason, /Invalid large-message reference: Expected/);
    assert.match(reasons[5], /belongs to another channel/);
    assert.equal(reasons.some((reason) => reason.includes("secret of theirs")), false, "the other channel's message is never read out");
  });

  it("a flood of 200,000 forged references in one statement neither starves the liveness probe nor costs the link", async () => {
    const flood = 200_000;
    // Lookups of this many references queued ahead of the probe take far longer than its 2 s
    // (seconds of work), and a 2 s timeout still holds on a loaded CI machine.
    const subscriber = await Broadcast.connect(SERVER_URI, { ...options("flood"), liveness: { interval: 100, timeout: 2_000 } });
    group.push(subscriber);
    const channel = uniqueChannel("flood");
    let drops = 0;
    subscriber.addEventListener("dropped", () => drops++);
    const disturbed = disturbances(subscriber);
    const reader = subscriber.subscribe(channel).getReader();
    await subscriber.ready();
    await raw`select pg_notify(${channel}, ${PREFIX} || gen_random_uuid()) from generate_series(1, ${flood})`;
    await raw`select pg_notify(${channel}, 'plain after')`;
    // A resync (the link taken for dead) ends the wait at once: the assertion below says what came.
    const until = (frames: Frame[]) => events(frames).includes("plain after") || resyncs(frames).length > 0;
    assert.deepEqual(await readUntil(reader, until, 120_000, "the message after"), [{ type: "event", channel, message: "plain after" }]);
    assert.equal(drops, flood);
    assert.deepEqual(disturbed, []);
  });

  it("a reference that arrives before the payload table exists is dropped, not a reconnect", async () => {
    const table = `streamcast_never_${Date.now().toString(36)}`;
    const subscriber = await Broadcast.connect(SERVER_URI, options("no-table", { largePayloadTable: table }));
    group.push(subscriber);
    const channel = uniqueChannel("no-table");
    const dropped = droppedEvents(subscriber);
    const disturbed = disturbances(subscriber);
    const reader = subscriber.subscribe(channel).getReader();
    await subscriber.ready();
    await raw`select pg_notify(${channel}, ${`${PREFIX}${randomUUID()}`})`;
    await raw`select pg_notify(${channel}, 'plain after')`;
    assert.deepEqual(events(await readUntilMessage(reader, "plain after")), ["plain after"]);
    await eventually(() => dropped.length === 1, 5_000, "the dropped event");
    assert.match(String(dropped[0].reason), /No stored large message/);
    assert.deepEqual(disturbed, []);
    assert.equal(subscriber.stats.reconnects, 0);
  });

  it("a payload that starts with U+001F but not with streamcast's prefix, or of the NOTIFY limit, is an ordinary message", async () => {
    const subscriber = await Broadcast.connect(SERVER_URI, options("unit-separator"));
    group.push(subscriber);
    const channel = uniqueChannel("unit-separator");
    const dropped = droppedEvents(subscriber);
    const reader = subscriber.subscribe(channel).getReader();
    await subscriber.ready();
    const sent = ["\u001f", "\u001fhello", "\u001fstreamcast", "\u001fStreamcast:large:v1:x", sized(7_999, "\u001f"), sized(7_999)];
    for (const payload of sent) await raw`select pg_notify(${channel}, ${payload})`;
    assert.deepEqual(events(await readUntilMessage(reader, sent.at(-1)!)), sent);
    assert.deepEqual(dropped, []);
  });
});

describe("postgres:// channel names that text cannot hold", () => {
  it("messages of every size arrive on a channel with U+0000 or 10,000 characters", async () => {
    const [subscriber, publisher] = await Promise.all([0, 1].map(() => Broadcast.connect(SERVER_URI, options("names"))));
    try {
      const dropped = [...droppedEvents(subscriber), ...droppedEvents(publisher)];
      // A lone surrogate is refused on every backbone (tests/input/refusals_test.ts).
      const names = [`nul\0inside ${uniqueChannel()}`, `${"long/".repeat(2_000)}${uniqueChannel()}`];
      const readers = names.map((name) => subscriber.subscribe(name).getReader());
      await subscriber.ready();
      for (const [i, name] of names.entries()) {
        const messages = [`small ${i}`, sized(8_000, `large ${i} `), `small again ${i}`];
        for (const message of messages) await publisher.publish(name, message);
        const frames = await readUntilMessage(readers[i], messages[2]);
        const brief = (channel: string, message: string) => `${channel === name ? "its channel" : channel}: ${message.slice(0, 16)}`;
        assert.deepEqual(
          frames.map((f) => f.type === "event" ? brief(f.channel, f.message) : f.type),
          messages.map((m) => brief(name, m)),
        );
      }
      assert.deepEqual(dropped, []);
      assert.equal(publisher.stats.dropped + subscriber.stats.dropped, 0);
    } finally {
      await Promise.all([subscriber.disconnect(), publisher.disconnect()]);
    }
  });
});

describe("postgres:// leaves nothing behind (hostile peers)", () => {
  it("no unhandled rejection happened in this process", () => {
    assert.deepEqual(unhandled, []);
  });
});
