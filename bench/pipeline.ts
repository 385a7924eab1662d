/**
 * What the pipeline costs per event, against a bare web-stream hop.
 *
 *   tsx bench/pipeline.ts [--messages 200000] [--runs 7] [--json]
 *
 * Measures, in one process: (a) a bare pull-based `ReadableStream` read in a
 * reader loop, the baseline; (b) streamcast end to end on memory://, one
 * publisher Broadcast to one subscriber on another instance; (c) the same with
 * 100 subscribers; (d) each stage alone: ReplayBufferStream into a plain sink,
 * ResyncStream passing batches through, FanOut into one subscriber stream.
 * Each figure is the median of `--runs` timed runs after a warm-up run.
 */
import { Broadcast } from "../mod.ts";
import type { EventFrame, Frame } from "../lib/contract/frame.ts";
import { FanOut } from "../lib/pipeline/fan_out.ts";
import type { Link } from "../lib/contract/link.ts";
import { Pipeline } from "../lib/pipeline/pipeline.ts";
import { ResyncStream } from "../lib/pipeline/resync_stream.ts";

const CHANNEL = "policy";
/** Publishes fired before awaiting the last one's promise, as a server in a burst would. */
const CHUNK = 1_000;
const WIDE_SUBSCRIBERS = 100;
/** What FanOut hands a subscriber stream per pull (its PULL_BATCH). */
const PULL_BATCH = 64;
/** The end-to-end goal: the whole pipeline costs at most this many bare hops. */
const GOAL = 2;

interface Args {
  messages: number;
  runs: number;
  json: boolean;
}

interface Result {
  name: string;
  /** Messages put in per run (publishes, or chunks for the baseline). */
  messages: number;
  /** Events that came out per run (messages × subscribers). */
  events: number;
  /** Median events out per second. */
  eventsPerSecond: number;
  /** Median messages in per second. */
  messagesPerSecond: number;
  /** Median run time, and the fastest and slowest, in milliseconds. */
  ms: { median: number; min: number; max: number };
  /** Bare-hop rate divided by this rate (per event): how many bare hops one event costs. */
  costInBareHops?: number;
  /** Events dropped (subscriber overflow) in the slowest run; 0 when the figure is clean. */
  dropped: number;
}

/**
 * One run: how many events it produced, how many were dropped, and, when the
 * run times itself (to leave setup out), how long the measured part took.
 */
type Run = () => Promise<{ events: number; dropped: number; elapsed?: number }>;

function parseArgs(argv: string[]): Args {
  const args: Args = { messages: 200_000, runs: 7, json: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--json") args.json = true;
    else if (arg === "--messages") args.messages = positiveInt(arg, argv[++i]);
    else if (arg === "--runs") args.runs = positiveInt(arg, argv[++i]);
    else throw new Error(`Unknown argument ${JSON.stringify(arg)}: use --messages N, --runs N, --json`);
  }
  return args;
}

function positiveInt(name: string, value: string | undefined): number {
  const n = Number(value?.replaceAll("_", ""));
  if (!Number.isInteger(n) || n <= 0) throw new Error(`Invalid ${name}: Expected a positive integer but received ${value}`);
  return n;
}

// A pool of distinct ~100-byte messages, reused round-robin, so every case
// handles the same objects and building them is never part of a timing.
const POOL = Array.from({ length: 1024 }, (_, i): EventFrame => ({
  type: "event",
  channel: CHANNEL,
  message: JSON.stringify({ id: i, op: "upsert", path: "/policies/tenant-42/rules", data: "x".repeat(28) }),
}));

function frameAt(i: number): EventFrame {
  return POOL[i & 1023];
}

/** Batches of `size` frames, the shape the stages carry. */
function batches(count: number, size: number): EventFrame[][] {
  const out: EventFrame[][] = [];
  for (let i = 0; i < count; i += size) {
    out.push(Array.from({ length: Math.min(size, count - i) }, (_, j) => frameAt(i + j)));
  }
  return out;
}

/**
 * (a) The baseline: a pull-based source, one chunk per pull, one read per
 * chunk. (a') The same hop as a subscriber stream makes it: `perPull` chunks
 * enqueued per pull into a stream with no queue of its own, so most reads are
 * served from the queue; a stricter baseline for the end-to-end figure.
 */
function bareHop(n: number, perPull = 1): Run {
  return async () => {
    let i = 0;
    const stream = new ReadableStream<EventFrame>({
      pull: (controller) => {
        for (let k = 0; k < perPull && i < n; k++) controller.enqueue(frameAt(i++));
        if (i >= n) controller.close();
      },
    }, { highWaterMark: perPull === 1 ? 1 : 0 });
    const reader = stream.getReader();
    let events = 0;
    while (!(await reader.read()).done) events++;
    return { events, dropped: 0 };
  };
}

