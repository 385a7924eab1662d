/**
 * One master of a Redis Cluster in history mode: a writer connection (the
 * append script, `XRANGE`, `XINFO`, `CLIENT UNBLOCK`) and a reader per hash
 * slot in use, each its own connection blocked in `XREAD` (Redis refuses an
 * `XREAD` over keys of several slots, even on one node). A reader that fails
 * (its connection lost, or a redirection once its slot moved) is let go with
 * the positions of its channels, and the link follows them again wherever
 * their slot lives now, from those positions: nothing is missed. While a
 * slot's keys move to another master, a reader there reads them after
 * `ASKING`, before the slot is handed over.
 *
 * @module
 */
import type { Frame } from "../../../lib/contract/frame.ts";
import type { ConnectorContext, HistoryOptions } from "../../../lib/contract/link.ts";
import { errorMessage } from "../../../lib/util/error_message.ts";
import { type RedisConfig, redisClient } from "../config.ts";
import type { StreamReader } from "../stream_reader.ts";
import { type Connection, connection, streamReader } from "../streams_link.ts";
import { within } from "./shard.ts";
import { type Address, hostAndPort, slotOf } from "./slots.ts";

/** What a node tells its link. */
export interface StreamNodeEvents {
  deliver(frames: Frame[]): void;
  /** Readers were let go: their channels, each at the position it had reached, are to be followed again. */
  dropped(node: StreamNode, positions: Map<string, string>, cause: unknown): void;
  /** The writer failed: the node is gone, with every reader on it (their positions given). */
  lost(node: StreamNode, positions: Map<string, string>, cause: unknown): void;
}

/** What every node of a link shares. */
export interface StreamNodeOptions {
  config: RedisConfig;
  context: ConnectorContext;
  history: HistoryOptions;
  events: StreamNodeEvents;
  /** How long a connection may take, in milliseconds. */
  timeout: number;
}

/** A reader of one slot: its connection and its `XREAD` loop, once connected. */
interface SlotReader {
  readonly connection: Connection;
  /** Settles once the loop runs (or the connection failed). */
  ready?: Promise<StreamReader>;
  stream?: StreamReader;
}

/** See the module's documentation. */
export class StreamNode {
  readonly address: Address;
  readonly #options: StreamNodeOptions;
  readonly #writer: Connection;
  readonly #readers = new Map<number, SlotReader>();
  /** WAITs in flight on the writer. */
  #waiting = 0;
  #error: Error | undefined;

  private constructor(address: Address, options: StreamNodeOptions) {
    this.address = address;
    this.#options = options;
    this.#writer = this.#connect("write", (cause) => this.lose(cause));
  }

