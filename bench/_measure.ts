/**
 * What the backbone benchmarks measure, written once for every side (a raw
 * client or streamcast): throughput, latency, and the runs that alternate
 * the sides so that all of them see the same machine load.
 */
import process from "node:process";

/** What a measurement needs of a benchmarked side. */
export interface Endpoint {
  publish(channel: string, message: string): Promise<unknown>;
  /** Publishes a chunk in one call, for a side that batches by hand; without it, each message goes on its own. */
  publishChunk?(channel: string, messages: string[]): Promise<unknown>;
  /** Resolves once `onMessage` will hear every message published from now on. */
  subscribe(channel: string, onMessage: (message: string) => void): Promise<void>;
}

/** What spoils a run's figures: events dropped to subscriber overflow, resync frames handed out. */
export interface Faults {
  dropped: number;
  resyncs: number;
}

/** A side as a run opens and closes it. */
export interface Side extends Endpoint {
  /** Its faults so far; a raw client has no such count. */
  faults?(): Faults;
  close(): Promise<void>;
}

let channels = 0;
/** A channel of its own for each measurement, across processes and runs too: Kafka topics and Redis streams outlive a run. */
export const channel = (): string => `bench-${process.pid}-${Date.now().toString(36)}-${channels++}`;

/** A throughput measurement. */
export interface Load {
  messages: number;
  payload: string;
  /** Publishes fired at once, the chunk awaited before the next. @default {1000} */
  chunk?: number;
  /** Subscriptions that each receive every message. @default {1} */
  subscribers?: number;
}

/**
 * Messages per second from the first publish until every subscriber has the
 * last (each message `payload` with its number written over its start), and
 * this process's CPU time per message in µs (publisher and subscriber both;
 * a server's excluded): on a shared machine the steadier of the two.
 */
export async function throughput(side: Endpoint, load: Load): Promise<{ msgsPerSecond: number; cpuUs: number }> {
  const { messages: n, payload, chunk = 1_000, subscribers = 1 } = load;
  const ch = channel();
  let received = 0;
  let done!: () => void;
  const all = new Promise<void>((resolve) => done = resolve);
  for (let s = 0; s < subscribers; s++) {
    await side.subscribe(ch, () => {
      if (++received === n * subscribers) done();
    });
  }
  const cpu = process.cpuUsage();
  const start = performance.now();
  for (let i = 0; i < n;) {
    const messages: string[] = [];
    // Numbered, size unchanged: Postgres collapses identical notifications of one transaction,
    // so streamcast ends a batch at each repeat, a cost that traffic of distinct messages never pays.
    for (const end = Math.min(n, i + chunk); i < end; i++) messages.push(`${i} ${payload.slice(String(i).length + 1)}`);
    await (side.publishChunk?.(ch, messages) ?? Promise.all(messages.map((message) => side.publish(ch, message))));
  }
  await all;
  const elapsed = performance.now() - start;
  const used = process.cpuUsage(cpu);
  return { msgsPerSecond: n / (elapsed / 1000), cpuUs: (used.user + used.system) / n };
}

/**
 * Publish → receive latencies in ms of `rate` messages a second for
 * `seconds`. Each message is `payload` with its send time written over its
 * start, so size stays the same.
 */
export async function latency(side: Endpoint, load: { payload: string; rate: number; seconds: number }): Promise<number[]> {
  const { payload, rate, seconds } = load;
  const ch = channel();
  const total = Math.round(rate * seconds);
  const samples: number[] = [];
  let done!: () => void;
  const all = new Promise<void>((resolve) => done = resolve);
  await side.subscribe(ch, (message) => {
    samples.push(performance.now() - Number(message.slice(0, message.indexOf(" "))));
    if (samples.length === total) done();
  });
  const start = performance.now();
  let sent = 0;
  while (sent < total) {
    // Catch up with the schedule, then yield a millisecond.
    const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * rate));
    for (; sent < due; sent++) {
      const stamp = `${performance.now()} `;
      side.publish(ch, stamp + payload.slice(stamp.length)).catch(() => {});
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  await all;
  return samples;
}

/** How the sides are compared: a throughput load and a latency schedule per run. */
export interface Plan extends Load {
  /** Runs measured, after one warm-up run of each side. */
  runs: number;
  rate: number;
  seconds: number;
  /** Where progress goes, a line per side and run. @default {() => {}} */
  log?: (line: string) => void;
}

/** One run of one side. */
export interface Run {
  msgsPerSecond: number;
  cpuUs: number;
  p50Ms: number;
  p99Ms: number;
}

/** A side's medians over the runs, the runs themselves, and its faults over all of them, the warm-up included. */
export interface Figures extends Run, Faults {
  runs: Run[];
}

/**
 * Opens, measures and closes each side in turn, run after run, so that all
 * see the same machine load; the first run warms up and is not counted.
 */
export async function compare<Name extends string>(sides: Record<Name, () => Promise<Side>>, plan: Plan): Promise<Record<Name, Figures>> {
  const names = Object.keys(sides) as Name[];
  const figures = Object.fromEntries(names.map((name) => [name, { runs: [] as Run[], dropped: 0, resyncs: 0 }])) as Record<Name, Figures>;
  for (let run = 0; run <= plan.runs; run++) {
    for (const name of names) {
      plan.log?.(`${run === 0 ? "warm-up" : `run ${run}/${plan.runs}`}: ${name} …`);
      const side = await sides[name]();
      try {
        const { msgsPerSecond, cpuUs } = await throughput(side, plan);
        const sorted = (await latency(side, plan)).sort((a, b) => a - b);
        if (run > 0) figures[name].runs.push({ msgsPerSecond, cpuUs, p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99) });
        const faults = side.faults?.();
        figures[name].dropped += faults?.dropped ?? 0;
        figures[name].resyncs += faults?.resyncs ?? 0;
      } finally {
        await side.close();
      }
    }
  }
  for (const f of Object.values<Figures>(figures)) {
    for (const key of ["msgsPerSecond", "cpuUs", "p50Ms", "p99Ms"] as const) f[key] = median(f.runs.map((r) => r[key]));
  }
  return figures;
}

/** The `p`th percentile of ascending `sorted`. */
export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}
