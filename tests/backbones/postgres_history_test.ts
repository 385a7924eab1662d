/**
 * The Postgres backbone in history mode (a log table): positions, where a
 * subscription starts, paging through what is kept, retention and its gaps,
 * large payloads, and above all commit order: rows that commit out of
 * position order, from concurrent publishers and a transaction held open,
 * each reach every subscriber exactly once; the log's epoch (a truncated or
 * recreated table is another log, a table from before epochs gets one); then
 * the gapless and the replaced-history columns.
 */
import assert from "node:assert/strict";
import process from "node:process";
import { after, before, describe, it } from "node:test";
import postgres from "postgres";
import type { BroadcastOptions } from "../../mod.ts";
import { postgresBackend } from "../../backends/postgres/mod.ts";
import { channelName } from "../../backends/postgres/channel.ts";
import { eventFrame, type EventFrame, type Frame } from "../../lib/contract/frame.ts";
import { comparePositions, epochOf, placeOf } from "../../lib/contract/position.ts";
import type { HistoryOptions, Link } from "../../lib/contract/link.ts";
import { proxyOutages, runGapless } from "../fixtures/gapless.ts";
import { runReplaced } from "../fixtures/replaced.ts";
import { admin, SERVER, SERVER_URI, sized, terminate } from "../fixtures/postgres.ts";
import { TcpProxy } from "../fixtures/proxy.ts";
import { connectorContext, eventually, sleep, uniqueChannel, within } from "../fixtures/support.ts";

const unhandled: unknown[] = [];
process.on("unhandledRejection", (error) => void unhandled.push(error));

/** A log table of this process's own, dropped at the end. */
const TABLE = `streamcast_log_test_${process.pid}`;
const appName = (what: string) => `streamcast-history-${what}-${process.pid}`;

/** A history-mode link straight from the connector, as the core would open it. */
async function openLink(what: string, history: HistoryOptions = { messages: 100 }): Promise<Link> {
  const { context } = connectorContext({ applicationName: appName(what), historyTable: TABLE });
  const connector = postgresBackend(new URL(SERVER_URI), { ...context, history });
  return await connector.open(AbortSignal.timeout(5_000));
}

/** Reads a link's chunks, flattened, until `done`; fails after `ms`. */
class Frames {
  readonly all: Frame[] = [];
  readonly #reader: ReadableStreamDefaultReader<Frame[]>;

  constructor(link: Link) {
    this.#reader = link.readable.getReader();
  }

  get events(): EventFrame[] {
    return this.all.filter((frame): frame is EventFrame => frame.type === "event");
  }

  async until(done: (frames: Frame[]) => boolean, ms = 5_000, what = "frames"): Promise<Frame[]> {
    const deadline = Date.now() + ms;
    while (!done(this.all)) {
      const left = deadline - Date.now();
      const got = () => `${what}; got ${this.all.length} frames: ${JSON.stringify(this.all.slice(-5))}`;
      if (left <= 0) throw new Error(`Timed out waiting for ${got()}`);
      const ended = await within(this.#next(), left, got());
      if (ended) throw new Error(`Stream ended while waiting for ${got()}`);
    }
    return this.all;
  }

  count(n: number, ms?: number): Promise<Frame[]> {
    return this.until(() => this.events.length >= n, ms, `${n} events`);
  }

  /** Nothing more arrives within `ms`. */
  async quiet(ms: number): Promise<void> {
    const before = this.all.length;
    await Promise.race([this.#next(), sleep(ms)]);
    assert.equal(this.all.length, before, `nothing more arrived; got ${JSON.stringify(this.all.slice(before))}`);
  }

  #reading: Promise<boolean> | undefined;

  /** The one read in flight (its frames land in `all`); resolves with whether the stream ended. */
  #next(): Promise<boolean> {
    this.#reading ??= this.#reader.read().then(({ value, done }) => {
      this.#reading = undefined;
      if (value) this.all.push(...value);
      return done;
    });
    return this.#reading;
  }
}

function publish(link: Link, channel: string, messages: string[]): Promise<void> {
  const writer = link.writable.getWriter();
  return writer.write(messages.map((m) => eventFrame(channel, m))).finally(() => writer.releaseLock());
}

