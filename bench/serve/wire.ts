/**
 * What the publisher, the load processes and the report of `bench/serve.ts`
 * agree on: the clock, the message text, the latency histogram, and the
 * messages the load processes and the bench exchange over IPC.
 */
import process from "node:process";

/**
 * Milliseconds on the system's monotonic clock (CLOCK_MONOTONIC): the same in
 * every process of the machine, unlike `performance.now()`, whose origin is
 * each process's start.
 */
export function now(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/**
 * A message: `<step> <seq> <sent ms> ` padded with `x` to `size` bytes. Plain
 * ASCII without quotes, so it reaches a client unchanged inside JSON.
 */
export function message(step: number, seq: number, size: number): string {
  const head = `${step} ${seq} ${now().toFixed(3)} `;
  return head + "x".repeat(Math.max(0, size - head.length));
}

/** The step, sequence number and send time at `start` in `text`; step -1 when it is not a bench message. */
export function parseMessage(text: string, start: number): { step: number; seq: number; sent: number } {
  const a = text.indexOf(" ", start);
  const b = text.indexOf(" ", a + 1);
  const c = text.indexOf(" ", b + 1);
  if (a < 0 || b < 0 || c < 0) return { step: -1, seq: 0, sent: 0 };
  return { step: Number(text.slice(start, a)), seq: Number(text.slice(a + 1, b)), sent: Number(text.slice(b + 1, c)) };
}

// Log-scale buckets 1 % wide from 1 µs: percentiles within 1 %, and a
// histogram small enough to send over IPC and add up across processes.
const GROWTH = Math.log(1.01);
const BUCKETS = 1_700; // up to 1.01^1700 µs ≈ 22 s

/** A latency histogram in milliseconds. */
export type Histogram = number[];

export function histogram(): Histogram {
  return new Array<number>(BUCKETS).fill(0);
}

export function record(h: Histogram, ms: number): void {
  const us = Math.max(1, ms * 1000);
  h[Math.min(BUCKETS - 1, Math.floor(Math.log(us) / GROWTH))]++;
}

export function addInto(into: Histogram, from: Histogram): void {
  for (let i = 0; i < BUCKETS; i++) into[i] += from[i];
}

/** The `p`th percentile of `h` in ms (the upper edge of its bucket); NaN when empty. */
export function quantile(h: Histogram, p: number): number {
  const total = h.reduce((sum, n) => sum + n, 0);
  if (total === 0) return NaN;
  const rank = Math.ceil((p / 100) * total);
  let seen = 0;
  for (let i = 0; i < BUCKETS; i++) {
    seen += h[i];
    if (seen >= rank) return Math.exp((i + 1) * GROWTH) / 1000;
  }
  return Infinity;
}

/** Which server the load processes talk to, and how. */
export type ClientKind = "sse" | "socketio-raw" | "socketio-client";

/** Bench → load process. */
export type ToLoad =
  | { type: "connect"; kind: ClientKind; port: number; channel: string; clients: number }
  | { type: "measure"; step: number }
  | { type: "stats" };

/** What a load process counted for the step being measured. */
export interface LoadStats {
  step: number;
  /** Deliveries of the step's messages. */
  received: number;
  /** Deliveries whose sequence number was not above the client's previous one. */
  outOfOrder: number;
  /** Latest delivery of the step, on `now()`'s clock. */
  lastAt: number;
  latency: Histogram;
}

/** Load process → bench. */
export type FromLoad =
  | { type: "progress"; ready: number; failed: number; closed: number; resyncs: number; firstError?: string }
  | ({ type: "stats"; closed: number; resyncs: number } & LoadStats);
