/**
 * `streamcast bench`: throughput and end-to-end latency of one backbone, from
 * a publishing instance to subscribers on a second instance.
 */
import process from "node:process";
import type { Broadcast } from "../../mod.ts";
import { describeInteger, integer, invalid, parseCommand, text } from "../args.ts";
import { CommandFailure, connectOrExplain, openBroadcast, reason, splitTarget } from "../broadcast.ts";
import { type BenchPlan, type BenchResult, printTable, startProgressBar, summarise } from "./report.ts";

/** `streamcast bench --help`. */
export const BENCH_USAGE = `Usage: streamcast bench [<uri> | --uri <uri>] [--messages N] [--size BYTES]
                       [--subscribers N] [--rate N] [--json]

Publishes N messages of SIZE bytes from one Broadcast instance and receives
them on subscribers of a second instance, then prints throughput and the
end-to-end latency percentiles (each message carries its send time; latency
is measured on the first subscriber).

  <uri>, --uri <uri>  the backbone; "-" or none: OPAL_BROADCAST_URI, else memory://
  --messages N        messages to publish, 1 to 10000000 (default 100000)
  --size BYTES        bytes per message, 16 to 1048576 (default 100)
  --subscribers N     subscribers on the receiving instance, 1 to 1000 (default 1)
  --rate N            publish N messages a second (default 0: as fast as
                      possible, so latency includes the queueing of a flood;
                      give a rate to see latency at a steady load)
  --json              print one JSON object instead of the table
  -h, --help          this help

A progress bar is drawn on stderr when stderr is a terminal.
Exit: 0 when every subscriber received every message, 1 otherwise, 2 on bad arguments.

Examples:
  streamcast bench
  streamcast bench redis://localhost:6379 --messages 200000 --subscribers 4
  streamcast bench postgres://postgres@localhost/postgres --rate 2000 --json`;

const SPEC = {
  uri: { type: "string", schema: text, expected: "a URI" },
  messages: { type: "string", schema: integer(1, 10_000_000), expected: describeInteger(1, 10_000_000) },
  size: { type: "string", schema: integer(16, 1_048_576), expected: describeInteger(16, 1_048_576) },
  subscribers: { type: "string", schema: integer(1, 1_000), expected: describeInteger(1, 1_000) },
  rate: { type: "string", schema: integer(0), expected: describeInteger(0) },
  json: { type: "boolean" },
} as const;

/** Publishes fired before awaiting the last one's promise, as a server in a burst would. */
const CHUNK = 1_000;
/** With no event for this long, the missing ones are not coming. */
const STALL_MS = 10_000;

/** Runs `streamcast bench`; resolves with the exit code. */
export async function bench(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommand(argv, SPEC);
  if (values.help) {
    console.log(BENCH_USAGE);
    return 0;
  }
  const { uri, rest } = splitTarget(positionals, values.uri);
  if (rest.length > 0) throw invalid("argument", "options only after the URI", JSON.stringify(rest[0]));
  const plan: BenchPlan = {
    messages: (values.messages as number | undefined) ?? 100_000,
    size: (values.size as number | undefined) ?? 100,
    subscribers: (values.subscribers as number | undefined) ?? 1,
    rate: (values.rate as number | undefined) ?? 0,
  };
  // Defaults, so the OPAL_BROADCAST_RECONNECT_* variables can change them.
  const defaults = { reconnect: { maxRetries: 3, minDelay: 200, maxDelay: 1_000 } };
  // Room for the whole run in each subscriber: this measures delivery, not overflow.
  const flags = { subscriberBuffer: plan.messages };
  const publisher = openBroadcast(uri, defaults, flags);
  const receiver = openBroadcast(uri, defaults, flags);
  const failure: Failure = {};
  for (const broadcast of [publisher, receiver]) {
    broadcast.addEventListener("giveup", (event) => failure.error ??= event.detail.error);
  }
  try {
    await Promise.all([connectOrExplain(publisher), connectOrExplain(receiver)]);
    const result = await run(publisher, receiver, plan, values.json !== true && process.stderr.isTTY === true, failure)
      .catch((error) => {
        throw failure.error === undefined ? error : new CommandFailure(`gave up on ${receiver.uri}: ${reason(failure.error)}`);
      });
    if (values.json) console.log(JSON.stringify(result, null, 2));
    else printTable(result);
    return result.complete ? 0 : 1;
  } finally {
    await Promise.all([publisher.disconnect(), receiver.disconnect()]);
  }
}