function ascending(ids: string[]): boolean {
  return ids.every((id, i) => i === 0 || comparePositions(ids[i - 1], id) < 0);
}

const range = (prefix: string, n: number, from = 0) => Array.from({ length: n }, (_, i) => `${prefix}${from + i}`);

describe("postgres:// history mode, link by link", () => {
  let sql: postgres.Sql;
  const links: Link[] = [];
  const open = async (what: string, history?: HistoryOptions) => {
    const link = await openLink(what, history);
    links.push(link);
    return link;
  };

  before(() => {
    sql = admin();
  });
  after(async () => {
    await Promise.all(links.map((link) => link.close()));
    await sql.end();
  });

  it("events carry ids in publish order, batch after batch, and the NOTIFY payload is empty", async () => {
    const channel = uniqueChannel("ids");
    const [publisher, subscriber] = [await open("ids"), await open("ids")];
    const frames = new Frames(subscriber);
    const wire: string[] = [];
    const raw = postgres(SERVER_URI, { max: 1, onnotice: () => {} });
    await raw.listen(channelName(channel), (payload) => wire.push(payload));
    try {
      const start = await subscriber.subscribe(channel);
      assert.equal(typeof start, "string");
      await publish(publisher, channel, range("a", 5));
      const writer = publisher.writable.getWriter();
      await writer.write(range("a", 5, 5).map((m, i) => ({ ...eventFrame(channel, m), origin: `pub:${i + 1}` })));
      writer.releaseLock();
      await frames.count(10);
      assert.deepEqual(frames.events.map((e) => e.origin), [...Array(5).fill(undefined), "pub:1", "pub:2", "pub:3", "pub:4", "pub:5"]);
      assert.deepEqual(frames.events.map((e) => e.message), range("a", 10));
      const ids = frames.events.map((e) => e.id!);
      assert.equal(ascending([start as string, ...ids]), true, `ids ascend after the start: ${start} ${ids}`);
      assert.equal(ids.every((id) => /^[0-9a-z]{1,32}:\d+-\d+$/.test(id)), true, `each id carries the log's epoch: ${ids}`);
      assert.equal(new Set([start as string, ...ids].map(epochOf)).size, 1, "one epoch: the table's");
      await eventually(() => wire.length >= 2, 2_000, "the raw listener's notifications");
      await sleep(50);
      assert.deepEqual(wire, ["", ""], "one empty NOTIFY per batch");
    } finally {
      await raw.end();
    }
  });

  it("a batch sent again (its acknowledgement lost) is kept once: a row whose origin is there already is skipped", async () => {
    const channel = uniqueChannel("again");
    const [publisher, subscriber] = [await open("again"), await open("again")];
    const frames = new Frames(subscriber);
    await subscriber.subscribe(channel);
    const batch = (from: number, to: number) =>
      Array.from({ length: to - from }, (_, i) => ({ ...eventFrame(channel, `m${from + i}`), origin: `pub-a:${from + i + 1}` }));
    const writer = publisher.writable.getWriter();
    await writer.write(batch(0, 3));
    await writer.write(batch(1, 5)); // m1 and m2 again, with m3 and m4
    writer.releaseLock();
    await frames.count(5);
    await sleep(100);
    assert.deepEqual(frames.events.map((e) => e.message), ["m0", "m1", "m2", "m3", "m4"]);
  });

  it("a log table from before the origin index gets it, its copies of a publish gone", async () => {
    const table = `streamcast_log_old_${process.pid}`;
    await sql.unsafe(`create table ${table} (seq bigint generated always as identity, xid xid8 not null default pg_current_xact_id(),
      channel text not null, payload text not null, origin text, created_at timestamptz not null default now(), primary key (channel, xid, seq));
      create table ${table}_swept (channel text primary key, xid xid8 not null, seq bigint not null)`);
    await sql.unsafe(`insert into ${table} (channel, payload, origin) values ('c', 'once', 'p:1'), ('c', 'next', 'p:2')`);
    await sql.unsafe(`insert into ${table} (channel, payload, origin) values ('c', 'once', 'p:1')`); // a copy
    const { context } = connectorContext({ applicationName: appName("old"), historyTable: table });
    const link = await postgresBackend(new URL(SERVER_URI), { ...context, history: { messages: 100 } }).open(AbortSignal.timeout(5_000));
    try {
      const frames = new Frames(link);
      await link.subscribe("c", "oldest");
      await frames.count(2);
      await sleep(100);
      assert.deepEqual(frames.events.map((e) => e.message), ["once", "next"]);
      const [{ count }] = await sql.unsafe(`select count(*)::int as count from ${table} where channel = 'c'`);
      assert.equal(count, 2);
    } finally {
      await link.close();
      await dropLog(sql, table);
    }
  });

  it("subscribe starts at new, oldest, or right after a position, and resolves with where it starts", async () => {
    const channel = uniqueChannel("start");
    const publisher = await open("start");
    await publish(publisher, channel, ["a", "b", "c"]);
    const [fresh, oldest, resumed] = [await open("start"), await open("start"), await open("start")];
    const [fromNew, fromOldest, fromAfter] = [new Frames(fresh), new Frames(oldest), new Frames(resumed)];
    await oldest.subscribe(channel, "oldest").then((position) => assert.equal(placeOf(position as string), "0"));
    await fromOldest.count(3);
    const b = fromOldest.events[1].id!;
    assert.equal(await resumed.subscribe(channel, { after: b }), b);
    const now = await fresh.subscribe(channel, "new");
    assert.equal(comparePositions(fromOldest.events[2].id!, now as string) < 0, true, "new starts after what is there");
    await publish(publisher, channel, ["d"]);
    await Promise.all([fromNew.count(1), fromOldest.count(4), fromAfter.count(2)]);
    assert.deepEqual(fromNew.events.map((e) => e.message), ["d"]);
    assert.deepEqual(fromOldest.events.map((e) => e.message), ["a", "b", "c", "d"]);
    assert.deepEqual(fromAfter.events.map((e) => e.message), ["c", "d"]);
    assert.deepEqual(fromAfter.events.map((e) => e.id), fromOldest.events.slice(2).map((e) => e.id), "the same ids everywhere");
    await Promise.all([fromNew.quiet(100), fromOldest.quiet(0), fromAfter.quiet(0)]);
  });

  it("a start position from the future (a forged id) starts at new instead of leaving the channel deaf", async () => {
    const channel = uniqueChannel("future");
    const [publisher, subscriber] = [await open("future"), await open("future")];
    const frames = new Frames(subscriber);
    const start = await subscriber.subscribe(channel, { after: "99999999999999999999-1" });
    assert.equal(comparePositions(start as string, "99999999999999999999-1") < 0, true);
    await publish(publisher, channel, ["heard"]);
    await frames.count(1);
    assert.deepEqual(frames.events.map((e) => e.message), ["heard"]);
  });

  it("read pages through what is kept, up to a position, and says gap for a position no longer kept", async () => {
    const channel = uniqueChannel("read");
    const publisher = await open("read", { messages: 5 });
    const reader = await open("read", { messages: 5 });
    await publish(publisher, channel, range("r", 8));
    // The publisher sweeps right after its first batch, once the write resolved: the newest 5 are kept.
    let kept: EventFrame[] = [];
    for (const deadline = Date.now() + 2_000; kept.length !== 5 && Date.now() < deadline; await sleep(5)) {
      kept = await reader.read!(channel, undefined, "99999999999999999999", 100) as EventFrame[];
    }
    assert.deepEqual(kept.map((e) => e.message), range("r", 5, 3));
    const ids = kept.map((e) => e.id!);
    const first = await reader.read!(channel, undefined, ids[4], 2);
    assert.deepEqual((first as EventFrame[]).map((e) => e.message), ["r3", "r4"]);
    const next = await reader.read!(channel, ids[1], ids[3], 10);
    assert.deepEqual((next as EventFrame[]).map((e) => e.message), ["r5", "r6"], "up to and including upTo");
    assert.deepEqual(await reader.read!(channel, ids[4], ids[4], 10), []);
    const [swept] = await sql.unsafe(`select xid::text || '-' || seq as id from "${TABLE}_swept" where channel = $1`, [channel]);
    assert.equal(comparePositions(swept.id, ids[0]) < 0, true);
    assert.deepEqual(await reader.read!(channel, swept.id, ids[0], 10).then((r) => r !== "gap" && r.length), 1, "right at the swept position: no gap");
    const older = swept.id.replace(/-(\d+)$/, (_: string, seq: string) => `-${Number(seq) - 1}`);
    assert.equal(await reader.read!(channel, older, ids[4], 10), "gap");
    assert.equal(await reader.read!(channel, "0", ids[4], 10), "gap");
  });

  it("a start position that was swept yields exactly one resync (gap), then the oldest kept", async () => {
    const channel = uniqueChannel("swept");
    const publisher = await open("swept", { messages: 5 });
    const early = await open("swept", { messages: 5 });
    const earlyFrames = new Frames(early);
    await early.subscribe(channel, "oldest");
    await publish(publisher, channel, ["s0"]);
    await earlyFrames.count(1);
    const seen = earlyFrames.events[0].id!;
    await early.close();
    for (let i = 1; i < 20; i += 5) await publish(publisher, channel, range("s", 5, i));
    await publish(publisher, channel, ["s21"]);
    const past = async () => {
      const [row] = await sql.unsafe(`select xid::text || '-' || seq as id from "${TABLE}_swept" where channel = $1`, [channel]);
      return row !== undefined && comparePositions(seen, row.id) < 0;
    };
    await eventually(past, 2_000, "the publisher's sweep past s1, a moment after its publish");
    const late = await open("swept", { messages: 5 });
    const frames = new Frames(late);
    const start = await late.subscribe(channel, { after: seen });
    assert.equal(comparePositions(seen, start as string) < 0, true, "it starts further on");
    await frames.until((all) => all.some((f) => f.type === "event" && f.message === "s21"));
    await frames.quiet(100);
    assert.deepEqual(frames.all[0], { type: "resync", channel, reason: "gap" });
    assert.equal(frames.all.filter((f) => f.type === "resync").length, 1);
    const messages = frames.events.map((e) => e.message);
    assert.equal(messages.length >= 5, true, `at least the 5 kept: ${messages}`);
    assert.deepEqual(messages, range("s", messages.length, 22 - messages.length), "the oldest kept on, in order");
  });

  it("a subscriber that falls behind the retention gets one resync (gap) and goes on from the oldest kept", async () => {
    const channel = uniqueChannel("behind");
    const publisher = await open("behind", { messages: 5 });
    const subscriber = await open("behind", { messages: 5 });
    const frames = new Frames(subscriber);
    await subscriber.subscribe(channel);
    // Batches smaller than the retention, one chunk each; not read meanwhile: the link reads a
    // page only while its stream has room (8 chunks), so it falls behind.
    for (let i = 0; i < 120; i += 4) {
      await publish(publisher, channel, range("b", 4, i));
      await sleep(20);
    }
    await frames.until((all) => all.some((f) => f.type === "event" && f.message === "b119"));
    await frames.quiet(100);
    const at = frames.all.findIndex((f) => f.type === "resync");
    assert.equal(frames.all.filter((f) => f.type === "resync").length, 1, "exactly one resync");
    assert.deepEqual(frames.all[at], { type: "resync", channel, reason: "gap" });
    const before = frames.all.slice(0, at).map((f) => f.type === "event" && f.message);
    const after = frames.all.slice(at + 1).map((f) => f.type === "event" && f.message);
    assert.deepEqual(before, range("b", before.length), "a prefix, in order, before the gap");
    assert.equal(before.length >= 32, true, "the 8 chunks the stream held");
    assert.equal(after.length >= 5, true);
    assert.deepEqual(after, range("b", after.length, 120 - after.length), "the oldest kept on, in order");
  });

  it("a 100 kB message round-trips, and a batch of 1.2 M characters arrives whole and in order", async () => {
    const channel = uniqueChannel("large");
    const [publisher, subscriber] = [await open("large"), await open("large")];
    const frames = new Frames(subscriber);
    await subscriber.subscribe(channel);
    const big = sized(100_000, "λ");
    await publish(publisher, channel, ["before", big, "after"]);
    await frames.count(3);
    assert.deepEqual(frames.events.map((e) => e.message), ["before", big, "after"]);
    // Over a mebibyte of characters, a batch is split into INSERTs, still in order.
    const halves = ["y".repeat(600_000), "z".repeat(600_000)];
    await publish(publisher, channel, [...halves, "tail"]);
    await frames.count(6);
    assert.deepEqual(frames.events.slice(3).map((e) => e.message), [...halves, "tail"]);
    assert.equal(ascending(frames.events.map((e) => e.id!)), true);
  });

  it("a new link subscribed after the last id gets exactly what was missed, in order", async () => {
    const channel = uniqueChannel("resume");
    const publisher = await open("resume");
    const first = await open("resume");
    const before = new Frames(first);
    await first.subscribe(channel);
    await publish(publisher, channel, range("m", 3));
    await before.count(3);
    const last = before.events[2].id!;
    await first.close();
    await publish(publisher, channel, range("m", 4, 3));
    const second = await open("resume");
    const frames = new Frames(second);
    assert.equal(await second.subscribe(channel, { after: last }), last);
    await publish(publisher, channel, ["m7"]);
    await frames.count(5);
    await frames.quiet(100);
    assert.deepEqual(frames.all.map((f) => f.type === "event" && f.message), range("m", 5, 3));
  });

  it("rows older than maxAge are deleted by the next publisher", async () => {
    const channel = uniqueChannel("age");
    const history = { messages: 100, maxAge: 200 };
    await publish(await open("age", history), channel, ["old1", "old2"]);
    await sleep(400);
    await publish(await open("age", history), channel, ["young"]);
    const reader = await open("age", history);
    const kept = async () => (await reader.read!(channel, undefined, "99999999999999999999", 10) as EventFrame[]).map((e) => e.message);
    const deadline = Date.now() + 2_000;
    while ((await kept()).length > 1 && Date.now() < deadline) await sleep(20);
    assert.deepEqual(await kept(), ["young"]);
  });

  it("a session terminated by the server errors the link", async () => {
    const link = await open("terminated");
    const frames = new Frames(link);
    await link.subscribe(uniqueChannel("terminated"));
    assert.equal(await terminate(sql, appName("terminated")) >= 1, true);
    await assert.rejects(frames.until(() => false, 5_000), /Lost the Postgres connection|closed the connection/);
    await assert.rejects(link.ping());
  });
});

