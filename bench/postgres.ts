/**
 * streamcast on Postgres against the raw client, on the same server, in one run.
 *
 *   tsx bench/postgres.ts [--uri postgres://postgres@127.0.0.1:5432/test]
 *                         [--messages 20000] [--runs 3] [--rate 2000] [--json]
 *
 * (a) raw postgres.js: `sql.notify` on one instance (max 1 connection, so
 *     that order is kept, as streamcast keeps it) → `sql.listen` on another;
 * (b) streamcast: `publish` on one Broadcast → `subscribe` on another.
 * For each, with 100-byte messages: end-to-end throughput (publishes fired in
 * chunks of 1,000, the last of each awaited, until every message arrived) and
 * publish → receive latency p50/p99 at a steady `--rate` messages/s. Then
 * streamcast's throughput with 64 KB messages (sent through the large-message
 * table; raw NOTIFY cannot carry them). Throughput figures are the median of
 * `--runs` runs after a warm-up, raw and streamcast alternating so that both
 * see the same load on a shared machine.
 */
import postgres from "postgres";
import { Broadcast, type Frame } from "../mod.ts";
import { median } from "./_measure.ts";

interface Args {
  uri: string;
  messages: number;
  runs: number;
  rate: number;
  json: boolean;
}

/** How one side publishes and hears back, so that the raw client and streamcast run the same code. */
interface Side {
  publish(message: string): Promise<unknown>;
  /** Every received message, in order of arrival. */
  onMessage(handler: (message: string) => void): void;
  close(): Promise<void>;
}

const CHUNK = 1_000;
const GOAL = 0.8;

function parseArgs(argv: string[]): Args {
  const args: Args = { uri: "postgres://postgres@127.0.0.1:5432/test", messages: 20_000, runs: 3, rate: 2_000, json: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--json") args.json = true;
    else if (arg === "--uri") args.uri = argv[++i];
    else if (arg === "--messages" || arg === "--runs" || arg === "--rate") {
      const n = Number(argv[++i]?.replaceAll("_", ""));
      if (!Number.isInteger(n) || n <= 0) throw new Error(`Invalid ${arg}: Expected a positive integer but received ${argv[i]}`);
      args[arg.slice(2) as "messages" | "runs" | "rate"] = n;
    } else throw new Error(`Unknown argument ${JSON.stringify(arg)}: use --uri, --messages, --runs, --rate, --json`);
  }
  return args;
}

/** A message of `size` characters that starts with its sequence number. */
function message(seq: number, size: number): string {
  const head = `${seq}:`;
  return head + "x".repeat(Math.max(0, size - head.length));
}

async function raw(uri: string, channel: string): Promise<Side> {
  const publisher = postgres(uri, { max: 1, onnotice: () => {} });
  const listener = postgres(uri, { max: 1, onnotice: () => {} });
  let handler: (message: string) => void = () => {};
  await listener.listen(channel, (payload) => handler(payload));
  await publisher`select 1`;
  return {
    publish: (text) => publisher.notify(channel, text),
    onMessage: (h) => void (handler = h),
    close: async () => void await Promise.all([publisher.end(), listener.end()]),
  };
}

async function streamcast(uri: string, channel: string): Promise<Side> {
  const publisher = await Broadcast.connect(uri);
  // Room for a whole run: this measures delivery, not overflow.
  const receiver = await Broadcast.connect(uri, { subscriberBuffer: 1_000_000 });
  let handler: (message: string) => void = () => {};
  const reading = receiver.subscribe(channel).pipeTo(new WritableStream<Frame>({
    write: (frame) => void (frame.type === "event" && handler(frame.message)),
  })).catch(() => {});
  await receiver.ready();
  return {
    publish: (text) => publisher.publish(channel, text),
    onMessage: (h) => void (handler = h),
    close: async () => {
      await Promise.all([publisher.disconnect(), receiver.disconnect()]);
      await reading;
    },
  };
}

/** Messages per second, end to end: `n` messages of `size` characters fired in chunks. */
async function throughput(side: Side, n: number, size: number, chunk = CHUNK): Promise<number> {
  let received = 0;
  const all = new Promise<void>((resolve) => side.onMessage(() => ++received === n && resolve()));
  const start = performance.now();
  for (let i = 0; i < n;) {
    let last!: Promise<unknown>;
    for (const end = Math.min(n, i + chunk); i < end; i++) last = side.publish(message(i, size));
    await last;
  }
  await all;
  return n / ((performance.now() - start) / 1000);
}

