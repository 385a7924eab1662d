/**
 * History mode against pub/sub mode on the same backbone, and against the raw
 * client doing the same work, in one run.
 *
 *   tsx bench/history.ts [--backbone redis|postgres|all] [--messages 50000] [--runs 5]
 *                        [--rate 2000] [--seconds 3] [--json]
 *
 * Three sides per backbone, runs alternating so that all see the same machine:
 * - `pub/sub`: streamcast in its default mode (PUBLISH; NOTIFY);
 * - `history`: streamcast with `?history=100000` (Redis: XADD and an XREAD
 *   loop; Postgres: rows in a log table, NOTIFY as the wake-up);
 * - `raw`: the raw client doing history's work by hand: node-redis XADD
 *   `MAXLEN ~` pipelined and an `XREAD BLOCK` loop on a second connection;
 *   postgres.js INSERT into a log table + `pg_notify` per publish, and a
 *   LISTENing connection that SELECTs what is past its cursor on each wake-up;
 * - `raw+origin` (Redis): the same, each entry with the second field that
 *   streamcast writes (`origin`, its publisher and sequence number, so that a
 *   publish sent twice is delivered once): the entry streamcast writes, by hand.
 *
 * Throughput: one publisher → one subscriber, 100-byte messages, publishes
 * fired concurrently in chunks of 1,000 (each chunk awaited), timed from the
 * first publish until the subscriber has every message. Latency: publishes at
 * a fixed rate, each carrying its send time; p50/p99 of publish → receive.
 * Figures are medians after one warm-up run of each side. The targets:
 * history ≥ 0.5× pub/sub and ≥ 0.9× raw in throughput.
 */
import process from "node:process";
import postgres from "postgres";
import { createClient } from "redis";
import { benchFlags } from "./_args.ts";
import { compare, type Figures, type Side } from "./_measure.ts";
import { streamcastSide } from "./_streamcast.ts";

const CHUNK = 1_000;
const SIZE = 100;
const KEEP = 100_000;
const GOAL = { overPubSub: 0.5, overRaw: 0.9 };
const PAYLOAD = "x".repeat(SIZE);

const { messages, runs, rate, seconds, json, ...flags } = benchFlags({ messages: 50_000, runs: 5, rate: 2_000, seconds: 3 }, {
  backbone: "all",
  redis: "redis://127.0.0.1:6379",
  postgres: "postgres://postgres@127.0.0.1:5432/test",
});

/**
 * node-redis by hand: XADD MAXLEN ~ on one connection, an XREAD BLOCK loop per
 * channel on a connection of its own; with `origin`, each entry also has the
 * field streamcast adds.
 */
async function rawRedis(uri: string, origin = false): Promise<Side> {
  const publisher = crypto.randomUUID().slice(0, 13);
  let sequence = 0;
  const options = { url: uri, commandOptions: { timeout: 0 } };
  const writer = createClient(options);
  writer.on("error", () => {});
  await writer.connect();
  const readers: { destroy(): void }[] = [];
  let closed = false;
  return {
    publish: (channel, message) => {
      const fields = origin ? ["message", message, "origin", `${publisher}:${++sequence}`] : ["message", message];
      return writer.sendCommand(["XADD", channel, "MAXLEN", "~", String(KEEP), "*", ...fields]);
    },
    async subscribe(channel, onMessage) {
      const reader = createClient(options);
      reader.on("error", () => {});
      await reader.connect();
      readers.push(reader);
      const info = await writer.sendCommand(["XINFO", "STREAM", channel]).catch(() => undefined) as unknown[] | undefined;
      let last = info ? String(info[info.indexOf("last-generated-id") + 1]) : "0-0";
      void (async () => {
        while (!closed) {
          const reply = await reader.sendCommand(["XREAD", "COUNT", "1000", "BLOCK", "1000", "STREAMS", channel, last]).catch(() => null);
          for (const [, entries] of streams(reply)) {
            for (const [id, fields] of entries) {
              last = id;
              onMessage(fields[1]);
            }
          }
        }
      })();
    },
    close: () => {
      closed = true;
      writer.destroy();
      for (const reader of readers) reader.destroy();
      return Promise.resolve();
    },
  };
}

/** An XREAD reply, in RESP2 or RESP3 form, as [stream, [id, fields][]] pairs. */
function streams(reply: unknown): [string, [string, string[]][]][] {
  if (reply === null || reply === undefined) return [];
  if (Array.isArray(reply)) return reply as [string, [string, string[]][]][];
  return Object.entries(reply as Record<string, [string, string[]][]>);
}

