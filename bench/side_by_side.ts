/**
 * This checkout's pipeline against another checkout's, in one process, runs
 * alternating, so that both see the same machine: how a change moved the cost.
 *
 *   git worktree add /tmp/before <commit> && (cd /tmp/before && npm ci)
 *   tsx bench/side_by_side.ts --before /tmp/before [--messages 200000] [--runs 11]
 *
 * Each run publishes `--messages` on memory:// from one Broadcast to another,
 * in chunks of 1,000, read by 1 subscriber (and by 100, with a twentieth of the
 * messages); the figure is the median of the runs after a warm-up of each.
 */
import { resolve } from "node:path";
import process from "node:process";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import type { Broadcast as BroadcastType, Frame } from "../mod.ts";

type BroadcastClass = typeof BroadcastType;

const CHUNK = 1_000;
const CHANNEL = "bench";
const MESSAGE = "x".repeat(100);

const { values } = parseArgs({
  options: { before: { type: "string" }, messages: { type: "string", default: "200000" }, runs: { type: "string", default: "11" } },
});
if (values.before === undefined) {
  console.error("usage: tsx bench/side_by_side.ts --before <checkout of the commit to compare with>");
  process.exit(2);
}
const n = Number(values.messages);
const runs = Number(values.runs);
const sides: [string, BroadcastClass][] = [
  ["before", (await import(pathToFileURL(resolve(values.before, "mod.ts")).href)).Broadcast],
  ["after", (await import("../mod.ts")).Broadcast],
];

let hubs = 0;

/** Milliseconds for `messages` published to `subscribers` readers on another instance. */
async function once(Broadcast: BroadcastClass, messages: number, subscribers: number): Promise<number> {
  const uri = `memory://side-by-side-${hubs++}`;
  const publisher = await Broadcast.connect(uri);
  const receiver = await Broadcast.connect(uri, { subscriberBuffer: messages });
  const readers = Array.from({ length: subscribers }, () => count(receiver.subscribe(CHANNEL), messages));
  await receiver.ready();
  const start = performance.now();
  for (let i = 0; i < messages;) {
    let last!: Promise<void>;
    for (const end = Math.min(messages, i + CHUNK); i < end; i++) last = publisher.publish(CHANNEL, MESSAGE);
    await last;
  }
  const counts = await Promise.all(readers);
  const elapsed = performance.now() - start;
  await Promise.all([publisher.disconnect(), receiver.disconnect()]);
  if (counts.some((c) => c !== messages)) throw new Error(`lost events: ${counts.join()}`);
  return elapsed;
}

async function count(stream: ReadableStream<Frame>, messages: number): Promise<number> {
  let events = 0;
  for await (const frame of stream) {
    if (frame.type === "event" && ++events === messages) break;
  }
  return events;
}

/** Microseconds per publish → receive, one message at a time. */
async function roundTrip(Broadcast: BroadcastClass, messages: number): Promise<number> {
  const uri = `memory://side-by-side-${hubs++}`;
  const publisher = await Broadcast.connect(uri);
  const receiver = await Broadcast.connect(uri);
  const reader = receiver.subscribe(CHANNEL).getReader();
  await receiver.ready();
  const start = performance.now();
  for (let i = 0; i < messages; i++) {
    publisher.publish(CHANNEL, MESSAGE);
    await reader.read();
  }
  const elapsed = performance.now() - start;
  await Promise.all([publisher.disconnect(), receiver.disconnect()]);
  return (elapsed * 1000) / messages;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

for (const [label, messages, subscribers] of [["1 subscriber", n, 1], ["100 subscribers", Math.floor(n / 20), 100]] as const) {
  const times: Record<string, number[]> = { before: [], after: [] };
  for (const [, Broadcast] of sides) await once(Broadcast, messages, subscribers); // warm-up
  for (let run = 0; run < runs; run++) {
    for (const [name, Broadcast] of run % 2 === 0 ? sides : [...sides].reverse()) {
      times[name].push(await once(Broadcast, messages, subscribers));
    }
  }
  const events = messages * subscribers;
  const rate = (ms: number) => `${(events / ms / 1e3).toFixed(2)} M events/s`;
  const [before, after] = [median(times.before), median(times.after)];
  console.log(`${label}: before ${rate(before)}, after ${rate(after)}; after/before throughput ${(before / after).toFixed(3)}×`);
}

{
  const times: Record<string, number[]> = { before: [], after: [] };
  for (let run = 0; run < runs; run++) {
    for (const [name, Broadcast] of run % 2 === 0 ? sides : [...sides].reverse()) {
      times[name].push(await roundTrip(Broadcast, 5_000));
    }
  }
  const [before, after] = [median(times.before), median(times.after)];
  console.log(`one at a time: before ${before.toFixed(1)} µs, after ${after.toFixed(1)} µs per publish → receive`);
}
