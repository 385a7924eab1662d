/**
 * The inbound side of a history-mode Postgres link: for each subscribed
 * channel, a cursor (the position of the last event handed on) and a loop
 * that reads the log past it whenever it is woken (a NOTIFY, the
 * subscription itself, a re-read), one chunk per page read, in order.
 *
 * A page that reports committed rows not yet safe to read (see
 * `log.ts`) schedules a re-read after a short backoff that grows
 * while they stay pending: the transaction that holds them back may never
 * NOTIFY. A page that finds the cursor below the channel's swept position,
 * or in another log than the table holds now (another epoch), hands on a
 * resync frame (`gap`) and goes on from the oldest kept.
 *
 * The cursors live here and nowhere else; the link only asks.
 *
 * @module
 */
import { backoffDelay } from "../../lib/util/backoff.ts";
import type { Clock } from "../../lib/util/clock.ts";
import { type Frame, resyncFrame } from "../../lib/contract/frame.ts";
import { atPlace, fromLog } from "../../lib/contract/position.ts";
import { isGap, type Page } from "./log.ts";

/** Events read per query. */
const PAGE = 1000;
/** The re-read backoff while rows are pending, in milliseconds. */
const RETRY = { minDelay: 5, maxDelay: 250 };

/** What the reader needs from its link. */
export interface LogReaderOptions {
  /** Reads a page of `channel`'s log after `after`. */
  page(channel: string, after: string, limit: number): Promise<Page>;
  clock: Clock;
  /** A read failed: the link is lost. */
  fail(error: unknown): void;
  /** The reader cancelled the stream. */
  cancel(): Promise<void>;
}

/** One subscribed channel. Replaced, never reused, on a new subscription: a stale loop sees it is gone. */
interface Follow {
  readonly channel: string;
  cursor: string;
  reading: boolean;
  /** Woken while reading: read once more. */
  again: boolean;
  /** Re-reads in a row that still found rows pending. */
  attempt: number;
  retry: AbortController | undefined;
}

export class LogReader {
  readonly readable: ReadableStream<Frame[]>;
  readonly #options: LogReaderOptions;
  readonly #follows = new Map<string, Follow>();
  #controller!: ReadableStreamDefaultController<Frame[]>;
  #ended = false;
  /** Resolves when the consumer wants more: reading waits rather than filling memory. */
  #room: (() => void) | undefined;

  constructor(options: LogReaderOptions) {
    this.#options = options;
    this.readable = new ReadableStream<Frame[]>({
      start: (controller) => {
        this.#controller = controller;
      },
      pull: () => this.#room?.(),
      cancel: () => {
        this.#finish();
        return options.cancel();
      },
    }, { highWaterMark: 8 });
  }

  /** Follows `channel` from after `cursor`; a `gap` first hands on a resync frame. */
  follow(channel: string, cursor: string, gap: boolean): void {
    if (this.#ended) return;
    this.unfollow(channel);
    if (gap) this.#controller.enqueue([resyncFrame(channel, "gap")]);
    this.#follows.set(channel, { channel, cursor, reading: false, again: false, attempt: 0, retry: undefined });
    this.wake(channel);
  }

  unfollow(channel: string): void {
    this.#follows.get(channel)?.retry?.abort();
    this.#follows.delete(channel);
  }

  /** Reads what `channel` has past its cursor. */
  wake(channel: string): void {
    const follow = this.#follows.get(channel);
    if (follow === undefined || this.#ended) return;
    if (follow.reading) return void (follow.again = true);
    void this.#read(follow);
  }

  /** Ends the stream: closes it, or errors it with `error` (the core resumes from the last position it got). */
  end(error?: Error): void {
    if (this.#ended) return;
    this.#finish();
    if (error) this.#controller.error(error);
    else this.#controller.close();
  }

  #finish(): void {
    this.#ended = true;
    for (const channel of [...this.#follows.keys()]) this.unfollow(channel);
    this.#room?.();
  }

  async #read(follow: Follow): Promise<void> {
    follow.reading = true;
    try {
      do {
        follow.again = false;
        await this.#roomFor();
        if (!this.#current(follow)) return;
        const page = await this.#options.page(follow.channel, follow.cursor, PAGE);
        if (!this.#current(follow)) return;
        this.#take(follow, page);
        if (page.events.length === PAGE) follow.again = true;
        if (page.pending) this.#retry(follow);
        else follow.attempt = 0;
      } while (follow.again);
    } catch (error) {
      if (this.#current(follow)) this.#options.fail(error);
    } finally {
      follow.reading = false;
    }
  }

  /** Hands on what `page` holds, and moves the cursor past it. */
  #take(follow: Follow, page: Page): void {
    const frames: Frame[] = [];
    if (isGap(follow.cursor, page)) {
      const replaced = !fromLog(follow.cursor, page.epoch);
      frames.push(resyncFrame(follow.channel, "gap"));
      follow.cursor = page.swept ?? atPlace(page.epoch, "0");
      if (replaced) {
        // The page was read after a place in the old log: read the new one from its oldest.
        this.#controller.enqueue(frames);
        follow.again = true;
        return;
      }
    }
    for (const event of page.events) frames.push({ type: "event", channel: follow.channel, ...event });
    if (page.events.length > 0) follow.cursor = page.events[page.events.length - 1].id;
    if (frames.length > 0) this.#controller.enqueue(frames);
  }

  /** Reads again after the backoff, unless a re-read is already scheduled. */
  #retry(follow: Follow): void {
    if (follow.retry !== undefined) return;
    const retry = follow.retry = new AbortController();
    const delay = backoffDelay(follow.attempt++, RETRY);
    this.#options.clock.delay(delay, retry.signal).then(() => {
      follow.retry = undefined;
      this.wake(follow.channel);
    }, () => {});
  }

  #current(follow: Follow): boolean {
    return !this.#ended && this.#follows.get(follow.channel) === follow;
  }

  #roomFor(): Promise<void> | undefined {
    if (this.#ended || (this.#controller.desiredSize ?? 1) > 0) return undefined;
    return new Promise((resolve) => {
      const previous = this.#room;
      this.#room = () => {
        this.#room = undefined;
        previous?.();
        resolve();
      };
    });
  }
}
