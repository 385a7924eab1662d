/**
 * streamcast on Kafka against raw kafkajs, on the same broker.
 *
 *   tsx bench/kafka.ts [--broker 127.0.0.1:19092] [--messages 100000] [--runs 3]
 *                      [--rate 2000] [--seconds 3] [--json]
 *
 * Starts the shared broker (scripts/dev/kafka.ts) unless `--broker` names
 * another, and stops it at the end unless it was running before.
 * Throughput: one publisher → one subscriber, 100-byte messages, publishes
 * fired in chunks of 1,000 (each chunk awaited), timed from the first publish
 * until the subscriber has every message. Latency: publishes at a fixed rate,
 * each carrying its send time; p50/p99 of publish → receive. Three sides:
 * (a) raw kafkajs, one `producer.send` per message; (b) raw kafkajs, one
 * `producer.send` per chunk (what streamcast's batching does, so the fair
 * baseline); (c) streamcast, a publishing and a subscribing Broadcast. Raw
 * consumers read with the same fetch wait (50 ms) and no commits, as
 * streamcast does; every side runs with kafkajs's idle-loop fix
 * (backends/kafka/kafkajs_idle_loop.ts), applied up front here for the raw
 * sides (streamcast's Kafka connector applies it itself). Sides alternate
 * within each run so all see the same machine load; figures are medians after
 * one warm-up run.
 */
import process from "node:process";
import kafkajs from "kafkajs";
import type { Consumer } from "kafkajs";
import { fixKafkajsIdleLoop } from "../backends/kafka/kafkajs_idle_loop.ts";
import { startSharedBroker, stopSharedBroker } from "../scripts/dev/kafka.ts";
import { benchFlags, type PlanFlags } from "./_args.ts";
import { compare, type Run, type Side } from "./_measure.ts";
import { streamcastSide } from "./_streamcast.ts";

const CHUNK = 1_000;
const SIZE = 100;
const FETCH_WAIT = 50;
/** The target: streamcast's throughput at least this share of the fair raw baseline. */
const GOAL = 0.8;

/** With no `--broker`, the shared one. */
type Args = PlanFlags & { broker: string | undefined };

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
    // Without it, the chunk goes one send per message.
    publishChunk: batched ? publish : undefined,
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
    async close() {
      await Promise.all(consumers.map((consumer) => consumer.disconnect()));
      await admin.deleteGroups(groups).catch(() => {});
      await Promise.all([producer.disconnect(), admin.disconnect()]);
    },
  };
}

async function main(): Promise<void> {
  const args: Args = benchFlags<{ broker: string | undefined }>({ messages: 100_000, runs: 3, rate: 2_000, seconds: 3 }, { broker: undefined });
  const log = (line: string) => args.json || process.stderr.write(`${line}\n`);
  fixKafkajsIdleLoop();
  const shared = args.broker === undefined ? await startSharedBroker() : undefined;
  // A broker this bench started goes with it, Ctrl-C included (it runs in a session of its own); one that ran before stays.
  const stop = async () => void (shared?.started && log((await stopSharedBroker()).trim()));
  process.once("SIGINT", () => void stop().finally(() => process.exit(130)));
  try {
    await measure(args, args.broker ?? shared!.broker, log);
  } finally {
    await stop();
  }
}

async function measure(args: Args, broker: string, log: (line: string) => void): Promise<void> {
  const measured = await compare({
    "raw per message": () => rawSide(broker, false),
    "raw per chunk": () => rawSide(broker, true),
    "streamcast": () => streamcastSide(`kafka://${broker}`, { subscriberBuffer: args.messages }),
  }, { ...args, payload: "x".repeat(SIZE), chunk: CHUNK, log });
  const sides = Object.keys(measured) as (keyof typeof measured)[];
  const figures = Object.fromEntries(sides.map((name) => [name, {
    msgsPerSecond: Math.round(measured[name].msgsPerSecond),
    p50Ms: Number(measured[name].p50Ms.toFixed(2)),
    p99Ms: Number(measured[name].p99Ms.toFixed(2)),
    runs: measured[name].runs,
  }])) as Record<keyof typeof measured, Pick<Run, "msgsPerSecond" | "p50Ms" | "p99Ms"> & { runs: Run[] }>;
  const dropped = measured.streamcast.dropped;
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
    for (const name of sides) {
      const f = figures[name];
      console.log(`  ${name.padEnd(16)} ${String(f.msgsPerSecond).padStart(8)} msgs/s   p50 ${f.p50Ms.toFixed(2)} ms   p99 ${f.p99Ms.toFixed(2)} ms`);
    }
    console.log(`  streamcast / raw per chunk: ${summary.ratio.vsRawPerChunk}× (goal ≥ ${GOAL}×), / raw per message: ${summary.ratio.vsRawPerMessage}×; dropped ${dropped}`);
  }
  process.exitCode = summary.goalMet ? 0 : 1;
}

await main();