/** Publish → receive latency at a steady `rate` for about two seconds: p50 and p99 in ms. */
async function latency(side: Side, rate: number): Promise<{ p50: number; p99: number }> {
  const n = rate * 2;
  const sent = new Float64Array(n);
  const took: number[] = [];
  const all = new Promise<void>((resolve) => {
    side.onMessage((text) => {
      took.push(performance.now() - sent[Number.parseInt(text, 10)]);
      if (took.length === n) resolve();
    });
  });
  const tick = 5; // ms: a few messages per timer tick, evenly spread
  const start = performance.now();
  for (let seq = 0; seq < n;) {
    const due = Math.min(n, Math.floor(((performance.now() - start) / 1000) * rate) + 1);
    for (; seq < due; seq++) {
      sent[seq] = performance.now();
      side.publish(message(seq, 100)).catch(() => {});
    }
    await new Promise((resolve) => setTimeout(resolve, tick));
  }
  await all;
  took.sort((a, b) => a - b);
  return { p50: took[Math.floor(n * 0.5)], p99: took[Math.floor(n * 0.99)] };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const log = (text: string) => args.json || process.stderr.write(`${text}\n`);
  const channel = `bench-${Date.now().toString(36)}`;
  const sides = { raw: await raw(args.uri, `${channel}-raw`), streamcast: await streamcast(args.uri, `${channel}-sc`) };
  const rates: Record<keyof typeof sides, number[]> = { raw: [], streamcast: [] };
  log("warming up …");
  for (const side of Object.values(sides)) await throughput(side, Math.min(args.messages, 5_000), 100);
  for (let run = 0; run < args.runs; run++) {
    for (const name of ["raw", "streamcast"] as const) {
      log(`throughput, run ${run + 1}/${args.runs}: ${name} …`);
      rates[name].push(await throughput(sides[name], args.messages, 100));
    }
  }
  log(`latency at ${args.rate} msgs/s …`);
  const lat = { raw: await latency(sides.raw, args.rate), streamcast: await latency(sides.streamcast, args.rate) };
  log("throughput with 64 KB messages …");
  const big = Math.max(200, Math.floor(args.messages / 20));
  const large = median([
    await throughput(sides.streamcast, big, 65_536, 100),
    await throughput(sides.streamcast, big, 65_536, 100),
    await throughput(sides.streamcast, big, 65_536, 100),
  ]);
  await Promise.all(Object.values(sides).map((side) => side.close()));

  const rawRate = median(rates.raw);
  const ourRate = median(rates.streamcast);
  const summary = {
    node: process.version,
    messages: args.messages,
    runs: args.runs,
    throughput: { raw: rawRate, streamcast: ourRate, ratio: ourRate / rawRate, samples: rates },
    // streamcast / raw, as printed: below 1 is faster than the raw client.
    latency: { rate: args.rate, ...lat, ratioP50: lat.streamcast.p50 / lat.raw.p50, ratioP99: lat.streamcast.p99 / lat.raw.p99 },
    large: { bytes: 65_536, messages: big, messagesPerSecond: large, megabytesPerSecond: (large * 65_536) / 1e6 },
    goal: `streamcast at least ${GOAL}x the raw client's throughput`,
    goalMet: ourRate / rawRate >= GOAL,
  };
  if (args.json) return console.log(JSON.stringify(summary, null, 2));
  const k = (n: number) => `${(n / 1000).toFixed(1)} k/s`;
  const ms = (n: number) => `${n.toFixed(2)} ms`;
  console.log(`Postgres LISTEN/NOTIFY — Node ${process.version}, ${args.messages.toLocaleString("en")} × 100 B, ` +
    `median of ${args.runs} runs, chunks of ${CHUNK}`);
  console.log();
  console.log(`                      raw postgres.js   streamcast   streamcast/raw`);
  console.log(`throughput            ${k(rawRate).padStart(15)}   ${k(ourRate).padStart(10)}   ${(ourRate / rawRate).toFixed(2).padStart(13)}x`);
  console.log(`latency p50 @${args.rate}/s   ${ms(lat.raw.p50).padStart(15)}   ${ms(lat.streamcast.p50).padStart(10)}   ${(lat.streamcast.p50 / lat.raw.p50).toFixed(2).padStart(13)}x`);
  console.log(`latency p99 @${args.rate}/s   ${ms(lat.raw.p99).padStart(15)}   ${ms(lat.streamcast.p99).padStart(10)}   ${(lat.streamcast.p99 / lat.raw.p99).toFixed(2).padStart(13)}x`);
  console.log(`64 KB messages                      —   ${k(large).padStart(10)}   (${summary.large.megabytesPerSecond.toFixed(0)} MB/s)`);
  console.log();
  console.log(`throughput samples: raw ${rates.raw.map(k).join(", ")}; streamcast ${rates.streamcast.map(k).join(", ")}`);
  console.log(`goal: streamcast ≥ ${GOAL}x raw throughput — ${summary.goalMet ? "met" : "missed"}`);
}

await main();
