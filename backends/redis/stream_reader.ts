/**
 * The reading side of history mode on Redis: one connection that runs
 * `XREAD COUNT <n> BLOCK <ms> STREAMS k1 k2 … id1 id2 …` in a loop, from each
 * followed channel's position, and hands each reply on as one batch.
 *
 * The reader is the one owner of the channels' positions, and of the epoch
 * of the log each is in. Following or forgetting a channel interrupts the
 * blocked `XREAD` (`CLIENT UNBLOCK`, sent on another connection) so that the
 * next one reads the new set at once.
 *
 * A channel followed in a stream that did not exist yet, or had no epoch,
 * learns its epoch from the first reply that holds an entry streamcast added
 * (the script gives the stream an epoch before such an entry): that stream is
 * read again in one transaction with its epoch, once. An entry streamcast
 * added names the ID before it: when that is not where the reader stands, the
 * stream is read again in one transaction with its epoch too, since it may
 * have been deleted and made again under the blocked `XREAD` (which goes on
 * blocking across a `DEL` and wakes up in the new stream): in a log of another
 * epoch, the channel gets a resync frame (`gap`) and goes on from the new
 * log's oldest entry. A stream deleted and made again by others than
 * streamcast (`redis-cli XADD`, no `prev`) is not seen under a live reader.
 *
 * @module
 */
import type { Clock } from "../../lib/util/clock.ts";
import { type Deferred, deferred } from "../../lib/util/deferred.ts";
import { type Frame, resyncFrame } from "../../lib/contract/frame.ts";
import { type Entry, eventsOf, previousOf, streamsOf } from "./stream_replies.ts";
import { atPlace, epochOf, placeOf } from "../../lib/contract/position.ts";
import type { EventFrame } from "../../lib/contract/frame.ts";

/** What a {@linkcode StreamReader} needs from its link. */
export interface StreamReaderOptions {
  /** Sends a command on the reader's own connection. */
  send(args: string[]): Promise<unknown>;
  /** Sends `CLIENT UNBLOCK <reader>` on another connection: whether it unblocked it. */
  unblock(): Promise<boolean>;
  /**
   * Checks a suspect reply of `channel` read after `place` (a stream ID), on
   * another connection: with `trimmedOnly` (trimming is the one suspicion),
   * undefined when nothing after `place` is gone even now, and the reply
   * stands; else the stream read again in one transaction (see {@linkcode Reread}).
   */
  reread(channel: string, place: string, trimmedOnly: boolean): Promise<Reread | undefined>;
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

/** A stream read again after a place, in one transaction with what tells about it. */
export interface Reread {
  /** The entries after the place. */
  readonly entries: Entry[];
  /** Whether events after the place were no longer kept. */
  readonly gap: boolean;
  /** The epoch of the stream's log; undefined when it has none. */
  readonly epoch: string | undefined;
  /** The place right before its oldest entry kept. */
  readonly oldest: string;
}

/** What one reply of one channel comes to. */
interface Taken {
  channel: string;
  gap: boolean;
  entries: Entry[];
  epoch: string | undefined;
  /** Set when the log was made again: the channel goes on from there, in the log of `epoch`. */
  restart?: string;
}

export class StreamReader {
  readonly #options: StreamReaderOptions;
  /** Each followed channel's place: the stream ID it reads after. */
  readonly #positions = new Map<string, string>();
  /** The epoch of the log each channel is read in, once known. */
  readonly #epochs = new Map<string, string>();
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

  /** Reads `channel` from right after `position` on, in the log of its epoch (learned when it has none). */
  follow(channel: string, position: string): void {
    this.#positions.set(channel, placeOf(position));
    this.#learn(channel, epochOf(position));
    this.#nudge();
  }

  /** Stops reading `channel`. */
  forget(channel: string): void {
    this.#epochs.delete(channel);
    if (this.#positions.delete(channel)) this.#nudge();
  }

  /** Where each followed channel stands: its place, in the log of its epoch once known. */
  positions(): Map<string, string> {
    return new Map([...this.#positions].map(([channel, place]) => [channel, atPlace(this.#epochs.get(channel), place)]));
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
    const { dropped, deliver } = this.#options;
    const streams = await Promise.all(streamsOf(reply).map(([channel, entries]) => this.#check(channel, from.get(channel)!, entries)));
    const frames: Frame[] = [];
    for (const { channel, gap, entries, epoch, restart } of streams) {
      // Forgotten, or followed from elsewhere, while this reply was on its way.
      if (this.#positions.get(channel) !== from.get(channel)) continue;
      if (gap) frames.push(resyncFrame(channel, "gap"));
      this.#learn(channel, epoch);
      if (restart !== undefined) this.#positions.set(channel, restart);
      if (restart !== undefined || entries.length === 0) continue;
      frames.push(...eventsOf(channel, entries, epoch, dropped));
      this.#positions.set(channel, entries[entries.length - 1][0]);
    }
    if (frames.length > 0 && !this.#stopped) deliver(frames);
  }

  /** What the `entries` of `channel` read after `place` come to, read again when they are suspect. */
  async #check(channel: string, place: string, entries: Entry[]): Promise<Taken> {
    const { count, maxAge, clock, reread } = this.#options;
    const epoch = this.#epochs.get(channel);
    // Trimming may have overtaken a reader that is far behind: its reply comes back full,
    // or, with an age limit, it reads from a place older than that limit.
    const trimmed = entries.length >= count || (maxAge !== undefined && Number(place.split("-")[0]) < clock.now() - maxAge);
    // An entry streamcast added after another place than the reader's (or with an epoch still to learn).
    const before = entries.length > 0 ? previousOf(entries[0]) : undefined;
    const moved = before !== undefined && (before !== place || epoch === undefined);
    if (!trimmed && !moved) return { channel, gap: false, entries, epoch };
    const again = await reread(channel, place, !moved);
    if (again === undefined) return { channel, gap: false, entries, epoch };
    // Made again under the reader: what the old log held after the place is gone.
    if (epoch !== undefined && again.epoch !== epoch) return { channel, gap: true, entries: [], epoch: again.epoch, restart: again.oldest };
    return { channel, gap: again.gap, entries: again.entries, epoch: again.epoch };
  }

  #learn(channel: string, epoch: string | undefined): void {
    if (epoch === undefined) this.#epochs.delete(channel);
    else this.#epochs.set(channel, epoch);
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
