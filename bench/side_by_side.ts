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
 * Both checkouts are driven by this one's harness (_streamcast.ts,
 * _measure.ts), so only their Broadcast differs.
 */
import { resolve } from "node:path";
import process from "node:process";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import type { Broadcast } from "../mod.ts";
import { channel, median, throughput } from "./_measure.ts";
import { streamcastSide } from "./_streamcast.ts";

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
const sides: [string, typeof Broadcast][] = [
  ["before", (await import(pathToFileURL(resolve(values.before, "mod.ts")).href)).Broadcast],
  ["after", (await import("../mod.ts")).Broadcast],
];

let hubs = 0;
const hub = () => `memory://side-by-side-${hubs++}`;

/** Events a second: `messages` published to `subscribers` readers on another instance. */
async function once(broadcast: typeof Broadcast, messages: number, subscribers: number): Promise<number> {
  const side = await streamcastSide(hub(), { broadcast, subscriberBuffer: messages });
  try {
    return (await throughput(side, { messages, payload: MESSAGE, subscribers })).msgsPerSecond * subscribers;
  } finally {
    await side.close();
  }
}

/** Microseconds per publish → receive, one message at a time. */
async function roundTrip(broadcast: typeof Broadcast, messages: number): Promise<number> {
  const side = await streamcastSide(hub(), { broadcast });
  const ch = channel();
  let arrived!: () => void;
  await side.subscribe(ch, () => arrived());
  const start = performance.now();
  for (let i = 0; i < messages; i++) {
    const received = new Promise<void>((resolve) => arrived = resolve);
    void side.publish(ch, MESSAGE);
    await received;
  }
  const elapsed = performance.now() - start;
  await side.close();
  return (elapsed * 1000) / messages;
}

for (const [label, messages, subscribers] of [["1 subscriber", n, 1], ["100 subscribers", Math.floor(n / 20), 100]] as const) {
  const rates: Record<string, number[]> = { before: [], after: [] };
  for (const [, broadcast] of sides) await once(broadcast, messages, subscribers); // warm-up
  for (let run = 0; run < runs; run++) {
    for (const [name, broadcast] of run % 2 === 0 ? sides : [...sides].reverse()) {
      rates[name].push(await once(broadcast, messages, subscribers));
    }
  }
  const rate = (perSecond: number) => `${(perSecond / 1e6).toFixed(2)} M events/s`;
  const [before, after] = [median(rates.before), median(rates.after)];
  console.log(`${label}: before ${rate(before)}, after ${rate(after)}; after/before throughput ${(after / before).toFixed(3)}×`);
}

{
  const times: Record<string, number[]> = { before: [], after: [] };
  for (let run = 0; run < runs; run++) {
    for (const [name, broadcast] of run % 2 === 0 ? sides : [...sides].reverse()) {
      times[name].push(await roundTrip(broadcast, 5_000));
    }
  }
  const [before, after] = [median(times.before), median(times.after)];
  console.log(`one at a time: before ${before.toFixed(1)} µs, after ${after.toFixed(1)} µs per publish → receive`);
}