describe("postgres:// history mode and commit order", () => {
  let sql: postgres.Sql;
  let raw: postgres.Sql;
  const links: Link[] = [];
  const open = async (what: string) => {
    const link = await openLink(what, { messages: 10_000 });
    links.push(link);
    return link;
  };

  before(async () => {
    sql = admin();
    raw = postgres(SERVER_URI, { max: 1, onnotice: () => {}, fetch_types: false });
    await raw`select 1`; // postgres.js 3.4 only reserves a connection it has already opened
  });
  after(async () => {
    await Promise.all(links.map((link) => link.close()));
    await raw.end();
    await sql.end();
  });

  /*
   * Sequence numbers are handed out at INSERT, rows become visible at COMMIT.
   * Here a raw session takes a number, then three publishers write and commit
   * 300 rows with larger numbers while it stays open, then it commits. A
   * reader whose cursor were the largest number it had seen ("seq > cursor")
   * would have moved past the late row before it became visible, and never
   * read it: the test checks that this is so (the negative control), and
   * that every subscriber still gets all 301 rows exactly once.
   */
  it("concurrent publishers and a transaction that commits late: every subscriber gets every row exactly once", async () => {
    const channel = uniqueChannel("commit-order");
    const subscribers = await Promise.all([0, 1, 2].map(() => open("order")));
    const frames = subscribers.map((link) => new Frames(link));
    await Promise.all(subscribers.map((link) => link.subscribe(channel)));
    const publishers = await Promise.all([0, 1, 2].map(() => open("order")));
    const late = await raw.reserve();
    try {
      await late`begin`;
      const [row] = await late.unsafe(`insert into "${TABLE}" (channel, payload) values ($1, 'late') returning seq::text`, [channel]);
      const lateSeq = BigInt(row.seq);
      await Promise.all(publishers.map(async (link, p) => {
        for (let n = 0; n < 100; n += 1 + (n % 3)) {
          await publish(link, channel, range(`p${p}-`, Math.min(1 + (n % 3), 100 - n), n));
        }
      }));
      // What a "seq > cursor" reader would have reached by now: past the late row.
      const [{ naive }] = await sql.unsafe(`select max(seq)::text as naive from "${TABLE}" where channel = $1`, [channel]);
      assert.equal(BigInt(naive) > lateSeq, true, "rows after the late one's number were committed and visible");
      await sleep(100);
      assert.deepEqual(frames.map((f) => f.events.length), [0, 0, 0], "nothing is read past a transaction still open");
      const committed = Date.now();
      await late`commit`;
      await Promise.all(frames.map((f) => f.count(301, 5_000)));
      const delay = Date.now() - committed;
      await Promise.all(frames.map((f) => f.quiet(100)));
      for (const [i, f] of frames.entries()) {
        const messages = f.events.map((e) => e.message);
        assert.equal(messages.length, 301, `subscriber ${i}: exactly 301`);
        assert.equal(new Set(messages).size, 301, `subscriber ${i}: no duplicates`);
        assert.equal(messages[0], "late", "the late row comes first: its transaction started first");
        for (const p of [0, 1, 2]) {
          assert.deepEqual(messages.filter((m) => m.startsWith(`p${p}-`)), range(`p${p}-`, 100), `subscriber ${i}: publisher ${p}'s order`);
        }
        assert.equal(ascending(f.events.map((e) => e.id!)), true);
        assert.deepEqual(f.events.map((e) => e.id), frames[0].events.map((e) => e.id), "every subscriber, the same order");
      }
      // The negative control: past the naive cursor there is nothing late to find.
      const [{ found }] = await sql.unsafe(
        `select count(*)::int as found from "${TABLE}" where channel = $1 and seq > $2 and payload = 'late'`,
        [channel, naive],
      );
      assert.equal(found, 0, "a seq > cursor reader would have lost the late row");
      console.log(`commit-order: all 301 rows at 3 subscribers ${delay} ms after the late commit (no NOTIFY from it)`);
    } finally {
      await late`rollback`.catch(() => {});
      late.release();
    }
  });

  it("a writing transaction left open elsewhere delays delivery until it ends, and loses nothing; a read-only one does not", async () => {
    const channel = uniqueChannel("open-tx");
    const [publisher, subscriber] = [await open("open-tx"), await open("open-tx")];
    const frames = new Frames(subscriber);
    await subscriber.subscribe(channel);
    const other = await raw.reserve();
    try {
      await other`begin`;
      await other`select count(*) from pg_class`; // read-only: no transaction id
      await publish(publisher, channel, ["not held"]);
      await frames.count(1, 500);
      await other`select pg_current_xact_id()`; // now it has one: the horizon stays behind it; it never notifies
      await publish(publisher, channel, ["held"]);
      await frames.quiet(300);
      assert.equal(frames.events.length, 1, "not yet");
      await other`commit`;
      await frames.count(2, 2_000);
      assert.deepEqual(frames.events.map((e) => e.message), ["not held", "held"]);
    } finally {
      await other`rollback`.catch(() => {});
      other.release();
    }
  });
});

