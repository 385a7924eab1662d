/**
 * The log table of history mode: every message is a row, and a channel's
 * history is its rows in position order.
 *
 * A row's position is `"<xid>-<seq>"`: the id of the transaction that wrote
 * it (`pg_current_xact_id()`, which never wraps) and a number from the
 * table's identity sequence. A sequence alone is not commit order: with two
 * publishers, number 8 can commit after number 9 has been read, and a reader
 * that moved past 9 would never see 8. So a reader takes only rows whose
 * transaction id is below its snapshot's `xmin`: every such transaction has
 * ended, so the set of those rows can no longer grow below that bound, and
 * any row written later has a larger transaction id (its transaction gets
 * its id after the snapshot was taken, above every id the snapshot knows).
 * Reading in `(xid, seq)` order past a cursor therefore never skips a row,
 * and one publisher's batches, each a later transaction, keep their order.
 * A row that is committed but not yet below `xmin` (because some other
 * transaction is still open) is reported as *pending*: the reader reads
 * again shortly. A transaction that has written something (so holds a
 * transaction id) and stays open anywhere in the cluster thus delays
 * delivery until it ends; it never loses a row. A read-only one does not.
 *
 * Publishers delete the oldest rows of a channel (by count, and by age when
 * `maxAge` is set), in position order and only among rows below `xmin`, and
 * record the highest position they deleted in the side table
 * `<table>_swept`, in the same transaction. Events after position P are
 * gone exactly when P is below that channel's recorded position.
 *
 * The log has an *epoch*, the identity of this log as against one made
 * again under the same name: a random string kept in the log table itself,
 * as the payload of one row of channel `''` (no channel is empty) and origin
 * `'epoch'` (the origin index keeps it to one such row). Every position read
 * from the table carries it (`<epoch>:<xid>-<seq>`), read in the same
 * statement, so the same snapshot, as the rows and the swept position. A
 * TRUNCATE, a DROP and CREATE, a DELETE of every row takes that row with the
 * log; a page that finds no epoch writes a new one (whoever writes first
 * wins, the others keep theirs out) and reads again. So a log made again has
 * another epoch before any of its positions is handed out, and a position of
 * the old log is known for a gap; a table made by streamcast gets its epoch in
 * the transaction that creates it, a table from before epochs at its first
 * read.
 *
 * Both tables are created on first use under an advisory lock, as the
 * large-message table is. A role that may not create them can use tables an
 * administrator made (a role that may not insert either, only once the epoch
 * row is there):
 *
 * ```sql
 * create table if not exists streamcast_log (
 *   seq bigint generated always as identity,
 *   xid xid8 not null default pg_current_xact_id(),
 *   channel text not null,
 *   payload text not null,
 *   origin text,
 *   created_at timestamptz not null default now(),
 *   primary key (channel, xid, seq)
 * );
 * create unique index if not exists streamcast_log_origin on streamcast_log (channel, origin);
 * create table if not exists streamcast_log_swept (
 *   channel text primary key,
 *   xid xid8 not null,
 *   seq bigint not null
 * );
 * insert into streamcast_log (channel, payload, origin)
 *   values ('', right(replace(gen_random_uuid()::text, '-', ''), 16), 'epoch')
 *   on conflict (channel, origin) do nothing;
 * ```
 *
 * @module
 */
import { createHash } from "node:crypto";
import type postgres from "postgres";
import type { EventFrame } from "../../lib/contract/frame.ts";
import type { HistoryOptions } from "../../lib/contract/link.ts";
import { atPlace, comparePositions, fromLog, placeOf } from "../../lib/contract/position.ts";
import { quoteIdentifier, textName } from "./channel.ts";
import { wellFormed } from "./publish.ts";

/** A page of a channel's log, read in one snapshot; every position carries the epoch. */
export interface Page {
  /** The log's epoch. */
  readonly epoch: string;
  /** Events after the cursor, oldest first, each with its position. */
  readonly events: readonly { readonly id: string; readonly message: string; readonly origin?: string }[];
  /** The channel's highest deleted position, if any was deleted. */
  readonly swept: string | undefined;
  /** The position right before any row not yet safe to read: `"<epoch>:<xmin>-0"`. */
  readonly safe: string;
  /** Committed rows past the cursor wait for an older transaction to end. */
  readonly pending: boolean;
}

/**
 * Whether what came after `position` is gone from the log that `page` was
 * read from: swept away, or gone with another log (another epoch).
 */
export function isGap(position: string, page: Page): boolean {
  return !fromLog(position, page.epoch) || (page.swept !== undefined && comparePositions(position, page.swept) < 0);
}

