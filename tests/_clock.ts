/** A clock whose time moves only when a test says so. */
import type { Clock } from "../mod.ts";

interface Sleeper {
  at: number;
  resolve(): void;
}

export class ManualClock implements Clock {
  #now = 0;
  #sleepers: Sleeper[] = [];
  /** Every delay asked for, in order. */
  readonly delays: number[] = [];

  now(): number {
    return this.#now;
  }

  delay(ms: number, signal?: AbortSignal): Promise<void> {
    this.delays.push(ms);
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const sleeper: Sleeper = { at: this.#now + ms, resolve };
      this.#sleepers.push(sleeper);
      signal?.addEventListener("abort", () => {
        this.#sleepers = this.#sleepers.filter((s) => s !== sleeper);
        reject(signal.reason);
      }, { once: true });
    });
  }

  /** Sleepers waiting now. */
  get pending(): number {
    return this.#sleepers.length;
  }

  /** Moves time on by `ms`, waking sleepers in order and letting promises run between them. */
  async advance(ms: number): Promise<void> {
    const end = this.#now + ms;
    for (;;) {
      await settle();
      const next = this.#sleepers.filter((s) => s.at <= end).sort((a, b) => a.at - b.at)[0];
      if (next === undefined) break;
      this.#now = next.at;
      this.#sleepers = this.#sleepers.filter((s) => s !== next);
      next.resolve();
    }
    this.#now = end;
    await settle();
  }
}

/** Lets queued promise callbacks (and a macrotask turn) run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setTimeout(resolve, 0));
}
