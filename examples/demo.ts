/**
 * streamcast in a few seconds: three workers share a "policy" channel over the
 * in-process memory:// backbone, ride out a cut and a stall of that backbone,
 * and prove at the end that no subscriber lost or reordered a message.
 *
 *   npm start        (tsx examples/demo.ts)
 *
 * Exits 0 when every check passes, 1 otherwise.
 */
import { Broadcast, type BroadcastOptions, type Frame, type State } from "../mod.ts";
import { memoryHub } from "../backends/memory.ts";

const URI = "memory://demo";
const hub = memoryHub("demo");
const CHANNEL = "policy";
const WORKERS = ["worker-1", "worker-2", "worker-3"];
const SUBSCRIBERS_PER_WORKER = 2;
/** Every TICK ms each worker publishes BURST messages: 100 a second each. */
const TICK = 50;
const BURST = 5;
// Short times so the demo is quick. maxDelay stays below resyncSettle on
// purpose: the settle is what lets every peer re-subscribe before anyone
// replays, so it must outlast the spread of the peers' reconnect times.
const OPTIONS: BroadcastOptions = {
  resyncSettle: 300,
  reconnect: { minDelay: 100, maxDelay: 200 },
  liveness: { interval: 200, timeout: 200 },
};

interface Worker {
  name: string;
  broadcast: Broadcast;
  state: State;
  failedAttempts: number;
  resyncEvents: number;
  /** Messages this worker published: its sequence numbers are 0 … sent-1. */
  sent: number;
  publishErrors: unknown[];
}

interface Subscriber {
  name: string;
  /** Sequence numbers received, per publishing worker, in arrival order. */
  received: Map<string, number[]>;
  resyncs: { reconnect: number; overflow: number };
  done: Promise<void>;
}

const isTTY = process.stdout.isTTY === true;
const startedAt = performance.now();
const seconds = () => `${((performance.now() - startedAt) / 1000).toFixed(1).padStart(4)}s`;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Prints a line above the live progress line (which is redrawn below it). */
function say(text: string): void {
  if (isTTY) process.stdout.write(`\r\x1b[K${seconds()}  ${text}\n`);
  else console.log(`${seconds()}  ${text}`);
}

async function startWorker(name: string): Promise<Worker> {
  const broadcast = await Broadcast.connect(URI, OPTIONS);
  const worker: Worker = { name, broadcast, state: broadcast.state, failedAttempts: 0, resyncEvents: 0, sent: 0, publishErrors: [] };
  listen(worker);
  return worker;
}

/** Prints what each worker goes through, as it happens. */
function listen(worker: Worker): void {
  const { broadcast, name } = worker;
  broadcast.addEventListener("statechange", (event) => {
    const { state, cause } = (event as CustomEvent<{ state: State; cause?: unknown }>).detail;
    const why = cause instanceof Error ? ` (${cause.message})` : "";
    const retries = state === "up" && worker.failedAttempts > 0 ? ` after ${worker.failedAttempts} failed attempts` : "";
    say(`${name}  ${worker.state} → ${state}${why}${retries}`);
    worker.state = state;
    if (state === "up") worker.failedAttempts = 0;
  });
  // One line for the first failed attempt of an outage; the rest are counted,
  // or a cut of a second would print a screenful of identical errors.
  broadcast.addEventListener("error", (event) => {
    const { error } = (event as CustomEvent<{ error: unknown }>).detail;
    if (worker.failedAttempts++ === 0) say(`${name}  reconnect attempt failed: ${(error as Error).message}; retrying with backoff`);
  });
  broadcast.addEventListener("resync", (event) => {
    const { channels } = (event as CustomEvent<{ channels: number }>).detail;
    worker.resyncEvents++;
    say(`${name}  replayed its buffer and sent resync frames on ${channels} channel(s)`);
  });
  broadcast.addEventListener("overflow", (event) => {
    say(`${name}  overflow: ${JSON.stringify((event as CustomEvent).detail)}`);
  });
}

