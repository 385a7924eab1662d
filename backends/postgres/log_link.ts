/**
 * A history-mode Postgres link: messages are rows of the log table
 * (`log.ts`), and NOTIFY only wakes the readers up.
 *
 * Like the pub/sub link, it is two sessions that never reconnect: the
 * listening one LISTENs on each channel's NOTIFY name (`channel.ts`)
 * and reads the log (`log_reader.ts`); the publishing one appends
 * each run of a batch as one INSERT whose NOTIFYs (empty payloads, one per
 * channel) fire at its commit, and deletes what retention lets go. The loss
 * of either session errors the link; the core then subscribes the next link
 * after the last position it got, and that link reads the rows in between.
 * A position of another log than the table holds now (another epoch: the
 * table was truncated, or dropped and made again) is a gap, as one swept
 * away is: what came after it is gone with that log.
 *
 * @module
 */
import type { Clock } from "../../lib/util/clock.ts";
import type { EventFrame, Frame } from "../../lib/contract/frame.ts";
import { atPlace, comparePositions, placeOf } from "../../lib/contract/position.ts";
import type { ConnectorContext, HistoryOptions, Link, Start } from "../../lib/contract/link.ts";
import { channelName } from "./channel.ts";
import { isPermanent } from "./errors.ts";
import { END, isGap, LogTable, type Page, runs } from "./log.ts";
import { LogReader } from "./log_reader.ts";
import { storable } from "./publish.ts";
import type { Session } from "./session.ts";
import { SessionPair } from "./sessions.ts";

/** What a history-mode link needs from its connector. */
export interface LogLinkOptions {
  applicationName: string;
  historyTable: string;
  history: HistoryOptions;
  clock: Clock;
  dropped: ConnectorContext["dropped"];
}

/**
 * A channel is swept at most this often by one link, in milliseconds (or
 * twice per `maxAge` when that is shorter), unless it grew by `messages` rows since.
 */
const SWEEP_INTERVAL = 1000;
/**
 * How long after the publish that makes it due a sweep runs, in milliseconds:
 * long enough for subscribers that keep up (woken by the NOTIFY) to have read
 * a burst larger than the history, short enough that retention stays prompt.
 */
const SWEEP_DELAY = 20;

export class PostgresLogLink implements Link {
  readonly readable: ReadableStream<Frame[]>;
  readonly writable: WritableStream<EventFrame[]>;
  readonly #options: LogLinkOptions;
  readonly #sessions: SessionPair;
  readonly #listener: Session;
  readonly #publisher: Session;
  readonly #log: LogTable;
  readonly #reader: LogReader;
  /** Per channel this link published on: when it last swept it, and rows written since. */
  readonly #sweeps = new Map<string, { at: number; rows: number; scheduled: boolean }>();