// (b), (c) End to end: publisher instance → memory hub → subscriber instance.
let hubCount = 0;
function endToEnd(n: number, subscribers: number): Run {
  return async () => {
    // A hub of its own per run, so no run sees another's links.
    const uri = `memory://bench-${hubCount++}`;
    const publisher = await Broadcast.connect(uri);
    // Room for the whole run: with no backbone between them, a publisher
    // outruns any reader, and this measures delivery, not overflow (see
    // defaultBufferDrops).
    const receiver = await Broadcast.connect(uri, { subscriberBuffer: n });
    const readers = Array.from({ length: subscribers }, () => countEvents(receiver.subscribe(CHANNEL), n));
    await receiver.ready();
    const start = performance.now();
    await publishAll(publisher, n);
    const counts = await Promise.all(readers);
    const elapsed = performance.now() - start;
    const dropped = receiver.stats.dropped;
    await Promise.all([publisher.disconnect(), receiver.disconnect()]);
    return { events: counts.reduce((a, b) => a + b, 0), dropped, elapsed };
  };
}

async function publishAll(broadcast: Broadcast, n: number): Promise<void> {
  for (let i = 0; i < n;) {
    let last!: Promise<void>;
    for (const end = Math.min(n, i + CHUNK); i < end; i++) last = broadcast.publish(CHANNEL, frameAt(i).message);
    await last;
  }
}

/**
 * Reads until `n` events arrived or the stream ended. A resync frame means an
 * overflow dropped some, so the count would never reach `n`: stop there.
 */
async function countEvents(stream: ReadableStream<Frame>, n: number): Promise<number> {
  const reader = stream.getReader();
  let events = 0;
  while (events < n) {
    const { value, done } = await reader.read();
    if (done || value.type === "resync") break;
    events++;
  }
  reader.releaseLock();
  return events;
}

/**
 * Once, untimed: the share of a flood of `n` publishes that one subscriber
 * with the default subscriberBuffer loses to overflow while reading flat out.
 */
async function defaultBufferDrops(n: number): Promise<number> {
  const uri = `memory://bench-${hubCount++}`;
  const publisher = await Broadcast.connect(uri);
  const receiver = await Broadcast.connect(uri);
  const reader = receiver.subscribe(CHANNEL).getReader();
  await receiver.ready();
  const reading = (async () => {
    // The newest frame is never the one dropped, so this count completes.
    let events = 0;
    while (events + receiver.stats.dropped < n) {
      const { value, done } = await reader.read();
      if (done) break;
      if (value.type === "event") events++;
    }
  })();
  await publishAll(publisher, n);
  await reading;
  const dropped = receiver.stats.dropped;
  await Promise.all([publisher.disconnect(), receiver.disconnect()]);
  return dropped / n;
}

// (d) Each stage alone, fed the way the pipeline feeds it.

function replayStage(n: number): Run {
  return async () => {
    const pipeline = new Pipeline({
      replayBufferSize: 10_000,
      subscriberBuffer: 1_000,
      onWriteError: () => {},
      onReplayOverflow: () => {},
      onFirstSubscriber: () => {},
      onLastSubscriber: () => {},
      onSubscriberOverflow: () => {},
    });
    let events = 0;
    const writable = new WritableStream<EventFrame[]>({ write: (batch) => void (events += batch.length) });
    await pipeline.send({ writable } as Link);
    for (let i = 0; i < n;) {
      let last!: Promise<void>;
      for (const end = Math.min(n, i + CHUNK); i < end; i++) last = pipeline.publish(frameAt(i));
      await last;
    }
    await pipeline.end();
    return { events, dropped: 0 };
  };
}

function resyncStage(n: number): Run {
  const input = batches(n, CHUNK);
  return async () => {
    const stage = new ResyncStream();
    const writer = stage.writable.getWriter();
    const reading = (async () => {
      const reader = stage.readable.getReader();
      let events = 0;
      for (let r = await reader.read(); !r.done; r = await reader.read()) events += r.value.length;
      return events;
    })();
    for (const batch of input) {
      await writer.ready;
      writer.write(batch);
    }
    await writer.close();
    return { events: await reading, dropped: 0 };
  };
}

function fanOutStage(n: number): Run {
  const input = batches(n, CHUNK);
  return async () => {
    // Room for the whole run, so this measures delivery rather than overflow.
    const fanOut = new FanOut({ highWaterMark: n });
    const reading = countEvents(fanOut.subscribe(CHANNEL), n);
    const writer = fanOut.writable.getWriter();
    for (const batch of input) {
      await writer.ready;
      writer.write(batch);
    }
    await writer.close();
    const events = await reading;
    const dropped = fanOut.stats.dropped;
    fanOut.close();
    return { events, dropped };
  };
}

interface Case {
  name: string;
  messages: number;
  run: Run;
  samples: { ms: number; events: number; dropped: number }[];
}

/**
 * Warms every case up once, then times them in rounds, one run of each case
 * per round: the machine is shared, and interleaving lets a burst of someone
 * else's load fall on every case alike rather than on whichever ran then.
 */
