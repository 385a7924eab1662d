/**
 * Messages too large for NOTIFY. A NOTIFY payload must be shorter than 8000
 * bytes (of the database encoding; UTF-8 here), so a larger message is stored
 * in a table and its NOTIFY carries a *reference* instead:
 *
 *   U+001F "streamcast:large:v1:" <lowercase UUID of the row>
 *
 * U+001F (INFORMATION SEPARATOR ONE) never starts a JSON or text payload in
 * practice, and streamcast makes the form unambiguous: any message that itself
 * begins with U+001F "streamcast:" is sent by reference too, so a notification
 * that parses as a reference always is one. Everything else goes out as the
 * plain payload, which keeps the wire format of encode/broadcaster.
 *
 * Any session allowed to NOTIFY can send a reference, so a receiver trusts
 * none: a notification that begins with U+001F "streamcast:" but is no
 * reference, a reference to no row, and one to a row stored for another
 * channel are each reported as dropped. A row is looked up by its id *and*
 * the channel the reference arrived on, so another channel's message never
 * leaves the server. The `channel` column holds the channel's name, or its
 * mapped name when text cannot hold it (`channel.ts`).
 *
 * The row is inserted and the reference notified in one statement, one
 * transaction: a notification is delivered at commit, so a receiver always
 * finds the row. Rows older than the retention are deleted by publishers, at
 * most once per tenth of it. The table is created on first use, under an
 * advisory lock so that instances creating it at once do not trip over each
 * other (`CREATE TABLE IF NOT EXISTS` alone races on the catalog). It is
 * UNLOGGED: its rows live for seconds to minutes, so they skip the WAL; a
 * crash empties it, and the references in flight are reported as dropped.
 * A role that may not create it can use one an administrator made (the
 * `channel` column has been there since the first version, so a table made
 * by any version serves):
 *
 * ```sql
 * create unlogged table if not exists streamcast_payloads (
 *   id uuid primary key,
 *   channel text not null,
 *   payload text not null,
 *   created_at timestamptz not null default now()
 * );
 * create index if not exists streamcast_payloads_created_at on streamcast_payloads (created_at);
 * ```
 *
 * @module
 */
import { utf8Exceeds } from "../../lib/util/utf8_length.ts";
import { createHash, randomUUID } from "node:crypto";
import type postgres from "postgres";
import { quoteIdentifier, textName } from "./channel.ts";
import { isPermanent, sqlState } from "./errors.ts";

/** A NOTIFY payload must be shorter than this many bytes. */
export const NOTIFY_LIMIT = 8000;

