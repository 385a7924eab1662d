/**
 * How a batch of broadcasts becomes statements. One `pg_notify` per message
 * costs a statement and a commit each; a run of messages sent as one
 * statement is one transaction, whose notifications Postgres delivers at
 * commit, in the order they were made — about ten times the throughput.
 * Postgres collapses a notification that repeats channel and payload within
 * one transaction, so a run ends before a repeat. Large messages (stored in a
 * table, see `large.ts`) are one statement each, in their place.
 *
 * A message the server refuses for good (say, a character a non-UTF-8
 * database cannot hold) fails its whole run; the link then sends that run's
 * messages one by one, after the rest of the batch, and drops only the one
 * refused: a rare case in which that batch's order is not kept.
 *
 * @module
 */
import type postgres from "postgres";
import type { EventFrame } from "../../lib/contract/frame.ts";
import { channelName } from "./channel.ts";

/** A run of a batch that is sent as one statement. */
export interface Part {
  readonly frames: readonly EventFrame[];
  /** A large message, stored in the table (always alone). */
  readonly large: boolean;
}

// Characters per statement: large enough to amortise it, small enough to stream.
const MAX_PART_CHARS = 1 << 20;
// With the u flag a pair matches as one code point, so only lone surrogates match.
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/** Splits `batch` into parts, in order; `large[i]` says whether frame i goes by reference. */
export function partition(batch: readonly EventFrame[], large: readonly boolean[]): Part[] {
  const parts: Part[] = [];
  let run: EventFrame[] = [];
  let seen = new Map<string, Set<string>>();
  let chars = 0;
  const end = () => {
    if (run.length > 0) parts.push({ frames: run, large: false });
    run = [];
    seen = new Map();
    chars = 0;
  };
  batch.forEach((frame, i) => {
    if (large[i]) {
      end();
      return void parts.push({ frames: [frame], large: true });
    }
    let messages = seen.get(frame.channel);
    if (messages?.has(frame.message) || chars + frame.message.length > MAX_PART_CHARS) {
      end();
      messages = undefined;
    }
    if (messages === undefined) seen.set(frame.channel, messages = new Set());
    messages.add(frame.message);
    run.push(frame);
    chars += frame.message.length;
  });
  end();
  return parts;
}

/** The statement that notifies every frame of a plain part, in order. */
export function notify(sql: postgres.Sql, frames: readonly EventFrame[]): postgres.PendingQuery<postgres.Row[]> {
  if (frames.length === 1) return sql`select pg_notify(${channelName(frames[0].channel)}, ${frames[0].message})`;
  const pairs = frames.map(({ channel, message }) => [channelName(channel), wellFormed(message)]);
  return sql`select pg_notify(n->>0, n->>1) from json_array_elements(${JSON.stringify(pairs)}::text::json) as n`;
}

/** `message` as the text protocol would send it: a lone surrogate becomes U+FFFD (JSON would escape it, and fail). */
export function wellFormed(message: string): string {
  return LONE_SURROGATE.test(message) ? message.replace(/[\uD800-\uDFFF]/gu, "\uFFFD") : message;
}

/** Whether Postgres text can hold `message` at all (it cannot hold U+0000). */
export function storable(message: string): boolean {
  return !message.includes("\0");
}
