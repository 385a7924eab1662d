/**
 * History mode on the Redis backbone (Redis streams), link by link against
 * the Redis at 127.0.0.1:6379: ids and their order, where a subscription
 * starts, paging, gaps, refusals, prompt channel changes, liveness through a
 * stalled proxy, the wire format redis-cli sees, the gapless column, and
 * epochs: the replaced-history column (a stream deleted and recreated, a
 * redis-server restarted without persistence), positions without an epoch,
 * streams written by redis-cli.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { after, before, describe, it } from "node:test";
import { AuthenticationError, Broadcast, type BroadcastOptions, ChannelError } from "../../mod.ts";
import { redis } from "../../backends/redis/mod.ts";
import { type EventFrame, eventFrame, type Frame } from "../../lib/contract/frame.ts";
import { comparePositions, epochOf, placeOf } from "../../lib/contract/position.ts";
import type { HistoryOptions, Link } from "../../lib/contract/link.ts";
import { proxyOutages, runGapless } from "../fixtures/gapless.ts";
import { runReplaced } from "../fixtures/replaced.ts";
import { TcpProxy } from "../fixtures/proxy.ts";
import { admin, type Admin, RedisServer, redisCli } from "../fixtures/redis.ts";
import { slotKey } from "../../backends/redis/keys.ts";
import { epochKey } from "../../backends/redis/stream_replies.ts";
import { connectorContext, readEvents, sleep, uniqueChannel, within } from "../fixtures/support.ts";

const REDIS = { host: "127.0.0.1", port: 6379 };

const unhandled: unknown[] = [];
process.on("unhandledRejection", (reason) => unhandled.push(reason));

interface Opened {
  link: Link;
  frames: ReadableStreamDefaultReader<Frame[]>;
  dropped: ReturnType<typeof connectorContext>["dropped"];
  publish(channel: string, ...messages: string[]): Promise<void>;
  write(batch: EventFrame[]): Promise<void>;
  close(): Promise<void>;
}

async function open(
  history: HistoryOptions = { messages: 100 },
  uri = `redis://${REDIS.host}:${REDIS.port}`,
  settings: Record<string, unknown> = {},
): Promise<Opened> {
  const { context, dropped } = connectorContext(settings);
  const connector = redis(new URL(uri), { ...context, history });
  const link = await connector.open(AbortSignal.timeout(5_000));
  const writer = link.writable.getWriter();
  return {
    link,
    frames: link.readable.getReader(),
    dropped,
    publish: (channel, ...messages) => writer.write(messages.map((m) => eventFrame(channel, m))),
    write: (batch) => writer.write(batch),
    close: () => link.close(),
  };
}

/** Reads batches until `count` frames arrived; fails after `ms`. */
async function take(reader: ReadableStreamDefaultReader<Frame[]>, count: number, ms = 5_000): Promise<Frame[]> {
  const frames: Frame[] = [];
  const deadline = Date.now() + ms;
  while (frames.length < count) {
    const { value, done } = await within(reader.read(), Math.max(1, deadline - Date.now()), `${count} frames, got ${show(frames)}`);
    if (done) throw new Error(`The stream ended after ${show(frames)}`);
    frames.push(...value);
  }
  return frames;
}

function show(frames: Frame[]): string {
  return JSON.stringify(frames.map((f) => f.type === "event" ? f.message : `<${f.type}:${f.reason}>`));
}

function messages(frames: Frame[]): string[] {
  return frames.map((f) => f.type === "event" ? f.message : `<${f.type}:${f.reason}>`);
}

/** The stream's IDs, oldest first, as redis-cli reads them. */
async function ids(direct: Admin, channel: string): Promise<string[]> {
  const entries = await direct.send<[string, string[]][]>(["XRANGE", channel, "-", "+"]);
  return entries.map(([id]) => id);
}