const ESCAPE = "\u001fstreamcast:";
const REFERENCE = /^\u001fstreamcast:large:v1:([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;
// pg_advisory_xact_lock(int, int): the first key says "streamcast", the second which table.
const LOCK_CLASS = 0x5c_a5_7;

/** Whether `message` must go by reference: too large, or it looks like a reference itself. */
export function needsReference(message: string): boolean {
  if (message.charCodeAt(0) === 0x1f && message.startsWith(ESCAPE)) return true;
  return utf8Exceeds(message, NOTIFY_LIMIT - 1);
}

/**
 * What a notification payload carries: undefined for a plain message, else
 * the id of the row it refers to, or why it is not a reference.
 */
export function reference(payload: string): { id: string } | { invalid: Error } | undefined {
  if (payload.charCodeAt(0) !== 0x1f || !payload.startsWith(ESCAPE)) return undefined;
  const id = REFERENCE.exec(payload)?.[1];
  if (id !== undefined) return { id };
  const received = JSON.stringify(payload.length > 80 ? `${payload.slice(0, 80)}…` : payload);
  return {
    invalid: new Error(
      `Invalid large-message reference: Expected U+001F "streamcast:large:v1:" and a lowercase UUID but received ${received}`,
    ),
  };
}

/** A reference to look up: the row's id and the channel it arrived for. */
export interface Lookup {
  readonly id: string;
  readonly channel: string;
}

/** What the lookups found: each stored message, or why there is none. */
export type Found = (lookup: Lookup) => string | Error;

/** The large-message table of one link, reached through the link's query session. */
export class PayloadStore {
  readonly #sql: postgres.Sql;
  readonly #table: string;
  readonly #retention: number;
  readonly #text: { insert: string; select: string; sweep: string; ddl: string };
  #ready: Promise<void> | undefined;
  #sweptAt = 0;

  constructor(sql: postgres.Sql, table: string, retention: number) {
    this.#sql = sql;
    this.#table = table;
    this.#retention = retention;
    const t = quoteIdentifier(table);
    const lock = createHash("sha256").update(table).digest().readInt32BE(0);
    this.#text = {
      insert: `with stored as (insert into ${t} (id, channel, payload) values ($1, $2, $3) returning id)
        select pg_notify($4, $5) from stored`,
      // The payload only where the channel matches: another channel's message never leaves the server.
      select: `select r.id::text as id, r.channel, case when t.channel = r.channel then t.payload end as payload
        from json_to_recordset($1::text::json) as r(id uuid, channel text) join ${t} as t on t.id = r.id`,
      sweep: `delete from ${t} where created_at < now() - make_interval(secs => $1)`,
      // One simple query is one implicit transaction: the advisory lock lasts until it ends.
      ddl: `select pg_advisory_xact_lock(${LOCK_CLASS}, ${lock});
        create unlogged table if not exists ${t} (
          id uuid primary key,
          channel text not null,
          payload text not null,
          created_at timestamptz not null default now()
        );
        create index if not exists ${quoteIdentifier(`${table}_created_at`)} on ${t} (created_at)`,
    };
  }

  /** Resolves once the table exists; creates it when it does not. */
  ready(): Promise<void> {
    this.#ready ??= this.#create().catch((error) => {
      this.#ready = undefined;
      throw error;
    });
    return this.#ready;
  }

  /** Stores `message` and notifies a reference to it on `name`, in one statement. */
  store(name: string, channel: string, message: string): Promise<unknown> {
    const id = randomUUID();
    const sent = this.#sql.unsafe(this.#text.insert, [id, textName(channel), message, name, `${ESCAPE}large:v1:${id}`], {
      prepare: true,
    });
    this.#sweep();
    return sent;
  }

  /**
   * Looks the references up, each by id and channel. Rejects only when the
   * session fails; a refusal for good (no privilege) is the answer to each.
   */
  async fetch(lookups: readonly Lookup[]): Promise<Found> {
    let rows: readonly { id: string; channel: string; payload: string | null }[];
    try {
      const keys = lookups.map(({ id, channel }) => ({ id, channel: textName(channel) }));
      rows = await this.#sql.unsafe(this.#text.select, [JSON.stringify(keys)], { prepare: true });
    } catch (error) {
      // 42P01: no table, so nothing was ever stored here.
      if (sqlState(error) === "42P01") rows = [];
      else if (isPermanent(error)) return () => error as Error;
      else throw error;
    }
    // An id is 36 characters: the id and channel side by side are unambiguous.
    const found = new Map(rows.map((row) => [row.id + row.channel, row.payload]));
    return ({ id, channel }) => {
      const payload = found.get(id + textName(channel));
      if (payload === undefined) {
        return new Error(`No stored large message ${id}: deleted after largePayloadRetention, or never stored`);
      }
      return payload ?? new Error(`The stored large message ${id} belongs to another channel`);
    };
  }

  async #create(): Promise<void> {
    const [row] = await this.#sql`select to_regclass(${quoteIdentifier(this.#table)}) is not null as present`;
    if (!row?.present) await this.#sql.unsafe(this.#text.ddl);
  }

  // Opportunistic: whoever publishes large messages deletes the expired ones.
  #sweep(): void {
    const now = Date.now();
    if (now - this.#sweptAt < this.#retention / 10) return;
    this.#sweptAt = now;
    this.#sql.unsafe(this.#text.sweep, [this.#retention / 1000]).catch(() => {});
  }
}