function subscribe(worker: Worker, index: number): Subscriber {
  const subscriber: Subscriber = {
    name: `${worker.name}/${"abcdefgh"[index]}`,
    received: new Map(WORKERS.map((name) => [name, []])),
    resyncs: { reconnect: 0, overflow: 0 },
    done: Promise.resolve(),
  };
  subscriber.done = consume(worker.broadcast.subscribe(CHANNEL), subscriber);
  return subscriber;
}

/** Reads until the stream ends (at disconnect), recording what arrived. */
async function consume(stream: ReadableStream<Frame>, subscriber: Subscriber): Promise<void> {
  const reader = stream.getReader();
  for (;;) {
    const { value: frame, done } = await reader.read();
    if (done) return;
    if (frame.type === "resync") subscriber.resyncs[frame.reason]++;
    else {
      const { from, seq } = JSON.parse(frame.message) as { from: string; seq: number };
      subscriber.received.get(from)?.push(seq);
    }
  }
}

/** Each worker publishes a burst every tick, without waiting: it never blocks, outage or not. */
function startPublishing(workers: Worker[]): () => void {
  const timer = setInterval(() => {
    for (const worker of workers) {
      for (let i = 0; i < BURST; i++) {
        const message = JSON.stringify({ from: worker.name, seq: worker.sent++, rule: "allow", role: "reader" });
        worker.broadcast.publish(CHANNEL, message).catch((error) => worker.publishErrors.push(error));
      }
    }
  }, TICK);
  return () => clearInterval(timer);
}

function progressLine(workers: Worker[], subscribers: Subscriber[]): string {
  const states = workers.map((w) => w.state).join(" ");
  const sent = workers.reduce((sum, w) => sum + w.sent, 0);
  const waiting = workers.reduce((sum, w) => sum + w.broadcast.stats.buffered - w.broadcast.stats.replayed, 0);
  const received = subscribers.reduce((sum, s) => sum + countAll(s), 0);
  return `${seconds()}  hub ${hub.state} │ workers ${states} │ sent ${sent} │ buffered ${Math.max(0, waiting)} │ ` +
    `received ${received}/${sent * subscribers.length}`;
}

function countAll(subscriber: Subscriber): number {
  let count = 0;
  for (const seqs of subscriber.received.values()) count += seqs.length;
  return count;
}