async function xadd(direct: Admin, channel: string, count: number, prefix = "m"): Promise<string[]> {
  const added: string[] = [];
  for (let n = 0; n < count; n++) added.push(await direct.send<string>(["XADD", channel, "*", "message", `${prefix}${n}`]));
  return added;
}

describe("redis:// history mode, link by link", () => {
  let direct: Admin;
  const keys: string[] = [];
  const channel = (prefix: string) => {
    const name = uniqueChannel(prefix);
    keys.push(name);
    return name;
  };
  before(async () => {
    direct = await admin(REDIS.port);
  });
  after(async () => {
    if (keys.length > 0) await direct.send(["DEL", ...keys]);
    await direct.close();
  });

  it("every event carries its stream ID, in publish order, and the stream holds the payload in the field message", async () => {
    const o = await open();
    try {
      const ch = channel("ids");
      assert.equal(await o.link.subscribe(ch, "new"), "0-0", "a stream that does not exist yet starts after 0-0");
      await o.publish(ch, "a", "b", "c");
      await o.publish(ch, "d");
      const frames = await take(o.frames, 4) as EventFrame[];
      assert.deepEqual(messages(frames), ["a", "b", "c", "d"]);
      assert.deepEqual(frames.map((f) => placeOf(f.id!)), await ids(direct, ch));
      assert.equal(new Set(frames.map((f) => epochOf(f.id!))).size, 1, "one epoch, the stream's");
      for (let i = 1; i < frames.length; i++) assert.ok(comparePositions(frames[i - 1].id!, frames[i].id!) < 0);
      assert.match(await redisCli(["XRANGE", ch, "-", "+"]), /message\na\n/);
    } finally {
      await o.close();
    }
  });

  it("subscribe new resolves with the last ID now and delivers only what comes after it", async () => {
    const o = await open();
    try {
      const ch = channel("new");
      const before = await xadd(direct, ch, 3);
      assert.equal(await o.link.subscribe(ch), before[2], "new is the default start");
      const later = await xadd(direct, ch, 1, "later");
      const frames = await take(o.frames, 1) as EventFrame[];
      assert.deepEqual(frames.map((f) => [f.message, f.id]), [["later0", later[0]]]);
    } finally {
      await o.close();
    }
  });

  it("subscribe oldest delivers every kept event; subscribe after a position delivers what follows it", async () => {
    const o = await open();
    try {
      const [a, b] = [channel("oldest"), channel("after")];
      await xadd(direct, a, 3);
      const added = await xadd(direct, b, 5);
      assert.equal(await o.link.subscribe(a, "oldest"), "0-0");
      assert.equal(await o.link.subscribe(b, { after: added[2] }), added[2]);
      const frames = await take(o.frames, 5);
      assert.deepEqual(messages(frames.filter((f) => f.channel === a)), ["m0", "m1", "m2"]);
      assert.deepEqual(messages(frames.filter((f) => f.channel === b)), ["m3", "m4"]);
    } finally {
      await o.close();
    }
  });

  it("read pages through what is kept, up to and including upTo, and says gap once events after a position were trimmed", async () => {
    const o = await open();
    try {
      const ch = channel("read");
      const added = await xadd(direct, ch, 10);
      const page1 = await o.link.read!(ch, undefined, added[9], 4) as EventFrame[];
      assert.deepEqual(page1.map((f) => f.id), added.slice(0, 4));
      const page2 = await o.link.read!(ch, added[3], added[9], 4) as EventFrame[];
      assert.deepEqual(messages(page2), ["m4", "m5", "m6", "m7"]);
      const last = await o.link.read!(ch, added[7], added[8], 10) as EventFrame[];
      assert.deepEqual(messages(last), ["m8"], "upTo is included, nothing after it");
      await direct.send(["XTRIM", ch, "MAXLEN", "5"]);
      assert.equal(await o.link.read!(ch, added[1], added[9], 10), "gap");
      assert.deepEqual(messages(await o.link.read!(ch, added[5], added[9], 10) as Frame[]), ["m6", "m7", "m8", "m9"]);
      assert.deepEqual(messages(await o.link.read!(ch, undefined, added[9], 2) as Frame[]), ["m5", "m6"], "from the oldest kept");
      const missing = channel("missing");
      assert.deepEqual(await o.link.read!(missing, undefined, "99999999999999-0", 10), []);
      assert.equal(await o.link.read!(missing, "5-0", "99999999999999-0", 10), "gap", "a stream that is gone lost what followed 5-0");
    } finally {
      await o.close();
    }
  });

  it("subscribing after a trimmed position gives exactly one resync gap frame, then the oldest kept", async () => {
    const o = await open();
    try {
      const ch = channel("gap");
      const added = await xadd(direct, ch, 10);
      await direct.send(["XTRIM", ch, "MAXLEN", "5"]);
      const position = String(await o.link.subscribe(ch, { after: added[1] }));
      assert.ok(comparePositions(added[4], position) <= 0 && comparePositions(position, added[5]) < 0, "it starts right before the oldest kept");
      await o.publish(ch, "fresh");
      const frames = await take(o.frames, 7);
      assert.deepEqual(messages(frames), ["<resync:gap>", "m5", "m6", "m7", "m8", "m9", "fresh"]);
    } finally {
      await o.close();
    }
  });

  it("a position whose own entry was trimmed, with everything after it kept, is no gap", async () => {
    const o = await open();
    try {
      const ch = channel("own-trimmed");
      await o.link.subscribe(ch);
      await o.write([{ ...eventFrame(ch, "quiet"), origin: "pub-q:1" }]);
      const [quiet] = await take(o.frames, 1);
      const position = quiet.type === "event" ? quiet.id! : "";
      await direct.send(["XTRIM", ch, "MAXLEN", "0"]); // "quiet" ages out
      await o.write([{ ...eventFrame(ch, "next"), origin: "pub-q:2" }]);
      await take(o.frames, 1);
      const other = await open();
      try {
        await other.link.subscribe(ch, { after: position }); // a client that had "quiet" comes back
        assert.deepEqual(messages(await take(other.frames, 1)), ["next"], "what came after it, and no resync");
      } finally {
        await other.close();
      }
    } finally {
      await o.close();
    }
  });

  it("a position of another epoch is a gap, for subscribe and read alike, as one beyond retention", async () => {
    const ch = channel("epoch");
    keys.push(`streamcast:epoch:{${ch}}`);
    const o = await open();
    try {
      await o.link.subscribe(ch);
      await o.write(["a", "b", "c"].map((m, n) => ({ ...eventFrame(ch, m), origin: `pub-e:${n + 1}` })));
      const seen = await take(o.frames, 3) as EventFrame[];
      const epoch = epochOf(seen[0].id!)!;
      assert.ok(epoch, `ids carry the stream's epoch: ${seen[0].id}`);
      const stranger = `${epoch === "z" ? "y" : "z"}:${placeOf(seen[0].id!)}`; // that place, in a log of another epoch
      assert.equal(await o.link.read!(ch, stranger, seen[2].id!, 10), "gap");
      assert.deepEqual(messages(await o.link.read!(ch, seen[0].id!, seen[2].id!, 10) as Frame[]), ["b", "c"]);
      assert.deepEqual(messages(await o.link.read!(ch, placeOf(seen[0].id!), seen[2].id!, 10) as Frame[]), ["b", "c"], "a place without an epoch");
      const other = await open();
      try {
        assert.equal(await other.link.subscribe(ch, { after: stranger }), `${epoch}:0-0`, "from the oldest of this epoch's log");
        assert.deepEqual(messages(await take(other.frames, 4)), ["<resync:gap>", "a", "b", "c"]);
      } finally {
        await other.close();
      }
    } finally {
      await o.close();
    }
  });

  it("a reader overtaken by trimming while live gets one resync gap frame, then the oldest kept", async () => {
    const o = await open({ messages: 5 });
    try {
      const ch = channel("live-gap");
      await o.link.subscribe(ch);
      await o.publish(ch, "first");
      assert.deepEqual(messages(await take(o.frames, 1)), ["first"]);
      // In one script: the reader cannot read the twenty before only five remain.
      await direct.send(["EVAL", BURST, "1", ch]);
      const frames = await take(o.frames, 6);
      assert.deepEqual(messages(frames), ["<resync:gap>", "b15", "b16", "b17", "b18", "b19"]);
      await o.publish(ch, "after");
      assert.deepEqual(messages(await take(o.frames, 1)), ["after"], "no second resync");
    } finally {
      await o.close();
    }
  });

  it("a publish Redis refuses for good (WRONGTYPE on a key that is not a stream) is reported as dropped and the write resolves", async () => {
    const o = await open();
    try {
      const [ch, plain] = [channel("fine"), channel("plain")];
      await direct.send(["SET", plain, "not a stream"]);
      await o.link.subscribe(ch);
      const batch = [eventFrame(ch, "first"), eventFrame(plain, "refused"), eventFrame(ch, "last")];
      await within(o.write(batch), 5_000, "the write to resolve");
      assert.deepEqual(o.dropped.map(({ frame, direction }) => [frame, direction]), [[batch[1], "outbound"]]);
      assert.match(String((o.dropped[0].reason as Error).message), /^WRONGTYPE/);
      assert.deepEqual(messages(await take(o.frames, 2)), ["first", "last"]);
    } finally {
      await o.close();
    }
  });

  it("a batch sent again (its acknowledgement lost) is kept once: what a publisher already added is skipped", async () => {
    const o = await open();
    try {
      const ch = channel("again");
      await o.link.subscribe(ch, "oldest");
      const batch = (from: number, to: number) =>
        Array.from({ length: to - from }, (_, i) => ({ ...eventFrame(ch, `m${from + i}`), origin: `pub-a:${from + i + 1}` }));
      await o.write(batch(0, 3));
      await o.write(batch(1, 5)); // m1 and m2 again, with m3 and m4
      await o.write([{ ...eventFrame(ch, "other"), origin: "pub-b:1" }]); // another publisher's first
      assert.deepEqual(messages(await take(o.frames, 6)), ["m0", "m1", "m2", "m3", "m4", "other"]);
      const entries = await direct.send(["XRANGE", ch, "-", "+"]) as unknown[];
      assert.equal(entries.length, 6, "each publish once in the stream");
    } finally {
      await o.close();
    }
  });

  it("after unsubscribe nothing more of that channel arrives", async () => {
    const o = await open();
    try {
      const [gone, kept] = [channel("gone"), channel("kept")];
      await o.link.subscribe(gone);
      await o.link.subscribe(kept);
      await o.publish(gone, "g1");
      assert.deepEqual(messages(await take(o.frames, 1)), ["g1"]);
      await o.link.unsubscribe(gone);
      await o.publish(gone, "g2");
      await o.publish(kept, "k1");
      await sleep(100);
      await o.publish(kept, "k2");
      const frames = await take(o.frames, 2);
      assert.deepEqual(messages(frames), ["k1", "k2"]);
    } finally {
      await o.close();
    }
  });

  it("a channel added while the reader blocks in XREAD is read at once, not after the block runs out", async () => {
    const name = `sc-prompt-${Math.random().toString(36).slice(2, 8)}`;
    const o = await open({ messages: 100 }, undefined, { clientName: name });
    try {
      const [first, second] = [channel("first"), channel("second")];
      await o.link.subscribe(first);
      await sleep(200);
      const list = await direct.send<string>(["CLIENT", "LIST"]);
      const reader = list.split("\n").find((line) => line.includes(`name=${name}:read `)) ?? "";
      assert.match(reader, /cmd=xread/, "the reader is in XREAD");
      assert.match(reader, /flags=\S*b/, "and blocked");
      const started = Date.now();
      await o.link.subscribe(second);
      await xadd(direct, second, 1, "second");
      assert.deepEqual(messages(await take(o.frames, 1)), ["second0"]);
      // The XREAD blocks for 5 s: anything near that is a wait for its end.
      assert.ok(Date.now() - started < 2_000, `took ${Date.now() - started} ms`);
    } finally {
      await o.close();
    }
  });

  it("redis-cli XADD reaches a subscriber, with the ID redis-cli printed", async () => {
    const o = await open();
    try {
      const ch = channel("cli");
      await o.link.subscribe(ch);
      const id = (await redisCli(["XADD", ch, "*", "message", "héllo {\"id\":1}"])).trim();
      assert.deepEqual(await take(o.frames, 1), [{ type: "event", channel: ch, message: "héllo {\"id\":1}", id }]);
    } finally {
      await o.close();
    }
  });

  it("with an age limit, publishers trim what is older than it", async () => {
    const o = await open({ messages: 100, maxAge: 200 });
    try {
      const ch = channel("age");
      // Trimming by age is approximate: it drops whole nodes of 100 entries, so publish a few nodes' worth.
      await o.publish(ch, ...Array.from({ length: 300 }, (_, n) => `old${n}`));
      await sleep(1_100); // trimming by age is asked at most once a second per channel
      await o.publish(ch, "new");
      const kept = await direct.send<[string, string[]][]>(["XRANGE", ch, "-", "+"]);
      assert.ok(kept.length <= 101, `${kept.length} entries kept`);
      assert.equal(kept.at(-1)![1][1], "new");
    } finally {
      await o.close();
    }
  });

  it("losing the reader connection errors the readable and fails writes", async () => {
    const name = `sc-lose-${Math.random().toString(36).slice(2, 8)}`;
    const o = await open({ messages: 100 }, undefined, { clientName: name });
    const ch = channel("lose");
    await o.link.subscribe(ch);
    assert.equal(await direct.kill(`${name}:read`), 1);
    await assert.rejects(within(o.frames.read(), 5_000, "the readable to error"), /Lost the reader connection/);
    await assert.rejects(o.publish(ch, "after"), /Lost the reader connection/);
    await assert.rejects(o.link.subscribe(channel("late")));
    await o.close();
  });
});

