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
import { Broadcast } from "../mod.ts";
import { latency, median, percentile, throughput } from "./_measure.ts";

const CHUNK = 1_000;
const SIZE = 100;
/** The targets: throughput at least this share of raw, p99 at most this much above raw. */
const GOAL = { throughput: 0.8, p99Ms: 1 };

interface Args {
  uri: string;
  messages: number;
  runs: number;
  rate: number;
  seconds: number;
  json: boolean;
}

/** What one side (raw or streamcast) needs: publish, and a callback per message received. */
interface Side {
  publish(channel: string, message: string): Promise<unknown>;
  subscribe(channel: string, onMessage: (message: string) => void): Promise<void>;
  /** Received but lost (streamcast subscriber overflow): a run with drops is not clean. */
  dropped(): number;
  close(): Promise<void>;
}

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
    dropped: () => 0,
    close: async () => {
      publisher.destroy();
      subscriber.destroy();
    },
  };
}

async function streamcastSide(uri: string, messages: number): Promise<Side> {
  const options = { resyncSettle: 0, subscriberBuffer: messages };
  const [publisher, subscriber] = await Promise.all([Broadcast.connect(uri, options), Broadcast.connect(uri, options)]);
  return {
    publish: (channel, message) => publisher.publish(channel, message),
    async subscribe(channel, onMessage) {
      const reader = subscriber.subscribe(channel).getReader();
      (async () => {
        for (let r = await reader.read(); !r.done; r = await reader.read()) {
          if (r.value.type === "event") onMessage(r.value.message);
        }
      })().catch(() => {});
      await subscriber.ready();
    },
    dropped: () => subscriber.stats.dropped,
    close: async () => {
      await Promise.all([publisher.disconnect(), subscriber.disconnect()]);
    },
  };
}

let channels = 0;
const channel = () => `bench-${process.pid}-${channels++}`;
const PAYLOAD = "x".repeat(SIZE);

interface Run {
  msgsPerSecond: number;
  cpuUs: number;
  p50Ms: number;
  p99Ms: number;
}

interface Figures extends Run {
  runs: Run[];
  dropped: number;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const log = (text: string) => args.json || process.stderr.write(`${text}\n`);
  const sides = {
    raw: () => rawSide(args.uri),
    streamcast: () => streamcastSide(args.uri, args.messages),
  };
  const runs: Record<keyof typeof sides, Figures["runs"]> = { raw: [], streamcast: [] };
  const dropped = { raw: 0, streamcast: 0 };
  for (let run = 0; run <= args.runs; run++) {
    for (const name of ["raw", "streamcast"] as const) {
      log(`${run === 0 ? "warm-up" : `run ${run}/${args.runs}`}: ${name} …`);
      const side = await sides[name]();
      const { msgsPerSecond, cpuUs } = await throughput(side, channel(), args.messages, PAYLOAD, CHUNK);
      const sorted = (await latency(side, channel(), PAYLOAD, args.rate, args.seconds)).sort((a, b) => a - b);
      dropped[name] += side.dropped();
      await side.close();
      if (run > 0) runs[name].push({ msgsPerSecond, cpuUs, p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99) });
    }
  }
  const figures = (name: keyof typeof sides): Figures => ({
    msgsPerSecond: median(runs[name].map((r) => r.msgsPerSecond)),
    cpuUs: median(runs[name].map((r) => r.cpuUs)),
    p50Ms: median(runs[name].map((r) => r.p50Ms)),
    p99Ms: median(runs[name].map((r) => r.p99Ms)),
    runs: runs[name],
    dropped: dropped[name],
  });
  const raw = figures("raw");
  const ours = figures("streamcast");
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

function parseArgs(argv: string[]): Args {
  const args: Args = { uri: "redis://127.0.0.1:6379", messages: 200_000, runs: 5, rate: 5_000, seconds: 3, json: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--json") args.json = true;
    else if (arg === "--uri") args.uri = argv[++i] ?? args.uri;
    else if (arg === "--messages" || arg === "--runs" || arg === "--rate" || arg === "--seconds") {
      const value = Number(argv[++i]?.replaceAll("_", ""));
      if (!(value > 0)) throw new Error(`Invalid ${arg}: Expected a positive number but received ${argv[i]}`);
      args[arg.slice(2) as "messages" | "runs" | "rate" | "seconds"] = value;
    } else {
      throw new Error(`Unknown argument ${JSON.stringify(arg)}: use --uri, --messages, --runs, --rate, --seconds, --json`);
    }
  }
  return args;
}

await main();