  constructor(uri: URL, options: LogLinkOptions) {
    this.#options = options;
    this.#sessions = new SessionPair(uri, {
      applicationName: options.applicationName,
      onnotify: (channels) => {
        for (const channel of channels) this.#reader.wake(channel);
      },
      onend: (failure) => this.#reader.end(failure),
    });
    this.#listener = this.#sessions.listener;
    this.#publisher = this.#sessions.publisher;
    this.#log = new LogTable(options.historyTable, options.history);
    this.#reader = new LogReader({
      page: (channel, after, limit) => this.#page(channel, after, END, limit),
      clock: options.clock,
      fail: (error) => void this.#sessions.lost(error),
      cancel: () => this.close(),
    });
    this.readable = this.#reader.readable;
    this.writable = new WritableStream({ write: (batch) => this.#publish(batch) });
  }

  /** Connects both sessions; `signal` abandons the attempt. */
  open(signal: AbortSignal): Promise<void> {
    return this.#sessions.open(signal);
  }

  /** LISTENs first, then takes the start position: whatever commits after it wakes the reader. */
  async subscribe(channel: string, start: Start = "new"): Promise<string> {
    await this.#sessions.listen(channel);
    try {
      const after = typeof start === "object" ? start.after : "0";
      const page = await this.#page(channel, after, END, 0);
      this.#sessions.check();
      const gap = typeof start === "object" && isGap(after, page);
      // Every position handed on carries the log's epoch, one given without (from before epochs) too.
      const position = start === "new"
        ? page.safe
        : gap || start === "oldest"
        ? page.swept ?? atPlace(page.epoch, "0")
        : atPlace(page.epoch, earliest(after, page.safe));
      this.#reader.follow(channel, position, gap);
      return position;
    } catch (error) {
      throw this.#sessions.lost(error);
    }
  }

  async read(channel: string, after: string | undefined, upTo: string, limit: number): Promise<EventFrame[] | "gap"> {
    this.#sessions.check();
    let page: Page;
    try {
      page = await this.#page(channel, after ?? "0", upTo, limit);
    } catch (error) {
      throw this.#sessions.lost(error);
    }
    if (after !== undefined && isGap(after, page)) return "gap";
    return page.events.map((event) => ({ type: "event", channel, ...event }));
  }

  async unsubscribe(channel: string): Promise<void> {
    this.#sessions.check();
    this.#reader.unfollow(channel);
    await this.#sessions.unlisten(channel);
  }

  ping(): Promise<void> {
    return this.#sessions.ping();
  }

  close(): Promise<void> {
    return this.#sessions.close();
  }

  /** Reads on the listening session, which creates the tables if need be. */
  async #page(channel: string, after: string, upTo: string, limit: number): Promise<Page> {
    const sql = this.#listener.sql;
    await this.#listener.run(this.#log.ready(sql));
    return this.#listener.run(this.#log.page(sql, channel, after, upTo, limit));
  }

  async #publish(input: EventFrame[]): Promise<void> {
    this.#sessions.check();
    const dropped: { frame: EventFrame; reason: unknown }[] = [];
    const batch = input.filter((frame) => {
      if (storable(frame.message)) return true;
      dropped.push({ frame, reason: new TypeError("Postgres text cannot hold U+0000; the message was not sent") });
    });
    const refused = await this.#publisher.run(this.#log.ready(this.#publisher.sql)).then(() => undefined, (e: unknown) => e);
    if (refused !== undefined && !isPermanent(refused)) throw this.#sessions.lost(refused);
    if (refused !== undefined) dropped.push(...batch.map((frame) => ({ frame, reason: refused })));
    else await this.#insertAll(runs(batch), dropped);
    // Reported once the write succeeds: a lost link has the whole batch sent again.
    for (const { frame, reason } of dropped) this.#options.dropped(frame, reason, "outbound");
    if (refused === undefined) this.#sweep(batch);
  }

  /** Inserts `runs`, pipelined on one session (so in order); adds to `dropped` what the server refused for good. */
  async #insertAll(runs: EventFrame[][], dropped: { frame: EventFrame; reason: unknown }[]): Promise<void> {
    const sql = this.#publisher.sql;
    const results = await Promise.allSettled(runs.map((run) => {
      const names = [...new Set(run.map((frame) => channelName(frame.channel)))];
      return this.#publisher.run(this.#log.insert(sql, run, names));
    }));
    const again: EventFrame[][] = [];
    results.forEach((result, i) => {
      if (result.status === "fulfilled") return;
      if (!isPermanent(result.reason)) throw this.#sessions.lost(result.reason);
      if (runs[i].length === 1) return void dropped.push({ frame: runs[i][0], reason: result.reason });
      // One message the server refuses fails its whole run: find it by sending them one by one.
      for (const frame of runs[i]) again.push([frame]);
    });
    if (again.length > 0) await this.#insertAll(again, dropped);
  }

  /**
   * Schedules a sweep of each channel of `batch` that is due. It runs a
   * moment later: a batch larger than the history would otherwise lose rows
   * before subscribers that keep up have read them.
   */
  #sweep(batch: readonly EventFrame[]): void {
    const now = this.#options.clock.now();
    const { messages, maxAge = Infinity } = this.#options.history;
    const interval = Math.min(SWEEP_INTERVAL, maxAge / 2);
    const rows = new Map<string, number>();
    for (const { channel } of batch) rows.set(channel, (rows.get(channel) ?? 0) + 1);
    for (const [channel, added] of rows) {
      let due = this.#sweeps.get(channel);
      if (due === undefined) this.#sweeps.set(channel, due = { at: -Infinity, rows: 0, scheduled: false });
      due.rows += added;
      if (due.scheduled || (now - due.at < interval && due.rows < messages)) continue;
      const sweep = due;
      sweep.scheduled = true;
      this.#options.clock.delay(Math.min(SWEEP_DELAY, interval), this.#sessions.stopped).then(() => {
        Object.assign(sweep, { at: this.#options.clock.now(), rows: 0, scheduled: false });
        // A failed sweep is retried by a later publish; a lost session errors the link through onclose.
        this.#publisher.run(this.#log.sweep(this.#publisher.sql, channel)).catch(() => {});
      }, () => {});
    }
  }
}

/** The earlier place of two positions: a start past what is safe now (a forged one) would leave the channel deaf. */
function earliest(a: string, b: string): string {
  return placeOf(comparePositions(a, b) <= 0 ? a : b);
}
