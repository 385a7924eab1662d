/**
 * The figures of one `streamcast bench` run: computed from the raw timings,
 * printed as a plain table or kept as JSON, and the progress bar meanwhile.
 */
import process from "node:process";

/** What one run is asked to do. */
export interface BenchPlan {
  messages: number;
  size: number;
  subscribers: number;
  rate: number;
}

/** What `streamcast bench --json` prints. */
export interface BenchResult {
  node: string;
  /** The backbone, password masked. */
  uri: string;
  messages: number;
  size: number;
  subscribers: number;
  /** Asked publish rate in messages a second; 0 = as fast as possible. */
  rate: number;
  /** From the first publish until the last subscriber had every message. */
  seconds: number;
  /** Messages a second, first publish to last delivery: the end-to-end throughput. */
  msgsPerSecond: number;
  /** Publishes a second, until the last publish resolved (acknowledged or buffered). */
  publishedPerSecond: number;
  /** Events a second over all subscribers. */
  eventsPerSecond: number;
  /** Payload bytes delivered a second over all subscribers. */
  bytesPerSecond: number;
  /** Publish → receive on the first subscriber, in milliseconds. */
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  /** Events received, over all subscribers, of messages × subscribers. */
  received: number;
  expected: number;
  dropped: number;
  resyncs: number;
  /** Publishes that rejected. */
  failures: number;
  /** Every subscriber got every message and no publish failed. */
  complete: boolean;
}

/** The raw material of a run. */
export interface RunData {
  uri: string;
  plan: BenchPlan;
  start: number;
  published: number;
  end: number;
  counts: number[];
  resyncs: number;
  complete: boolean;
  failures: number;
  latencies: Float64Array;
  dropped: number;
}

/** The figures of a run. */
export function summarise(data: RunData): BenchResult {
  const { plan } = data;
  const seconds = (data.end - data.start) / 1000;
  const received = data.counts.reduce((a, b) => a + b, 0);
  const sorted = Float64Array.from(data.latencies).sort();
  const at = (p: number) => sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
  return {
    node: process.version,
    uri: data.uri,
    messages: plan.messages,
    size: plan.size,
    subscribers: plan.subscribers,
    rate: plan.rate,
    seconds,
    msgsPerSecond: Math.min(...data.counts) / seconds,
    publishedPerSecond: plan.messages / ((data.published - data.start) / 1000),
    eventsPerSecond: received / seconds,
    bytesPerSecond: (received * plan.size) / seconds,
    latencyMs: { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: sorted.length === 0 ? NaN : sorted[sorted.length - 1] },
    received,
    expected: plan.messages * plan.subscribers,
    dropped: data.dropped,
    resyncs: data.resyncs,
    failures: data.failures,
    complete: data.complete,
  };
}

/** Prints the result as a two-column table. */
export function printTable(r: BenchResult): void {
  const n = (value: number) => Math.round(value).toLocaleString("en");
  const ms = (value: number) => `${value.toFixed(2)} ms`;
  const rows: [string, string][] = [
    ["backbone", r.uri],
    ["messages", `${n(r.messages)} × ${n(r.size)} bytes, ${r.rate === 0 ? "as fast as possible" : `${n(r.rate)}/s`}`],
    ["subscribers", String(r.subscribers)],
    ["time", `${r.seconds.toFixed(3)} s`],
    ["throughput", `${n(r.msgsPerSecond)} msgs/s end to end (publishes: ${n(r.publishedPerSecond)}/s)`],
    ["delivered", `${n(r.eventsPerSecond)} events/s, ${(r.bytesPerSecond / 1e6).toFixed(1)} MB/s`],
    ["latency p50", ms(r.latencyMs.p50)],
    ["latency p90", ms(r.latencyMs.p90)],
    ["latency p99", ms(r.latencyMs.p99)],
    ["latency max", ms(r.latencyMs.max)],
    ["received", `${n(r.received)} of ${n(r.expected)}${r.complete ? "" : " — INCOMPLETE"}`],
    ["dropped", `${n(r.dropped)} (resync frames ${r.resyncs}, failed publishes ${r.failures})`],
  ];
  const width = Math.max(...rows.map(([key]) => key.length));
  for (const [key, value] of rows) console.log(`${key.padEnd(width)}  ${value}`);
}

/** Draws `[####....]  42%` on stderr until stopped. */
export function startProgressBar(done: () => number): () => void {
  const draw = () => {
    const share = Math.min(1, done());
    const filled = Math.round(share * 30);
    process.stderr.write(`\r\x1b[K[${"#".repeat(filled)}${".".repeat(30 - filled)}] ${(share * 100).toFixed(0).padStart(3)}%`);
  };
  const timer = setInterval(draw, 100);
  return () => {
    clearInterval(timer);
    process.stderr.write("\r\x1b[K");
  };
}