// pg_advisory_xact_lock(int, int): the first key says "streamcast", the second which table.
const LOCK_CLASS = 0x5c_a5_7;
const MAX_XID = 2n ** 64n - 1n;
const MAX_SEQ = 2n ** 63n - 1n;
// Characters per INSERT: large enough to amortise it, small enough to stream.
const MAX_RUN_CHARS = 1 << 20;
/** The row that holds the epoch: `payload` of the one row of channel `''` (no channel is empty) and origin `'epoch'`. */
const EPOCH_ROW = "channel = '' and origin = 'epoch'";
// 16 of a random UUID's hex digits (62 random bits), lowercase as an epoch must be.
const NEW_EPOCH = "right(replace(gen_random_uuid()::text, '-', ''), 16)";
/** Times a page writes a missing epoch and reads again before it gives up. */
const STAMPS = 3;
/** A position after every row: the upper bound of a live read. */
export const END = `${MAX_XID}-${MAX_SEQ}`;

/** The `[xid, seq]` a position stands for (its epoch aside), within the columns' ranges. */
export function cursor(position: string): [string, string] {
  // A third part lies between seq and seq + 1: the same rows follow it, and precede it.
  const [xid = "0", seq = "0"] = placeOf(position).split("-");
  const clamp = (text: string, max: bigint) => (BigInt(text) > max ? max : BigInt(text)).toString();
  return [clamp(xid, MAX_XID), clamp(seq, MAX_SEQ)];
}

/** The log table and its swept positions, reached through either session of a link. */
export class LogTable {
  readonly #table: string;
  readonly #history: HistoryOptions;
  readonly #text: { insert: string; page: string; stamp: string; sweep: string; ddl: string };
  #ready: Promise<void> | undefined;