async function measureAll(cases: Case[], runs: number, log: (text: string) => void): Promise<Result[]> {
  for (const c of cases) {
    log(`warming up ${c.name} …`);
    await c.run();
  }
  for (let round = 1; round <= runs; round++) {
    log(`round ${round} of ${runs} …`);
    for (const c of cases) {
      const start = performance.now();
      const { events, dropped, elapsed } = await c.run();
      c.samples.push({ ms: elapsed ?? performance.now() - start, events, dropped });
    }
  }
  return cases.map(summarise);
}

function summarise({ name, messages, samples }: Case): Result {
  const times = samples.map((s) => s.ms).sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)];
  const events = Math.min(...samples.map((s) => s.events));
  return {
    name,
    messages,
    events,
    eventsPerSecond: events / (median / 1000),
    messagesPerSecond: messages / (median / 1000),
    ms: { median, min: times[0], max: times[times.length - 1] },
    dropped: Math.max(...samples.map((s) => s.dropped)),
  };
}

function report(args: Args, results: Result[], dropShare: number): void {
  const bare = results[0].eventsPerSecond;
  for (const result of results) result.costInBareHops = bare / result.eventsPerSecond;
  const e2e = results[2];
  const strict = results[1].eventsPerSecond / e2e.eventsPerSecond;
  const summary = {
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    messages: args.messages,
    runs: args.runs,
    chunk: CHUNK,
    goal: `end to end costs at most ${GOAL}x a bare stream hop`,
    goalMet: (e2e.costInBareHops ?? Infinity) <= GOAL,
    costInBatchedBareHops: strict,
    defaultSubscriberBufferDropShare: dropShare,
    results,
  };
  if (args.json) return console.log(JSON.stringify(summary, null, 2));
  console.log(`streamcast pipeline benchmark — Node ${process.version}, ${args.messages.toLocaleString("en")} messages, ` +
    `median of ${args.runs} interleaved runs after a warm-up, publishes in chunks of ${CHUNK}`);
  console.log();
  const head = ["case", "messages", "events/s", "msgs/s", "ns/event", "x bare", "ms (min–max)"];
  const rows = results.map((r) => [
    r.name,
    r.messages.toLocaleString("en"),
    rate(r.eventsPerSecond),
    rate(r.messagesPerSecond),
    (1e9 / r.eventsPerSecond).toFixed(0),
    `${r.costInBareHops!.toFixed(2)}x`,
    `${r.ms.median.toFixed(0)} (${r.ms.min.toFixed(0)}–${r.ms.max.toFixed(0)})`,
  ]);
  printTable(head, rows);
  for (const r of results) {
    if (r.dropped > 0) console.log(`! ${r.name}: ${r.dropped} events dropped by subscriber overflow; its figure is not clean`);
  }
  console.log(`end-to-end runs use subscriberBuffer = messages; with the default (1000) one subscriber ` +
    `reading flat out lost ${(dropShare * 100).toFixed(1)}% of the flood to overflow (by design: drop + resync)`);
  console.log();
  const verdict = summary.goalMet ? "goal met" : "goal missed";
  console.log(`pipeline costs ${e2e.costInBareHops!.toFixed(2)}x a bare stream hop end to end ` +
    `(goal: at most ${GOAL}x) — ${verdict}; ${strict.toFixed(2)}x a hop that also enqueues ${PULL_BATCH} per pull`);
}

function rate(perSecond: number): string {
  return perSecond >= 1e6 ? `${(perSecond / 1e6).toFixed(2)} M` : `${(perSecond / 1e3).toFixed(1)} k`;
}

function printTable(head: string[], rows: string[][]): void {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  console.log(line(head));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const row of rows) console.log(line(row));
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const n = args.messages;
  // 100 subscribers multiply the events a hundredfold; a twentieth of the
  // messages keeps that run within a few times the others.
  const wide = Math.max(CHUNK, Math.floor(n / 20));
  const log = (text: string) => args.json || process.stderr.write(`${text}\n`);
  const cases: Case[] = [
    ["(a) bare ReadableStream hop", n, bareHop(n)] as const,
    [`(a') bare hop, ${PULL_BATCH} chunks per pull`, n, bareHop(n, PULL_BATCH)] as const,
    ["(b) end to end, 1 subscriber", n, endToEnd(n, 1)] as const,
    [`(c) end to end, ${WIDE_SUBSCRIBERS} subscribers`, wide, endToEnd(wide, WIDE_SUBSCRIBERS)] as const,
    ["(d) publish → outbound pipeline → sink", n, replayStage(n)] as const,
    [`(d) ResyncStream, batches of ${CHUNK}`, n, resyncStage(n)] as const,
    ["(d) FanOut → 1 subscriber", n, fanOutStage(n)] as const,
  ].map(([name, messages, run]) => ({ name, messages, run, samples: [] }));
  const results = await measureAll(cases, args.runs, log);
  log("measuring overflow with the default subscriberBuffer …");
  const dropShare = await defaultBufferDrops(n);
  report(args, results, dropShare);
}

await main();
