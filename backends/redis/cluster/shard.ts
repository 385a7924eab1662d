/**
 * One master of a Redis Cluster as a link sees it: a subscriber connection
 * holding the sharded subscriptions (`SSUBSCRIBE`) of the link's channels
 * that live on it, and a publisher connection for `SPUBLISH`. Like the
 * single-node links, neither client reconnects by itself: the shard is lost
 * once, on the first error of either, and the link decides what comes next.
 *
 * @module
 */
import type { Clock } from "../../../lib/util/clock.ts";
import { errorMessage } from "../../../lib/util/error_message.ts";
import { type RedisConfig, redisClient } from "../config.ts";
import { type Address, hostAndPort, slotOf } from "./slots.ts";

/** The part of a node-redis client a shard uses. */
interface Client {
  connect(): Promise<unknown>;
  destroy(): void;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  sendCommand(args: string[]): Promise<unknown>;
  sSubscribe(channels: string[], listener: (message: string, channel: string) => void): Promise<void>;
  sUnsubscribe(channels: string[]): Promise<void>;
}

/** What a shard tells its link. */
export interface ShardEvents {
  /** A message on a channel subscribed here. */
  message(message: string, channel: string): void;
  /** Redis ended a subscription here (its slot moved to another master). */
  moved(shard: Shard, channel: string): void;
  /** A connection failed or was closed: the shard is gone, with every subscription on it. */
  lost(shard: Shard, cause: unknown): void;
}

/** Connections to one master; see the module's documentation. */
export class Shard {
  readonly address: Address;
  /** The channels subscribed here, acknowledged by the master. */
  readonly channels: Set<string> = new Set();
  readonly #subscriber: Client;
  readonly #publisher: Client;
  readonly #events: ShardEvents;
  readonly #clock: Clock;
  readonly #receive: (message: string, channel: string) => void;
  #error: Error | undefined;

  private constructor(address: Address, config: RedisConfig, events: ShardEvents, clock: Clock) {
    this.address = address;
    this.#events = events;
    this.#clock = clock;
    this.#receive = (message, channel) => {
      if (this.#error === undefined) events.message(message, channel);
    };
    const client = (role: string) => {
      const socket = { ...config.client.socket, ...hostAndPort(address) };
      if ("servername" in socket) socket.servername = socket.host;
      const made = redisClient({ ...config.client, socket, name: `${config.name}:${role}` }) as unknown as Client;
      made.on("error", (error) => this.lose(error));
      made.on("reconnecting", () => this.lose(new Error("the client tried to reconnect on its own")));
      return made;
    };
    this.#subscriber = client("sub");
    this.#publisher = client("pub");
    this.#subscriber.on("sharded-channel-moved", (channel) => {
      const name = String(channel);
      if (this.#error !== undefined || !this.channels.delete(name)) return;
      events.moved(this, name);
    });
  }

  /** Connects both connections to `address`, within `timeout` milliseconds; closed again if that fails. */
  static async open(address: Address, config: RedisConfig, events: ShardEvents, clock: Clock, timeout: number): Promise<Shard> {
    const shard = new Shard(address, config, events, clock);
    try {
      await within(Promise.all([shard.#subscriber.connect(), shard.#publisher.connect()]), clock, timeout, `connecting to ${address}`);
    } catch (error) {
      // A client destroyed while it connects is destroyed again once it has (`redisClient`).
      shard.close(error);
      throw error;
    }
    return shard;
  }

  /** Why the shard is gone, or undefined while it lives. */
  get error(): Error | undefined {
    return this.#error;
  }

  /** Subscribes `channels` here: one `SSUBSCRIBE` per hash slot (Redis takes no more in one), all sent at once. */
  async subscribe(channels: Iterable<string>): Promise<void> {
    const bySlot = new Map<number, string[]>();
    for (const channel of channels) {
      const slot = slotOf(channel);
      const same = bySlot.get(slot);
      if (same === undefined) bySlot.set(slot, [channel]);
      else same.push(channel);
    }
    await Promise.all([...bySlot.values()].map(async (group) => {
      await this.#guard(this.#subscriber.sSubscribe(group, this.#receive));
      for (const channel of group) this.channels.add(channel);
    }));
  }

  /** Ends the subscription of `channel` here. */
  async unsubscribe(channel: string): Promise<void> {
    if (!this.channels.delete(channel)) return;
    await this.#guard(this.#subscriber.sUnsubscribe([channel]));
  }

  /** Sends `SPUBLISH channel message`, after `ASKING` when the slot is being imported here. */
  publish(channel: string, message: string, asking = false): Promise<unknown> {
    if (this.#error) return Promise.reject(this.#error);
    // Sent back to back on one connection: ASKING applies to the command right after it.
    if (asking) this.#publisher.sendCommand(["ASKING"]).catch(() => {});
    return this.#publisher.sendCommand(["SPUBLISH", channel, message]);
  }

  /** A round trip on both connections, within `timeout` milliseconds. */
  ping(timeout: number): Promise<void> {
    if (this.#error) return Promise.reject(this.#error);
    const both = Promise.all([this.#subscriber.sendCommand(["PING"]), this.#publisher.sendCommand(["PING"])]);
    return within(this.#guard(both), this.#clock, timeout, `a PING to ${this.address}`).then(() => {});
  }

  /** The shard is gone: once, told to the link, its connections destroyed. */
  lose(cause: unknown): void {
    if (this.#error) return;
    this.close(cause);
    this.#events.lost(this, cause);
  }

  /** Destroys both connections, whatever state they are in; every pending command settles now. */
  close(cause?: unknown): void {
    this.#error ??= new Error(`The connections to ${this.address} were closed${cause === undefined ? "" : `: ${errorMessage(cause)}`}`, { cause });
    this.#subscriber.destroy();
    this.#publisher.destroy();
  }

  async #guard<R>(command: Promise<R>): Promise<R> {
    try {
      return await command;
    } catch (error) {
      throw this.#error ?? error;
    }
  }
}

/** Rejects with a timeout naming `what` unless `promise` settles within `ms` of `clock`. */
export function within<T>(promise: Promise<T>, clock: Clock, ms: number, what: string): Promise<T> {
  const stop = new AbortController();
  const late = clock.delay(ms, stop.signal).then(() => {
    throw new Error(`No answer to ${what} within ${ms} ms`);
  }, () => {});
  return Promise.race([promise, late as Promise<never>]).finally(() => stop.abort());
}
