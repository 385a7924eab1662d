/**
 * streamcast on Redis against raw node-redis pub/sub, on the same server.
 *
 *   tsx bench/redis.ts [--uri redis://127.0.0.1:6379] [--messages 200000] [--runs 5]
 *                      [--rate 5000] [--seconds 3] [--json]
 *
 * Throughput: one publisher connection → one subscriber connection, 100-byte
 * messages, publishes fired concurrently in chunks of 1,000 (each chunk
 * awaited), timed from the first publish until the subscriber has every
 * message. Latency: publishes at a fixed rate, each carrying its send time;
 * p50/p99 of publish → receive. (a) is raw node-redis (`publish` and a
 * `subscribe` listener, per-command timeout off as streamcast has it); (b) is
 * streamcast, a publishing Broadcast and a subscribing Broadcast. Runs of (a)
 * and (b) alternate so both see the same machine load; figures are medians
 * after one warm-up run of each.
 */
import process from "node:process";
import { createClient } from "redis";
import { benchFlags } from "./_args.ts";
import { compare, type Figures, type Side } from "./_measure.ts";
import { streamcastSide } from "./_streamcast.ts";

const CHUNK = 1_000;
const SIZE = 100;
/** The targets: throughput at least this share of raw, p99 at most this much above raw. */
const GOAL = { throughput: 0.8, p99Ms: 1 };

async function rawSide(uri: string): Promise<Side> {
  const options = { url: uri, commandOptions: { timeout: 0 } };
  const publisher = createClient(options);
  const subscriber = createClient(options);
  publisher.on("error", () => {});
  subscriber.on("error", () => {});
  await Promise.all([publisher.connect(), subscriber.connect()]);
  return {
    publish: (channel, message) => publisher.publish(channel, message),
    subscribe: (channel, onMessage) => subscriber.subscribe(channel, onMessage),
    close: async () => {
      publisher.destroy();
      subscriber.destroy();
    },
  };
}

async function main(): Promise<void> {
  const args = benchFlags({ messages: 200_000, runs: 5, rate: 5_000, seconds: 3 }, { uri: "redis://127.0.0.1:6379" });
  const { raw, streamcast: ours } = await compare({
    raw: () => rawSide(args.uri),
    streamcast: () => streamcastSide(args.uri, { subscriberBuffer: args.messages }),
  }, { ...args, payload: "x".repeat(SIZE), chunk: CHUNK, log: (line) => args.json || process.stderr.write(`${line}\n`) });
  const ratio = ours.msgsPerSecond / raw.msgsPerSecond;
  const p99Over = ours.p99Ms - raw.p99Ms;
  const goalMet = ratio >= GOAL.throughput && p99Over <= GOAL.p99Ms && ours.dropped === 0;
  const summary = {
    node: process.version,
    uri: args.uri,
    messages: args.messages,
    bytes: SIZE,
    chunk: CHUNK,
    rate: args.rate,
    seconds: args.seconds,
    runs: args.runs,
    raw,
    streamcast: ours,
    throughputRatio: ratio,
    cpuRatio: ours.cpuUs / raw.cpuUs,
    p50RatioOverRaw: ours.p50Ms / raw.p50Ms,
    p99OverRawMs: p99Over,
    goal: `throughput >= ${GOAL.throughput}x raw, p99 within ${GOAL.p99Ms} ms of raw`,
    goalMet,
  };
  if (args.json) return console.log(JSON.stringify(summary, null, 2));
  console.log(`Redis pub/sub: raw node-redis vs streamcast — Node ${process.version}, ${args.uri}, ${SIZE}-byte messages, ` +
    `median of ${args.runs} alternating runs after a warm-up`);
  console.log(`throughput: ${args.messages.toLocaleString("en")} messages, publishes fired in chunks of ${CHUNK}; ` +
    `latency: ${args.rate.toLocaleString("en")} msgs/s for ${args.seconds} s`);
  console.log();
  const row = (name: string, f: Figures) =>
    `${name.padEnd(12)}${Math.round(f.msgsPerSecond).toLocaleString("en").padStart(12)}${f.cpuUs.toFixed(2).padStart(14)}` +
    `${f.p50Ms.toFixed(3).padStart(10)}${f.p99Ms.toFixed(3).padStart(10)}`;
  console.log(`${"".padEnd(12)}${"msgs/s".padStart(12)}${"CPU µs/msg".padStart(14)}${"p50 ms".padStart(10)}${"p99 ms".padStart(10)}`);
  console.log(row("raw", raw));
  console.log(row("streamcast", ours));
  console.log();
  console.log(`throughput ratio ${ratio.toFixed(2)}x (goal >= ${GOAL.throughput}x); CPU per message ${(ours.cpuUs / raw.cpuUs).toFixed(2)}x raw; p50 ${(ours.p50Ms / raw.p50Ms).toFixed(2)}x raw; ` +
    `p99 ${p99Over >= 0 ? "+" : ""}${p99Over.toFixed(3)} ms over raw (goal <= ${GOAL.p99Ms} ms) — ${goalMet ? "goal met" : "goal missed"}`);
  if (ours.dropped > 0) console.log(`! streamcast dropped ${ours.dropped} events to subscriber overflow: its figures are not clean`);
}

await main();