/** Timing for real outages, as in the pub/sub tests. */
const OUTAGE: BroadcastOptions = {
  reconnect: { minDelay: 10, maxDelay: 100 },
  liveness: { interval: 100, timeout: 400 },
  connectTimeout: 2_000,
};

/** For the gapless column: an admin session that ends the instances' sessions, and a proxy to cut and stall. */
let gaplessSql: postgres.Sql;
const gaplessProxy = new TcpProxy({ host: SERVER.host, port: SERVER.port });
const GAPLESS_APP = appName("gapless");

runGapless({
  name: "postgres://",
  options: { ...OUTAGE, backendOptions: { applicationName: GAPLESS_APP, historyTable: TABLE } },
  start: async () => {
    gaplessSql = admin();
    await gaplessProxy.start();
  },
  stop: async () => {
    await gaplessProxy.stop();
    await gaplessSql?.end();
  },
  uri: (history) => `${SERVER_URI}?history=${history}`,
  outages: {
    "every session terminated by the server": {
      uri: () => `${SERVER_URI}?history=1000`,
      break: async () => assert.equal(await terminate(gaplessSql, GAPLESS_APP) >= 1, true, "sessions to terminate"),
    },
    ...proxyOutages(() => gaplessProxy, () => `postgres://${SERVER.user}@127.0.0.1:${gaplessProxy.port}/${SERVER.database}?history=1000`),
  },
  retention: {
    slow: { history: "10000" },
    byCount: { history: "50", published: 300 },
    byAge: { history: "1000,100ms", swept: async (channel) => (await gaplessSql.unsafe(`select 1 from "${TABLE}_swept" where channel = $1`, [channel])).length > 0 },
  },
});