  /** Connects the writer to `address` within `timeout` ms; closed again if that fails. */
  static async open(address: Address, options: StreamNodeOptions): Promise<StreamNode> {
    const node = new StreamNode(address, options);
    try {
      await within(node.#writer.client.connect(), options.context.clock, options.timeout, `connecting to ${address}`);
    } catch (error) {
      node.close(error);
      throw error;
    }
    return node;
  }

  /** Why the node is gone, or undefined while it lives. */
  get error(): Error | undefined {
    return this.#error;
  }

  /** Sends a command on the writer; after `ASKING` when its slot is being imported here. */
  send(args: string[], asking = false): Promise<unknown> {
    if (this.#error) return Promise.reject(this.#error);
    if (asking) this.#writer.send(["ASKING"]).catch(() => {});
    return this.#guard(this.#writer.send(args));
  }

  /**
   * `WAIT <replicas> <timeout>` on the writer: how many replicas have every
   * write sent before it. A node that does not answer within `timeout` and
   * the probe's bound is lost. While it waits, the writer is not probed:
   * the WAIT's own answer tells that it lives.
   */
  async wait(replicas: number, timeout: number): Promise<number> {
    this.#waiting++;
    try {
      const waited = this.send(["WAIT", String(replicas), String(timeout)]);
      return Number(await within(waited, this.#options.context.clock, timeout + this.#options.timeout, `WAIT at ${this.address}`));
    } catch (error) {
      if (/^No answer/.test(errorMessage(error))) this.lose(error);
      throw error;
    } finally {
      this.#waiting--;
    }
  }

  /**
   * Reads `channel` after `position` on the reader of its slot, connecting
   * that reader first when needed; `asking` when the slot is being imported
   * here (its reader then sends `ASKING` before each `XREAD`).
   */
  async follow(channel: string, position: string, asking = false): Promise<void> {
    if (this.#error) throw this.#error;
    const reader = await this.#guard(this.#reader(slotOf(channel), asking).ready);
    if (this.#error) throw this.#error;
    reader.follow(channel, position);
  }

  /** Stops reading `channel`. */
  forget(channel: string): void {
    const slot = slotOf(channel);
    this.#readers.get(slot)?.ready?.then((reader) => reader.forget(channel), () => {});
  }

  /** A round trip on the writer and on every reader, within `timeout` ms. */
  async ping(timeout: number): Promise<void> {
    if (this.#error) throw this.#error;
    const rounds: Promise<unknown>[] = [...this.#readers.values()].map((reader) => reader.ready!.then((stream) => stream.round()));
    if (this.#waiting === 0) rounds.push(this.#writer.send(["PING"]));
    await within(this.#guard(Promise.all(rounds)), this.#options.context.clock, timeout, `a PING to ${this.address}`);
  }

  /** The node is gone: once, told to the link with every reader's positions. */
  lose(cause: unknown): void {
    if (this.#error) return;
    const positions = this.#positions();
    this.close(cause);
    this.#options.events.lost(this, positions, cause);
  }

  /** Destroys every connection, whatever state it is in. */
  close(cause?: unknown): void {
    this.#error ??= new Error(`The connections to ${this.address} were closed${cause === undefined ? "" : `: ${errorMessage(cause)}`}`, { cause });
    for (const slot of [...this.#readers.keys()]) this.#stop(slot, this.#error);
    this.#writer.client.destroy();
  }

  /** Each followed channel's position, over every reader connected. */
  #positions(): Map<string, string> {
    const all = new Map<string, string>();
    for (const reader of this.#readers.values()) {
      const stream = reader.stream;
      if (stream !== undefined) for (const [channel, position] of stream.positions()) all.set(channel, position);
    }
    return all;
  }

  #reader(slot: number, asking: boolean): SlotReader & { ready: Promise<StreamReader> } {
    const known = this.#readers.get(slot);
    if (known?.ready !== undefined) return known as SlotReader & { ready: Promise<StreamReader> };
    const { context, history, events, timeout } = this.#options;
    const reader: SlotReader = { connection: this.#connect("read", (cause) => this.#drop(slot, reader, cause)) };
    const start = async () => {
      await within(reader.connection.client.connect(), context.clock, timeout, `connecting a reader to ${this.address}`);
      const id = String(await reader.connection.send(["CLIENT", "ID"]));
      const { send } = reader.connection;
      // Sent back to back on one connection: ASKING applies to the XREAD right after it.
      const read = asking ? (args: string[]) => (args[0] === "XREAD" && send(["ASKING"]).catch(() => {}), send(args)) : send;
      const stream = reader.stream = streamReader({ read, id, write: this.#writer.send, history, context, deliver: events.deliver });
      stream.run().catch((cause) => this.#drop(slot, reader, cause));
      return stream;
    };
    const ready = reader.ready = start();
    ready.catch((cause) => this.#drop(slot, reader, cause));
    this.#readers.set(slot, reader);
    return { ...reader, ready };
  }

  /** Lets a failed reader go, and tells the link where its channels stood. */
  #drop(slot: number, reader: SlotReader, cause: unknown): void {
    if (this.#error || this.#readers.get(slot) !== reader) return;
    const positions = reader.stream?.positions() ?? new Map();
    this.#stop(slot, cause);
    this.#options.events.dropped(this, positions, cause);
  }

  #stop(slot: number, cause: unknown): void {
    const reader = this.#readers.get(slot);
    if (reader === undefined) return;
    this.#readers.delete(slot);
    reader.stream?.stop(cause instanceof Error ? cause : new Error(errorMessage(cause)));
    reader.connection.client.destroy();
  }

  #connect(role: string, failed: (cause: unknown) => void): Connection {
    const { config } = this.#options;
    const socket = { ...config.client.socket, ...hostAndPort(this.address) };
    if ("servername" in socket) socket.servername = socket.host;
    const made = connection(redisClient({ ...config.client, socket, name: `${config.name}:${role}` }));
    made.client.on("error", (error) => failed(error));
    made.client.on("reconnecting", () => failed(new Error("the client tried to reconnect on its own")));
    return made;
  }

  async #guard<R>(command: Promise<R>): Promise<R> {
    try {
      return await command;
    } catch (error) {
      throw this.#error ?? error;
    }
  }
}
