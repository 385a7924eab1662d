/**
 * streamcast on Postgres against the raw client, on the same server, in one run.
 *
 *   tsx bench/postgres.ts [--uri postgres://postgres@127.0.0.1:5432/test]
 *                         [--messages 20000] [--runs 3] [--rate 2000] [--seconds 2] [--json]
 *
 * (a) raw postgres.js: `sql.notify` on one instance (max 1 connection, so
 *     that order is kept, as streamcast keeps it) → `sql.listen` on another;
 * (b) streamcast: `publish` on one Broadcast → `subscribe` on another.
 * For each, with 100-byte messages: end-to-end throughput (publishes fired in
 * chunks of 1,000, each chunk awaited, until every message arrived) and
 * publish → receive latency p50/p99 at a steady `--rate` messages/s for
 * `--seconds`. Then streamcast's throughput with 64 KB messages (sent through
 * the large-message table; raw NOTIFY cannot carry them), the median of
 * three. Figures are the median of `--runs` runs after a warm-up, raw and
 * streamcast alternating so that both see the same load on a shared machine.
 */
import process from "node:process";
import postgres from "postgres";
import { benchFlags } from "./_args.ts";
import { compare, median, type Side, throughput } from "./_measure.ts";
import { streamcastSide } from "./_streamcast.ts";

const CHUNK = 1_000;
const SIZE = 100;
const LARGE = 65_536;
const GOAL = 0.8;

async function raw(uri: string): Promise<Side> {
  const publisher = postgres(uri, { max: 1, onnotice: () => {} });
  const listener = postgres(uri, { max: 1, onnotice: () => {} });
  await publisher`select 1`;
  return {
    publish: (channel, text) => publisher.notify(channel, text),
    subscribe: async (channel, onMessage) => void await listener.listen(channel, onMessage),
    close: async () => void await Promise.all([publisher.end(), listener.end()]),
  };
}

async function main(): Promise<void> {
  const args = benchFlags({ messages: 20_000, runs: 3, rate: 2_000, seconds: 2 }, { uri: "postgres://postgres@127.0.0.1:5432/test" });
  const log = (text: string) => args.json || process.stderr.write(`${text}\n`);
  const sides = await compare({
    raw: () => raw(args.uri),
    streamcast: () => streamcastSide(args.uri, { subscriberBuffer: args.messages }),
  }, { ...args, payload: "x".repeat(SIZE), chunk: CHUNK, log });
  log(`throughput with ${LARGE / 1024} KB messages …`);
  const big = Math.max(200, Math.floor(args.messages / 20));
  const largeSide = await streamcastSide(args.uri, { subscriberBuffer: big });
  const rates: number[] = [];
  for (let run = 0; run < 3; run++) rates.push((await throughput(largeSide, { messages: big, payload: "x".repeat(LARGE), chunk: 100 })).msgsPerSecond);
  await largeSide.close();
  const large = median(rates);

  const { raw: theirs, streamcast: ours } = sides;
  const [rawRate, ourRate] = [theirs.msgsPerSecond, ours.msgsPerSecond];
  const summary = {
    node: process.version,
    messages: args.messages,
    runs: args.runs,
    sides,
    throughputRatio: ourRate / rawRate,
    // streamcast / raw, as printed: below 1 is faster than the raw client.
    latency: { rate: args.rate, seconds: args.seconds, ratioP50: ours.p50Ms / theirs.p50Ms, ratioP99: ours.p99Ms / theirs.p99Ms },
    large: { bytes: LARGE, messages: big, messagesPerSecond: large, megabytesPerSecond: (large * LARGE) / 1e6 },
    goal: `streamcast at least ${GOAL}x the raw client's throughput`,
    goalMet: ourRate / rawRate >= GOAL && ours.dropped === 0,
  };
  if (args.json) return console.log(JSON.stringify(summary, null, 2));
  const k = (n: number) => `${(n / 1000).toFixed(1)} k/s`;
  const ms = (n: number) => `${n.toFixed(2)} ms`;
  console.log(`Postgres LISTEN/NOTIFY — Node ${process.version}, ${args.messages.toLocaleString("en")} × ${SIZE} B, ` +
    `median of ${args.runs} alternating runs after a warm-up, chunks of ${CHUNK}`);
  console.log();
  console.log(`                      raw postgres.js   streamcast   streamcast/raw`);
  console.log(`throughput            ${k(rawRate).padStart(15)}   ${k(ourRate).padStart(10)}   ${(ourRate / rawRate).toFixed(2).padStart(13)}x`);
  console.log(`latency p50 @${args.rate}/s   ${ms(theirs.p50Ms).padStart(15)}   ${ms(ours.p50Ms).padStart(10)}   ${summary.latency.ratioP50.toFixed(2).padStart(13)}x`);
  console.log(`latency p99 @${args.rate}/s   ${ms(theirs.p99Ms).padStart(15)}   ${ms(ours.p99Ms).padStart(10)}   ${summary.latency.ratioP99.toFixed(2).padStart(13)}x`);
  console.log(`64 KB messages                      —   ${k(large).padStart(10)}   (${summary.large.megabytesPerSecond.toFixed(0)} MB/s)`);
  console.log();
  const samples = (side: keyof typeof sides) => sides[side].runs.map((r) => k(r.msgsPerSecond)).join(", ");
  console.log(`throughput samples: raw ${samples("raw")}; streamcast ${samples("streamcast")}`);
  if (ours.dropped > 0) console.log(`! streamcast dropped ${ours.dropped} events to subscriber overflow: its figures are not clean`);
  console.log(`goal: streamcast ≥ ${GOAL}x raw throughput — ${summary.goalMet ? "met" : "missed"}`);
}

await main();