/** The error either instance gave up on the backbone with, once one has. */
interface Failure {
  error?: unknown;
}

async function run(publisher: Broadcast, receiver: Broadcast, plan: BenchPlan, progress: boolean, failure: Failure): Promise<BenchResult> {
  const channel = `bench-${Math.random().toString(36).slice(2, 10)}`;
  const latencies = new Float64Array(plan.messages);
  const counts = new Array<number>(plan.subscribers).fill(0);
  let resyncs = 0;
  let lastEvent = performance.now();
  const readers = counts.map(async (_, s) => {
    for await (const frame of receiver.subscribe(channel)) {
      if (frame.type === "resync") resyncs++;
      else {
        if (s === 0) latencies[counts[0]] = performance.now() - Number(frame.message.slice(0, frame.message.indexOf(" "))) / 1000;
        lastEvent = performance.now();
        if (++counts[s] === plan.messages) return;
      }
    }
  });
  // Handled from here on: a give-up can end the readers before anything awaits them.
  const allIn = Promise.all(readers).then(() => true);
  allIn.catch(() => {});
  await receiver.ready();
  const total = plan.messages * plan.subscribers;
  const received = () => counts.reduce((a, b) => a + b, 0);
  const stopBar = progress ? startProgressBar(() => received() / total) : () => {};
  try {
    const start = performance.now();
    const failures = await publishAll(publisher, channel, plan, () => failure.error !== undefined);
    if (failure.error !== undefined) throw failure.error;
    const published = performance.now();
    lastEvent = Math.max(lastEvent, published);
    const stalled = new Promise<false>((resolve) => {
      const timer = setInterval(() => {
        if (performance.now() - lastEvent > STALL_MS) resolve(false);
      }, 100);
      const clear = () => clearInterval(timer);
      allIn.then(clear, clear);
    });
    const complete = await Promise.race([allIn, stalled]);
    const end = performance.now();
    return summarise({
      uri: receiver.uri, plan, start, published, end, counts, resyncs, complete: complete && failures === 0, failures,
      latencies: latencies.subarray(0, counts[0]),
      dropped: receiver.stats.dropped,
    });
  } finally {
    stopBar();
  }
}

/**
 * Publishes every message, each stamped with its send time in µs; flat out,
 * or paced at `rate`, until either instance gives up. Resolves with the
 * number of publishes that failed.
 */
async function publishAll(broadcast: Broadcast, channel: string, plan: BenchPlan, gaveUp: () => boolean): Promise<number> {
  const padding = "x".repeat(plan.size);
  let failures = 0;
  const send = () => {
    const stamp = `${Math.round(performance.now() * 1000)} `;
    return broadcast.publish(channel, stamp + padding.slice(stamp.length)).catch(() => void failures++);
  };
  if (plan.rate === 0) {
    for (let i = 0; i < plan.messages && !gaveUp();) {
      let last!: Promise<void>;
      for (const end = Math.min(plan.messages, i + CHUNK); i < end; i++) last = send();
      await last;
    }
    return failures;
  }
  const begin = performance.now();
  let pending: Promise<void> = Promise.resolve();
  for (let sent = 0; sent < plan.messages && !gaveUp();) {
    // Catch up with the schedule, then yield a millisecond.
    const due = Math.min(plan.messages, Math.floor(((performance.now() - begin) / 1000) * plan.rate));
    for (; sent < due; sent++) pending = send();
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  await pending;
  return failures;
}