/** The tables as the version before epochs made them (the swept table kept if it is there). */
function previousSchema(table: string): string {
  return `create table "${table}" (seq bigint generated always as identity, xid xid8 not null default pg_current_xact_id(),
      channel text not null, payload text not null, origin text, created_at timestamptz not null default now(),
      primary key (channel, xid, seq));
    create unique index "${table}_origin" on "${table}" (channel, origin);
    create table if not exists "${table}_swept" (channel text primary key, xid xid8 not null, seq bigint not null)`;
}

/** Drops a log table of a test's own and its swept table. */
function dropLog(sql: postgres.Sql, table: string): Promise<unknown> {
  return sql.unsafe(`drop table if exists "${table}", "${table}_swept"`);
}

describe("postgres:// history mode, the log's epoch", () => {
  const table = `streamcast_log_epoch_${process.pid}`;
  let sql: postgres.Sql;
  const links: Link[] = [];
  const open = async (what: string, historyTable = table) => {
    const { context } = connectorContext({ applicationName: appName(what), historyTable });
    const link = await postgresBackend(new URL(SERVER_URI), { ...context, history: { messages: 100 } }).open(AbortSignal.timeout(5_000));
    links.push(link);
    return link;
  };

  before(() => {
    sql = admin();
  });
  after(async () => {
    await Promise.all(links.map((link) => link.close()));
    await dropLog(sql, table);
    await dropLog(sql, `${table}_previous`);
    await sql.end();
  });

  it("a position from before epochs (it has none) is read as a place in the log there now", async () => {
    const channel = uniqueChannel("bare");
    const [publisher, first] = [await open("bare"), await open("bare")];
    const seen = new Frames(first);
    await first.subscribe(channel, "oldest");
    await publish(publisher, channel, ["a", "b", "c"]);
    await seen.count(3);
    const [, b, c] = seen.events.map((e) => e.id!);
    const bare = placeOf(b);
    assert.notEqual(bare, b, "ids carry an epoch now");
    const resumed = await open("bare");
    const frames = new Frames(resumed);
    assert.equal(await resumed.subscribe(channel, { after: bare }), b, "it starts at the same place, in this log's epoch");
    await publish(publisher, channel, ["d"]);
    await frames.count(2);
    await frames.quiet(100);
    assert.deepEqual(frames.all.map((f) => f.type === "event" ? f.message : `<${f.reason}>`), ["c", "d"], "no resync frame");
    const read = await resumed.read!(channel, bare, c, 10);
    assert.deepEqual(read !== "gap" && read.map((e) => [e.message, e.id]), [["c", c]]);
  });

  it("a table truncated under a live link is another log: one resync frame (gap), then the new rows; an old position is a gap", async () => {
    const channel = uniqueChannel("truncated");
    const [publisher, subscriber] = [await open("truncated"), await open("truncated")];
    const frames = new Frames(subscriber);
    await subscriber.subscribe(channel);
    await publish(publisher, channel, ["old1", "old2"]);
    await frames.count(2);
    const old = frames.events[1].id!;
    await sql.unsafe(`truncate "${table}"`);
    await publish(publisher, channel, ["new1", "new2"]);
    await frames.count(4);
    await frames.quiet(100);
    assert.deepEqual(frames.all.map((f) => f.type === "event" ? f.message : `<${f.reason}>`), ["old1", "old2", "<gap>", "new1", "new2"]);
    const epochs = frames.events.map((e) => epochOf(e.id!));
    assert.equal(epochs[2] !== undefined && epochs[2] === epochs[3] && epochs[2] !== epochs[0], true, `a new epoch: ${epochs}`);
    const newest = frames.events[3].id!;
    assert.equal(await subscriber.read!(channel, old, newest, 10), "gap", "read after a position of the old log");
    const kept = await subscriber.read!(channel, undefined, newest, 10);
    assert.deepEqual(kept !== "gap" && kept.map((e) => e.message), ["new1", "new2"]);
    const late = await open("truncated");
    const lateFrames = new Frames(late);
    const start = await late.subscribe(channel, { after: old });
    assert.equal(epochOf(start as string), epochs[2], "it starts in the new log");
    await lateFrames.count(2);
    await lateFrames.quiet(100);
    assert.deepEqual(lateFrames.all.map((f) => f.type === "event" ? f.message : `<${f.reason}>`), ["<gap>", "new1", "new2"]);
  });

  it("a table from before epochs gets one, the same for every instance that opens it at once; its old positions still read", async () => {
    const previous = `${table}_previous`;
    await sql.unsafe(previousSchema(previous));
    const rows = await sql.unsafe(`insert into "${previous}" (channel, payload) values ('c', 'one'), ('c', 'two') returning xid::text || '-' || seq as id`);
    const subscribers = await Promise.all([0, 1, 2, 3, 4].map(() => open("previous", previous)));
    const frames = subscribers.map((link) => new Frames(link));
    await Promise.all(subscribers.map((link) => link.subscribe("c", "oldest")));
    await Promise.all(frames.map((f) => f.count(2)));
    const ids = frames.flatMap((f) => f.events.map((e) => e.id!));
    const epochs = new Set(ids.map(epochOf));
    assert.equal(epochs.size, 1, `one epoch: ${ids}`);
    assert.notEqual([...epochs][0], undefined);
    assert.deepEqual(frames[0].events.map((e) => placeOf(e.id!)), rows.map((row) => row.id), "the places it had");
    const read = await subscribers[0].read!("c", rows[0].id, ids[1], 10);
    assert.deepEqual(read !== "gap" && read.map((e) => e.message), ["two"], "a position it issued before reads on");
    await sql.unsafe(`truncate "${previous}"`);
    await publish(subscribers[0], "c", ["three"]);
    await Promise.all(frames.map((f) => f.count(3)));
    for (const f of frames) {
      assert.deepEqual(f.all.map((frame) => frame.type === "event" ? frame.message : `<${frame.reason}>`), ["one", "two", "<gap>", "three"]);
      assert.notEqual(epochOf(f.events[2].id!), [...epochs][0], "a truncate gives it a new epoch");
    }
  });
});

