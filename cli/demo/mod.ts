/**
 * `streamcast demo`: several workers share a channel over a backbone, ride out
 * a cut and a stall of it, and prove at the end that no subscriber lost or
 * reordered a message. What `npm start` runs.
 */
import type { BroadcastOptions, Frame } from "../../mod.ts";
import { describeInteger, integer, invalid, parseCommand, text } from "../args.ts";
import { CommandFailure, connectOrExplain, openBroadcast, reason, splitTarget } from "../broadcast.ts";
import { type Outage, outageFor } from "./outage.ts";
import { check, printSummary, progressLine, type Subscriber, say, startProgress, type Worker } from "./report.ts";

/** `streamcast demo --help`. */
export const DEMO_USAGE = `Usage: streamcast demo [<uri> | --uri <uri>] [--workers N] [--subscribers N]

Runs several Broadcast instances as if they were server workers, each with
subscribers on one channel and publishing 100 messages a second, then cuts
the backbone, restores it, stalls it (connections open but silent, as behind
a dead firewall) and restores it again. Prints what happens as it happens
(a live progress line on a terminal), the counters of every worker, and a
check per subscriber: every message from every worker, in order, and one
resync frame per gap.

  <uri>, --uri <uri> the backbone (default memory://). For redis://, postgres://
                     and kafka:// the demo runs a TCP proxy in front of the
                     URI's host:port and the workers connect through it, so the
                     outage is a real network one. (kafka: the broker must
                     advertise the address in the URI, or its connections
                     bypass the proxy.) Not over TLS (rediss://, kafka tls=true,
                     postgres sslmode=verify-full): the proxy's address would
                     fail the certificate's host check. The URI and the
                     reconnect timings are never taken from the environment
                     (the outages are timed against the demo's own).
  --workers N        instances, 1 to 16 (default 3)
  --subscribers N    subscribers per instance, 1 to 16 (default 2)
  -h, --help         this help

Exit: 0 when every check passes, 1 otherwise, 2 on bad arguments.

Examples:
  streamcast demo
  streamcast demo --uri redis://localhost:6379 --workers 4
  streamcast demo --uri postgres://postgres@localhost:5432/postgres`;

const SPEC = {
  uri: { type: "string", schema: text, expected: "a URI" },
  workers: { type: "string", schema: integer(1, 16), expected: describeInteger(1, 16) },
  subscribers: { type: "string", schema: integer(1, 16), expected: describeInteger(1, 16) },
} as const;

/** Every TICK ms each worker publishes BURST messages: 100 a second each. */
const TICK = 50;
const BURST = 5;
// Short times so the demo is quick. maxDelay stays below resyncSettle on
// purpose: the settle is what lets every peer re-subscribe before anyone
// replays, so it must outlast the spread of the peers' reconnect times.
const OPTIONS: BroadcastOptions = {
  resyncSettle: 400,
  reconnect: { minDelay: 100, maxDelay: 250, maxRetries: 0 },
  liveness: { interval: 250, timeout: 500 },
  connectTimeout: 3_000,
};

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Runs `streamcast demo`; resolves with the exit code. */
export async function demo(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommand(argv, SPEC);
  if (values.help) {
    console.log(DEMO_USAGE);
    return 0;
  }
  const target = splitTarget(positionals, values.uri);
  if (target.rest.length > 0) throw invalid("argument", "a URI with a scheme:// and options only", JSON.stringify(target.rest[0]));
  // "-" and none both mean the default here: the demo never reads OPAL_BROADCAST_URI.
  const uri = target.uri ?? "memory://";
  const names = Array.from({ length: (values.workers as number | undefined) ?? 3 }, (_, i) => `worker-${i + 1}`);
  const perWorker = (values.subscribers as number | undefined) ?? 2;
  const outage = await outageFor(uri);
  try {
    // Refuse an unreachable URI in plain words before the proxy hides it; then,
    // as the workers retry forever, make sure the path through the proxy works at all.
    const shownUri = await probe(uri);
    if (outage.uri !== uri) await probe(outage.uri, shownUri);
    return await story(outage, shownUri, names, perWorker) ? 0 : 1;
  } finally {
    await outage.close();
  }
}

/** Connects once to `uri` and leaves; resolves with the masked URI, or fails in one line. */
async function probe(uri: string, proxied?: string): Promise<string> {
  const broadcast = openBroadcast(uri, {}, { reconnect: { maxRetries: 3, minDelay: 200, maxDelay: 1_000 } });
  try {
    await connectOrExplain(broadcast);
  } catch (error) {
    throw proxied === undefined ? error : new CommandFailure(`${reason(error)} (the demo's TCP proxy in front of ${proxied})`);
  } finally {
    await broadcast.disconnect();
  }
  return broadcast.uri;
}

