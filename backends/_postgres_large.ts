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
 * The row is inserted and the reference notified in one statement, one
 * transaction: a notification is delivered at commit, so a receiver always
 * finds the row. Rows older than the retention are deleted by publishers, at
 * most once per tenth of it. The table is created on first use, under an
 * advisory lock so that instances creating it at once do not trip over each
 * other (`CREATE TABLE IF NOT EXISTS` alone races on the catalog). It is
 * UNLOGGED: its rows live for seconds to minutes, so they skip the WAL; a
 * crash empties it, which costs at most a resync for references in flight.
 * A role that may not create it can use one an administrator made:
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
import { utf8Exceeds } from "../lib/utf8_length.ts";
import { createHash, randomUUID } from "node:crypto";
import type postgres from "postgres";
import { quoteIdentifier } from "./_postgres_channel.ts";

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

/** The row id a notification payload refers to, or undefined for a plain payload. */
export function referencedId(payload: string): string | undefined {
  if (payload.charCodeAt(0) !== 0x1f) return undefined;
  return REFERENCE.exec(payload)?.[1];
}

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
      select: `select id::text as id, payload from ${t} where id = any(string_to_array($1, ',')::uuid[])`,
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
    const sent = this.#sql.unsafe(this.#text.insert, [id, channel, message, name, `${ESCAPE}large:v1:${id}`], {
      prepare: true,
    });
    this.#sweep();
    return sent;
  }

  /** The stored messages with these ids (those still there). */
  async fetch(ids: readonly string[]): Promise<Map<string, string>> {
    const rows = await this.#sql.unsafe<{ id: string; payload: string }[]>(this.#text.select, [ids.join(",")], {
      prepare: true,
    });
    return new Map(rows.map((row) => [row.id, row.payload]));
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
