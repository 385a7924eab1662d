/**
 * What history mode on Redis reads from Redis's replies: the entries of an
 * `XREAD` or `XRANGE`, the positions `XINFO STREAM` tells, the stream's
 * epoch (kept in the key {@linkcode epochKey}), and what they mean for a
 * reader at a position (a gap, or where the oldest kept starts).
 *
 * Replies are read in both protocol versions: RESP2 arrays, and RESP3 maps
 * that the connection hands over as flat `[key, value, …]` arrays (never as
 * objects, where a channel named `__proto__` would vanish).
 *
 * @module
 */
import { slotKey } from "./keys.ts";
import { ErrorReply } from "redis";
import { ChannelError } from "../../lib/contract/errors.ts";
import type { EventFrame } from "../../lib/contract/frame.ts";
import type { Start } from "../../lib/contract/link.ts";
import { atPlace, comparePositions, fromLog, isEpoch, placeOf } from "../../lib/contract/position.ts";

/** The position before every stream ID. */
export const ZERO = "0-0";

/** The field of a stream entry that holds the message. */
export const FIELD = "message";

/** The field that holds a publish's origin (`<publisher>:<sequence>`), for the core to drop a publish sent twice. */
export const ORIGIN = "origin";

/** The field that holds the ID of the entry before (`stream_writes.ts`). */
export const PREV = "prev";

/**
 * The key that holds the epoch of `channel`'s stream (`stream_writes.ts`
 * writes it with the stream's first entry), in the stream's slot:
 * `streamcast:epoch:{<channel>}` (see `slotKey`).
 */
export function epochKey(channel: string): string {
  return slotKey("epoch", channel);
}

/** One stream entry: its ID and its fields, flat. */
export type Entry = [id: string, fields: string[] | null];

/** What `XINFO STREAM` tells about a stream's positions. */
export interface StreamInfo {
  /** The last ID ever added. */
  readonly last: string;
  /** The highest ID ever deleted or trimmed; `0-0` when none was. */
  readonly maxDeleted: string;
  /** The oldest entry kept, if any. */
  readonly first?: string;
  /** The ID of the entry before the oldest kept, when that entry says (one streamcast added). */
  readonly beforeFirst?: string;
  /** Whether any entry was ever deleted or trimmed (entries added differs from entries kept). */
  readonly shrunk: boolean;
}

/** The streams of an `XREAD` reply, each with its entries (none for a nil reply). */
export function streamsOf(reply: unknown): [key: string, entries: Entry[]][] {
  if (!Array.isArray(reply) || reply.length === 0) return [];
  if (Array.isArray(reply[0])) return reply as [string, Entry[]][];
  const streams: [string, Entry[]][] = [];
  for (let i = 0; i + 1 < reply.length; i += 2) streams.push([reply[i], reply[i + 1]]);
  return streams;
}

/**
 * Reads `XINFO STREAM`: undefined when the key does not exist. A key that
 * holds something else than a stream is a channel this mode cannot use.
 */
export async function streamInfo(send: (args: string[]) => Promise<unknown>, channel: string): Promise<StreamInfo | undefined> {
  try {
    return infoOf(channel, await send(["XINFO", "STREAM", channel]));
  } catch (error) {
    return infoOf(channel, error);
  }
}

/** What one transaction tells about a stream: its positions, and the epoch of the log they are in. */
export interface StreamState {
  /** Undefined when the stream does not exist. */
  readonly info: StreamInfo | undefined;
  /** Undefined when the stream does not exist or has no epoch (written only by others than streamcast). */
  readonly epoch: string | undefined;
}

/**
 * Runs `command` (a read of `channel`, if any), `XINFO STREAM` and a `GET` of
 * the epoch in one transaction, so that what the info tells about trimming,
 * and the epoch, hold for what was read. The commands are queued in one go:
 * nothing else on the connection can come between them.
 */
export async function readWithInfo(
  send: (args: string[]) => Promise<unknown>,
  channel: string,
  command?: string[],
): Promise<StreamState & { reply: unknown }> {
  const queued = [send(["MULTI"]), ...command ? [send(command)] : [], send(["XINFO", "STREAM", channel]), send(["GET", epochKey(channel)])];
  const exec = send(["EXEC"]);
  queued.forEach((reply) => reply.catch(() => {}));
  const replies = await exec as unknown[];
  const [reply, info, epoch] = command ? replies : [undefined, ...replies];
  if (reply instanceof Error) throw wrongType(channel, reply);
  const stream = infoOf(channel, info);
  // A key left from a stream since deleted names no log; a value that is not an epoch (set by hand) is none.
  return { reply, info: stream, epoch: stream !== undefined && typeof epoch === "string" && isEpoch(epoch) ? epoch : undefined };
}

function infoOf(channel: string, reply: unknown): StreamInfo | undefined {
  if (reply instanceof ErrorReply && /^ERR no such key/.test(reply.message)) return undefined;
  if (reply instanceof Error) throw wrongType(channel, reply);
  const fields = new Map<string, unknown>();
  const flat = reply as unknown[];
  for (let i = 0; i + 1 < flat.length; i += 2) fields.set(String(flat[i]), flat[i + 1]);
  const first = fields.get("first-entry") as Entry | null | undefined;
  const beforeFirst = first ? fieldOf(first[1] ?? [], PREV) : undefined;
  return {
    last: String(fields.get("last-generated-id") ?? ZERO),
    maxDeleted: String(fields.get("max-deleted-entry-id") ?? ZERO),
    ...(first ? { first: first[0] } : {}),
    ...(beforeFirst !== undefined ? { beforeFirst } : {}),
    shrunk: Number(fields.get("entries-added")) !== Number(fields.get("length")),
  };
}