async function story(outage: Outage, shownUri: string, names: string[], perWorker: number): Promise<boolean> {
  // A channel of this run's own, so a shared backbone's other traffic stays out.
  const channel = `policy-demo-${Math.random().toString(36).slice(2, 8)}`;
  const via = outage.uri.startsWith("memory:") ? "" : " through a TCP proxy";
  console.log(`streamcast demo: ${names.length} workers on ${shownUri}${via}, ${perWorker} subscribers each on "${channel}"\n`);
  const workers = await Promise.all(names.map((name) => startWorker(name, outage.uri)));
  const subscribers = workers.flatMap((w) => Array.from({ length: perWorker }, (_, i) => subscribe(w, i, channel, names)));
  // Publish only once every subscription is acknowledged, or the first events could pass by.
  await Promise.all(workers.map((w) => w.broadcast.ready()));
  say(`all workers up and subscribed; each publishes ${(1000 / TICK) * BURST} messages a second`);
  const stopProgress = startProgress(() => progressLine(outage.state(), workers, subscribers));
  const stopPublishing = startPublishing(workers, channel);
  const gaps = await runOutages(outage, workers);
  stopPublishing();
  await waitFor("the last messages to arrive", () => receivedEverything(workers, subscribers), 5_000);
  stopProgress();
  const reports = await Promise.all(workers.map((w) => w.broadcast.disconnect()));
  await Promise.all(subscribers.map((s) => s.done));
  printSummary(workers);
  const unsent = reports.reduce((sum, report) => sum + report.unsent.length, 0);
  if (unsent > 0) console.log(`✗ ${unsent} broadcasts were never sent (reported by disconnect)`);
  const ok = check(workers, subscribers, gaps) && unsent === 0;
  console.log(ok ? "\nall checks passed" : "\nsome checks FAILED");
  return ok;
}

async function startWorker(name: string, uri: string): Promise<Worker> {
  const broadcast = openBroadcast(uri, {}, OPTIONS);
  await broadcast.connect();
  const worker: Worker = { name, broadcast, state: broadcast.state, failedAttempts: 0, resyncEvents: 0, sent: 0, publishErrors: [] };
  listen(worker);
  return worker;
}

/** Prints what each worker goes through, as it happens. */
function listen(worker: Worker): void {
  const { broadcast, name } = worker;
  broadcast.addEventListener("statechange", (event) => {
    const { state, cause } = event.detail;
    const why = cause === undefined ? "" : ` (${reason(cause)})`;
    const retries = state === "up" && worker.failedAttempts > 0 ? ` after ${worker.failedAttempts} failed attempts` : "";
    say(`${name}  ${worker.state} → ${state}${why}${retries}`);
    worker.state = state;
    if (state === "up") worker.failedAttempts = 0;
  });
  // One line for the first failed attempt of an outage; the rest are counted,
  // or a cut of a second would print a screenful of identical errors.
  broadcast.addEventListener("error", (event) => {
    const { error } = event.detail;
    if (worker.failedAttempts++ === 0) say(`${name}  reconnect attempt failed: ${reason(error)}; retrying with backoff`);
  });
  broadcast.addEventListener("resync", (event) => {
    const { channels } = event.detail;
    worker.resyncEvents++;
    say(`${name}  replayed its buffer and sent resync frames on ${channels} channel(s)`);
  });
  broadcast.addEventListener("overflow", (event) => {
    say(`${name}  overflow: ${JSON.stringify(event.detail)}`);
  });
}

function subscribe(worker: Worker, index: number, channel: string, names: string[]): Subscriber {
  const subscriber: Subscriber = {
    name: `${worker.name}/${"abcdefghijklmnop"[index]}`,
    worker,
    received: new Map(names.map((name) => [name, []])),
    resyncs: { reconnect: 0, overflow: 0, gap: 0 },
    done: Promise.resolve(),
  };
  subscriber.done = consume(worker.broadcast.subscribe(channel), subscriber);
  return subscriber;
}

/** Reads until the stream ends (at disconnect), recording what arrived. */
async function consume(stream: ReadableStream<Frame>, subscriber: Subscriber): Promise<void> {
  for await (const frame of stream) {
    if (frame.type === "resync") subscriber.resyncs[frame.reason]++;
    else {
      const { from, seq } = JSON.parse(frame.message) as { from: string; seq: number };
      subscriber.received.get(from)?.push(seq);
    }
  }
}

/** Each worker publishes a burst every tick, without waiting: it never blocks, outage or not. */
function startPublishing(workers: Worker[], channel: string): () => void {
  const timer = setInterval(() => {
    for (const worker of workers) {
      for (let i = 0; i < BURST; i++) {
        const message = JSON.stringify({ from: worker.name, seq: worker.sent++, rule: "allow", role: "reader" });
        worker.broadcast.publish(channel, message).catch((error) => worker.publishErrors.push(error));
      }
    }
  }, TICK);
  return () => clearInterval(timer);
}

/** Polls `condition` until it holds or `ms` pass; says so when it times out. */
async function waitFor(what: string, condition: () => boolean, ms: number): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (!condition()) {
    if (performance.now() > deadline) {
      say(`timed out after ${ms} ms waiting for ${what}`);
      return false;
    }
    await sleep(20);
  }
  return true;
}

/** The story: steady traffic, a cut, steady traffic, a stall, steady traffic. Returns the number of gaps. */
async function runOutages(outage: Outage, workers: Worker[]): Promise<number> {
  await sleep(1200);
  say("— cutting the backbone: every link errors, new connections are refused —");
  await outage.cut();
  await sleep(1000);
  say("— restoring the backbone —");
  await outage.restore();
  await waitFor("every worker to resync", () => workers.every((w) => w.resyncEvents >= 1), 8_000);
  await sleep(1000);
  say("— stalling the backbone: links stay open but stop answering (half-open TCP) —");
  await outage.stall();
  // Restore only once every worker's liveness probe has noticed: a link that
  // was stalled stays dead, and each worker must find that out on its own.
  await waitFor("every worker to detect the stall", () => workers.every((w) => w.state === "down"), 8_000);
  say("— every liveness probe noticed; restoring the backbone —");
  await outage.restore();
  await waitFor("every worker to resync", () => workers.every((w) => w.resyncEvents >= 2), 8_000);
  await sleep(1000);
  return 2;
}

function receivedEverything(workers: Worker[], subscribers: Subscriber[]): boolean {
  return subscribers.every((s) => workers.every((w) => (s.received.get(w.name) ?? []).includes(w.sent - 1)));
}
