/**
 * The reading side of history mode on Redis: one connection that runs
 * `XREAD COUNT <n> BLOCK <ms> STREAMS k1 k2 … id1 id2 …` in a loop, from each
 * followed channel's position, and hands each reply on as one batch.
 *
 * The reader is the one owner of the channels' positions. Following or
 * forgetting a channel interrupts the blocked `XREAD` (`CLIENT UNBLOCK`, sent
 * on another connection) so that the next one reads the new set at once.
 *
 * @module
 */
import type { Clock } from "../../lib/util/clock.ts";
import { type Deferred, deferred } from "../../lib/util/deferred.ts";
import { type Frame, resyncFrame } from "../../lib/contract/frame.ts";
import { type Entry, eventsOf, streamsOf } from "./stream_replies.ts";
import type { EventFrame } from "../../lib/contract/frame.ts";

/** What a {@linkcode StreamReader} needs from its link. */
export interface StreamReaderOptions {
  /** Sends a command on the reader's own connection. */
  send(args: string[]): Promise<unknown>;
  /** Sends `CLIENT UNBLOCK <reader>` on another connection: whether it unblocked it. */
  unblock(): Promise<boolean>;
  /**
   * Checks a suspect reply of `channel` read after `position`, on another
   * connection: undefined when it stands, else the stream read again together
   * with whether events after `position` were no longer kept when it read.
   */
  reread(channel: string, position: string): Promise<{ gap: boolean; entries: Entry[] } | undefined>;
  /** Takes the frames of one reply. */
  deliver(frames: Frame[]): void;
  /** Reports an entry that is not an event. */
  dropped(frame: EventFrame, reason: unknown): void;
  /** Entries per stream per `XREAD`: no more than the history keeps, so that a reply overtaken by trimming comes back full. */
  count: number;
  /** How long one `XREAD` blocks, in milliseconds. */
  block: number;
  /** The history's age limit in milliseconds, if any. */
  maxAge?: number;
  clock: Clock;
}

export class StreamReader {
  readonly #options: StreamReaderOptions;
  readonly #positions = new Map<string, string>();
  // Settles once an XREAD (or PING) sent after it was made comes back.
  #round: Deferred<void> = deferred();
  #roundAsked = false;
  #idle: Deferred<void> | undefined;
  #blocked: Promise<unknown> | undefined;
  #interrupting: Promise<unknown> | undefined;
  #stopped = false;

  constructor(options: StreamReaderOptions) {
    this.#options = options;
    this.#round.promise.catch(() => {});
  }

  /** Reads `channel` from right after `position` on. */
  follow(channel: string, position: string): void {
    this.#positions.set(channel, position);
    this.#nudge();
  }

  /** Stops reading `channel`. */
  forget(channel: string): void {
    if (this.#positions.delete(channel)) this.#nudge();
  }

  /** Resolves once the reader's connection answered a command sent after this call. */
  round(): Promise<void> {
    this.#roundAsked = true;
    const round = this.#round.promise;
    this.#nudge();
    return round;
  }

  /** Runs until stopped or until a command fails; rejects with that failure. */
  async run(): Promise<void> {
    try {
      while (!this.#stopped) await this.#step();
    } catch (error) {
      this.#round.reject(error);
      throw error;
    }
  }

  /** Stops after the command in flight; a round still asked for fails with `reason`. */
  stop(reason: Error): void {
    this.#stopped = true;
    this.#round.reject(reason);
    this.#idle?.resolve();
  }

  async #step(): Promise<void> {
    const { send, count, block } = this.#options;
    if (this.#positions.size === 0 && !this.#roundAsked) {
      this.#idle = deferred();
      await this.#idle.promise;
      this.#idle = undefined;
      return;
    }
    const round = this.#round;
    const asked = this.#roundAsked;
    this.#round = deferred();
    this.#round.promise.catch(() => {});
    this.#roundAsked = false;
    if (this.#positions.size === 0) {
      await send(["PING"]);
      return round.resolve();
    }
    const from = new Map(this.#positions);
    // A round asked for is answered at once: that XREAD does not block.
    const wait = asked ? [] : ["BLOCK", String(block)];
    const xread = send(["XREAD", "COUNT", String(count), ...wait, "STREAMS", ...from.keys(), ...from.values()]);
    if (!asked) this.#blocked = xread;
    let reply: unknown;
    try {
      reply = await xread;
    } finally {
      this.#blocked = undefined;
    }
    round.resolve();
    await this.#take(reply, from);
  }

  async #take(reply: unknown, from: Map<string, string>): Promise<void> {
    const { count, maxAge, clock, reread, deliver, dropped } = this.#options;
    // Trimming may have overtaken a reader that is far behind: its reply comes back full,
    // or, with an age limit, it reads from a position older than that limit. Such a
    // stream is read again, in one transaction with what tells whether it was.
    const streams = await Promise.all(streamsOf(reply).map(async ([channel, entries]) => {
      const position = from.get(channel)!;
      const old = maxAge !== undefined && Number(position.split("-")[0]) < clock.now() - maxAge;
      if (entries.length < count && !old) return { channel, gap: false, entries };
      return { channel, ...await reread(channel, position) ?? { gap: false, entries } };
    }));
    const frames: Frame[] = [];
    for (const { channel, gap, entries } of streams) {
      // Forgotten, or followed from elsewhere, while this reply was on its way.
      if (this.#positions.get(channel) !== from.get(channel)) continue;
      if (gap) frames.push(resyncFrame(channel, "gap"));
      if (entries.length === 0) continue;
      frames.push(...eventsOf(channel, entries, dropped));
      this.#positions.set(channel, entries[entries.length - 1][0]);
    }
    if (frames.length > 0 && !this.#stopped) deliver(frames);
  }

  #nudge(): void {
    this.#idle?.resolve();
    const blocked = this.#blocked;
    if (blocked !== undefined && this.#interrupting !== blocked) this.#interrupt(blocked);
  }

  // CLIENT UNBLOCK may overtake the XREAD on its way to the server: try again until it lands.
  async #interrupt(xread: Promise<unknown>): Promise<void> {
    this.#interrupting = xread;
    try {
      while (this.#blocked === xread && !this.#stopped) {
        if (await this.#options.unblock()) return;
        await this.#options.clock.delay(5);
      }
    } catch {
      // The link is lost: its error goes through the connections' own listeners.
    } finally {
      if (this.#interrupting === xread) this.#interrupting = undefined;
    }
  }
}