/** A WRONGTYPE reply as a `ChannelError` naming the key; any other error as it is. */
export function wrongType(channel: string, error: unknown): unknown {
  if (!(error instanceof ErrorReply && /^WRONGTYPE\b/.test(error.message))) return error;
  return new ChannelError(channel, "a key that holds a stream, or no key, in history mode", { cause: error });
}

/**
 * Whether events after `position` (a place: a stream ID) are no longer kept. `XDEL` shows in
 * `max-deleted-entry-id`; trimming does not, it only moves the oldest entry
 * kept: events after `position` are trimmed when the entry before the
 * oldest kept comes after it. An entry streamcast added names the entry
 * before it; for one added otherwise (`redis-cli XADD`) it is taken to be
 * the ID right before it, so a position trimmed with nothing after it may
 * count as a gap too: a resync too many, never an event lost without one.
 */
export function gapAfter(position: string, info: StreamInfo | undefined): boolean {
  if (info === undefined) return comparePositions(position, ZERO) > 0; // the stream is gone
  if (!info.shrunk) return false;
  if (comparePositions(position, info.maxDeleted) < 0) return true;
  return comparePositions(position, oldestPosition(info)) < 0;
}

/**
 * Whether events after `position` (with or without an epoch) are gone from
 * the log `state` tells of: it is another epoch's (the stream was made again
 * since, or lost its epoch), or beyond what the stream keeps (`gapAfter`).
 */
export function lostAfter(position: string, state: StreamState): boolean {
  return !fromLog(position, state.epoch) || gapAfter(placeOf(position), state.info);
}

/** The place right before the oldest entry kept: where reading every kept event starts. */
export function oldestPosition(info: StreamInfo | undefined): string {
  if (info === undefined || !info.shrunk) return ZERO;
  if (info.first === undefined) return info.last;
  return info.beforeFirst ?? previousId(info.first);
}

/** The stream ID right before `id`: no entry can lie between them. */
export function previousId(id: string): string {
  const [ms, seq = "0"] = id.split("-");
  if (seq !== "0") return `${ms}-${BigInt(seq) - 1n}`;
  return ms === "0" ? ZERO : `${BigInt(ms) - 1n}-${MAX_SEQUENCE}`;
}

const MAX_SEQUENCE = "18446744073709551615";

/**
 * The events of `entries`, their ids in the log of `epoch`, with their origin
 * when the entry has one; an entry without a `message` field (written by
 * something else than a publisher) is reported through `dropped` instead.
 */
export function eventsOf(
  channel: string,
  entries: Entry[],
  epoch: string | undefined,
  dropped: (frame: EventFrame, reason: unknown) => void,
): EventFrame[] {
  const frames: EventFrame[] = [];
  for (const [place, fields] of entries) {
    const id = atPlace(epoch, place);
    const message = fieldOf(fields ?? [], FIELD);
    const origin = fieldOf(fields ?? [], ORIGIN);
    if (typeof message === "string") frames.push({ type: "event", channel, message, id, ...origin !== undefined && { origin } });
    else dropped({ type: "event", channel, message: "", id }, new Error(`Stream entry ${place} of ${JSON.stringify(channel)} has no "${FIELD}" field`));
  }
  return frames;
}

/** The ID of the entry before `entry`, when the entry names it (one streamcast added). */
export function previousOf(entry: Entry): string | undefined {
  return fieldOf(entry[1] ?? [], PREV);
}

function fieldOf(fields: string[], name: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

/**
 * Where a subscription of a stream starts, from its state read just before:
 * after its last entry (`"new"`), before its oldest kept (`"oldest"`), or
 * after a position; `gap` when what comes after that position is gone, and
 * it starts before the oldest kept instead.
 */
export function startingPlace(start: Start, state: StreamState): { place: string; gap: boolean } {
  if (start === "new") return { place: state.info?.last ?? ZERO, gap: false };
  if (start === "oldest" || lostAfter(start.after, state)) return { place: oldestPosition(state.info), gap: start !== "oldest" };
  return { place: placeOf(start.after), gap: false };
}

/**
 * The events of `channel` after `after` (from the oldest kept when
 * undefined) up to and including `upTo`, at most `limit`, read in one
 * transaction with what tells whether events after `after` are gone (`"gap"`).
 */
export async function readRange(
  send: (args: string[]) => Promise<unknown>,
  channel: string,
  { after, upTo, limit }: { after: string | undefined; upTo: string; limit: number },
  dropped: (frame: EventFrame, reason: unknown) => void,
): Promise<EventFrame[] | "gap"> {
  if (limit < 1) return [];
  const range = ["XRANGE", channel, after === undefined ? "-" : `(${placeOf(after)}`, placeOf(upTo), "COUNT", String(limit)];
  const { reply: entries, ...state } = await readWithInfo(send, channel, range);
  if (after !== undefined && lostAfter(after, state)) return "gap";
  return eventsOf(channel, entries as Entry[], state.epoch, dropped);
}