  constructor(table: string, history: HistoryOptions) {
    this.#table = table;
    this.#history = history;
    const t = quoteIdentifier(table);
    const s = quoteIdentifier(`${table}_swept`);
    const lock = createHash("sha256").update(table).digest().readInt32BE(0);
    // The first to write it wins; the others' rows are kept out, and they read the winner's.
    const stamp = `insert into ${t} (channel, payload, origin) values ('', ${NEW_EPOCH}, 'epoch')
      on conflict (channel, origin) do nothing`;
    this.#text = {
      // The INSERT in WITH runs even though nothing reads it; its NOTIFYs go out at commit.
      // A publish sent again (its acknowledgement lost with the connection) is stored once: its origin is there already.
      insert: `with stored as (
          insert into ${t} (channel, payload, origin)
          select e->>0, e->>1, e->>2 from json_array_elements($1::text::json) with ordinality as x(e, n) order by n
          on conflict (channel, origin) do nothing
        )
        select pg_notify(n, '') from json_array_elements_text($2::text::json) as n`,
      page: `select h.epoch, h.safe::text as safe, h.swept, h.pending, r.xid::text as xid, r.seq::text as seq, r.payload, r.origin
        from (
          select s.safe,
            (select e.payload from ${t} as e where ${EPOCH_ROW}) as epoch,
            (select w.xid::text || '-' || w.seq from ${s} as w where w.channel = $1) as swept,
            exists (select from ${t} as l where l.channel = $1 and (l.xid, l.seq) > ($2::xid8, $3::bigint)
              and l.xid >= s.safe) as pending
          from (select pg_snapshot_xmin(pg_current_snapshot()) as safe) as s
        ) as h
        left join lateral (
          select l.xid, l.seq, l.payload, l.origin from ${t} as l
          where l.channel = $1 and (l.xid, l.seq) > ($2::xid8, $3::bigint) and (l.xid, l.seq) <= ($4::xid8, $5::bigint)
            and l.xid < h.safe
          order by l.xid, l.seq limit $6::int
        ) as r on true
        order by r.xid, r.seq`,
      stamp,
      // One sweeper per channel at a time (the others skip): concurrent DELETEs could deadlock.
      sweep: `with h as (select pg_snapshot_xmin(pg_current_snapshot()) as safe),
        by_count as (
          select l.xid, l.seq from ${t} as l, h where l.channel = $1 and l.xid < h.safe
          order by l.xid desc, l.seq desc offset $2::int limit 1
        ),
        by_age as (
          select l.xid, l.seq from ${t} as l, h
          where $3::float8 is not null and l.channel = $1 and l.xid < h.safe
            and l.created_at < now() - make_interval(secs => $3::float8)
          order by l.xid desc, l.seq desc limit 1
        ),
        cut as (
          select c.xid, c.seq from (select * from by_count union all select * from by_age) as c
          where pg_try_advisory_xact_lock(${LOCK_CLASS}, $4::int)
          order by c.xid desc, c.seq desc limit 1
        ),
        gone as (delete from ${t} as l using cut where l.channel = $1 and (l.xid, l.seq) <= (cut.xid, cut.seq))
        insert into ${s} as w (channel, xid, seq) select $1, xid, seq from cut
        on conflict (channel) do update set xid = excluded.xid, seq = excluded.seq
          where (w.xid, w.seq) < (excluded.xid, excluded.seq)`,
      // One simple query is one implicit transaction: the advisory lock lasts until it ends. A table
      // from before the origin index may hold copies of a publish sent twice: the later ones go.
      ddl: `select pg_advisory_xact_lock(${LOCK_CLASS}, ${lock});
        create table if not exists ${t} (
          seq bigint generated always as identity,
          xid xid8 not null default pg_current_xact_id(),
          channel text not null,
          payload text not null,
          origin text,
          created_at timestamptz not null default now(),
          primary key (channel, xid, seq)
        );
        delete from ${t} as copy using ${t} as first
          where copy.channel = first.channel and copy.origin = first.origin and (copy.xid, copy.seq) > (first.xid, first.seq);
        create unique index if not exists ${quoteIdentifier(`${table}_origin`)} on ${t} (channel, origin);
        create table if not exists ${s} (channel text primary key, xid xid8 not null, seq bigint not null);
        ${stamp}`,
    };
  }

  /** Resolves once both tables exist and the log has its epoch; creates what is missing. */
  ready(sql: postgres.Sql): Promise<void> {
    this.#ready ??= this.#create(sql).catch((error) => {
      this.#ready = undefined;
      throw error;
    });
    return this.#ready;
  }

  /**
   * Appends `frames` in one statement, in order, which also notifies each of
   * `names` (the channels' NOTIFY names) at its commit.
   */
  insert(sql: postgres.Sql, frames: readonly EventFrame[], names: readonly string[]): Promise<unknown> {
    const rows = frames.map(({ channel, message, origin }) => [textName(channel), wellFormed(message), origin ?? null]);
    const json = JSON.stringify(rows);
    return sql.unsafe(this.#text.insert, [json, JSON.stringify(names)], { prepare: true });
  }

  /** Deletes what `channel` no longer keeps, and records the highest position deleted. */
  sweep(sql: postgres.Sql, channel: string): Promise<unknown> {
    const name = textName(channel);
    const key = createHash("sha256").update(`${this.#table}\0${name}`).digest().readInt32BE(0);
    const age = this.#history.maxAge === undefined ? null : this.#history.maxAge / 1000;
    return sql.unsafe(this.#text.sweep, [name, this.#history.messages, age, key], { prepare: true });
  }

  /**
   * The safe events of `channel` after `after`, up to and including `upTo`
   * (their epochs aside), at most `limit`. A log without an epoch (made again,
   * or from before epochs) is given one first.
   */
  async page(sql: postgres.Sql, channel: string, after: string, upTo: string, limit: number): Promise<Page> {
    const parameters = [textName(channel), ...cursor(after), ...cursor(upTo), limit];
    for (let stamps = 0;; stamps++) {
      const rows = await sql.unsafe(this.#text.page, parameters, { prepare: true });
      const [head] = rows;
      const epoch: string | null = head.epoch;
      if (epoch !== null) {
        return {
          epoch,
          events: rows.filter((row) => row.xid !== null).map((row) => ({
            id: atPlace(epoch, `${row.xid}-${row.seq}`),
            message: row.payload,
            ...row.origin !== null && { origin: row.origin },
          })),
          swept: head.swept === null ? undefined : atPlace(epoch, head.swept),
          safe: atPlace(epoch, `${head.safe}-0`),
          pending: head.pending,
        };
      }
      if (stamps === STAMPS) throw new Error(`The log table ${this.#table} keeps losing its epoch`);
      await sql.unsafe(this.#text.stamp, [], { prepare: true });
    }
  }

  async #create(sql: postgres.Sql): Promise<void> {
    const [row] = await sql`select to_regclass(${quoteIdentifier(this.#table)}) is not null
      and to_regclass(${quoteIdentifier(`${this.#table}_swept`)}) is not null
      and to_regclass(${quoteIdentifier(`${this.#table}_origin`)}) is not null as present`;
    if (!row?.present) return void await sql.unsafe(this.#text.ddl);
    // A table from before epochs, or made again without one: the first to get here gives it one (a
    // publisher too, which never reads a page). Asked first: a role that may only read needs no INSERT.
    const [epoch] = await sql.unsafe(`select from ${quoteIdentifier(this.#table)} where ${EPOCH_ROW}`);
    if (epoch === undefined) await sql.unsafe(this.#text.stamp);
  }
}

/** Splits `batch` into runs of at most `MAX_RUN_CHARS` characters (a larger message alone), in order. */
export function runs(batch: readonly EventFrame[]): EventFrame[][] {
  const out: EventFrame[][] = [];
  let chars = Infinity;
  for (const frame of batch) {
    if (chars + frame.message.length > MAX_RUN_CHARS) {
      out.push([]);
      chars = 0;
    }
    out[out.length - 1].push(frame);
    chars += frame.message.length;
  }
  return out;
}