/** postgres.js by hand: an INSERT and a pg_notify per publish; a LISTENer that reads past its cursor on each wake-up. */
async function rawPostgres(uri: string): Promise<Side> {
  const writer = postgres(uri, { max: 1, onnotice: () => {} });
  const listener = postgres(uri, { max: 1, onnotice: () => {} });
  const table = `bench_history_raw_${process.pid}`;
  await writer.unsafe(`create table if not exists ${table} (position bigserial primary key, channel text not null, payload text not null)`);
  await writer.unsafe(`create index if not exists ${table}_channel on ${table} (channel, position)`);
  const unlistens: (() => Promise<void>)[] = [];
  return {
    publish: (channel, message) =>
      writer`with row as (insert into ${writer(table)} (channel, payload) values (${channel}, ${message}) returning position)
             select pg_notify(${channel}, '') from row`,
    async subscribe(channel, onMessage) {
      const [{ last }] = await writer`select coalesce(max(position), 0) as last from ${writer(table)} where channel = ${channel}`;
      let cursor = BigInt(last);
      let reading: Promise<void> | undefined;
      let again = false;
      const read = async () => {
        do {
          again = false;
          const rows = await listener`select position, payload from ${listener(table)}
                                      where channel = ${channel} and position > ${String(cursor)} order by position limit 1000`;
          for (const row of rows) {
            cursor = BigInt(row.position);
            onMessage(row.payload);
          }
          if (rows.length === 1000) again = true;
        } while (again);
      };
      const wake = () => {
        if (reading) return void (again = true);
        reading = read().finally(() => reading = undefined);
      };
      const { unlisten } = await listener.listen(channel, wake);
      unlistens.push(unlisten);
    },
    close: async () => {
      await Promise.all(unlistens.map((unlisten) => unlisten()));
      await writer.unsafe(`drop table if exists ${table}`);
      await Promise.all([writer.end(), listener.end()]);
    },
  };
}

/** streamcast in each mode on `uri`. */
const modes = (uri: string) => ({
  "pub/sub": () => streamcastSide(uri, { subscriberBuffer: messages }),
  history: () => streamcastSide(`${uri}?history=${KEEP}`, { subscriberBuffer: messages }),
});

const BACKBONES = {
  redis: () => ({ ...modes(flags.redis), raw: () => rawRedis(flags.redis), "raw+origin": () => rawRedis(flags.redis, true) }),
  postgres: () => ({ ...modes(flags.postgres), raw: () => rawPostgres(flags.postgres) }),
};

const chosen = flags.backbone === "all" ? Object.keys(BACKBONES) : [flags.backbone];
const report: Record<string, unknown> = { node: process.version, messages, bytes: SIZE, chunk: CHUNK, rate, seconds, runs, goal: GOAL };
for (const name of chosen) {
  if (!(name in BACKBONES)) throw new Error(`Invalid --backbone: Expected redis, postgres or all but received ${JSON.stringify(name)}`);
  const figures: Record<string, Figures> = await compare(BACKBONES[name as keyof typeof BACKBONES](), {
    messages, payload: PAYLOAD, chunk: CHUNK, runs, rate, seconds,
    log: (line) => json || process.stderr.write(`${name} ${line}\n`),
  });
  const spoilt = Object.entries(figures).filter(([, f]) => f.resyncs > 0);
  if (spoilt.length > 0) throw new Error(`${name}: resync frames on ${spoilt.map(([side]) => side).join(", ")}: the runs are not clean`);
  const overPubSub = figures.history.msgsPerSecond / figures["pub/sub"].msgsPerSecond;
  const overRaw = figures.history.msgsPerSecond / figures.raw.msgsPerSecond;
  const overSameEntry = figures["raw+origin"] && figures.history.msgsPerSecond / figures["raw+origin"].msgsPerSecond;
  report[name] = { ...figures, historyOverPubSub: overPubSub, historyOverRaw: overRaw, historyOverRawWithOrigin: overSameEntry };
  if (json) continue;
  console.log(`\n${name}: ${messages.toLocaleString("en")} messages of ${SIZE} bytes in chunks of ${CHUNK}; latency at ${rate.toLocaleString("en")} msgs/s for ${seconds} s; median of ${runs} alternating runs`);
  console.log(`${"".padEnd(12)}${"msgs/s".padStart(10)}${"p50 ms".padStart(10)}${"p99 ms".padStart(10)}`);
  for (const [side, f] of Object.entries(figures)) {
    console.log(`${side.padEnd(12)}${Math.round(f.msgsPerSecond).toLocaleString("en").padStart(10)}${f.p50Ms.toFixed(2).padStart(10)}${f.p99Ms.toFixed(2).padStart(10)}`);
  }
  const sameEntry = overSameEntry === undefined ? "" : `, ${overSameEntry.toFixed(2)}x raw+origin`;
  console.log(`history ${overPubSub.toFixed(2)}x pub/sub (goal >= ${GOAL.overPubSub}x), ${overRaw.toFixed(2)}x raw${sameEntry} (goal >= ${GOAL.overRaw}x) — ` +
    (overPubSub >= GOAL.overPubSub && overRaw >= GOAL.overRaw ? "goals met" : "goal missed"));
}
if (json) console.log(JSON.stringify(report, null, 2));
