/**
 * streamcast on Kafka against raw kafkajs, on the same broker.
 *
 *   tsx bench/kafka.ts [--broker 127.0.0.1:19092] [--messages 100000] [--runs 3]
 *                      [--rate 2000] [--seconds 3] [--json]
 *
 * Starts the shared test broker (scripts/kafka.sh) unless `--broker` names
 * another. Throughput: one publisher → one subscriber, 100-byte messages,
 * publishes fired in chunks of 1,000 (each chunk awaited), timed from the
 * first publish until the subscriber has every message. Latency: publishes at
 * a fixed rate, each carrying its send time; p50/p99 of publish → receive.
 * Three sides: (a) raw kafkajs, one `producer.send` per message; (b) raw
 * kafkajs, one `producer.send` per chunk (what streamcast's batching does, so
 * the fair baseline); (c) streamcast, a publishing and a subscribing
 * Broadcast. Raw consumers read with the same fetch wait (50 ms) and no
 * commits, as streamcast does; every side runs with kafkajs's idle-loop fix
 * (backends/_kafkajs_idle_loop.ts), applied up front here for the raw sides
 * (streamcast's Kafka connector applies it itself). Sides alternate within each run so all
 * see the same machine load; figures are medians after one warm-up run.
 */
import process from "node:process";
import kafkajs from "kafkajs";
import type { Consumer } from "kafkajs";
import { Broadcast } from "../mod.ts";
import { fixKafkajsIdleLoop } from "../backends/kafka/kafkajs_idle_loop.ts";
import { sharedBroker } from "../tests/fixtures/kafka.ts";
import { latency, median, percentile } from "./_measure.ts";

const CHUNK = 1_000;
const SIZE = 100;
const FETCH_WAIT = 50;
/** The target: streamcast's throughput at least this share of the fair raw baseline. */
const GOAL = 0.8;

interface Args {
  broker?: string;
  messages: number;
  runs: number;
  rate: number;
  seconds: number;
  json: boolean;
}

/** One side: publish, and a callback per message received. */
interface Side {
  publish(channel: string, message: string): Promise<unknown>;
  /** Publishes a chunk; each side does it its own way. */
  publishChunk(channel: string, messages: string[]): Promise<unknown>;
  subscribe(channel: string, onMessage: (message: string) => void): Promise<void>;
  dropped(): number;
  close(): Promise<void>;
}

async function rawSide(broker: string, batched: boolean): Promise<Side> {
  const kafka = new kafkajs.Kafka({ brokers: [broker], logLevel: kafkajs.logLevel.NOTHING });
  const admin = kafka.admin();
  const producer = kafka.producer({ createPartitioner: kafkajs.Partitioners.DefaultPartitioner });
  await Promise.all([admin.connect(), producer.connect()]);
  const consumers: Consumer[] = [];
  const groups: string[] = [];
  const publish = (topic: string, messages: string[]) =>
    producer.send({ topic, acks: -1, messages: messages.map((value) => ({ value, partition: 0 })) });
  return {
    publish: (channel, message) => publish(channel, [message]),
    publishChunk: (channel, messages) =>
      batched ? publish(channel, messages) : Promise.all(messages.map((message) => publish(channel, [message]))),
    async subscribe(channel, onMessage) {
      await admin.createTopics({ topics: [{ topic: channel }], waitForLeaders: true });
      const consumer = kafka.consumer({ groupId: `bench-${channel}`, maxWaitTimeInMs: FETCH_WAIT });
      consumers.push(consumer);
      groups.push(`bench-${channel}`);
      const joined = new Promise((resolve) => consumer.on(consumer.events.GROUP_JOIN, resolve));
      await consumer.connect();
      await consumer.subscribe({ topic: channel, fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachBatch: async ({ batch }) => {
          for (const message of batch.messages) onMessage(message.value!.toString("utf8"));
        },
      });
      await joined;
    },
    dropped: () => 0,
    async close() {
      await Promise.all(consumers.map((consumer) => consumer.disconnect()));
      await admin.deleteGroups(groups).catch(() => {});
      await Promise.all([producer.disconnect(), admin.disconnect()]);
    },
  };
}

