/** Measurement helpers the backbone benchmarks share. */
import process from "node:process";

/** What a latency run needs of a benchmarked side: raw client or streamcast. */
export interface Endpoint {
  publish(channel: string, message: string): Promise<unknown>;
  subscribe(channel: string, onMessage: (message: string) => void): Promise<void>;
}

/**
 * Publish → receive latencies in ms of `rate` messages a second for
 * `seconds` on `channel`. Each message is `payload` with its send time
 * written over its start, so size stays the same.
 */
export async function latency(side: Endpoint, channel: string, payload: string, rate: number, seconds: number): Promise<number[]> {
  const total = Math.round(rate * seconds);
  const samples: number[] = [];
  let done!: () => void;
  const all = new Promise<void>((resolve) => done = resolve);
  await side.subscribe(channel, (message) => {
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
      side.publish(channel, stamp + payload.slice(stamp.length)).catch(() => {});
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  await all;
  return samples;
}

/**
 * Messages per second from the first publish until the last of `n` arrived
 * on `channel`, publishes fired concurrently in chunks of `chunk` (each
 * chunk awaited), and this process's CPU time per message in µs (publisher
 * and subscriber both; a server's excluded): on a shared machine the
 * steadier of the two.
 */
export async function throughput(
  side: Endpoint,
  channel: string,
  n: number,
  payload: string,
  chunk = 1_000,
): Promise<{ msgsPerSecond: number; cpuUs: number }> {
  let received = 0;
  let done!: () => void;
  const all = new Promise<void>((resolve) => done = resolve);
  await side.subscribe(channel, () => {
    if (++received === n) done();
  });
  const cpu = process.cpuUsage();
  const start = performance.now();
  for (let i = 0; i < n;) {
    const sent: Promise<unknown>[] = [];
    for (const end = Math.min(n, i + chunk); i < end; i++) sent.push(side.publish(channel, payload));
    await Promise.all(sent);
  }
  await all;
  const elapsed = performance.now() - start;
  const used = process.cpuUsage(cpu);
  return { msgsPerSecond: n / (elapsed / 1000), cpuUs: (used.user + used.system) / n };
}

/** The `p`th percentile of ascending `sorted`. */
export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}
