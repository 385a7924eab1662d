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
 * Both tables are created on first use under an advisory lock, as the
 * large-message table is. A role that may not create them can use tables an
 * administrator made:
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
 * ```
 *
 * @module
 */
import { createHash } from "node:crypto";
import type postgres from "postgres";
import type { EventFrame } from "../../lib/contract/frame.ts";
import type { HistoryOptions } from "../../lib/contract/link.ts";
import { quoteIdentifier, textName } from "./channel.ts";
import { wellFormed } from "./publish.ts";

/** A page of a channel's log, read in one snapshot. */
export interface Page {
  /** Events after the cursor, oldest first, each with its position. */
  readonly events: readonly { readonly id: string; readonly message: string; readonly origin?: string }[];
  /** The channel's highest deleted position, if any was deleted. */
  readonly swept: string | undefined;
  /** The position right before any row not yet safe to read: `"<xmin>-0"`. */
  readonly safe: string;
  /** Committed rows past the cursor wait for an older transaction to end. */
  readonly pending: boolean;
}

// pg_advisory_xact_lock(int, int): the first key says "streamcast", the second which table.
const LOCK_CLASS = 0x5c_a5_7;
const MAX_XID = 2n ** 64n - 1n;
const MAX_SEQ = 2n ** 63n - 1n;
// Characters per INSERT: large enough to amortise it, small enough to stream.
const MAX_RUN_CHARS = 1 << 20;
/** A position after every row: the upper bound of a live read. */
export const END = `${MAX_XID}-${MAX_SEQ}`;

/** The `[xid, seq]` a position stands for, within the columns' ranges. */
export function cursor(position: string): [string, string] {
  // A third part lies between seq and seq + 1: the same rows follow it, and precede it.
  const [xid = "0", seq = "0"] = position.split("-");
  const clamp = (text: string, max: bigint) => (BigInt(text) > max ? max : BigInt(text)).toString();
  return [clamp(xid, MAX_XID), clamp(seq, MAX_SEQ)];
}

/** The log table and its swept positions, reached through either session of a link. */
export class LogTable {
  readonly #table: string;
  readonly #history: HistoryOptions;
  readonly #text: { insert: string; page: string; sweep: string; ddl: string };
  #ready: Promise<void> | undefined;

  constructor(table: string, history: HistoryOptions) {
    this.#table = table;
    this.#history = history;
    const t = quoteIdentifier(table);
    const s = quoteIdentifier(`${table}_swept`);
    const lock = createHash("sha256").update(table).digest().readInt32BE(0);
    this.#text = {
      // The INSERT in WITH runs even though nothing reads it; its NOTIFYs go out at commit.
      // A publish sent again (its acknowledgement lost with the connection) is stored once: its origin is there already.
      insert: `with stored as (
          insert into ${t} (channel, payload, origin)
          select e->>0, e->>1, e->>2 from json_array_elements($1::text::json) with ordinality as x(e, n) order by n
          on conflict (channel, origin) do nothing
        )
        select pg_notify(n, '') from json_array_elements_text($2::text::json) as n`,
      page: `select h.safe::text as safe, h.swept, h.pending, r.xid::text as xid, r.seq::text as seq, r.payload, r.origin
        from (
          select s.safe,
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
        create table if not exists ${s} (channel text primary key, xid xid8 not null, seq bigint not null)`,
    };
  }

  /** Resolves once both tables exist; creates them when they do not. */
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

  /** The safe events of `channel` after `after`, up to and including `upTo`, at most `limit`. */
  async page(sql: postgres.Sql, channel: string, after: string, upTo: string, limit: number): Promise<Page> {
    const rows = await sql.unsafe(this.#text.page, [textName(channel), ...cursor(after), ...cursor(upTo), limit], {
      prepare: true,
    });
    const [head] = rows;
    return {
      events: rows.filter((row) => row.xid !== null).map((row) => ({
        id: `${row.xid}-${row.seq}`,
        message: row.payload,
        ...row.origin !== null && { origin: row.origin },
      })),
      swept: head.swept ?? undefined,
      safe: `${head.safe}-0`,
      pending: head.pending,
    };
  }

  async #create(sql: postgres.Sql): Promise<void> {
    const [row] = await sql`select to_regclass(${quoteIdentifier(this.#table)}) is not null
      and to_regclass(${quoteIdentifier(`${this.#table}_swept`)}) is not null
      and to_regclass(${quoteIdentifier(`${this.#table}_origin`)}) is not null as present`;
    if (!row?.present) await sql.unsafe(this.#text.ddl);
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