async function streamcastSide(broker: string, messages: number): Promise<Side> {
  const options = { resyncSettle: 0, subscriberBuffer: messages };
  const uri = `kafka://${broker}`;
  const [publisher, subscriber] = await Promise.all([Broadcast.connect(uri, options), Broadcast.connect(uri, options)]);
  return {
    publish: (channel, message) => publisher.publish(channel, message),
    publishChunk: (channel, chunk) => Promise.all(chunk.map((message) => publisher.publish(channel, message))),
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
const channel = () => `bench-${process.pid}-${Date.now().toString(36)}-${channels++}`;
const PAYLOAD = "x".repeat(SIZE);

/** Messages per second from the first publish until the last one arrived. */
async function throughput(side: Side, n: number): Promise<number> {
  const ch = channel();
  let received = 0;
  let done!: () => void;
  const all = new Promise<void>((resolve) => done = resolve);
  await side.subscribe(ch, () => {
    if (++received === n) done();
  });
  const start = performance.now();
  for (let i = 0; i < n; i += CHUNK) {
    await side.publishChunk(ch, Array.from({ length: Math.min(CHUNK, n - i) }, () => PAYLOAD));
  }
  await all;
  return n / ((performance.now() - start) / 1000);
}

interface Run {
  msgsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
}

const SIDES = ["raw per message", "raw per chunk", "streamcast"] as const;
type SideName = (typeof SIDES)[number];

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const log = (text: string) => args.json || process.stderr.write(`${text}\n`);
  fixKafkajsIdleLoop();
  const broker = args.broker ?? await sharedBroker();
  const open: Record<SideName, () => Promise<Side>> = {
    "raw per message": () => rawSide(broker, false),
    "raw per chunk": () => rawSide(broker, true),
    "streamcast": () => streamcastSide(broker, args.messages),
  };
  const runs = Object.fromEntries(SIDES.map((name) => [name, [] as Run[]])) as Record<SideName, Run[]>;
  let dropped = 0;
  for (let run = 0; run <= args.runs; run++) {
    for (const name of SIDES) {
      log(`${run === 0 ? "warm-up" : `run ${run}/${args.runs}`}: ${name} …`);
      const side = await open[name]();
      const msgsPerSecond = await throughput(side, args.messages);
      const sorted = (await latency(side, channel(), PAYLOAD, args.rate, args.seconds)).sort((a, b) => a - b);
      dropped += side.dropped();
      await side.close();
      if (run > 0) runs[name].push({ msgsPerSecond, p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99) });
    }
  }
  const figures = Object.fromEntries(SIDES.map((name) => [name, {
    msgsPerSecond: Math.round(median(runs[name].map((r) => r.msgsPerSecond))),
    p50Ms: Number(median(runs[name].map((r) => r.p50Ms)).toFixed(2)),
    p99Ms: Number(median(runs[name].map((r) => r.p99Ms)).toFixed(2)),
    runs: runs[name],
  }])) as Record<SideName, Run & { runs: Run[] }>;
  const ratio = figures.streamcast.msgsPerSecond / figures["raw per chunk"].msgsPerSecond;
  const summary = {
    node: process.version,
    broker,
    messages: args.messages,
    bytes: SIZE,
    chunk: CHUNK,
    rate: args.rate,
    seconds: args.seconds,
    figures,
    ratio: {
      vsRawPerChunk: Number(ratio.toFixed(2)),
      vsRawPerMessage: Number((figures.streamcast.msgsPerSecond / figures["raw per message"].msgsPerSecond).toFixed(2)),
    },
    dropped,
    goalMet: ratio >= GOAL && dropped === 0,
  };
  if (args.json) {
    console.log(JSON.stringify(summary, null, 2));
  } else {
    console.log(`Kafka ${broker}, ${args.messages} × ${SIZE}-byte messages, chunks of ${CHUNK}; latency at ${args.rate}/s for ${args.seconds} s; medians of ${args.runs} runs`);
    for (const name of SIDES) {
      const f = figures[name];
      console.log(`  ${name.padEnd(16)} ${String(f.msgsPerSecond).padStart(8)} msgs/s   p50 ${f.p50Ms.toFixed(2)} ms   p99 ${f.p99Ms.toFixed(2)} ms`);
    }
    console.log(`  streamcast / raw per chunk: ${summary.ratio.vsRawPerChunk}× (goal ≥ ${GOAL}×), / raw per message: ${summary.ratio.vsRawPerMessage}×; dropped ${dropped}`);
  }
  process.exitCode = summary.goalMet ? 0 : 1;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { messages: 100_000, runs: 3, rate: 2_000, seconds: 3, json: false };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = () => {
      const next = argv[++i];
      if (next === undefined) throw new Error(`${flag} needs a value`);
      return next;
    };
    if (flag === "--broker") args.broker = value();
    else if (flag === "--messages") args.messages = Number(value());
    else if (flag === "--runs") args.runs = Number(value());
    else if (flag === "--rate") args.rate = Number(value());
    else if (flag === "--seconds") args.seconds = Number(value());
    else if (flag === "--json") args.json = true;
    else throw new Error(`Unknown option ${flag}`);
  }
  return args;
}

await main();
