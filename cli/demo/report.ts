/**
 * What the demo shows: lines as things happen, a live progress line, the
 * table of counters, and the checks that decide its exit code.
 */
import process from "node:process";
import type { Broadcast, State } from "../../mod.ts";

/** One instance of the demo: a Broadcast standing for one server worker. */
export interface Worker {
  name: string;
  broadcast: Broadcast;
  state: State;
  failedAttempts: number;
  /** Gaps this worker came through: its subscribers each owe one resync frame per gap. */
  resyncEvents: number;
  /** Messages this worker published: its sequence numbers are 0 … sent-1. */
  sent: number;
  publishErrors: unknown[];
}

/** One subscriber stream of a worker, and what arrived on it. */
export interface Subscriber {
  name: string;
  worker: Worker;
  /** Sequence numbers received, per publishing worker, in arrival order. */
  received: Map<string, number[]>;
  resyncs: { reconnect: number; overflow: number; gap: number };
  done: Promise<void>;
}

const isTTY = process.stdout.isTTY === true;
const startedAt = performance.now();
const seconds = () => `${((performance.now() - startedAt) / 1000).toFixed(1).padStart(4)}s`;

/** Prints a line above the live progress line (which is redrawn below it). */
export function say(text: string): void {
  if (isTTY) process.stdout.write(`\r\x1b[K${seconds()}  ${text}\n`);
  else console.log(`${seconds()}  ${text}`);
}

/** Every event received by one subscriber. */
export function countAll(subscriber: Subscriber): number {
  let count = 0;
  for (const seqs of subscriber.received.values()) count += seqs.length;
  return count;
}

/** The progress line: path state, worker states, sent, waiting in buffers, received. */
export function progressLine(path: string, workers: Worker[], subscribers: Subscriber[]): string {
  const states = workers.map((w) => w.state).join(" ");
  const sent = workers.reduce((sum, w) => sum + w.sent, 0);
  const waiting = workers.reduce((sum, w) => sum + w.broadcast.stats.buffered - w.broadcast.stats.replayed, 0);
  const received = subscribers.reduce((sum, s) => sum + countAll(s), 0);
  return `${seconds()}  backbone ${path} │ workers ${states} │ sent ${sent} │ buffered ${Math.max(0, waiting)} │ ` +
    `received ${received}/${sent * subscribers.length}`;
}

/** Redraws one line on a terminal; elsewhere prints a line a second. */
export function startProgress(line: () => string): () => void {
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

/** The table of each worker's counters. */
export function printSummary(workers: Worker[]): void {
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
  // On a loaded machine a probe can time out on its own and make one more gap
  // than the demo made: what must hold is one frame per gap the worker saw.
  const owed = subscriber.worker.resyncEvents;
  if (owed < gaps) problems.push(`its worker came through ${owed} of the ${gaps} outages`);
  if (reconnect !== owed) problems.push(`${reconnect} resync frames for ${owed} gaps`);
  if (overflow > 0) problems.push(`${overflow} overflow resync frames`);
  return problems;
}

/** Prints a ✓ or ✗ line per subscriber (and per worker with rejected publishes); true when all pass. */
export function check(workers: Worker[], subscribers: Subscriber[], gaps: number): boolean {
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
    else {
      const gapsSeen = subscriber.worker.resyncEvents;
      console.log(`✓ ${subscriber.name}: all ${countAll(subscriber)} messages from ${workers.length} workers, ` +
        `each in its publisher's order; ${gapsSeen} resync frames for ${gapsSeen} gaps`);
    }
  }
  return ok;
}