/** For the replaced-history column: an admin session that replaces the log, a proxy to keep an instance away. */
const REPLACED_TABLE = `streamcast_log_replaced_${process.pid}`;
const replacedProxy = new TcpProxy({ host: SERVER.host, port: SERVER.port });
let replacedSql: postgres.Sql;
const replacedAway = {
  uri: () => `postgres://${SERVER.user}@127.0.0.1:${replacedProxy.port}/${SERVER.database}?history=1000`,
  break: () => replacedProxy.cut(),
  restore: () => replacedProxy.restore(),
};

describe("postgres:// history mode, a log made again", () => {
  before(async () => {
    replacedSql = admin();
    await replacedProxy.start();
  });
  after(async () => {
    await replacedProxy.stop();
    await dropLog(replacedSql, REPLACED_TABLE);
    await replacedSql.end();
  });

  runReplaced({
    name: "postgres://",
    uri: () => `${SERVER_URI}?history=1000`,
    options: { ...OUTAGE, backendOptions: { applicationName: appName("replaced"), historyTable: REPLACED_TABLE } },
    cases: {
      "the log table truncated": {
        replace: async () => void await replacedSql.unsafe(`truncate "${REPLACED_TABLE}"`),
        away: replacedAway,
      },
      "the log table dropped, and made again by streamcast": {
        replace: async () => void await replacedSql.unsafe(`drop table "${REPLACED_TABLE}"`),
        away: replacedAway,
      },
      "the log table dropped, and made again by an operator with the schema from before epochs": {
        replace: async () => void await replacedSql.unsafe(`drop table "${REPLACED_TABLE}"; ${previousSchema(REPLACED_TABLE)}`),
        away: replacedAway,
      },
    },
  });
});

describe("postgres:// leaves nothing behind in history mode", () => {
  it("no unhandled rejection happened in this process", () => {
    assert.deepEqual(unhandled, []);
  });

  after(async () => {
    const sql = admin();
    await dropLog(sql, TABLE);
    await sql.end();
  });
});