/** Redraws one line on a terminal; elsewhere prints a line a second. */
function startProgress(line: () => string): () => void {
  let ticks = 0;
  const timer = setInterval(() => {
    // Cut to the terminal's width: a wrapped line cannot be rewritten with \r.
    if (isTTY) process.stdout.write(`\r\x1b[K${line().slice(0, (process.stdout.columns || 80) - 1)}`);
    else if (ticks++ % 10 === 0) console.log(line());
  }, 100);
  return () => {
    clearInterval(timer);
    if (isTTY) process.stdout.write("\r\x1b[K");
  };
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
async function runOutages(workers: Worker[]): Promise<number> {
  await sleep(1200);
  say("— cutting the backbone: every link errors, new connections are refused —");
  hub.cut("the demo cut the backbone");
  await sleep(1000);
  say("— restoring the backbone —");
  hub.restore();
  await waitFor("every worker to resync", () => workers.every((w) => w.resyncEvents >= 1), 5000);
  await sleep(1000);
  say("— stalling the backbone: links stay open but stop answering (half-open TCP) —");
  hub.stall();
  // Restore only once every worker's liveness probe has noticed: a link that
  // was stalled stays dead, and each worker must find that out on its own.
  await waitFor("every worker to detect the stall", () => workers.every((w) => w.state === "down"), 5000);
  say("— every liveness probe noticed; restoring the backbone —");
  hub.restore();
  await waitFor("every worker to resync", () => workers.every((w) => w.resyncEvents >= 2), 5000);
  await sleep(1000);
  return 2;
}

function receivedEverything(workers: Worker[], subscribers: Subscriber[]): boolean {
  return subscribers.every((s) => workers.every((w) => (s.received.get(w.name) ?? []).includes(w.sent - 1)));
}

function printSummary(workers: Worker[]): void {
  const head = ["worker", "sent", "published", "delivered", "buffered", "replayed", "dropped", "reconnects", "resyncs"];
  const rows = workers.map((w) => {
    const s = w.broadcast.stats;
    return [w.name, w.sent, s.published, s.delivered, s.buffered, s.replayed, s.dropped, s.reconnects, s.resyncs].map(String);
  });
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  console.log(`\n${line(head)}\n${widths.map((w) => "─".repeat(w)).join("  ")}`);
  for (const row of rows) console.log(line(row));
  console.log();
}

/** Checks one subscriber against what each worker sent; returns the problems found. */
function problemsOf(subscriber: Subscriber, workers: Worker[], gaps: number): string[] {
  const problems: string[] = [];
  for (const worker of workers) {
    const seqs = subscriber.received.get(worker.name) ?? [];
    const seen = new Set<number>();
    let highest = -1;
    let outOfOrder = 0;
    for (const seq of seqs) {
      // A repeat is allowed (delivery is at least once); a new one must be the newest yet.
      if (!seen.has(seq) && seq < highest) outOfOrder++;
      seen.add(seq);
      highest = Math.max(highest, seq);
    }
    const missing = worker.sent - [...seen].filter((seq) => seq < worker.sent).length;
    if (missing > 0) problems.push(`${missing} of ${worker.sent} from ${worker.name} missing`);
    if (outOfOrder > 0) problems.push(`${outOfOrder} from ${worker.name} out of order`);
    const repeats = seqs.length - seen.size;
    if (repeats > 0) say(`note: ${subscriber.name} got ${repeats} repeat(s) from ${worker.name} (at-least-once)`);
  }
  const { reconnect, overflow } = subscriber.resyncs;
  if (reconnect !== gaps) problems.push(`${reconnect} resync frames for ${gaps} gaps`);
  if (overflow > 0) problems.push(`${overflow} overflow resync frames`);
  return problems;
}

function check(workers: Worker[], subscribers: Subscriber[], gaps: number): boolean {
  let ok = true;
  for (const worker of workers) {
    if (worker.publishErrors.length === 0) continue;
    ok = false;
    console.log(`✗ ${worker.name}: ${worker.publishErrors.length} publishes rejected, first: ${worker.publishErrors[0]}`);
  }
  for (const subscriber of subscribers) {
    const problems = problemsOf(subscriber, workers, gaps);
    ok &&= problems.length === 0;
    if (problems.length > 0) console.log(`✗ ${subscriber.name}: ${problems.join("; ")}`);
    else console.log(`✓ ${subscriber.name}: all ${countAll(subscriber)} messages from ${workers.length} workers, each in its publisher's order; ${gaps} resync frames for ${gaps} gaps`);
  }
  return ok;
}

async function main(): Promise<void> {
  console.log(`streamcast demo: ${WORKERS.length} workers on ${URI}, ${SUBSCRIBERS_PER_WORKER} subscribers each on "${CHANNEL}"\n`);
  const workers = await Promise.all(WORKERS.map(startWorker));
  const subscribers = workers.flatMap((w) => Array.from({ length: SUBSCRIBERS_PER_WORKER }, (_, i) => subscribe(w, i)));
  // Publish only once every subscription is acknowledged, or the first events could pass by.
  await Promise.all(workers.map((w) => w.broadcast.ready()));
  say(`all workers up and subscribed; each publishes ${(1000 / TICK) * BURST} messages a second`);
  const stopProgress = startProgress(() => progressLine(workers, subscribers));
  const stopPublishing = startPublishing(workers);
  const gaps = await runOutages(workers);
  stopPublishing();
  await waitFor("the last messages to arrive", () => receivedEverything(workers, subscribers), 3000);
  stopProgress();
  const reports = await Promise.all(workers.map((w) => w.broadcast.disconnect()));
  await Promise.all(subscribers.map((s) => s.done));
  printSummary(workers);
  const unsent = reports.reduce((sum, report) => sum + report.unsent.length, 0);
  if (unsent > 0) console.log(`✗ ${unsent} broadcasts were never sent (reported by disconnect)`);
  const ok = check(workers, subscribers, gaps) && unsent === 0;
  console.log(ok ? "\nall checks passed" : "\nsome checks FAILED");
  process.exitCode = ok ? 0 : 1;
}

await main();