describe("redis:// history mode from one link to the next", () => {
  it("a new link subscribed after the last ID it saw gets exactly what it missed, in order, with no resync", async () => {
    const ch = uniqueChannel("next-link");
    const direct = await admin(REDIS.port);
    const first = await open();
    try {
      await first.link.subscribe(ch);
      await first.publish(ch, "a", "b");
      const seen = await take(first.frames, 2) as EventFrame[];
      await first.close();
      await xadd(direct, ch, 3, "missed");
      const second = await open();
      try {
        assert.equal(await second.link.subscribe(ch, { after: seen[1].id! }), seen[1].id);
        await second.publish(ch, "c");
        assert.deepEqual(messages(await take(second.frames, 4)), ["missed0", "missed1", "missed2", "c"]);
      } finally {
        await second.close();
      }
    } finally {
      await first.close();
      await direct.send(["DEL", ch]);
      await direct.close();
    }
  });

  it("through a redis-server killed and restarted with an fsync'd append-only file: the missed events, no resync; over RESP2", async () => {
    const dir = await mkdtemp(join(tmpdir(), "streamcast-aof-"));
    const server = await RedisServer.start(["--appendonly", "yes", "--appendfsync", "always", "--dir", dir]);
    const uri = `redis://127.0.0.1:${server.port}`;
    try {
      const ch = uniqueChannel("restart");
      const first = await open({ messages: 100 }, uri, { resp: 2 });
      await first.link.subscribe(ch);
      await first.publish(ch, "a", "b");
      const seen = await take(first.frames, 2) as EventFrame[];
      await server.kill();
      await assert.rejects(within(first.frames.read(), 5_000, "the readable to error"), /Lost the (reader|writer) connection/);
      await first.close();
      await server.restart();
      const direct = await admin(server.port);
      await xadd(direct, ch, 2, "after");
      await direct.close();
      const second = await open({ messages: 100 }, uri, { resp: 2 });
      try {
        assert.equal(await second.link.subscribe(ch, { after: seen[1].id! }), seen[1].id);
        assert.deepEqual(messages(await take(second.frames, 2)), ["after0", "after1"]);
        const gone = uniqueChannel("gone");
        assert.equal(await second.link.subscribe(gone, { after: seen[1].id! }), "0-0", "a stream that is gone");
        assert.deepEqual(messages(await take(second.frames, 1)), ["<resync:gap>"]);
      } finally {
        await second.close();
      }
    } finally {
      await server.kill();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("redis:// history mode through a proxy", () => {
  let proxy: TcpProxy;
  before(async () => {
    proxy = new TcpProxy(REDIS);
    await proxy.start();
  });
  after(() => proxy.stop());

  it("ping answers while the reader blocks in XREAD, and never answers once the path stalls", async () => {
    const o = await open({ messages: 100 }, `redis://127.0.0.1:${proxy.port}`);
    try {
      await o.link.subscribe(uniqueChannel("stall"));
      await sleep(200);
      const started = Date.now();
      await within(o.link.ping(), 1_000, "a ping through a blocked reader");
      assert.ok(Date.now() - started < 1_000);
      await proxy.stall();
      // A liveness timeout of 1 s: the probe must still be unanswered then.
      const outcome = await within(o.link.ping().then(() => "answered", () => "failed"), 1_000, "ping").catch(() => "unanswered");
      assert.equal(outcome, "unanswered");
      await within(o.link.close(), 1_000, "close on a stalled path");
    } finally {
      await o.close();
      await proxy.restore();
    }
  });

});

/** Real outages: fast backoff, a probe that finds a stall within a third of a second. */
const GAPLESS: BroadcastOptions = {
  reconnect: { minDelay: 10, maxDelay: 50 },
  liveness: { interval: 100, timeout: 300 },
  connectTimeout: 2_000,
};

describe("redis:// history mode, a Broadcast", () => {
  it("a channel whose key is not a stream fails the broadcast with ChannelError, naming it, instead of reconnecting forever", async () => {
    const ch = uniqueChannel("not-a-stream");
    const direct = await admin(REDIS.port);
    const broadcast = new Broadcast(`redis://${REDIS.host}:${REDIS.port}?history=100`, GAPLESS);
    try {
      await direct.send(["SET", ch, "a string"]);
      const stream = broadcast.subscribe(ch);
      const connecting = broadcast.connect();
      await assert.rejects(within(connecting, 10_000, "connect() to fail"), (error: Error) => error instanceof ChannelError && error.message.includes(ch));
      await assert.rejects(stream.getReader().read(), ChannelError);
      assert.equal(broadcast.state, "failed");
    } finally {
      await broadcast.disconnect();
      await direct.send(["DEL", ch]);
      await direct.close();
    }
  });
});

/** For the gapless column: a redis-server of its own to kill, and a proxy to cut and stall. */
let killable: RedisServer;
let aofDir: string;
const gaplessProxy = new TcpProxy(REDIS);

runGapless({
  name: "redis://",
  options: GAPLESS,
  start: async () => {
    aofDir = await mkdtemp(join(tmpdir(), "streamcast-aof-"));
    // History across a crash needs what Redis acknowledged on disk.
    killable = await RedisServer.start(["--appendonly", "yes", "--appendfsync", "always", "--dir", aofDir]);
    await gaplessProxy.start();
  },
  stop: async () => {
    await killable?.kill();
    await gaplessProxy.stop();
    if (aofDir) await rm(aofDir, { recursive: true, force: true });
  },
  uri: (history) => `redis://${REDIS.host}:${REDIS.port}?history=${history}`,
  outages: {
    "a redis-server killed and restarted": {
      uri: () => `redis://127.0.0.1:${killable.port}?history=1000`,
      break: () => killable.kill(),
      restore: () => killable.restart(),
    },
    ...proxyOutages(() => gaplessProxy, () => `redis://127.0.0.1:${gaplessProxy.port}?history=1000`),
  },
  retention: {
    slow: { history: "1000" },
    // Retention well above the publisher's bursts of 100 (trimming runs as the publishes land,
    // so a reader near the edge of a small history is overtaken for real), and a subscriber
    // buffer that holds all the first reader is sent before it reads.
    byCount: { history: "1000", published: 3_000, options: { subscriberBuffer: 5_000 } },
    byAge: { cannot: "Redis trims by age in whole nodes of 100 entries, at most once a second: checked link by link above" },
  },
});

/** For the replaced-history column: a redis-server of its own without persistence, and a proxy to keep an instance away. */
let ephemeral: RedisServer;
const awayProxy = new TcpProxy(REDIS);

describe("redis:// history mode: epochs", () => {
  let direct: Admin;
  before(async () => {
    direct = await admin(REDIS.port);
    ephemeral = await RedisServer.start(["--appendonly", "no", "--save", ""]);
    await awayProxy.start();
  });
  after(async () => {
    await direct.close();
    await ephemeral.kill();
    await awayProxy.stop();
  });

  runReplaced({
    name: "redis://",
    uri: () => `redis://${REDIS.host}:${REDIS.port}?history=1000`,
    options: GAPLESS,
    cases: {
      "the stream deleted and recreated while the subscriber is away": {
        replace: async (channel) => void await direct.send(["DEL", channel]),
        away: {
          uri: () => `redis://127.0.0.1:${awayProxy.port}?history=1000`,
          break: () => awayProxy.cut(),
          restore: () => awayProxy.restore(),
        },
      },
      // Not here: the stream deleted and recreated under a live XREAD BLOCK. The reader finds it
      // by the first entry's `prev`, but one run of the whole matrix lost the new stream's first
      // event that way (an open bug, written in the README's Redis section).
      "a redis-server restarted without persistence": {
        uri: () => `redis://127.0.0.1:${ephemeral.port}?history=1000`,
        replace: async () => {
          await ephemeral.kill();
          await ephemeral.restart();
        },
      },
    },
  });

  it("a position issued before epochs (no epoch) resumes where it was, and the events after it carry the stream's epoch", async () => {
    const ch = uniqueChannel("bare");
    const uri = `redis://${REDIS.host}:${REDIS.port}?history=100`;
    const publisher = await Broadcast.connect(uri, GAPLESS);
    const resumer = await Broadcast.connect(uri, GAPLESS);
    try {
      const live = publisher.subscribe(ch).getReader();
      await publisher.ready();
      for (const message of ["a", "b", "c"]) await publisher.publish(ch, message);
      const seen = await readEvents(live, 3) as EventFrame[];
      const epoch = epochOf(seen[0].id!);
      assert.ok(epoch !== undefined, `an event's id carries its stream's epoch: ${seen[0].id}`);
      assert.deepEqual(seen.map((f) => epochOf(f.id!)), [epoch, epoch, epoch]);
      const resumed = resumer.subscribe(ch, { since: placeOf(seen[0].id!) });
      const reader = resumed.getReader();
      const got = await readEvents(reader, 2) as EventFrame[];
      await publisher.publish(ch, "d");
      got.push(...await readEvents(reader, 1) as EventFrame[]);
      assert.deepEqual(got.map((f) => [f.message, f.id]), [["b", seen[1].id], ["c", seen[2].id], ["d", got[2].id]]);
      assert.equal(epochOf(got[2].id!), epoch);
      assert.deepEqual(await resumed.recovery, { recovered: true });
    } finally {
      await Promise.all([publisher.disconnect(), resumer.disconnect()]);
      await direct.send(["DEL", ch, epochKey(ch), slotKey("origins", ch)]);
    }
  });

  it("a stream written by redis-cli XADD has no epoch until a streamcast publish gives it one; positions of both kinds resume", async () => {
    const ch = uniqueChannel("cli-epoch");
    const uri = `redis://${REDIS.host}:${REDIS.port}?history=100`;
    const first = (await redisCli(["XADD", ch, "*", "message", "cli1"])).trim();
    const broadcast = await Broadcast.connect(uri, GAPLESS);
    const resumer = await Broadcast.connect(uri, GAPLESS);
    try {
      const reader = broadcast.subscribe(ch, { since: "oldest" }).getReader();
      const [cli1] = await readEvents(reader, 1) as EventFrame[];
      assert.deepEqual([cli1.message, cli1.id], ["cli1", first], "no epoch yet: the id redis-cli printed");
      await broadcast.publish(ch, "sc1");
      const [sc1] = await readEvents(reader, 1) as EventFrame[];
      const epoch = epochOf(sc1.id!);
      assert.ok(epoch !== undefined, `the first streamcast publish gives the stream an epoch: ${sc1.id}`);
      assert.equal((await redisCli(["GET", `streamcast:epoch:{${ch}}`])).trim(), epoch, "kept beside the stream");
      const second = (await redisCli(["XADD", ch, "*", "message", "cli2"])).trim();
      const [cli2] = await readEvents(reader, 1) as EventFrame[];
      assert.equal(cli2.id, `${epoch}:${second}`, "later entries, whoever adds them, are of that epoch");

      for (const [since, expected] of [[cli1.id!, ["sc1", "cli2"]], [sc1.id!, ["cli2"]]] as const) {
        const resumed = resumer.subscribe(ch, { since });
        const got = await readEvents(resumed.getReader(), expected.length) as EventFrame[];
        assert.deepEqual(got.map((f) => f.message), expected, `resumed after ${since}`);
        assert.deepEqual(await resumed.recovery, { recovered: true });
      }
    } finally {
      await Promise.all([broadcast.disconnect(), resumer.disconnect()]);
      await direct.send(["DEL", ch, epochKey(ch), slotKey("origins", ch)]);
    }
  });
});

describe("redis:// history mode with an ACL user without CLIENT UNBLOCK", () => {
  let server: RedisServer;
  before(async () => {
    server = await RedisServer.start();
    const direct = await admin(server.port);
    await direct.send(["ACL", "SETUSER", "nounblock", "on", ">pw", "~*", "&*", "+@all", "-client|unblock"]);
    await direct.close();
  });
  after(() => server.kill());

  it("connect() fails at once, naming the command, instead of a link that flaps on a healthy server", async () => {
    const broadcast = new Broadcast(`redis://nounblock:pw@127.0.0.1:${server.port}?history=100`, GAPLESS);
    try {
      await assert.rejects(within(broadcast.connect(), 10_000, "connect() to fail"), (error: Error) =>
        error instanceof AuthenticationError && /client\|unblock/i.test(error.message) && !error.message.includes("pw"));
    } finally {
      await broadcast.disconnect();
    }
  });
});

describe("redis:// history mode leaves nothing unhandled", () => {
  it("no unhandled rejection in any test above", async () => {
    await sleep(100);
    assert.deepEqual(unhandled, []);
  });
});

// Twenty entries and an exact trim to five, atomically.
const BURST = "for n = 0, 19 do redis.call('XADD', KEYS[1], '*', 'message', 'b' .. n) end redis.call('XTRIM', KEYS[1], 'MAXLEN', 5)";
